"""The deep-stack experiment against torch.nn: the seed article's numbers, forward values and
weight gradients from an independent torch network, the NumPy backward pass against autograd,
and the autograd path for every registry method."""

import numpy as np
import pytest

from kernels import METHODS, normalize
from kernels.experiments import DepthConfig, article_config, run_depth
from kernels.experiments._grad import NUMPY_GRAD_METHODS, normalize_autograd
from kernels.experiments._nn import init_std
from kernels.experiments.depth import make_parameters
from kernels.inputs import generate

from .references import torch

F = torch.nn.functional
ACTS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "gelu": F.gelu, "selu": torch.selu,
        "identity": lambda t: t}


def _torch_norm(name, z, cfg):
    """torch.nn.functional's own version of a normalization (dense z is (N, F))."""
    p = cfg.norm_params
    eps = p.get("eps", 1e-5)
    if name is None:
        return z
    if name == "batch":
        return F.batch_norm(z, None, None, weight=None, bias=None, training=True, eps=eps)
    if name == "layer":
        return F.layer_norm(z, z.shape[1:], eps=eps)
    if name == "group":
        return F.group_norm(z, p["groups"], eps=eps)
    if name == "rms":
        return F.rms_norm(z, z.shape[1:], eps=p.get("eps"))  # None: finfo(float64).eps, as the kernels
    raise KeyError(name)


def _torch_network(cfg):
    """(per-layer (pre, normed, act) arrays, per-layer ‖dL/dW‖) from torch.nn.functional alone."""
    x, params = make_parameters(cfg)
    h, records, weights = torch.from_numpy(x), [], []
    for w, b in params:
        w = torch.from_numpy(w).requires_grad_(True)
        weights.append(w)
        z = F.linear(h, w, torch.from_numpy(b)) if cfg.kind == "dense" else F.conv2d(h, w, torch.from_numpy(b),
                                                                                     padding=1)
        y = _torch_norm(cfg.norm, z, cfg)
        h = ACTS[cfg.activation](y)
        records.append([t.detach().numpy() for t in (z, y, h)])
    (h * h).mean().backward()
    return records, [float(w.grad.norm()) for w in weights]


def test_seed_article_without_and_with_batchnorm():
    plain, bn = run_depth(article_config(False)), run_depth(article_config(True))
    sat_plain = [rec.saturated for rec in plain.layers]
    sat_bn = [rec.saturated for rec in bn.layers]
    # without BN the pre-activations spread to std 4-7 and a third or more of the sigmoid units saturate
    assert all(s > 0.25 for s in sat_plain[1:]) and np.mean(sat_plain[1:]) > 0.3 and max(sat_plain) > 0.5
    assert all(rec.pre.std > 4 for rec in plain.layers[1:])
    # with BN every layer's pre-activation (after the normalization) has mean 0 and std 1: no saturation
    assert all(s < 0.01 for s in sat_bn)
    for rec in bn.layers:
        assert abs(rec.normed.std - 1) < 1e-6 and abs(rec.normed.mean) < 1e-9
        assert 0.18 < rec.act.std < 0.24
    assert plain.gradients == bn.gradients == "torch" and not plain.warnings and not bn.warnings


@pytest.mark.parametrize("batchnorm", [False, True])
def test_seed_article_matches_a_torch_network(batchnorm):
    cfg = article_config(batchnorm)
    res = run_depth(cfg)
    expected, grads = _torch_network(cfg)
    for rec, (z, y, a), g in zip(res.layers, expected, grads):
        np.testing.assert_allclose([rec.pre.mean, rec.pre.std, rec.normed.std, rec.act.mean, rec.act.std],
                                   [z.mean(), z.std(), y.std(), a.mean(), a.std()], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(rec.act.values, a.ravel(), rtol=1e-10, atol=1e-12)  # 6400 values: all kept
        assert rec.saturated == pytest.approx(np.mean((a < 0.01) | (a > 0.99)))
        assert rec.grad_norm == pytest.approx(g, rel=1e-9)


CASES = [("dense", None, "relu", "he"), ("dense", "batch", "tanh", "xavier"), ("dense", "layer", "gelu", "normal"),
         ("dense", "rms", "selu", "lecun"), ("conv", "batch", "relu", "he"), ("conv", "group", "sigmoid", "xavier"),
         ("conv", "layer", "identity", "lecun"), ("conv", None, "gelu", "he")]


@pytest.mark.parametrize("kind, norm, activation, init", CASES)
def test_numpy_backward_pass_matches_autograd(kind, norm, activation, init):
    params = {"groups": 2} if norm == "group" else {}
    cfg = DepthConfig(kind=kind, layers=4, width=6, samples=5, features=3, spatial=(4, 5), activation=activation,
                      init=init, norm=norm, norm_params=params, inputs="normal", seed=3, backend="numpy")
    res = run_depth(cfg)
    expected, grads = _torch_network(cfg)
    assert res.gradients == "numpy"
    np.testing.assert_allclose([rec.grad_norm for rec in res.layers], grads, rtol=1e-9)
    for rec, (_, y, _) in zip(res.layers, expected):
        np.testing.assert_allclose(rec.normed.values, y.ravel(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("method", list(METHODS))
def test_torch_and_numpy_paths_agree_for_every_method(method):
    params = {"groups": 2} if method == "group" else {}
    cfg = dict(kind="conv", layers=2, width=4, samples=4, features=2, spatial=(3, 3), activation="tanh",
               init="xavier", norm=method, norm_params=params, seed=5)
    a, b = run_depth(DepthConfig(**cfg, backend="torch")), run_depth(DepthConfig(**cfg, backend="numpy"))
    for ra, rb in zip(a.layers, b.layers):
        np.testing.assert_allclose(ra.act.values, rb.act.values, rtol=1e-9, atol=1e-12)
    assert a.gradients == "torch" and all(np.isfinite(r.grad_norm) for r in a.layers)
    if method in NUMPY_GRAD_METHODS:
        np.testing.assert_allclose([r.grad_norm for r in b.layers], [r.grad_norm for r in a.layers], rtol=1e-8,
                                   atol=1e-14)
    else:
        assert b.gradients == "" and "NumPy backward pass" in b.gradient_reason
        assert all(r.grad_norm is None for r in b.layers)


@pytest.mark.parametrize("method", ["batch", "lrn", "frn", "instance"])
def test_autograd_normalization_is_differentiable_and_equals_normalize(method):
    x = generate("heavy_tailed", (3, 4, 2, 3), seed=2, dtype=np.float64)
    t = torch.from_numpy(x).requires_grad_(True)
    y, _ = normalize_autograd(t, method, "NCHW")
    np.testing.assert_allclose(y.detach().numpy(), normalize(x, method).output, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda v: normalize_autograd(v, method, "NCHW")[0], (t,))


def test_batch_renorm_gradient_treats_r_and_d_as_constants():
    x = generate("shifted", (6, 3, 2, 2), seed=4, dtype=np.float64)
    t = torch.from_numpy(x).requires_grad_(True)
    y, _ = normalize_autograd(t, "batch_renorm", "NCHW", rmax=1.5, dmax=0.5)
    (y * torch.arange(y.numel(), dtype=y.dtype).reshape(y.shape)).sum().backward()
    ref = torch.from_numpy(x).requires_grad_(True)  # the paper: r, d = stop_gradient(...)
    var_b, mu_b = torch.var_mean(ref, dim=(0, 2, 3), unbiased=False, keepdim=True)
    sigma = torch.full((1, 3, 1, 1), 1 + 1e-5, dtype=torch.float64).sqrt()  # a fresh module's running_var 1
    r = ((var_b + 1e-5).sqrt() / sigma).clamp(1 / 1.5, 1.5).detach()
    d = (mu_b / sigma).clamp(-0.5, 0.5).detach()
    out = F.batch_norm(ref, None, None, training=True) * r + d
    (out * torch.arange(out.numel(), dtype=out.dtype).reshape(out.shape)).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), out.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), ref.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("init, fn", [("xavier", torch.nn.init.xavier_normal_),
                                      ("he", lambda w: torch.nn.init.kaiming_normal_(w, nonlinearity="relu")),
                                      ("lecun", lambda w: torch.nn.init.normal_(w, std=1 / np.sqrt(w[0].numel())))])
def test_init_std_matches_torch_nn_init(init, fn):
    w = torch.empty(128, 96, 3, 3, dtype=torch.float64)
    torch.manual_seed(0)
    fn(w)
    assert init_std(init, 96 * 9, 128 * 9) == pytest.approx(float(w.std()), rel=0.01)
