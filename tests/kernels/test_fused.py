"""The torch backend's fused kernels (torch.native_group_norm, torch.native_layer_norm,
BatchNorm's statistics and evaluation kernels, LocalResponseNorm's pool): taken where they
compute what the formula computes, equal to the formula (the same call with the kernels off)
and to torch.nn.functional within the parity tolerances, and not taken where their semantics
differ: NaN/Inf, degenerate groups, eps=0, autograd, layouts torch cannot read without a copy."""

import numpy as np
import pytest

import kernels.moments as km
from kernels import METHODS, normalize, prepare
from kernels.inputs import generate
from kernels.summaries import group_moments

from .references import reference, torch

F = torch.nn.functional
GN, LN = "torch.native_group_norm", "torch.native_layer_norm"
BN = "torch.batch_norm_update_stats + torch.batch_norm"
RMS = "torch._fused_rms_norm"
SHAPES = {"NCHW": (4, 6, 5, 3), "NHWC": (4, 5, 3, 6), "NCL": (4, 6, 7), "NLC": (4, 7, 6), "NCDHW": (2, 6, 3, 4, 2),
          "NDHWC": (2, 3, 4, 2, 6), "HWCN": (5, 3, 6, 4)}
CHANNEL_LAST = ("NHWC", "NLC", "NDHWC")


def expected_kernel(name, layout):
    if layout == "HWCN":
        return ""
    return {"batch": BN, "layer": GN, "instance": GN, "group": GN, "lrn": "torch.nn.functional.avg_pool3d",
            "channel": LN if layout in CHANNEL_LAST else "", "rms": RMS,
            "pixel": RMS if layout in CHANNEL_LAST else ""}.get(name, "")


def without_fused(monkeypatch, fn):
    monkeypatch.setattr(km, "FUSED", False)
    try:
        return fn()
    finally:
        monkeypatch.setattr(km, "FUSED", True)


def _np(a):
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _lrn_applies(name, layout):
    return name != "lrn" or layout in ("NCHW", "NCL", "NCDHW")


CASES = [(name, layout) for name in ("batch", "layer", "instance", "group", "channel", "lrn", "rms", "pixel")
         for layout in SHAPES]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,layout", CASES)
def test_fused_kernel_is_taken_and_equals_the_formula(name, layout, dtype, monkeypatch):
    shape = SHAPES[layout]
    x = generate("shifted", shape, layout, seed=7, dtype=dtype)
    settings = {"groups": 3} if name == "group" else {}
    res = normalize(x, name, layout=layout, backend="torch", **settings)
    expected = expected_kernel(name, layout) if _lrn_applies(name, layout) else ""
    assert res.fused == expected
    formula = without_fused(monkeypatch, lambda: normalize(x, name, layout=layout, backend="torch", **settings))
    assert formula.fused == ""
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(_np(res.output), _np(formula.output), **tol)
    np.testing.assert_allclose(_np(res.output), reference(name, x, layout, prepare(name, shape, layout, **settings)[1]),
                               **tol)
    stat_tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_np(res.mean), _np(formula.mean), **stat_tol)
    np.testing.assert_allclose(_np(res.var), _np(formula.var), **stat_tol)
    assert _np(res.mean).dtype == _np(formula.mean).dtype and _np(res.var).dtype == _np(formula.var).dtype
    assert res.warnings == formula.warnings == []
    assert _np(res.output).dtype == dtype and tuple(res.output.shape) == shape and res.output.is_contiguous()


@pytest.mark.parametrize("name", ["batch", "layer", "instance", "group", "channel"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_fused_group_map_reproduces_the_output(name, layout):
    x = generate("shifted", SHAPES[layout], layout, seed=2, dtype=np.float64)
    c = SHAPES[layout][layout.index("C")]
    weight = np.linspace(0.5, 2, c) if name in ("batch", "instance") else 1.5  # one line per group needs it
    res = normalize(x, name, layout=layout, backend="torch", weight=weight, bias=0.25,
                    **({"groups": 2} if name == "group" else {}))
    assert res.fused == ("" if name == "channel" and layout == "NCHW" else expected_kernel(name, layout))
    part = res.sharing
    a, m, b = (np.broadcast_to(_np(v), part.stat_shape).reshape(part.expanded_stat_shape) for v in res.group_map)
    line = ((x.reshape(part.expanded_shape) - m) * a + b).reshape(x.shape)
    np.testing.assert_allclose(line, _np(res.output), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("weight", ["scalar", "per_channel", "elementwise"])
@pytest.mark.parametrize("name", ["batch", "layer", "group", "instance"])
def test_affine_folded_or_applied_after_the_kernel(name, weight, monkeypatch):
    x = generate("shifted", (4, 6, 5, 3), seed=1)
    w = {"scalar": 1.5, "per_channel": np.linspace(0.5, 2, 6).astype(np.float32),
         "elementwise": np.linspace(0.5, 2, 90).reshape(6, 5, 3).astype(np.float32)}[weight]
    settings = dict(weight=w, bias=-0.5, **({"groups": 2} if name == "group" else {}))
    res = normalize(x, name, backend="torch", **settings)
    formula = without_fused(monkeypatch, lambda: normalize(x, name, backend="torch", **settings))
    assert res.fused == expected_kernel(name, "NCHW")
    np.testing.assert_allclose(_np(res.output), _np(formula.output), rtol=2e-4, atol=2e-5)
    assert (res.group_map is None) == (formula.group_map is None)


@pytest.mark.parametrize("name", ["batch", "layer", "instance", "group", "channel", "lrn"])
def test_nonfinite_inputs_take_the_formula(name):
    x = generate("normal", (3, 4, 3, 3), "NHWC" if name == "channel" else "NCHW", seed=4)
    x.flat[5], x.flat[40] = np.nan, np.inf
    layout = "NHWC" if name == "channel" else "NCHW"
    for policy in ("omit", "propagate"):
        res = normalize(x, name, layout=layout, backend="torch", nonfinite=policy)
        assert res.fused == ""
        if policy == "omit":
            assert np.all(np.isfinite(_np(res.output))) and any("NaN/Inf" in w for w in res.warnings)


@pytest.mark.parametrize("name", ["batch", "layer", "instance", "group"])
def test_degenerate_groups_take_the_formula(name):
    const = generate("constant", (2, 4, 3, 3))
    res = normalize(const, name, backend="torch", eps=0.0)
    assert res.fused == "" and np.all(_np(res.output) == 0) and any("torch gives NaN" in w for w in res.warnings)
    res = normalize(const, name, backend="torch")
    assert np.all(_np(res.output) == 0) and any("variance 0" in w for w in res.warnings)
    tiny = generate("normal", (2, 4, 3, 3), seed=0) * np.float32(1e-4)
    res = normalize(tiny, name, backend="torch", eps=1e-5)
    assert any("below eps" in w for w in res.warnings)
    assert res.fused == ("" if name != "batch" else BN)  # BatchNorm's statistics are exact: it only warns


def test_rms_kernel_falls_back_where_the_mean_square_is_degenerate():
    zeros = np.zeros((2, 4, 3, 3), np.float32)
    res = normalize(zeros, "rms", backend="torch", eps=0.0)
    assert res.fused == "" and np.all(_np(res.output) == 0) and any("mean square 0" in w for w in res.warnings)
    tiny = generate("normal", (2, 4, 3, 3), seed=0) * np.float32(1e-4)
    res = normalize(tiny, "rms", backend="torch", eps=1e-5)
    assert res.fused == "" and any("below eps" in w for w in res.warnings)
    x = generate("normal", (2, 4, 3, 3), seed=0)
    x[1, 2, 0, 0] = np.nan
    res = normalize(x, "rms", backend="torch")
    assert res.fused == "" and any("NaN/Inf" in w for w in res.warnings)
    res = normalize(generate("normal", (2, 4, 3, 3), seed=1), "rms", backend="torch", weight=np.arange(1.0, 5.0))
    assert res.fused == RMS  # the weight after the kernel
    np.testing.assert_allclose(_np(res.output), normalize(generate("normal", (2, 4, 3, 3), seed=1), "rms",
                                                          weight=np.arange(1.0, 5.0)).output, rtol=2e-4, atol=2e-5)


def test_large_mean_square_methods_keep_the_formula(monkeypatch):
    x = generate("normal", (2, 4, 8, 8), seed=0)
    monkeypatch.setattr(km, "RMS_KERNEL_MAX", 100)
    res = normalize(x, "rms", backend="torch")
    assert res.fused == ""
    np.testing.assert_allclose(_np(res.output), normalize(x, "rms").output, rtol=2e-4, atol=2e-5)


def test_batchnorm_eps_zero_without_zero_variance_stays_fused():
    x = generate("normal", (4, 3, 2, 2), seed=0)
    res = normalize(x, "batch", backend="torch", eps=0.0)
    assert res.fused == BN and any("torch refuses eps=0" in w for w in res.warnings)
    np.testing.assert_allclose(_np(res.output), normalize(x, "batch", eps=0.0).output, rtol=1e-4, atol=1e-5)


def test_single_value_groups_take_the_formula():
    res = normalize(generate("normal", (2, 3, 1, 1)), "instance", backend="torch")
    assert res.fused == "" and any("spatial element" in w for w in res.warnings)
    res = normalize(generate("normal", (1, 4, 1, 1)), "batch", backend="torch")
    assert any("Expected more than 1 value per channel" in w for w in res.warnings)


@pytest.mark.parametrize("name", ["layer", "batch", "group", "instance", "lrn"])
def test_float32_overflow_retries_in_float64_on_the_kernel(name):
    x = generate("normal", (4, 3, 4, 4), seed=1) * np.float32(1e20)
    settings = {"alpha": 1.0} if name == "lrn" else {"groups": 3} if name == "group" else {}
    res = normalize(torch.from_numpy(x), name, backend="torch", **settings)
    expected = normalize(x.astype(np.float64), name, **settings).output
    assert any("too large for float32" in w for w in res.warnings)
    assert res.output.dtype == torch.float32 and res.fused == expected_kernel(name, "NCHW")
    np.testing.assert_allclose(_np(res.output), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", ["layer", "batch", "instance"])
def test_half_precision_on_the_kernels(name, dtype):
    t = torch.from_numpy(generate("shifted", (4, 6, 3, 3), seed=2)).to(getattr(torch, dtype))
    res = normalize(t, name, backend="torch")
    ref = {"layer": lambda u: F.layer_norm(u, u.shape[1:]), "instance": F.instance_norm,
           "batch": lambda u: F.batch_norm(u, None, None, training=True)}[name](t.float()).to(t.dtype)
    assert res.output.dtype == t.dtype and res.fused == expected_kernel(name, "NCHW")
    torch.testing.assert_close(res.output, ref)


def test_autograd_keeps_the_formula():
    """The experiments differentiate the registry's formulas on the torch backend (x requires
    grad): torch.batch_norm_update_stats has no derivative, so such a computation keeps them."""
    from kernels.experiments._grad import normalize_autograd
    for name in ("batch", "group", "instance", "layer", "lrn"):
        x = torch.from_numpy(generate("normal", (4, 6, 3, 3), seed=0)).double().requires_grad_(True)
        y, _ = normalize_autograd(x, name, "NCHW")
        y.square().mul(torch.linspace(0, 1, y.numel(), dtype=y.dtype).reshape(y.shape)).sum().backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0, name


@pytest.mark.parametrize("convention,momentum", [("torch", 0.1), ("keras", 0.9), ("torch", None)])
def test_running_statistics_on_the_kernels_follow_each_convention(convention, momentum, monkeypatch):
    x = generate("shifted", (8, 4, 4, 3), "NHWC", seed=3, dtype=np.float64)
    kw = dict(layout="NHWC", backend="torch", running_mean=np.full(3, 0.5), running_var=np.full(3, 2.0),
              num_batches_tracked=3, momentum=momentum, momentum_convention=convention)
    res = normalize(x, "batch", **kw)
    formula = without_fused(monkeypatch, lambda: normalize(x, "batch", **kw))
    assert res.fused == BN and formula.fused == ""
    for field in ("running_mean", "running_var", "output"):
        np.testing.assert_allclose(_np(getattr(res, field)), _np(getattr(formula, field)), rtol=1e-12, atol=1e-12)
    assert res.num_batches_tracked == formula.num_batches_tracked == 4


def test_eval_mode_uses_the_evaluation_kernel_except_for_zero_variance_and_eps_zero():
    x = generate("shifted", (4, 3, 5, 5), seed=1, dtype=np.float64)
    bn = torch.nn.BatchNorm2d(3).double().eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
        bn.running_var.copy_(torch.tensor([2.0, 0.5, 1.5]))
    res = normalize(x, "batch", backend="torch", training=False, running_mean=bn.running_mean,
                    running_var=bn.running_var)
    assert res.fused == "torch.batch_norm"
    np.testing.assert_allclose(_np(res.output), bn(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-10)
    res = normalize(x, "batch", backend="torch", training=False, running_mean=np.zeros(3), running_var=np.zeros(3),
                    eps=0.0)
    assert res.fused == "" and np.all(np.isfinite(_np(res.output)))


def test_lrn_fallbacks():
    x = np.zeros((1, 3, 2, 2), np.float32)
    x[0, 0, 0, 0] = 1.0
    res = normalize(x, "lrn", backend="torch", k=0.0, size=1)
    assert res.fused == "" and any("0/0" in w for w in res.warnings)
    res = normalize(generate("normal", (2, 6, 3, 3)), "lrn", backend="torch", size=4)  # an even window: padded
    assert res.fused == expected_kernel("lrn", "NCHW")


def test_group_norm_kernels_fill_the_cache_with_the_formulas_moments_and_never_read_it(monkeypatch):
    """Their variance (1/rstd² − eps) depends on eps: the input's statistics shown must not depend
    on which eps came first, so the cache gets the formula's moments; the kernel computes its own."""
    x = generate("shifted", (6, 8, 5, 7), seed=4)
    cache = {}
    first = normalize(x, "group", backend="torch", groups=4, moments_cache=cache, eps=0.3)
    assert first.fused == GN and len(cache) == 1
    kept = {k: tuple(_np(v).copy() for v in pair) for k, pair in cache.items()}
    formula = without_fused(monkeypatch, lambda: normalize(x, "group", backend="torch", groups=4, eps=0.3))
    for mean, var in kept.values():
        assert np.array_equal(mean.ravel(), _np(formula.mean).ravel())
        assert np.array_equal(var.ravel(), _np(formula.var).ravel())
    (key, original), = cache.items()
    cache[key] = (original[0] + 1.0, original[1])  # not read: the output stays the kernel's
    again = normalize(x, "group", backend="torch", groups=4, moments_cache=cache, eps=0.3)
    assert np.array_equal(_np(again.output), _np(first.output)) and again.fused == GN
    shown = group_moments(x, first.sharing, backend="torch", cache={key: original})
    np.testing.assert_allclose(shown.var, _np(first.var).ravel(), rtol=1e-5)
    assert not normalize(x, "group", backend="torch", groups=4).warnings


def test_batchnorm_statistics_are_read_from_the_cache():
    x = generate("normal", (4, 3, 5, 5), seed=0)
    cache = {}
    res = normalize(x, "batch", backend="torch", moments_cache=cache)
    (key, (mean, var)), = cache.items()
    assert res.fused == BN
    cache[key] = (mean + 1.0, var)
    shifted = normalize(x, "batch", backend="torch", moments_cache=cache)
    step = 1.0 / np.sqrt(_np(var) + 1e-5).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(_np(shifted.output), _np(res.output) - step, atol=1e-5)


def test_the_formula_is_used_for_methods_without_a_kernel():
    x = generate("shifted", (4, 6, 5, 3), seed=0)
    for name in set(METHODS) - {"batch", "layer", "instance", "group", "lrn", "rms", "frn", "adain",
                                "conditional_batch"}:
        assert normalize(x, name, backend="torch").fused == "", name
    assert normalize(x, "frn", backend="torch").fused == RMS  # a mean square over each (sample, channel) row
    assert normalize(x, "ghost_batch", backend="torch", virtual_batch=2).fused == ""
    assert normalize(x, "custom", backend="torch", axes="CHW", groups=2).fused == GN  # GroupNorm by another name
