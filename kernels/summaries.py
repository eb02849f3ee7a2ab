"""What the views show about a result, computed on the result's own backend: per-group
statistics before and after, summary numbers, and histograms over shared bin edges.

Everything returned here is NumPy and finite: NaN/Inf values are counted, never averaged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .backend import get_ops
from .moments import moments_key

#: Histograms of more elements than this are computed on a uniform random sample.
DEFAULT_MAX_SAMPLES = 1 << 16


def _prepared(ops, values, shape=None):
    a = ops.asarray(values)
    a = ops.astype(a, ops.compute_dtype(a))
    return ops.reshape(a, shape) if shape is not None else a


@dataclass
class GroupMoments:
    """Count, mean and biased variance of the finite values of every statistics group
    (flat order of `stat_shape`)."""

    stat_shape: tuple
    count: np.ndarray
    mean: np.ndarray
    var: np.ndarray


def group_moments(values, sharing, backend: str = "numpy", device: str = "cpu", cache: dict | None = None
                  ) -> GroupMoments:
    """Moments of every group of `sharing.table` (the statistics groups; for LocalResponseNorm the
    channels). cache: a moments cache of `values` (normalize's moments_cache), read and filled."""
    ops = get_ops(backend, device)
    part = sharing.table
    xe, axes = _prepared(ops, values, part.expanded_shape), part.reduce_positions
    key = moments_key(ops, part, True, xe)
    if cache is not None and key in cache:
        mean, var = cache[key]
    else:
        mean = ops.mean(xe, axes)
        var = ops.mean_of_squares(ops.subtract(xe, mean), axes) if ops.all(ops.isfinite(mean)) else None
        if cache is not None and var is not None and ops.all(ops.isfinite(var)):
            cache[key] = (mean, var)
    if var is not None:
        count = np.full(part.n_groups, part.group_size)
        return GroupMoments(part.stat_shape, count, ops.to_numpy(mean).ravel(), ops.to_numpy(var).ravel())
    finite = ops.isfinite(xe)
    x0 = ops.where(finite, xe, 0.0)
    n = ops.sum(ops.astype(finite, x0.dtype), axes)
    safe = ops.maximum(n, 1.0)
    mean = ops.sum(x0, axes) / safe
    d = ops.where(finite, xe - mean, 0.0)
    var = ops.sum(d * d, axes) / safe
    return GroupMoments(part.stat_shape, ops.to_numpy(n).ravel().astype(np.int64), ops.to_numpy(mean).ravel(),
                        ops.to_numpy(var).ravel())


@dataclass
class GroupStats:
    """One row per statistics group (flat order of `stat_shape`), before and after."""

    stat_shape: tuple
    count: np.ndarray
    mean_before: np.ndarray
    var_before: np.ndarray
    mean_after: np.ndarray
    var_after: np.ndarray

    def __len__(self):
        return len(self.count)

    def coordinates(self, row: int) -> tuple:
        """The group's index into a statistic of `stat_shape`."""
        return tuple(int(i) for i in np.unravel_index(row, self.stat_shape))

    @classmethod
    def of(cls, before: GroupMoments, after: GroupMoments) -> GroupStats:
        return cls(before.stat_shape, before.count, before.mean, before.var, after.mean, after.var)


def group_stats(before, after, sharing, backend: str = "numpy", device: str = "cpu") -> GroupStats:
    """Count, mean and biased variance of every statistics group, before and after."""
    return GroupStats.of(group_moments(before, sharing, backend, device),
                         group_moments(after, sharing, backend, device))


@dataclass
class Summary:
    """Summary numbers over the finite values; `nonfinite` counts the others. beyond_3sigma is
    estimated on a sample when `sampled`."""

    count: int
    mean: float
    std: float
    min: float
    max: float
    beyond_3sigma: float  # fraction of values farther than 3 std from the mean
    nonfinite: int
    sampled: bool = False


def summarize(values, backend: str = "numpy", device: str = "cpu") -> Summary:
    """Exact summary numbers of all values."""
    ops = get_ops(backend, device)
    a = _prepared(ops, values, (-1,))
    total = int(a.shape[0])
    finite = ops.isfinite(a)
    n = ops.count(finite)
    if n < total:
        a = a[finite]
    if n == 0:
        return Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0, total)
    mean = ops.scalar(ops.mean(a, (0,)).reshape(()))
    d = a - mean
    std = ops.scalar(ops.mean(d * d, (0,)).reshape(())) ** 0.5
    beyond = ops.count(ops.abs(d) > 3 * std) / n if std > 0 else 0.0
    return Summary(n, mean, std, ops.scalar(a.min()), ops.scalar(a.max()), beyond, total - n)


def summary_from(moments: GroupMoments, value_range, sample, total: int, sampled: bool) -> Summary:
    """Summary numbers without another pass over the data: mean and variance pooled from the
    groups (law of total variance), the range as given, beyond-3σ counted on `sample` (numpy)."""
    n = int(moments.count.sum())
    if n == 0:
        return Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0, total, sampled)
    w = moments.count / n
    mean = float(np.sum(w * moments.mean))
    var = float(np.sum(w * (moments.var + (moments.mean - mean) ** 2)))
    std = max(var, 0.0) ** 0.5
    s = sample[np.isfinite(sample)].astype(np.float64)  # float32 - a huge mean would overflow
    beyond = float(np.count_nonzero(np.abs(s - mean) > 3 * std)) / max(1, s.size) if std > 0 else 0.0
    return Summary(n, mean, std, float(value_range[0]), float(value_range[1]), beyond, total - n, sampled)


@dataclass
class Histograms:
    """Counts of the values before and after over `bins` equal bins each.

    With shared=True both use the same edges. When the tensors were subsampled, counts are
    scaled by `scale` (elements per sampled value) so they still estimate element counts.
    `range_before`/`range_after` are the finite (min, max) of all values; `sample_before` /
    `sample_after` the values that were binned (numpy).
    """

    edges_before: np.ndarray
    counts_before: np.ndarray
    edges_after: np.ndarray
    counts_after: np.ndarray
    sampled: bool
    scale: float
    range_before: tuple = (0.0, 0.0)
    range_after: tuple = (0.0, 0.0)
    sample_before: np.ndarray = None
    sample_after: np.ndarray = None


def finite_range(ops, a) -> tuple:
    """(min, max) of the finite values of backend array a; (0, 0) when there are none."""
    lo, hi = ops.scalar(a.min()), ops.scalar(a.max())
    if np.isfinite(lo) and np.isfinite(hi):
        return lo, hi
    a = a[ops.isfinite(a)]
    if a.shape[0] == 0:
        return 0.0, 0.0
    return ops.scalar(a.min()), ops.scalar(a.max())


@functools.lru_cache(maxsize=8)
def sample_indices(total: int, n: int, seed: int) -> np.ndarray:
    """n positions in range(total) drawn uniformly with replacement (cached: the same draw
    serves every update of the same tensor size)."""
    idx = np.sort(np.random.default_rng(seed).integers(0, total, n))  # in order: a gather that walks memory forward
    idx.setflags(write=False)
    return idx


def _edges(lo, hi, bins):
    if hi <= lo:  # a single value: a unit-wide bin range around it
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


def histograms(before, after, bins: int = 64, shared: bool = True, max_samples: int | None = DEFAULT_MAX_SAMPLES,
               seed: int = 0, backend: str = "numpy", device: str = "cpu", value_range=None,
               range_before=None, range_after=None, sample_before=None, finite: bool = False) -> Histograms:
    """Histograms of before and after (same size) over shared or separate bin edges.

    max_samples: above this many elements, both tensors are histogrammed on the same
    uniform random sample of positions (reproducible with `seed`); None: never sample.
    value_range: fixed (lo, hi) for both, instead of the data's range.
    Known facts that skip passes over the data (a caller that draws the same tensors again):
    range_before / range_after, the finite range of each tensor; sample_before, `before` at
    the sample positions (the `sample_before` this function returned); finite=True, both
    tensors hold finite values only, inside their ranges up to rounding (no masking: a value
    a rounding error outside counts in the end bin).
    """
    ops = get_ops(backend, device)
    arrays = [_prepared(ops, arr, (-1,)) for arr in (before, after)]
    total = int(arrays[0].shape[0])
    ranges = [range_before or finite_range(ops, arrays[0]), range_after or finite_range(ops, arrays[1])]
    sampled = max_samples is not None and total > max_samples
    if sampled:
        idx = ops.asarray(sample_indices(total, max_samples, seed))
        arrays = [ops.asarray(sample_before) if sample_before is not None else arrays[0][idx], arrays[1][idx]]
    scale = total / max_samples if sampled else 1.0
    bin_ranges = [value_range] * 2 if value_range is not None else list(ranges)
    if shared and value_range is None:
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        bin_ranges = [(lo, hi)] * 2
    edges = [_edges(float(lo), float(hi), bins) for lo, hi in bin_ranges]
    clip = finite and value_range is None
    counts = [ops.histogram(a, e[0], e[-1], bins, clip=clip) * scale for a, e in zip(arrays, edges)]
    return Histograms(edges[0], counts[0], edges[1], counts[1], sampled, scale, tuple(ranges[0]), tuple(ranges[1]),
                      ops.to_numpy(arrays[0]), ops.to_numpy(arrays[1]))
