"""Weight normalization, spectral normalization and weight standardization against
torch.nn.utils.parametrizations and torch code; sharing masks against autograd; a layer's output."""

import numpy as np
import pytest

from kernels.experiments import layer_effect, spectral_norm, weight_norm, weight_shared_mask, weight_standardization
from kernels.inputs import generate

from .references import torch

F = torch.nn.functional
P = torch.nn.utils.parametrizations


def _conv(seed=0, shape=(5, 3, 3, 3)):
    torch.manual_seed(seed)
    conv = torch.nn.Conv2d(shape[1], shape[0], shape[2], bias=False).double()
    return conv, conv.weight.detach().numpy().copy()


@pytest.mark.parametrize("dim", [0, 1, 3, -2, -1, None])
def test_weight_norm_matches_torch_parametrization(dim):
    conv, w = _conv()
    P.weight_norm(conv, dim=dim)
    g = conv.parametrizations.weight.original0
    with torch.no_grad():
        g.copy_(torch.rand(g.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.5)
    res = weight_norm(w, g=g.detach().numpy(), dim=dim)
    np.testing.assert_allclose(res.weight, conv.weight.detach().numpy(), rtol=1e-12)
    assert res.g.shape == tuple(g.shape)  # dim=-1 is the whole tensor in torch, like None
    np.testing.assert_allclose(weight_norm(w, dim=dim).weight, w, rtol=1e-12)  # g = ‖v‖ at first, as torch


@pytest.mark.parametrize("dim, n", [(0, 1), (0, 3), (1, 2), (-1, 1)])
def test_spectral_norm_from_the_same_start_vectors_equals_torch(dim, n):
    conv, w = _conv(seed=2)
    P.spectral_norm(conv, n_power_iterations=n, dim=dim)
    res = spectral_norm(w, n_power_iterations=n, dim=dim, seed=5)
    sn = conv.parametrizations.weight[0]
    with torch.no_grad():  # torch started from its own random vectors: give it ours
        start = spectral_norm(w, 0, dim=dim, seed=5)
        sn._u.copy_(torch.from_numpy(start.u))
        sn._v.copy_(torch.from_numpy(start.v))
    conv.train()
    np.testing.assert_allclose(res.weight, conv.weight.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.u, sn._u.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.v, sn._v.numpy(), rtol=1e-10, atol=1e-12)
    assert len(res.sigmas) == n + 1 and res.sigma == res.sigmas[-1]


def test_spectral_norm_converges_to_the_largest_singular_value_and_to_torch():
    lin = torch.nn.Linear(7, 4).double()
    w = lin.weight.detach().numpy().copy()
    res = spectral_norm(w, n_power_iterations=200, seed=0)
    assert res.true_sigma == pytest.approx(float(torch.linalg.matrix_norm(lin.weight.detach(), ord=2)), rel=1e-12)
    assert res.sigma == pytest.approx(res.true_sigma, rel=1e-10)
    assert np.all(res.sigmas <= res.true_sigma * (1 + 1e-12)) and np.all(np.diff(res.sigmas[1:]) >= -1e-12)
    P.spectral_norm(lin, n_power_iterations=50)  # torch from its own random start, run to convergence
    lin.train()
    torch_weight = lin.weight.detach().numpy()
    np.testing.assert_allclose(res.weight, torch_weight, rtol=1e-8)
    assert np.linalg.svd(res.weight, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-10)


def _ws_paper(weight):
    """The authors' Conv2d.forward (joe-siyuan-qiao/WeightStandardization), verbatim in torch."""
    weight_mean = weight.mean(dim=1, keepdim=True).mean(dim=2, keepdim=True).mean(dim=3, keepdim=True)
    weight = weight - weight_mean
    std = weight.view(weight.size(0), -1).std(dim=1).view(-1, 1, 1, 1) + 1e-5
    return weight / std.expand_as(weight)


def _ws_timm(weight, eps):
    """timm's StdConv2d: F.batch_norm over each output channel's weights."""
    return F.batch_norm(weight.reshape(1, weight.shape[0], -1), None, None, training=True, momentum=0.0,
                        eps=eps).reshape_as(weight)


def test_weight_standardization_matches_both_conventions():
    _, w = _conv(seed=3, shape=(6, 4, 3, 3))
    t = torch.from_numpy(w)
    paper = weight_standardization(w)
    np.testing.assert_allclose(paper.weight, _ws_paper(t).numpy(), rtol=1e-12)
    timm = weight_standardization(w, eps=1e-6, convention="timm")
    np.testing.assert_allclose(timm.weight, _ws_timm(t, 1e-6).numpy(), rtol=1e-10)
    np.testing.assert_allclose(paper.weight.reshape(6, -1).mean(axis=1), 0, atol=1e-14)


def _depends(w_fn, shape, index):
    v = torch.randn(shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64).requires_grad_(True)
    w_fn(v)[index].backward()
    return v.grad.numpy() != 0


@pytest.mark.parametrize("dim", [0, 1, -2, -1, None])
def test_weight_norm_sharing_mask_is_where_autograd_says(dim):
    shape, index = (4, 3, 2, 2), (2, 1, 0, 1)
    conv = torch.nn.Conv2d(3, 4, 2, bias=False).double()
    P.weight_norm(conv, dim=dim)
    wn, g = conv.parametrizations.weight[0], conv.parametrizations.weight.original0.detach()
    expected = _depends(lambda v: wn(g, v), shape, index)  # w = g · v / ‖v‖ with g held fixed
    np.testing.assert_array_equal(weight_shared_mask("weight_norm", shape, index, dim=dim), expected)


def test_spectral_and_standardization_sharing_masks_are_where_autograd_says():
    shape, index = (4, 3, 2, 2), (1, 2, 1, 0)
    conv = torch.nn.Conv2d(3, 4, 2, bias=False).double()
    P.spectral_norm(conv)
    conv.eval()  # fixed u, v: w / σ(w) with σ = uᵀ W v
    sn = conv.parametrizations.weight[0]
    expected = _depends(lambda v: sn(v), shape, index)
    np.testing.assert_array_equal(weight_shared_mask("spectral_norm", shape, index), expected)
    assert expected.all()
    expected = _depends(_ws_paper, shape, index)
    np.testing.assert_array_equal(weight_shared_mask("weight_standardization", shape, index), expected)


@pytest.mark.parametrize("kind, params", [("weight_norm", {}), ("spectral_norm", {"n_power_iterations": 100}),
                                          ("weight_standardization", {})])
def test_layer_effect_outputs_equal_torch_conv2d(kind, params):
    eff = layer_effect(kind, weight_shape=(6, 4, 3, 3), batch=3, spatial=(5, 5), init="he", seed=1, **params)
    x = torch.from_numpy(generate("normal", (3, 4, 5, 5), seed=1, dtype=np.float64))
    for wv, out, chan in ((eff.weight_before, eff.output_before, eff.channel_std_before),
                          (eff.weight_after, eff.output_after, eff.channel_std_after)):
        y = F.conv2d(x, torch.from_numpy(wv.values.reshape(6, 4, 3, 3)), padding=1).numpy()
        np.testing.assert_allclose(out.values, y.ravel(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(chan, y.std(axis=(0, 2, 3)), rtol=1e-10)
    if kind == "weight_norm":
        np.testing.assert_allclose(eff.weight_norm_after, 1.0)
    if kind == "spectral_norm":
        assert eff.sigma_after == pytest.approx(1.0, rel=1e-8)
