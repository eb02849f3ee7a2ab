"""What the views show about a result, computed on the result's own backend: per-group
statistics before and after, summary numbers, and histograms over shared bin edges.

Everything returned here is NumPy and finite: NaN/Inf values are counted, never averaged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backend import get_ops
from .partition import ChannelWindow, Partition

#: Histograms of more elements than this are computed on a uniform random sample.
DEFAULT_MAX_SAMPLES = 1 << 18


def display_partition(sharing) -> Partition:
    """The groups to tabulate: the partition itself, or for LocalResponseNorm (one window per
    element) the channels, each over the batch and all positions."""
    if isinstance(sharing, ChannelWindow):
        return Partition(sharing.layout, sharing.shape, sharing.layout.replace("C", ""))
    return sharing


@dataclass
class GroupStats:
    """One row per statistics group (flat order of `stat_shape`)."""

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


def _finite_moments(ops, xe, axes):
    """(count, mean, biased var) over axes using the finite values only."""
    mean = ops.mean(xe, axes)
    if ops.all(ops.isfinite(mean)):
        d = xe - mean
        count = np.full(int(np.prod(mean.shape)), int(np.prod(xe.shape)) // int(np.prod(mean.shape)))
        return count, ops.to_numpy(mean).ravel(), ops.to_numpy(ops.mean(d * d, axes)).ravel()
    finite = ops.isfinite(xe)
    x0 = ops.where(finite, xe, 0.0)
    n = ops.sum(ops.astype(finite, x0.dtype), axes)
    safe = ops.maximum(n, 1.0)
    mean = ops.sum(x0, axes) / safe
    d = ops.where(finite, xe - mean, 0.0)
    var = ops.sum(d * d, axes) / safe
    return ops.to_numpy(n).ravel().astype(np.int64), ops.to_numpy(mean).ravel(), ops.to_numpy(var).ravel()


def group_stats(before, after, sharing, backend: str = "numpy", device: str = "cpu") -> GroupStats:
    """Count, mean and biased variance of every statistics group, before and after."""
    ops = get_ops(backend, device)
    part = display_partition(sharing)
    axes = part.reduce_positions
    out = []
    for arr in (before, after):
        a = ops.asarray(arr)
        a = ops.astype(a, ops.compute_dtype(a))
        out.append(_finite_moments(ops, ops.reshape(a, part.expanded_shape), axes))
    (count, mb, vb), (_, ma, va) = out
    return GroupStats(part.stat_shape, count, mb, vb, ma, va)


@dataclass
class Summary:
    """Summary numbers over the finite values; `nonfinite` counts the others."""

    count: int
    mean: float
    std: float
    min: float
    max: float
    beyond_3sigma: float  # fraction of values farther than 3 std from the mean
    nonfinite: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def summarize(values, backend: str = "numpy", device: str = "cpu") -> Summary:
    ops = get_ops(backend, device)
    a = ops.asarray(values)
    a = ops.reshape(ops.astype(a, ops.compute_dtype(a)), (-1,))
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
    return Summary(n, mean, std, ops.scalar(ops.amin(a, (0,)).reshape(())), ops.scalar(ops.amax(a, (0,)).reshape(())),
                   beyond, total - n)


@dataclass
class Histograms:
    """Counts of the values before and after over `bins` equal bins each.

    With shared=True both use the same edges. When the tensors were subsampled, counts are
    scaled by `scale` (elements per sampled value) so they still estimate element counts.
    """

    edges_before: np.ndarray
    counts_before: np.ndarray
    edges_after: np.ndarray
    counts_after: np.ndarray
    sampled: bool
    scale: float


def finite_range(ops, a):
    """(min, max) of the finite values of backend array a; (0, 0) when there are none."""
    lo, hi = ops.scalar(a.min()), ops.scalar(a.max())
    if np.isfinite(lo) and np.isfinite(hi):
        return lo, hi
    a = a[ops.isfinite(a)]
    if a.shape[0] == 0:
        return 0.0, 0.0
    return ops.scalar(a.min()), ops.scalar(a.max())


def _edges(lo, hi, bins):
    if hi <= lo:  # a single value: a unit-wide bin range around it
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


def histograms(before, after, bins: int = 64, shared: bool = True, max_samples: int | None = DEFAULT_MAX_SAMPLES,
               seed: int = 0, backend: str = "numpy", device: str = "cpu", value_range=None) -> Histograms:
    """Histograms of before and after (same size) over shared or separate bin edges.

    max_samples: above this many elements, both tensors are histogrammed on the same
    uniform random sample of positions (reproducible with `seed`); None: never sample.
    value_range: fixed (lo, hi) for both, instead of the data's range.
    """
    ops = get_ops(backend, device)
    arrays = []
    for arr in (before, after):
        a = ops.asarray(arr)
        arrays.append(ops.reshape(ops.astype(a, ops.compute_dtype(a)), (-1,)))
    total = int(arrays[0].shape[0])
    sampled = max_samples is not None and total > max_samples
    if sampled:
        arrays = [ops.sample(a, max_samples, seed) for a in arrays]
    scale = total / max_samples if sampled else 1.0
    ranges = [value_range] * 2 if value_range is not None else [finite_range(ops, a) for a in arrays]
    if shared and value_range is None:
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        ranges = [(lo, hi)] * 2
    edges = [_edges(float(lo), float(hi), bins) for lo, hi in ranges]
    counts = [ops.histogram(a, e[0], e[-1], bins) * scale for a, e in zip(arrays, edges)]
    return Histograms(edges[0], counts[0], edges[1], counts[1], sampled, scale)
