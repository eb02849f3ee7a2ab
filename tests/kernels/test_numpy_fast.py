"""What makes the NumPy backend fast must not change a result beyond rounding: reductions along
contiguous rows (BLAS dot products over runs of at most PARTIAL elements, added in float64, on a
few threads), broadcast steps with a short ufunc buffer, LocalResponseNorm in a few passes per
thread, and the settings prepare() keeps between calls."""

import numpy as np
import pytest

import kernels.backend as kb
from kernels import normalize, prepare
from kernels.backend import PARALLEL_ELEMENTS, NumpyOps
from kernels.core import NormError
from kernels.inputs import generate

from .references import reference


@pytest.mark.parametrize("shape,axes", [
    ((3, 5, 4096), (2,)),               # one run per row
    ((2, 3, 3 * 4096 + 100), (2,)),     # whole runs and a tail
    ((4, 6, 16, 16), (1, 2, 3)),        # LayerNorm's rows
    ((4, 3, 2, 16, 16), (2, 3, 4)),     # GroupNorm's (expanded) rows
    ((6, 4, 16, 16), (0, 2, 3)),        # BatchNorm: per-row sums added over N
    ((64, 16, PARALLEL_ELEMENTS // 512), (2,)),  # threaded
    ((2, 2, 300), (0, 2)),              # short rows added over a leading axis
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_reductions_equal_float64_sums(shape, axes, dtype):
    x = (np.random.default_rng(0).standard_normal(shape) * 2 + 3).astype(dtype)
    ops = NumpyOps()
    exact = x.astype(np.float64)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    mean, msq = ops.mean(x, axes), ops.mean_of_squares(x, axes)
    assert mean.dtype == msq.dtype == dtype and mean.shape == exact.mean(axis=axes, keepdims=True).shape
    np.testing.assert_allclose(mean, exact.mean(axis=axes, keepdims=True), rtol=rtol)
    np.testing.assert_allclose(msq, (exact * exact).mean(axis=axes, keepdims=True), rtol=rtol)


def test_row_reductions_are_taken_where_rows_are_long_enough():
    ops = NumpyOps()
    assert ops._row_sums(np.ones((4, 3, 16, 16), np.float32), (2, 3), False) is not None
    assert ops._row_sums(np.ones((4, 3, 4, 4), np.float32), (2, 3), False) is None  # 16 elements: NumPy's own
    assert ops._row_sums(np.ones((4, 3, 16, 16), np.float32), (1, 2), False) is None  # not at the end
    assert ops._row_sums(np.ones((4, 16, 16, 3), np.float32).transpose(0, 3, 1, 2), (2, 3), False) is None


@pytest.mark.parametrize("row", [16, 700, 1000, 2048, 5000, 12544])
def test_broadcast_steps_with_a_short_buffer_are_exact(row):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 3, row)).astype(np.float32)
    y = rng.standard_normal((64, 3, 1)).astype(np.float32)
    ops = NumpyOps()
    assert np.array_equal(ops.subtract(x, y), x - y)
    scaled = x.copy()
    assert np.array_equal(ops.scale_(scaled, y), x * y)
    assert np.getbufsize() == 8192  # restored


@pytest.mark.parametrize("layout,shape", [("NCHW", (8, 16, 64, 64)), ("NHWC", (8, 64, 64, 16)), ("NCL", (4, 7, 9)),
                                          ("CNHW", (6, 3, 4, 4)), ("NCHW", (1, 3, 4, 4))])
@pytest.mark.parametrize("settings", [{}, {"size": 4, "beta": 0.5, "k": 2.0}, {"size": 3, "beta": 0.6, "alpha": 0.1},
                                      {"size": 9, "beta": 1.0}])
def test_lrn_fast_path_matches_torch(layout, shape, settings):
    x = generate("shifted", shape, layout, seed=3)
    res = normalize(x, "lrn", layout=layout, **settings)
    params = prepare("lrn", shape, layout, **settings)[1]
    np.testing.assert_allclose(res.output, reference("lrn", x, layout, params), rtol=2e-4, atol=2e-5)
    assert res.warnings == [] and res.var.shape == shape and res.output.dtype == np.float32


def test_lrn_fast_path_declines_what_the_formula_must_handle():
    ops = NumpyOps()
    x = np.ones((2, 3, 4, 4), np.float32)
    assert ops.local_response(x, 1, 5, 1e-4, 0.75, 1.0) is not None
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    assert ops.local_response(bad, 1, 5, 1e-4, 0.75, 1.0) is None
    assert ops.local_response(np.zeros_like(x), 1, 5, 1e-4, 0.75, 0.0) is None  # 0/0
    assert ops.local_response(x.transpose(1, 0, 2, 3), 0, 5, 1e-4, 0.75, 1.0) is None  # C first: windows cross slices


@pytest.mark.parametrize("name", ["batch", "layer", "instance", "group", "rms", "channel", "pixel"])
def test_threaded_row_path_matches_torch(name, monkeypatch):
    monkeypatch.setattr(kb, "PARALLEL_ELEMENTS", 1 << 12)
    x = generate("shifted", (8, 32, 24, 24), seed=5)
    settings = {"groups": 8} if name == "group" else {}
    res = normalize(x, name, **settings)
    params = prepare(name, x.shape, "NCHW", **settings)[1]
    if params.get("eps", 0) is None:
        params["eps"] = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(res.output, reference(name, x, "NCHW", params), rtol=2e-4, atol=2e-5)


def test_prepare_keeps_settings_but_not_their_mistakes():
    a = prepare("group", (4, 6, 5, 5), groups=3)
    b = prepare("group", (4, 6, 5, 5), groups=3)
    assert a[2] is b[2] and a[1] == b[1] and a[1] is not b[1]  # the same partition, a fresh dict
    a[1]["eps"] = 99.0
    assert prepare("group", (4, 6, 5, 5), groups=3)[1]["eps"] == 1e-5
    prepare("batch", (4, 6, 5, 5), eps=1)
    with pytest.raises(NormError, match="eps=True is not a number"):
        prepare("batch", (4, 6, 5, 5), eps=True)  # equal to 1 and hashed alike, but refused
    weight = np.arange(6.0)
    assert prepare("batch", (4, 6, 5, 5), weight=weight)[1]["weight"] is weight
    assert prepare("minmax", [4, 6, 5, 5], feature_range=[-1, 1])[1]["feature_range"] == (-1.0, 1.0)


@pytest.mark.parametrize("threads", [False, True])
@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("shape,axes", [((4, 3, 2, 32, 16), (2, 3, 4)), ((8, 6, 300), (2,)), ((2, 5000), (1,))])
def test_one_sweep_standardizing_equals_the_steps(shape, axes, center, threads, monkeypatch):
    """NumpyOps.standardize_rows gives the very numbers of mean / subtract / mean_of_squares /
    scale_ (so a cached mean and variance reproduce its output exactly)."""
    if threads:
        monkeypatch.setattr(kb, "PARALLEL_ELEMENTS", 1 << 10)
    x = (np.random.default_rng(2).standard_normal(shape) * 3 + 1).astype(np.float32)
    x[0] = 0.5  # a constant group: variance 0, output 0 with eps=0
    ops = NumpyOps()
    for eps in (1e-5, 0.0):
        mean, var, out = ops.standardize_rows(x, axes, eps, center)
        if center:
            m = ops.mean(x, axes)
            d = ops.subtract(x, m)
            v = ops.mean_of_squares(d, axes)
            expected = ops.scale_(d, ops.inverse_std(v, eps))
        else:
            m, v = np.zeros_like(mean), ops.mean_of_squares(x, axes)
            expected = x * ops.inverse_std(v, eps)
        assert np.array_equal(mean, m) and np.array_equal(var, v) and np.array_equal(out, expected)
        assert np.all(np.isfinite(out))
