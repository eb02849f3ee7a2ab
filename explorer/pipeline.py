"""One computation of the explorer, without Qt: input -> kernels.normalize -> everything the
views draw (histograms, per-group statistics, summaries, heatmap tiles). The compute worker
runs it off the GUI thread; the command line and the benchmark call it directly."""

from __future__ import annotations

import ctypes
import functools
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np

from kernels import METHODS, normalize
from kernels.backend import bin_counts, get_ops
from kernels.inputs import generate
from kernels.layouts import canonical_order, check_layout, permutation, spatial_axes
from kernels.summaries import (GroupMoments, GroupStats, display_partition, finite_range, group_moments, histograms,
                               summary_from)

#: Above this many elements the explorer refuses a shape (memory for input, output, temporaries).
MAX_ELEMENTS = 64 * 1024 * 1024
#: At most this many statistics groups get their own histogram overlay.
MAX_OVERLAYS = 6
#: The value view shows at most this many samples and channels, each tile at most TILE_PIXELS wide.
MAX_TILES, TILE_PIXELS = 8, 48
#: Groupings whose moments are kept per input (a new eps or weight reuses them).
MOMENTS_KEPT = 4
#: Training steps run to fill running statistics for eval mode ("warmed").
WARMUP_STEPS = 20


def viewable_layout(layout) -> str:
    """`layout` checked, with at most two spatial axes: the views draw (N, C, H, W) blocks."""
    layout = check_layout(layout)
    if len(spatial_axes(layout)) > 2:
        raise ValueError(f"layout {layout} has {len(spatial_axes(layout))} spatial axes; the explorer draws up to two "
                         f"(the kernels API takes volumes)")
    return layout


def reuse_freed_memory():
    """Ask glibc to keep freed large blocks for reuse instead of returning them to the system:
    each computation allocates arrays of tens of MB, and fresh pages cost more than the math
    (page faults); with this an 8.4M-element update takes about half as long. No-op elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: large blocks from the heap, not fresh mmaps
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep freed heap memory for the next update
    except (OSError, AttributeError):
        pass


@dataclass(frozen=True)
class Request:
    """A snapshot of the settings that decide one computation."""

    method: str
    layout: str
    shape: tuple
    params: tuple  # sorted (name, value) pairs of the explicitly given parameters
    backend: str = "numpy"
    device: str = "cpu"
    input: str = "shifted"
    seed: int = 0
    training: bool = True
    running: str = "warmed"  # eval-mode running statistics: "warmed" (WARMUP_STEPS steps) or "fresh" (0, 1)
    nonfinite: str = "omit"
    bins: int = 64
    shared_bins: bool = True
    overlays: bool = True
    selected: tuple = ()
    file_key: str = ""  # identifies a loaded file's tensor ("" for generated inputs)

    @property
    def param_dict(self) -> dict:
        return dict(self.params)


@dataclass
class Computed:
    """What the views draw, all NumPy. Canonical arrays are (N, C, H, W) views (H=1 for sequences)."""

    request: Request
    result: object  # kernels.Result
    x: np.ndarray
    output: np.ndarray
    hist: object
    groups: object
    summary_before: object
    summary_after: object
    overlays: list  # (group row, counts before, counts after)
    tiles_before: np.ndarray
    tiles_after: np.ndarray
    tile_index: tuple  # (sample indices, channel indices) shown in the value view
    normalize_ms: float
    total_ms: float
    running_used: tuple = ()  # (running_mean, running_var) fed to an eval-mode computation
    warnings: list = field(default_factory=list)

    def canonical(self, a: np.ndarray) -> np.ndarray:
        return to_canonical(a, self.request.layout)


def to_canonical(a: np.ndarray, layout: str) -> np.ndarray:
    """A view of `a` (in `layout`) as (N, C, H, W); sequence layouts get H = 1."""
    canon = canonical_order(layout)
    v = a.transpose(permutation(layout, canon))
    if len(spatial_axes(layout)) == 1:
        v = v[:, :, None, :]
    elif len(spatial_axes(layout)) == 0:
        v = v[:, :, None, None]
    return v


def canonical_index(index, layout: str) -> tuple:
    """An element index in `layout` order as (n, c, h, w)."""
    pos = dict(zip(layout, index))
    sp = [pos[a] for a in spatial_axes(layout)]
    sp = ([0] * (2 - len(sp)) + sp)[-2:]
    return (pos["N"], pos["C"], *sp)


def layout_index(canon_index, layout: str) -> tuple:
    """(n, c, h, w) back to an index in `layout` order."""
    n, c, h, w = canon_index
    spatial = spatial_axes(layout)
    values = {"N": n, "C": c}
    if len(spatial) == 1:
        values[spatial[0]] = w
    elif len(spatial) == 2:
        values[spatial[0]], values[spatial[1]] = h, w
    return tuple(values[a] for a in layout)


class _Recent(OrderedDict):
    """A dict that keeps only the `limit` entries stored last."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        while len(self) > self.limit:
            self.popitem(last=False)


@dataclass
class InputStats:
    """The input's numbers under one partition. They change with neither eps, affine nor
    momentum, so the pipeline keeps them: dragging such a control makes no pass over the input."""

    moments: GroupMoments
    range: tuple  # finite (min, max)
    group_min: np.ndarray = None  # per display group (flat, x's dtype); None when the input holds NaN/Inf
    group_max: np.ndarray = None
    sample: np.ndarray = None  # the input at the histograms' sample positions, once drawn
    boxes: dict = field(default_factory=dict)  # overlay row -> (flat positions, input values there)

    @classmethod
    def of(cls, x, sharing, backend: str, device: str, moments_cache: dict) -> "InputStats":
        ops = get_ops(backend, device)
        part = display_partition(sharing)
        xe = ops.reshape(ops.asarray(x), part.expanded_shape)
        lows = ops.to_numpy(ops.amin(xe, part.reduce_positions)).ravel()
        highs = ops.to_numpy(ops.amax(xe, part.reduce_positions)).ravel()
        moments = group_moments(x, sharing, backend, device, cache=moments_cache)
        if np.all(np.isfinite(lows)) and np.all(np.isfinite(highs)):
            return cls(moments, (float(lows.min()), float(highs.max())), lows, highs)
        return cls(moments, finite_range(ops, ops.reshape(xe, (-1,))))


class Pipeline:
    """Runs requests, caching generated inputs and warmed-up running statistics."""

    def __init__(self):
        self._inputs: OrderedDict = OrderedDict()
        self._running: OrderedDict = OrderedDict()
        self._stats: OrderedDict = OrderedDict()
        self._last = None  # (request without view options, result, output as numpy, output moments)
        self.files: dict = {}  # file_key -> (array, layout)

    def input_for(self, req: Request) -> np.ndarray:
        return self._input_entry(req)[0]

    def _input_entry(self, req: Request) -> tuple:
        """(input, its moments cache): the group moments computed for this input, kept for the next
        update (see kernels.normalize's moments_cache)."""
        key = (req.input, req.shape, req.layout, req.seed, req.file_key)
        if key not in self._inputs:
            if req.file_key:
                data, file_layout = self.files[req.file_key]
                x = np.ascontiguousarray(data.transpose(permutation(file_layout, req.layout)))
            else:
                x = generate(req.input, req.shape, req.layout, seed=req.seed)
            self._inputs[key] = (x, _Recent(MOMENTS_KEPT))
            while len(self._inputs) > 2:
                self._inputs.popitem(last=False)
        return self._inputs[key]

    def running_for(self, req: Request, x) -> tuple:
        """Running statistics for eval mode: WARMUP_STEPS training steps on fresh batches of the same
        input (the loaded file itself for files), or a fresh module's mean 0 and var 1."""
        channels = dict(zip(req.layout, req.shape))["C"]
        if req.running == "fresh":
            return np.zeros(channels, np.float32), np.ones(channels, np.float32)
        params = {k: v for k, v in req.params if k in ("momentum", "momentum_convention", "eps", "virtual_batch")}
        key = (req.method, req.input, req.shape, req.layout, req.seed, req.file_key, tuple(sorted(params.items())))
        if key not in self._running:
            rm, rv, nbt = np.zeros(channels, np.float32), np.ones(channels, np.float32), 0
            method = "batch" if req.method == "batch_renorm" else req.method
            for step in range(WARMUP_STEPS):
                batch = x if req.file_key else generate(req.input, req.shape, req.layout, seed=req.seed + 1 + step)
                res = normalize(batch, method, layout=req.layout, running_mean=rm, running_var=rv,
                                num_batches_tracked=nbt, **params)
                rm, rv, nbt = res.running_mean, res.running_var, res.num_batches_tracked
            self._running[key] = (rm, rv)
            while len(self._running) > 4:
                self._running.popitem(last=False)
        return self._running[key]

    def run(self, req: Request) -> Computed:
        start = time.perf_counter()
        x, moments_cache = self._input_entry(req)
        method = METHODS[req.method]
        running = {}
        if method.running_stats and not req.training:
            rm, rv = self.running_for(req, x)
            running = dict(running_mean=rm, running_var=rv)
        # a click (selected) or a histogram option needs no new normalization: reuse the last one
        key = replace(req, selected=(), bins=0, shared_bins=True, overlays=True)
        t0 = time.perf_counter()
        if self._last is not None and self._last[0] == key:
            _, result, out_np, after = self._last
        else:
            result = normalize(x, req.method, layout=req.layout, backend=req.backend, device=req.device,
                               training=req.training, nonfinite=req.nonfinite, moments_cache=moments_cache,
                               **running, **req.param_dict)
            after = None
        out = result.output
        normalize_ms = (time.perf_counter() - t0) * 1000
        backend = dict(backend=req.backend, device=req.device)
        stats = self._input_stats(req, x, result.sharing, moments_cache)
        before = stats.moments
        range_after = _range_after(result, stats, _dtype_of(out))
        hist = histograms(x, out, bins=req.bins, shared=req.shared_bins, range_before=stats.range,
                          range_after=range_after, sample_before=stats.sample, finite=range_after is not None,
                          **backend)
        if stats.sample is None and hist.sampled:
            stats.sample = hist.sample_before
        if after is None:
            after = _moments_after(result, before) or group_moments(out, result.sharing, **backend)
            out_np = out if isinstance(out, np.ndarray) else _to_numpy(out)
            self._last = (key, result, out_np, after)
        groups = GroupStats.of(before, after)
        overlays = (_overlays(x, out_np, result.sharing, groups, hist, req, stats, range_after is not None)
                    if req.overlays else [])
        tiles_b, tiles_a, tile_index = _tiles(x, out_np, req)
        size = x.size
        return Computed(
            request=req, result=result, x=x, output=out_np, hist=hist, groups=groups,
            summary_before=summary_from(before, hist.range_before, hist.sample_before, size, hist.sampled),
            summary_after=summary_from(after, hist.range_after, hist.sample_after, size, hist.sampled),
            overlays=overlays, tiles_before=tiles_b, tiles_after=tiles_a, tile_index=tile_index,
            normalize_ms=normalize_ms, total_ms=(time.perf_counter() - start) * 1000,
            running_used=(running["running_mean"], running["running_var"]) if running else (),
            warnings=list(result.warnings))

    def _input_stats(self, req: Request, x, sharing, moments_cache: dict) -> InputStats:
        key = (req.input, req.shape, req.layout, req.seed, req.file_key, req.backend, req.device, sharing)
        if key not in self._stats:
            self._stats[key] = InputStats.of(x, sharing, req.backend, req.device, moments_cache)
            while len(self._stats) > 4:
                self._stats.popitem(last=False)
        return self._stats[key]


def _group_lines(result, stat_shape):
    """The result's (a, c, b) per group, flat float64 arrays, when output = a·(x − c) + b per
    display group; None otherwise."""
    if result.group_map is None or stat_shape != result.sharing.stat_shape:
        return None
    return [np.broadcast_to(np.asarray(_as_numpy(v), np.float64), stat_shape).ravel() for v in result.group_map]


def _range_after(result, stats: InputStats, out_dtype):
    """The output's range from each group's line and the group's input min and max: no pass
    over the output. Exact up to the rounding of the computed output. None when not known, or
    when the output overflows its dtype (it then holds infinities the histograms must drop)."""
    lines = _group_lines(result, stats.moments.stat_shape) if stats.group_min is not None else None
    if lines is None:
        return None
    a, c, b = lines
    low, high = (np.asarray(v, np.float64) for v in (stats.group_min, stats.group_max))
    ends = np.concatenate([a * (low - c) + b, a * (high - c) + b])
    largest = np.finfo(out_dtype).max if np.dtype(out_dtype).kind == "f" else np.inf
    return (float(ends.min()), float(ends.max())) if np.all(np.abs(ends) <= largest) else None


def _moments_after(result, before):
    """The output's group moments from the input's, when the method maps each group by a line
    a·(x − c) + b (mean → a·(mean − c) + b, var → a²·var): no pass over the output. None otherwise."""
    lines = _group_lines(result, before.stat_shape)
    if lines is None:
        return None
    a, c, b = lines
    # in float64, a·(mean − c) is exactly 0 where the group's own mean was the center
    return GroupMoments(before.stat_shape, before.count, a * (before.mean - c) + b, a * a * before.var)


def _dtype_of(a):
    return a.dtype if isinstance(a, np.ndarray) else _to_numpy(a[(0,) * a.ndim]).dtype


def _as_numpy(v):
    return v if isinstance(v, (np.ndarray, np.generic, float, int)) else _to_numpy(v)


def _to_numpy(t) -> np.ndarray:
    t = t.detach().cpu()
    return (t.float() if str(t.dtype) == "torch.bfloat16" else t).numpy()


def group_row(sharing, index) -> int:
    """The row in GroupStats of the group that holds the element at `index` (layout order)."""
    part = display_partition(sharing)
    return int(np.ravel_multi_index(part.group_of(index), part.stat_shape))


def _overlays(x, out, sharing, groups, hist, req, stats: InputStats, finite_after: bool) -> list:
    """Histograms of a few groups on the main edges: the selected one, then the most extreme.
    finite_after: the output is known finite and inside the after histogram's range."""
    part = display_partition(sharing)
    n = len(groups)
    if n <= 1:
        return []
    rows = []
    if req.selected and len(req.selected) == len(req.shape):
        rows.append(group_row(sharing, req.selected))
    score = np.abs(groups.mean_before - np.mean(groups.mean_before)) + np.abs(np.log1p(groups.var_before)
                                                                           - np.mean(np.log1p(groups.var_before)))
    for r in np.argsort(-score, kind="stable"):
        if len(rows) >= min(MAX_OVERLAYS, n):
            break
        if int(r) not in rows:
            rows.append(int(r))
    before, after, scales = [], [], []
    for r in rows:
        if r not in stats.boxes:  # the input's values in a group stay the same while eps or affine change
            box = part.box(np.unravel_index(r, part.stat_shape))
            positions, scale = box_positions(x.shape, tuple((s.start, s.stop, s.step) for s in box))
            stats.boxes[r] = (positions, scale, _take(x, positions))
        positions, scale, values = stats.boxes[r]
        before.append(values)
        after.append(_take(out, positions))
        scales.append(scale)
    counts_b = _stacked_counts(before, hist.edges_before, scales, clip=stats.group_min is not None)
    counts_a = _stacked_counts(after, hist.edges_after, scales, clip=finite_after)
    return [(r, cb, ca) for r, cb, ca in zip(rows, counts_b, counts_a)]


@functools.lru_cache(maxsize=64)
def box_positions(shape: tuple, box: tuple, limit: int = 1 << 13) -> tuple:
    """Flat positions (ascending) of the elements of box (per axis (start, stop, step)) in an
    array of `shape`: all of them, or `limit` drawn uniformly when the box is larger; and the
    number of elements each position stands for. Cached: the same boxes come back on every update."""
    ranges = [range(*slice(*b).indices(n)) for b, n in zip(box, shape)]
    size = int(np.prod([len(r) for r in ranges]))
    if size <= limit:
        coords = np.ix_(*[np.arange(r.start, r.stop, r.step) for r in ranges])
        positions = np.ravel_multi_index(coords, shape).ravel()
    else:
        rng = np.random.default_rng(size)
        coords = tuple(rng.integers(0, len(r), limit) * r.step + r.start for r in ranges)
        positions = np.sort(np.ravel_multi_index(coords, shape))
    positions.setflags(write=False)
    return positions, (size / limit if size > limit else 1.0)


def _take(a: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """a's elements at flat (C order) positions."""
    if a.flags.c_contiguous:
        return a.reshape(-1)[positions]
    return a[np.unravel_index(positions, a.shape)]


def _stacked_counts(values: list, edges: np.ndarray, scales: list, clip: bool) -> list:
    """Histograms over the same edges of several arrays, in one bincount; counts scaled per array.
    clip: the values are finite and inside the edges up to rounding (no masking needed)."""
    labels = np.repeat(np.arange(len(values)), [len(v) for v in values])
    # edges[0], edges[-1] are float64 scalars: binned in float64, as the main histogram is
    counts = bin_counts(np.concatenate(values), edges[0], edges[-1], len(edges) - 1, clip, labels, len(values))
    return [row * scale for row, scale in zip(counts.astype(float), scales)]


def _tiles(x, out, req) -> tuple:
    """Up to MAX_TILES x MAX_TILES (sample, channel) maps, each downsampled to at most TILE_PIXELS,
    around the selected element: arrays of shape (samples, channels, h, w)."""
    xc, oc = to_canonical(x, req.layout), to_canonical(out, req.layout)
    n, c, h, w = xc.shape
    sel = canonical_index(req.selected, req.layout) if len(req.selected) == len(req.shape) else (0, 0, 0, 0)
    samples = _window(sel[0], n, MAX_TILES)
    channels = _window(sel[1], c, MAX_TILES)
    sh, sw = max(1, -(-h // TILE_PIXELS)), max(1, -(-w // (TILE_PIXELS * (2 if h == 1 else 1))))
    pick = np.ix_(samples, channels)
    tiles_b = xc[pick][:, :, ::sh, ::sw]
    tiles_a = oc[pick][:, :, ::sh, ::sw]
    return np.ascontiguousarray(tiles_b), np.ascontiguousarray(tiles_a), (samples, channels, sh, sw)


def _window(center: int, size: int, count: int) -> np.ndarray:
    """`count` consecutive indices in range(size) that include `center`."""
    count = min(count, size)
    start = min(max(0, center - count // 2), size - count)
    return np.arange(start, start + count)
