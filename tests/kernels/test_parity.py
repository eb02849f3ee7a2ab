"""Every registry method against torch.nn / torch.nn.functional (scikit-learn for data scaling),
on every common layout, in float32 and float64, on both backends."""

import numpy as np
import pytest

from kernels import METHODS, normalize, prepare
from kernels.inputs import generate

from .references import REFERENCES, reference, torch

#: shapes with every axis of a different size, so a transposed axis cannot pass unnoticed
SHAPES = {"NCHW": (4, 6, 5, 3), "NHWC": (4, 5, 3, 6), "NCL": (4, 6, 7), "NLC": (4, 7, 6), "HWCN": (5, 3, 6, 4)}

#: non-default settings, so parameters are exercised and not just their defaults
SETTINGS = {
    "group": [{"groups": 3}, {"groups": 1}, {"groups": 6, "eps": 1e-3}],
    "lrn": [{"size": 3, "alpha": 0.5, "k": 1.5}, {"size": 4, "alpha": 2.0, "beta": 0.6}, {}],
    "rms": [{}, {"eps": 1e-5}],
    "frn": [{"eps": 1e-6, "tau": -0.2}, {"tlu": False}],
    "ghost_batch": [{"virtual_batch": 2}, {"virtual_batch": 1}],
    "batch_renorm": [{"rmax": 1.5, "dmax": 0.5}, {"rmax": 1.0, "dmax": 0.0}],
    "custom": [{"axes": "NHW"}, {"axes": "C", "center": False}, {"axes": "NC"}, {"axes": "CHW", "groups": 2},
               {"axes": "N", "eps": 1e-3}],
    "standardize": [{}, {"axes": "NC"}, {"with_mean": False}],
    "minmax": [{}, {"feature_range": (-1.0, 1.0)}, {"axes": "N*"}],
    "batch": [{}, {"eps": 0.5}],
}


def _cases():
    for name in METHODS:
        for settings in SETTINGS.get(name, [{}]):
            for layout, shape in SHAPES.items():
                if _applies(layout, settings):
                    yield name, layout, shape, settings


def _applies(layout, settings):
    """Settings that name image axes do not apply to sequence layouts."""
    axes = settings.get("axes", "")
    return not (set(axes) & set("HW") and "L" in layout)


def test_every_method_has_a_reference():
    assert set(REFERENCES) == set(METHODS)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,layout,shape,settings", list(_cases()))
def test_output_matches_reference(name, layout, shape, settings, dtype, backend):
    x = generate("shifted", shape, layout, seed=3, dtype=dtype)
    res = normalize(x, name, layout=layout, backend=backend, **settings)
    params = prepare(name, shape, layout, **settings)[1]
    if params.get("eps", 0) is None:
        params["eps"] = float(np.finfo(dtype).eps)
    expected = reference(name, x, layout, params)
    out = res.output.numpy() if backend == "torch" else res.output
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, **tol)
    assert res.warnings == []


@pytest.mark.parametrize("layout,shape", list(SHAPES.items()))
@pytest.mark.parametrize("name", ["batch", "layer", "instance", "group", "channel"])
def test_statistics_are_torch_var_mean(name, layout, shape):
    """res.mean / res.var are the biased statistics of each group, checked with torch.var_mean."""
    x = generate("shifted", shape, layout, seed=5, dtype=np.float64)
    res = normalize(x, name, layout=layout, groups=2) if name == "group" else normalize(x, name, layout=layout)
    part = res.sharing
    t = torch.from_numpy(x).reshape(part.expanded_shape)
    var, mean = torch.var_mean(t, dim=part.reduce_positions, unbiased=False, keepdim=True)
    np.testing.assert_allclose(res.mean, mean.reshape(part.stat_shape).numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.var, var.reshape(part.stat_shape).numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout,shape", [("NCHW", (3, 4, 5, 2)), ("NHWC", (3, 5, 2, 4))])
def test_affine_per_channel_matches_torch_modules(layout, shape):
    """weight/bias as one value per channel, as nn.BatchNorm2d / GroupNorm / InstanceNorm hold them."""
    rng = np.random.default_rng(0)
    c = dict(zip(layout, shape))["C"]
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    x = generate("normal", shape, layout, seed=1, dtype=np.float64)
    canon = torch.from_numpy(x).permute((0, 3, 1, 2) if layout == "NHWC" else (0, 1, 2, 3))
    modules = {"batch": torch.nn.BatchNorm2d(c, track_running_stats=False),
               "group": torch.nn.GroupNorm(2, c), "instance": torch.nn.InstanceNorm2d(c, affine=True)}
    for name, module in modules.items():
        module = module.double()
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(w))
            module.bias.copy_(torch.from_numpy(b))
        expected = module(canon).detach()
        expected = expected.permute((0, 2, 3, 1)) if layout == "NHWC" else expected
        kw = {"groups": 2} if name == "group" else {}
        res = normalize(x, name, layout=layout, weight=w, bias=b, **kw)
        np.testing.assert_allclose(res.output, expected.numpy(), rtol=1e-10, atol=1e-10, err_msg=name)


def test_layernorm_elementwise_affine_matches_module():
    """LayerNorm's weight has the normalized shape (C, H, W): one γ per element."""
    x = generate("normal", (2, 3, 4, 5), seed=2, dtype=np.float64)
    ln = torch.nn.LayerNorm([3, 4, 5]).double()
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    res = normalize(x, "layer", weight=ln.weight.detach().numpy(), bias=ln.bias.detach().numpy())
    np.testing.assert_allclose(res.output, ln(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-10)


def test_rms_eps_none_is_finfo_eps_of_the_input():
    x = generate("normal", (2, 3, 4, 4), seed=0) * 1e-4  # small values, so eps matters
    for dtype in (np.float32, np.float64):
        xd = x.astype(dtype)
        expected = torch.nn.RMSNorm([3, 4, 4], eps=None, elementwise_affine=False)(torch.from_numpy(xd))
        np.testing.assert_allclose(normalize(xd, "rms").output, expected.numpy(), rtol=1e-5)


@pytest.mark.parametrize("name", list(METHODS))
def test_numpy_and_torch_backends_agree(name):
    x = generate("heavy_tailed", (4, 6, 5, 5), seed=9)
    a = normalize(x, name, backend="numpy")
    b = normalize(x, name, backend="torch")
    np.testing.assert_allclose(a.output, b.output.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.mean, b.mean.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.var, b.var.numpy(), rtol=1e-4, atol=1e-5)
