"""One computation of the explorer, without Qt: Settings -> input -> kernels.normalize -> Scene.

The worker runs it off the GUI thread; the command line and the benchmark call it directly.
What does not change between updates is kept (bounded, see `explorer.cache`): generated
inputs and their group moments, warmed-up running statistics, the input's statistics per
grouping, and the last normalization (a click or a histogram option needs no new one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from kernels import (
    FRAMEWORKS,
    GroupMoments,
    GroupStats,
    compare,
    explain_result,
    finite_range,
    generate,
    get_ops,
    group_moments,
    histograms,
    normalize,
    permutation,
    precision,
    summary_from,
)

from . import frameworks as rules
from .cache import LRU
from .file_loading import load_running
from .limits import FILES_KEPT, INPUT_STATS_KEPT, INPUTS_KEPT, MOMENTS_KEPT, RUNNING_KEPT, WARMUP_STEPS
from .scene import (
    FrameworkDelta,
    Modes,
    Overlay,
    PrecisionScene,
    Scene,
    blocks_of,
    box_positions,
    overlay_colors,
    overlay_rows,
    stacked_counts,
    take,
    tiles_of,
)
from .settings import FIELDS, FILE_INPUT, Settings
from .translation import measure_translation

#: Settings that change only what is drawn from a normalization, not the normalization itself.
DRAWN_FROM_RESULT = ("selected", "bins", "shared_bins", "overlays", "log_counts")
#: Parameters the eval-mode warm-up steps use (the rest do not change running statistics).
RUNNING_PARAMS = ("momentum", "momentum_convention", "eps", "virtual_batch")
#: Parameters the precision study takes (no affine step, no running statistics).
PRECISION_PARAMS = ("eps", "groups", "axes", "center", "virtual_batch")


@dataclass
class InputStats:
    """The input's numbers under one partition. They change with neither eps, affine nor
    momentum, so the pipeline keeps them: dragging such a control makes no pass over the input."""

    moments: GroupMoments
    range: tuple  # finite (min, max)
    group_min: np.ndarray = None  # per table group (flat, x's dtype); None when the input holds NaN/Inf
    group_max: np.ndarray = None
    sample: np.ndarray = None  # the input at the histograms' sample positions, once drawn
    boxes: dict = field(default_factory=dict)  # overlay row -> (flat positions, scale, input values there)

    @classmethod
    def of(cls, x, sharing, backend: str, device: str, moments_cache) -> InputStats:
        ops = get_ops(backend, device)
        part = sharing.table
        xe = ops.reshape(ops.asarray(x), part.expanded_shape)
        lows = ops.to_numpy(ops.amin(xe, part.reduce_positions)).ravel()
        highs = ops.to_numpy(ops.amax(xe, part.reduce_positions)).ravel()
        moments = group_moments(x, sharing, backend, device, cache=moments_cache)
        if np.all(np.isfinite(lows)) and np.all(np.isfinite(highs)):
            return cls(moments, (float(lows.min()), float(highs.max())), lows, highs)
        return cls(moments, finite_range(ops, ops.reshape(xe, (-1,))))


class Pipeline:
    """Turns Settings into Scenes, keeping what later updates reuse. Not thread-safe: one worker
    thread uses it. load_file(path, key) -> array re-reads a file whose array is not given."""

    def __init__(self, load_file=None):
        self.load_file = load_file
        self._inputs = LRU(INPUTS_KEPT)  # input key -> (x, its moments cache)
        self._files = LRU(FILES_KEPT)  # FileRef -> array as stored
        self._running = LRU(RUNNING_KEPT)
        self._stats = LRU(INPUT_STATS_KEPT)
        self._framework_moments = LRU(INPUTS_KEPT * MOMENTS_KEPT)  # a framework's own moments, apart from torch's
        self._last = None  # (the settings that decide it, result, output as numpy, output moments, framework Δ)

    # -- inputs ---------------------------------------------------------------------------------
    def use_file(self, ref, array: np.ndarray):
        """The array of a loaded file (so it need not be read again)."""
        self._files.put(ref, array)

    def _file_array(self, ref) -> np.ndarray:
        if ref not in self._files:
            if self.load_file is None:
                raise ValueError(f"the file {ref.label} is no longer in memory; open it again")
            array = self.load_file(ref.path, ref.key)
            if tuple(array.shape) != tuple(ref.shape):
                raise ValueError(f"{ref.label} changed on disk (shape {tuple(array.shape)}, was {tuple(ref.shape)}); "
                                 f"open it again")
            self._files.put(ref, array)
        return self._files[ref]

    def _input_entry(self, s: Settings) -> tuple:
        """(input, its moments cache): the group moments computed for this input, kept for the next
        update (see kernels.normalize's moments_cache)."""
        file = s.file if s.input == FILE_INPUT else None
        key = _input_key(s)

        def make():
            if file is not None:
                x = np.ascontiguousarray(self._file_array(file).transpose(permutation(file.layout, s.layout)))
            else:
                x = generate(s.input, s.shape, s.layout, seed=s.seed)
            return x, LRU(MOMENTS_KEPT)
        return self._inputs.get(key, make)

    def running_for(self, s: Settings, x) -> tuple:
        """Running statistics for eval mode: WARMUP_STEPS training steps on fresh batches of the same
        input (the loaded file itself for files), a fresh module's mean 0 and var 1, or those stored in
        the loaded .npz (running='file')."""
        channels = s.sizes["C"]
        if s.running == FILE_INPUT:  # stored beside the tensor (a captured layer's own)
            return self._running.get(("stored", s.file), lambda: load_running(s.file.path, channels))
        if s.running == "fresh":
            return np.zeros(channels, np.float32), np.ones(channels, np.float32)
        params = {k: v for k, v in s.kernel_params().items()
                  if (k in RUNNING_PARAMS if s.framework == rules.TORCH else k not in rules.AFFINE)}
        key = (s.method, s.framework, s.input, s.shape, s.layout, s.seed, s.file, tuple(sorted(params.items())))

        def warm():
            rm, rv, nbt = np.zeros(channels, np.float32), np.ones(channels, np.float32), 0
            method = "batch" if s.method == "batch_renorm" else s.method
            for step in range(WARMUP_STEPS):
                batch = x if s.input == FILE_INPUT else generate(s.input, s.shape, s.layout, seed=s.seed + 1 + step)
                res = normalize(batch, method, layout=s.layout, running_mean=rm, running_var=rv,
                                num_batches_tracked=nbt, framework=s.framework, **params)
                rm, rv, nbt = res.running_mean, res.running_var, res.num_batches_tracked
            return rm, rv
        return self._running.get(key, warm)

    # -- scenes ---------------------------------------------------------------------------------
    def run(self, s: Settings) -> Scene:
        """The Scene of settings `s` (NormError, ValueError when they cannot be computed)."""
        return self._scene(s, remember=True)

    def run_many(self, panels: dict) -> dict:
        """Several settings that share their input (the Compare tab's panels): {name: Scene, or the
        one-line reason it cannot be computed}. panels: {name: Settings, or that reason already}."""
        out = {}
        for name, settings in panels.items():
            problem = settings if isinstance(settings, str) else settings.problem()
            out[name] = problem if problem else self._scene(settings, remember=False)
        return out

    def run_modes(self, s: Settings) -> Modes:
        """Train and eval side by side (a method with running statistics): both scenes on the same
        input, and the histogram of eval − train."""
        if not s.spec.running_stats:
            raise ValueError(f"{s.spec.label} computes the same in train and eval mode: nothing to compare")
        train = self._scene(s.replace(training=True), remember=False)
        evaluated = self._scene(s.replace(training=False), remember=False)
        diff = np.asarray(evaluated.output, np.float64) - np.asarray(train.output, np.float64)
        finite = diff[np.isfinite(diff)]
        if finite.size == 0:
            finite = np.zeros(1)
        counts, edges = np.histogram(finite, bins=s.bins)
        return Modes(train, evaluated, edges, counts, float(np.max(np.abs(finite))), float(finite.mean()),
                     float(finite.std()))

    def _scene(self, s: Settings, remember: bool) -> Scene:
        start = time.perf_counter()
        x, moments_cache = self._input_entry(s)
        running = {}
        if s.spec.running_stats and not s.training:
            rm, rv = self.running_for(s, x)
            running = dict(running_mean=rm, running_var=rv)
        key = tuple(getattr(s, name) for name in FIELDS if name not in DRAWN_FROM_RESULT)
        t0 = time.perf_counter()
        if self._last is not None and self._last[0] == key:
            _, result, out_np, after, delta = self._last
        else:
            result = normalize(x, s.method, layout=s.layout, backend=s.backend, device=s.device, training=s.training,
                               nonfinite=s.nonfinite, moments_cache=self._moments_for(s, moments_cache),
                               framework=s.framework, **running, **s.kernel_params())
            if _regrouped(result):
                result = replace(result, group_map=None, warnings=[*result.warnings, _regrouped(result)])
            after = None
            delta = self._framework_delta(s, x, result, running)
        normalize_ms = (time.perf_counter() - t0) * 1000
        out = result.output
        backend = dict(backend=s.backend, device=s.device)
        stats = self._input_stats(s, x, result.sharing, moments_cache)
        range_after = _range_after(result, stats, _dtype_of(out))
        hist = histograms(x, out, bins=s.bins, shared=s.shared_bins, range_before=stats.range,
                          range_after=range_after, sample_before=stats.sample, finite=range_after is not None,
                          **backend)
        if stats.sample is None and hist.sampled:
            stats.sample = hist.sample_before
        if after is None:
            after = _moments_after(result, stats.moments) or group_moments(out, result.sharing, **backend)
            out_np = out if isinstance(out, np.ndarray) else _to_numpy(out)
            if remember:
                self._last = (key, result, out_np, after, delta)
        groups = GroupStats.of(stats.moments, after)
        selected_row = _row(result.sharing, s.selected)
        rows = overlay_rows(groups, selected_row) if s.overlays else []
        blocks = blocks_of(s, result.sharing)
        colors = overlay_colors(rows, selected_row, result.sharing, blocks)
        overlays = [replace(o, rgb=rgb) for o, rgb in
                    zip(_overlays(x, out_np, result.sharing, rows, hist, stats, range_after is not None), colors)]
        return Scene(settings=s, result=result, x=x, output=out_np, hist=hist, groups=groups,
                     summary_before=summary_from(stats.moments, hist.range_before, hist.sample_before, x.size,
                                                 hist.sampled),
                     summary_after=summary_from(after, hist.range_after, hist.sample_after, x.size, hist.sampled),
                     overlays=tuple(overlays), tiles=tiles_of(x, out_np, s), blocks=blocks,
                     running_used=(running["running_mean"], running["running_var"]) if running else (),
                     explanation=None if _regrouped(result) else explain_result(x, result, s.selected, **running),
                     normalize_ms=normalize_ms, total_ms=(time.perf_counter() - start) * 1000, framework_delta=delta)

    def _moments_for(self, s: Settings, moments_cache):
        """The moments cache a framework's computation may use: torch's is the input's own; another
        framework's moments (one-pass variance, MLX's strided groups) are kept apart, per grouping."""
        if s.framework == rules.TORCH:
            return moments_cache
        grouping = tuple((k, v) for k, v in s.params if k not in ("eps", "momentum", *rules.AFFINE))
        return self._framework_moments.get((_input_key(s), s.framework, grouping), dict)  # a few keys each

    def _framework_delta(self, s: Settings, x, result, running) -> FrameworkDelta | None:
        """How far the framework's result is from torch's on x: kernels.compare in train mode; in eval
        mode each framework with its own running statistics (torch's warmed up the same way)."""
        if s.framework == rules.TORCH:
            return None
        label, given = FRAMEWORKS[s.framework].label, s.kernel_params()
        tp = rules.torch_params(s.method, s.framework, given)
        try:
            d = compare(x, s.method, s.framework, s.layout, training=s.training, torch_params=tp, **given)
        except ValueError as exc:  # torch refuses what the framework accepts: said, not raised
            return FrameworkDelta(s.framework, label, float("nan"), (), f"{label}: not compared with torch ({exc})")
        if not running:
            return FrameworkDelta(s.framework, label, d.max_abs, tuple(d.reasons), d.sentence)
        torch_settings = s.replace(framework=rules.TORCH, params=tp)
        rm, rv = self.running_for(torch_settings, x)
        ref = normalize(x, s.method, layout=s.layout, training=False, running_mean=rm, running_var=rv, **tp)
        ours = np.asarray(_as_numpy(result.output), np.float64)
        diff = float(np.max(np.abs(ours - np.asarray(ref.output, np.float64))))
        reasons = list(d.reasons) + rules.momentum_reasons(s.method, s.framework, result.framework_params or {}, tp)
        source = "after 20 training steps" if s.running == "warmed" else "fresh"
        sentence = (f"{label} {'settings' if given else 'defaults'}, eval with each framework's running statistics "
                    f"({source}): max |Δ| = {diff:.2g}" + (f", from {'; '.join(reasons)}" if reasons else ""))
        return FrameworkDelta(s.framework, label, diff, tuple(reasons), sentence)

    # -- the precision view and the translator ----------------------------------------------------
    def run_precision(self, s: Settings, preset: str | None = None, progress=None, cancelled=None) -> PrecisionScene:
        """The precision study of the settings' method on the current tensor (or on one of
        kernels.precision.PRESETS built for its shape), train-mode statistics."""
        start = time.perf_counter()
        x, _ = self._input_entry(s)
        if s.framework == rules.TORCH:
            resolved = s.prepared()[0]
        else:
            resolved = rules.prepared(s.method, s.framework, s.shape, s.layout, True, s.kernel_params())[2]
        params = {k: v for k, v in resolved.items() if k in PRECISION_PARAMS}
        note = "the current tensor"
        if preset is not None:
            x, overrides, note = precision.preset(preset, s.shape, s.layout, s.method, s.seed)
            params.update(overrides)
        try:
            study = precision.study(x, s.method, s.layout, training=True, progress=progress, cancelled=cancelled,
                                    **params)
        except precision.Cancelled:
            from kernels.experiments import Cancelled
            raise Cancelled("cancelled") from None
        return PrecisionScene(s, preset, note, study, (time.perf_counter() - start) * 1000)

    def run_translation(self, s: Settings, source: str, target: str):
        """kernels.translate from `source` to `target` for the settings' method, and the differences on
        the current tensor (see explorer.translation.measure_translation)."""
        x, _ = self._input_entry(s)
        return measure_translation(s, x, source, target)

    def _input_stats(self, s: Settings, x, sharing, moments_cache) -> InputStats:
        key = (s.input, s.shape, s.layout, s.seed, s.file, s.backend, s.device, sharing)
        return self._stats.get(key, lambda: InputStats.of(x, sharing, s.backend, s.device, moments_cache))


def _input_key(s: Settings) -> tuple:
    file = s.file if s.input == FILE_INPUT else None
    return (s.input, s.shape, s.layout, s.seed if file is None else 0, file)


def _regrouped(result) -> str:
    """Why the views' statistics groups are not the ones a framework used ("" when they are): MLX's
    strided GroupNorm, ONNX's mirrored even LRN window."""
    fp = result.framework_params or {}
    if result.framework == "mlx" and result.method == "group" and not fp.get("pytorch_compatible", True):
        return ("MLX groups channel c with the channels c % G (pytorch_compatible=False): the output is MLX's, but "
                "the views draw and tabulate torch's consecutive groups, and the step-through is left out")
    if result.framework == "onnx" and result.method == "lrn" and fp.get("size", 1) % 2 == 0:
        return "ONNX's even LRN window is torch's mirrored: the views draw torch's window; the step-through is left out"
    return ""


def _row(sharing, index) -> int:
    table = sharing.table
    return int(np.ravel_multi_index(table.group_of(index), table.stat_shape))


def _group_lines(result, stat_shape):
    """The result's (a, c, b) per group, flat float64 arrays, when output = a·(x − c) + b per
    table group; None otherwise."""
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


def _overlays(x, out, sharing, rows, hist, stats: InputStats, finite_after: bool) -> list:
    """Histograms of the groups in `rows` on the main edges. finite_after: the output is known
    finite and inside the after histogram's range."""
    if not rows:
        return []
    part = sharing.table
    before, after, scales = [], [], []
    for r in rows:
        if r not in stats.boxes:  # the input's values in a group stay the same while eps or affine change
            box = part.group_box(np.unravel_index(r, part.stat_shape))
            positions, scale = box_positions(x.shape, tuple((s.start, s.stop, s.step) for s in box))
            stats.boxes[r] = (positions, scale, take(x, positions))
        positions, scale, values = stats.boxes[r]
        before.append(values)
        after.append(take(out, positions))
        scales.append(scale)
    counts_b = stacked_counts(before, hist.edges_before, scales, clip=stats.group_min is not None)
    counts_a = stacked_counts(after, hist.edges_after, scales, clip=finite_after)
    return [Overlay(r, cb, ca) for r, cb, ca in zip(rows, counts_b, counts_a)]

