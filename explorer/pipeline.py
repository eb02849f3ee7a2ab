"""One computation of the explorer, without Qt: input -> kernels.normalize -> everything the
views draw (histograms, per-group statistics, summaries, heatmap tiles). The compute worker
runs it off the GUI thread; the command line and the benchmark call it directly."""

from __future__ import annotations

import ctypes
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np

from kernels import METHODS, normalize
from kernels.backend import NumpyOps, get_ops
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


class Pipeline:
    """Runs requests, caching generated inputs and warmed-up running statistics."""

    def __init__(self):
        self._inputs: OrderedDict = OrderedDict()
        self._running: OrderedDict = OrderedDict()
        self._stats: OrderedDict = OrderedDict()
        self._last = None  # (request without view options, result, output as numpy, output moments)
        self.files: dict = {}  # file_key -> (array, layout)

    def input_for(self, req: Request) -> np.ndarray:
        key = (req.input, req.shape, req.layout, req.seed, req.file_key)
        if key not in self._inputs:
            if req.file_key:
                data, file_layout = self.files[req.file_key]
                x = np.ascontiguousarray(data.transpose(permutation(file_layout, req.layout)))
            else:
                x = generate(req.input, req.shape, req.layout, seed=req.seed)
            self._inputs[key] = x
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
        x = self.input_for(req)
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
                               training=req.training, nonfinite=req.nonfinite, **running, **req.param_dict)
            after = None
        out = result.output
        normalize_ms = (time.perf_counter() - t0) * 1000
        backend = dict(backend=req.backend, device=req.device)
        before, x_range = self._input_stats(req, x, result.sharing)
        hist = histograms(x, out, bins=req.bins, shared=req.shared_bins, range_before=x_range, **backend)
        if after is None:
            after = _moments_after(result, before) or group_moments(out, result.sharing, **backend)
            out_np = out if isinstance(out, np.ndarray) else _to_numpy(out)
            self._last = (key, result, out_np, after)
        groups = GroupStats.of(before, after)
        overlays = _overlays(x, out_np, result.sharing, groups, hist, req) if req.overlays else []
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

    def _input_stats(self, req: Request, x, sharing) -> tuple:
        """Group moments and finite range of the input: they change only with the input and the
        partition, not with eps, affine or momentum, so they are cached."""
        key = (req.input, req.shape, req.layout, req.seed, req.file_key, req.backend, req.device, sharing)
        if key not in self._stats:
            ops = get_ops(req.backend, req.device)
            a = ops.reshape(ops.asarray(x), (-1,))
            self._stats[key] = (group_moments(x, sharing, req.backend, req.device), finite_range(ops, a))
            while len(self._stats) > 4:
                self._stats.popitem(last=False)
        return self._stats[key]


def _moments_after(result, before):
    """The output's group moments from the input's, when the method maps each group by a line
    a·(x − c) + b (mean → a·(mean − c) + b, var → a²·var): no pass over the output. None otherwise."""
    if result.group_map is None or before.stat_shape != result.sharing.stat_shape:
        return None
    a, c, b = (np.broadcast_to(np.asarray(_as_numpy(v), np.float64), before.stat_shape).ravel()
               for v in result.group_map)
    # in float64, a·(mean − c) is exactly 0 where the group's own mean was the center
    return GroupMoments(before.stat_shape, before.count, a * (before.mean - c) + b, a * a * before.var)


def _as_numpy(v):
    return v if isinstance(v, (np.ndarray, np.generic, float, int)) else _to_numpy(v)


def _to_numpy(t) -> np.ndarray:
    t = t.detach().cpu()
    return (t.float() if str(t.dtype) == "torch.bfloat16" else t).numpy()


def group_row(sharing, index) -> int:
    """The row in GroupStats of the group that holds the element at `index` (layout order)."""
    part = display_partition(sharing)
    return int(np.ravel_multi_index(part.group_of(index), part.stat_shape))


def _overlays(x, out, sharing, groups, hist, req) -> list:
    """Histograms of a few groups on the main edges: the selected one, then the most extreme."""
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
    rng = np.random.default_rng(0)
    out_list = []
    for r in rows:
        box = part.box(np.unravel_index(r, part.stat_shape))
        vb, scale = _box_sample(x, box, rng)
        va, _ = _box_sample(out, box, rng)
        out_list.append((r, _counts(vb, hist.edges_before) * scale, _counts(va, hist.edges_after) * scale))
    return out_list


def _box_sample(a, box, rng, limit=1 << 15):
    """The values of a[box], or `limit` of them drawn uniformly when the box is larger; and the
    number of elements each drawn value stands for."""
    ranges = [range(*s.indices(n)) for s, n in zip(box, a.shape)]
    size = int(np.prod([len(r) for r in ranges]))
    if size <= limit:
        return a[box].ravel(), 1.0
    coords = tuple(rng.integers(r.start, r.stop, limit) for r in ranges)
    return a[coords], size / limit


def _counts(values, edges):
    return NumpyOps().histogram(values, edges[0], edges[-1], len(edges) - 1).astype(float)


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
