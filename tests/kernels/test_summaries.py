"""Per-group statistics, summary numbers and histograms, on both backends."""

import numpy as np
import pytest

from kernels import normalize
from kernels.inputs import generate
from kernels.summaries import group_stats, histograms, summarize

from .references import torch


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_histograms_equal_numpy_histogram_on_shared_edges(backend):
    x = generate("bimodal", (4, 6, 8, 8), seed=1)
    res = normalize(x, "group", groups=3)
    out = res.output
    h = histograms(x, out, bins=40, backend=backend, max_samples=None)
    assert np.array_equal(h.edges_before, h.edges_after)
    assert h.edges_before[0] == min(x.min(), out.min()) and h.edges_before[-1] == pytest.approx(max(x.max(), out.max()))
    for values, counts in ((x, h.counts_before), (out, h.counts_after)):
        expected, _ = np.histogram(values, bins=h.edges_before)
        assert np.abs(counts - expected).sum() <= 2  # float rounding at a bin edge may move a value over
        assert counts.sum() == values.size


def test_separate_ranges_and_fixed_range():
    x = generate("normal", (2, 3, 10, 10), seed=0) * 10
    out = normalize(x, "layer").output
    h = histograms(x, out, bins=20, shared=False, max_samples=None)
    assert h.edges_before[0] == x.min() and h.edges_after[0] == out.min()
    fixed = histograms(x, out, bins=20, value_range=(-1, 1), max_samples=None)
    assert fixed.edges_before[0] == -1 and fixed.counts_before.sum() == np.count_nonzero(np.abs(x) <= 1)


def test_subsampled_histogram_estimates_counts():
    x = generate("normal", (8, 8, 64, 64), seed=0)
    h = histograms(x, x, bins=30, max_samples=20000)
    exact, _ = np.histogram(x, bins=h.edges_before)
    assert h.sampled and h.scale == pytest.approx(x.size / 20000)
    assert h.counts_before.sum() == pytest.approx(x.size)
    big = exact > 0.05 * exact.max()
    np.testing.assert_allclose(h.counts_before[big], exact[big], rtol=0.15)


def test_nonfinite_values_are_not_binned_and_constant_input_gets_a_range():
    x = np.ones((1, 2, 3, 3), np.float32)
    h = histograms(x, x, bins=10)
    assert h.edges_before[0] < 1 < h.edges_before[-1] and h.counts_before.sum() == x.size
    x[0, 0, 0, 0] = np.nan
    x[0, 1, 0, 0] = np.inf
    h = histograms(x, x, bins=10)
    assert h.counts_before.sum() == x.size - 2 and np.all(np.isfinite(h.edges_before))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name,settings", [("batch", {}), ("group", {"groups": 2}), ("lrn", {}),
                                           ("ghost_batch", {"virtual_batch": 2})])
def test_group_stats_are_torch_var_mean_per_group(name, settings, backend):
    x = generate("shifted", (4, 6, 5, 5), seed=3, dtype=np.float64)
    res = normalize(x, name, **settings)
    gs = group_stats(x, res.output, res.sharing, backend=backend)
    t = torch.from_numpy(x)
    if name == "group":
        var, mean = torch.var_mean(t.reshape(4, 2, -1), dim=2, unbiased=False)
    elif name == "ghost_batch":
        var, mean = torch.var_mean(t.reshape(2, 2, 6, 25), dim=(1, 3), unbiased=False)
    else:  # BatchNorm's groups; LocalResponseNorm is tabulated per channel
        var, mean = torch.var_mean(t, dim=(0, 2, 3), unbiased=False)
    np.testing.assert_allclose(gs.mean_before, mean.reshape(-1).numpy(), rtol=1e-10)
    np.testing.assert_allclose(gs.var_before, var.reshape(-1).numpy(), rtol=1e-10)
    assert len(gs) == mean.numel() and gs.count.sum() == x.size
    if name != "lrn":
        np.testing.assert_allclose(gs.mean_after, 0, atol=1e-9)
        np.testing.assert_allclose(gs.var_after, gs.var_before / (gs.var_before + 1e-5), rtol=1e-9)


def test_group_stats_skip_nonfinite():
    x = generate("normal", (2, 3, 4, 4), seed=0).astype(np.float64)
    x[0, 1, 2, 2] = np.nan
    gs = group_stats(x, x, normalize(x, "instance").sharing)
    assert np.all(np.isfinite(gs.mean_before)) and gs.count[1] == 15
    assert gs.mean_before[1] == pytest.approx(np.nanmean(x[0, 1]))


def test_summary_numbers():
    x = np.concatenate([np.zeros(98), [10.0, np.nan]]).astype(np.float32).reshape(1, 1, 100)
    s = summarize(x)
    assert (s.count, s.nonfinite, s.min, s.max) == (99, 1, 0.0, 10.0)
    assert s.mean == pytest.approx(10 / 99) and s.std == pytest.approx(np.std(np.r_[np.zeros(98), 10.0]))
    assert s.beyond_3sigma == pytest.approx(1 / 99)
    t = summarize(torch.from_numpy(x), backend="torch")
    assert t.count == 99 and t.mean == pytest.approx(s.mean)
