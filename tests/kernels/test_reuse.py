"""What the kernels reuse to be fast must not change a number: moments kept in a caller's
moments_cache, element-wise NumPy work split over threads, histograms told the data's range."""

import warnings

import numpy as np
import pytest

from kernels import METHODS, normalize
from kernels.backend import PARALLEL_ELEMENTS, NumpyOps, available_backends
from kernels.inputs import generate
from kernels.moments import moments_key
from kernels.summaries import group_moments, histograms

from .references import reference

METHODS_WITH_MOMENTS = ["batch", "layer", "instance", "group", "rms", "pixel", "channel", "ghost_batch", "custom",
                        "standardize", "batch_renorm"]


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("name", METHODS_WITH_MOMENTS)
def test_reused_moments_give_the_same_output_as_fresh_ones(name, backend):
    x = generate("shifted", (6, 8, 5, 7), seed=4)
    cache = {}
    first = normalize(x, name, backend=backend, moments_cache=cache)
    assert cache, "the moments were not kept"
    eps_values = (1e-3, 1e-5) if any(p.name == "eps" for p in METHODS[name].params) else (None,)
    for eps in eps_values:  # the later calls take the moments from the cache
        settings = {} if eps is None else {"eps": eps}
        reused = normalize(x, name, backend=backend, moments_cache=cache, **settings)
        fresh = normalize(x, name, backend=backend, **settings)
        assert np.array_equal(_np(reused.output), _np(fresh.output))
        assert np.array_equal(_np(reused.mean), _np(fresh.mean)) and np.array_equal(_np(reused.var), _np(fresh.var))
        assert reused.warnings == fresh.warnings
    assert _np(first.output).shape == x.shape


def test_reused_moments_match_torch_batch_norm():
    x = generate("shifted", (8, 4, 6, 6), seed=1)
    cache = {}
    normalize(x, "batch", moments_cache=cache)
    out = normalize(x, "batch", moments_cache=cache, eps=0.1).output
    expected = reference("batch", x, "NCHW", {"eps": 0.1})
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_the_cache_is_read():
    """A cache holding other moments changes the output: the kernels really take them from there."""
    x = generate("normal", (4, 3, 5, 5), seed=0)
    cache = {}
    res = normalize(x, "batch", moments_cache=cache)
    (key, (mean, var)), = cache.items()
    assert key == moments_key(NumpyOps(), res.sharing, True, x)
    cache[key] = (mean + 1.0, var)
    shifted = normalize(x, "batch", moments_cache=cache).output
    np.testing.assert_allclose(shifted, res.output - 1.0 / np.sqrt(var + 1e-5).reshape(1, 3, 1, 1), atol=1e-5)


def test_nonfinite_inputs_are_not_cached_and_still_warn():
    x = generate("normal", (4, 3, 5, 5), seed=0)
    x[0, 0, 0, 0] = np.nan
    cache = {}
    first = normalize(x, "batch", moments_cache=cache)
    second = normalize(x, "batch", moments_cache=cache)
    assert not cache and first.warnings == second.warnings and any("NaN" in w for w in second.warnings)


def test_group_moments_share_the_cache_with_normalize():
    x = generate("shifted", (4, 6, 5, 5), seed=3)
    cache = {}
    res = normalize(x, "group", groups=3, moments_cache=cache)
    kept = dict(cache)
    display = group_moments(x, res.sharing, cache=cache)
    assert cache.keys() == kept.keys()  # found, not computed again
    direct = group_moments(x, res.sharing)
    assert np.array_equal(display.mean, direct.mean) and np.array_equal(display.var, direct.var)


@pytest.mark.parametrize("stat_shape", [(1, 16, 1), (64, 1, 1), (64, 16, 1), ()])
def test_threaded_elementwise_work_equals_one_call(stat_shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 16, PARALLEL_ELEMENTS // 512)).astype(np.float32)  # 2 x PARALLEL_ELEMENTS
    y = rng.standard_normal(stat_shape).astype(np.float32) if stat_shape else np.float32(0.3)
    ops = NumpyOps()
    assert np.array_equal(ops.subtract(x, y), x - y)
    scaled = x.copy()
    assert np.array_equal(ops.scale_(scaled, y), x * y)


def test_threads_keep_the_callers_error_settings():
    x = np.full((8, PARALLEL_ELEMENTS // 4), 3e38, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="ignore"):
            assert np.isinf(NumpyOps().scale_(x, np.float32(10))).all()
        with np.errstate(over="raise"), pytest.raises(FloatingPointError):
            NumpyOps().scale_(np.full_like(x, 3e38), np.float32(10))


@pytest.mark.parametrize("backend", available_backends())
def test_histograms_with_known_ranges_equal_measured_ones(backend):
    x = generate("shifted", (16, 8, 32, 32), seed=5)
    out = normalize(x, "batch").output
    measured = histograms(x, out, backend=backend)
    told = histograms(x, out, backend=backend, range_before=(float(x.min()), float(x.max())),
                      range_after=(float(out.min()), float(out.max())), sample_before=measured.sample_before,
                      finite=True)
    for name in ("edges_before", "counts_before", "edges_after", "counts_after", "sample_after"):
        assert np.array_equal(getattr(told, name), getattr(measured, name)), name


@pytest.mark.parametrize("backend", available_backends())
def test_known_ranges_a_rounding_error_short_count_the_extremes(backend):
    values = np.linspace(-1, 1, 101).astype(np.float32)
    tight = (-1 + 1e-7, 1 - 1e-7)  # as a range derived from the statistics may come out
    h = histograms(values, values, bins=10, backend=backend, range_before=tight, range_after=tight, finite=True)
    assert h.counts_before.sum() == h.counts_after.sum() == 101


def _np(a):
    return a if isinstance(a, np.ndarray) else a.detach().cpu().numpy()


def test_elementwise_ops_take_zero_dimensional_arrays():
    x = np.array(3.0, np.float32)
    assert NumpyOps().subtract(x, np.float32(1)) == 2.0
    assert NumpyOps().scale_(x.copy(), np.float32(2)) == 6.0
