"""The Scene: one immutable snapshot of a computation and of everything the views draw from it.

The pipeline builds a Scene for a `Settings`; the views draw a Scene and nothing else, so no
view ever holds live settings beside a stale result. What the views show (histograms, group
statistics, overlay counts, tiles and their colour scales, the block view's group labels and
the selected group's box) is computed here, off the GUI thread. No Qt.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from kernels import Explanation, GroupStats, Histograms, Result, Summary, bin_counts, spatial_axes

from .colors import SELECTED_RGB, GroupColors
from .geometry import canonical_index, canonical_sizes, canonical_spans, to_canonical, window
from .limits import MAX_OVERLAYS, MAX_TILES, TILE_PIXELS
from .settings import Settings


@dataclass(frozen=True)
class Overlay:
    """The histogram of one statistics group (a row of the group table), before and after, and the
    colour of its line (the group's colour in the block view, the selection's blue for the selected)."""

    row: int
    before: np.ndarray
    after: np.ndarray
    rgb: tuple = SELECTED_RGB


@dataclass(frozen=True, eq=False)
class Tiles:
    """The value view's heatmaps: (samples, channels, h, w) maps around the selected element,
    each downsampled by (step_h, step_w), and the colour scale of each side (± limit)."""

    before: np.ndarray
    after: np.ndarray
    samples: np.ndarray
    channels: np.ndarray
    step_h: int
    step_w: int
    limit_before: float
    limit_after: float

    def limits(self, shared: bool) -> tuple:
        """(before, after) colour scales: one for both (the larger) or one each."""
        if shared:
            both = max(self.limit_before, self.limit_after)
            return both, both
        return self.limit_before, self.limit_after


@dataclass(frozen=True, eq=False)
class Blocks:
    """The block view's picture: canonical sizes (n, c, h, w), each axis' flat group label
    (None for a window method, whose elements share no groups), the selected element (n, c, h, w),
    its group label and the spans of its group (or window) on (n, c, h, w). For colours: each
    sample's group block (`sample_group`, per n) and each element's group within a sample
    (`rest`: per-axis parts over c, h, w that add up), and the colour scheme."""

    sizes: tuple
    labels: tuple | None
    selected: tuple
    selected_label: int | None
    selected_spans: tuple
    words: str
    spatial: str
    sample_group: np.ndarray | None = None
    rest: tuple | None = None
    colors: GroupColors | None = None

    def rgb(self, n: int, c: int, h: int, w: int) -> tuple:
        """The colour of the group of canonical element (n, c, h, w) (the selected group's blue)."""
        if self.labels is not None and sum(a[i] for a, i in zip(self.labels, (n, c, h, w))) == self.selected_label:
            return SELECTED_RGB
        return self.colors.rgb(int(self.sample_group[n]), int(self.rest[0][c] + self.rest[1][h] + self.rest[2][w]))


@dataclass(frozen=True)
class FrameworkDelta:
    """How far the chosen framework's result is from torch's on the scene's tensor (kernels.compare's
    sentence in train mode; in eval mode each with its own running statistics)."""

    framework: str
    label: str
    max_abs: float
    reasons: tuple
    sentence: str


@dataclass(frozen=True, eq=False)
class Scene:
    """What one computation gives the views. x and output are NumPy, in the settings' layout."""

    settings: Settings
    result: Result
    x: np.ndarray
    output: np.ndarray
    hist: Histograms
    groups: GroupStats
    summary_before: Summary
    summary_after: Summary
    overlays: tuple
    tiles: Tiles
    blocks: Blocks
    running_used: tuple = ()  # (running_mean, running_var) an eval-mode computation used
    explanation: Explanation | None = None  # the selected element's arithmetic, step by step
    normalize_ms: float = 0.0
    total_ms: float = 0.0
    framework_delta: FrameworkDelta | None = None  # None for torch itself

    @property
    def sharing(self):
        return self.result.sharing

    @property
    def warnings(self) -> list:
        return list(self.result.warnings)

    @property
    def selected_row(self) -> int:
        """The group-table row of the selected element's group."""
        return self.row_of(self.settings.selected)

    def row_of(self, index) -> int:
        """The group-table row of the group (LRN: the channel) that holds x[index]."""
        table = self.sharing.table
        return int(np.ravel_multi_index(table.group_of(index), table.stat_shape))

    @functools.cached_property
    def highlight(self) -> np.ndarray:
        """True where an element's value enters the selected element's statistics."""
        return self.sharing.mask(self.settings.selected)

    def with_settings(self, settings: Settings) -> Scene:
        """The same computation drawn with other drawing-only settings (log counts)."""
        return replace(self, settings=settings)


@dataclass(frozen=True, eq=False)
class PrecisionScene:
    """What the Precision view draws: kernels.precision's study of the settings' method on the current
    tensor, or on one of its presets (`preset`, described by `input_note`)."""

    settings: Settings
    preset: str | None
    input_note: str
    study: object  # kernels.precision.Study
    elapsed_ms: float = 0.0


@dataclass(frozen=True, eq=False)
class Modes:
    """The same input through a BatchNorm-family layer in train and in eval mode: both scenes, and
    the histogram of their difference (eval − train) with its largest size."""

    train: Scene
    eval: Scene
    diff_edges: np.ndarray
    diff_counts: np.ndarray
    diff_max: float
    diff_mean: float
    diff_std: float


# -- assembly --------------------------------------------------------------------------------

def blocks_of(settings: Settings, sharing) -> Blocks:
    """The block view's picture of `sharing` for these settings."""
    layout, shape = settings.layout, settings.shape
    spatial = spatial_axes(layout)
    sizes = canonical_sizes(layout, shape)
    selected = canonical_index(settings.selected, layout)
    spans = canonical_spans(sharing.box_of(settings.selected), layout, shape)
    words = sharing.describe()
    if settings.spec.running_stats and not settings.training:
        source = {"warmed": "after 20 training steps on fresh batches", "fresh": "a fresh module's: mean 0, variance 1"
                  }.get(settings.running, "stored with the loaded file")
        words = (f"eval mode: no statistics come from the batch; each element uses its channel's running mean and "
                 f"variance ({source})")
    if not sharing.shares_groups:
        return Blocks(sizes, None, selected, None, spans, words, spatial)
    per_letter = dict(zip(layout, sharing.axis_labels()))
    stat = dict(zip(layout, sharing.stat_shape))
    strides = _strides(layout, stat)
    rest_letters = layout.replace("N", "")
    rest_strides = _strides(rest_letters, stat)
    h_axis = spatial[0] if len(spatial) == 2 else None
    w_axis = spatial[-1] if spatial else None

    def part(axis, size, step):
        return per_letter[axis] * step[axis] if axis is not None else np.zeros(size, np.int64)

    axes = (("N", sizes[0]), ("C", sizes[1]), (h_axis, sizes[2]), (w_axis, sizes[3]))
    labels = tuple(part(axis, size, strides) for axis, size in axes)
    rest = tuple(part(axis, size, rest_strides) for axis, size in axes[1:])
    colors = GroupColors(per_sample=int(np.prod([stat[a] for a in rest_letters])), samples=stat["N"])
    selected_label = int(sum(axis[i] for axis, i in zip(labels, selected)))
    return Blocks(sizes, labels, selected, selected_label, spans, words, spatial, per_letter["N"], rest, colors)


def _strides(letters: str, stat: dict) -> dict:
    """C-order strides of a statistic with axes `letters` (sizes from stat)."""
    out, step = {}, 1
    for a in reversed(letters):
        out[a] = step
        step *= stat[a]
    return out


def overlay_colors(rows: list, selected_row: int, sharing, blocks: Blocks) -> list:
    """Each overlay row's line colour: the selected group's blue, the others their block colour (a
    window method's table rows are channels, which the block view does not colour: a hue each)."""
    table = sharing.table
    n_axis = table.layout.index("N")
    out = []
    for k, row in enumerate(rows):
        if row == selected_row:
            out.append(SELECTED_RGB)
            continue
        coords = np.unravel_index(row, table.stat_shape)
        if blocks.colors is None:
            out.append(GroupColors(per_sample=len(rows), samples=1).overlay_rgb(0, k))
            continue
        rest_shape = tuple(s for i, s in enumerate(table.stat_shape) if i != n_axis)
        rest = int(np.ravel_multi_index(tuple(c for i, c in enumerate(coords) if i != n_axis), rest_shape))
        out.append(blocks.colors.overlay_rgb(int(coords[n_axis]), rest))
    return out


def tiles_of(x: np.ndarray, out: np.ndarray, settings: Settings) -> Tiles:
    """Up to MAX_TILES x MAX_TILES (sample, channel) maps, each downsampled to at most TILE_PIXELS,
    around the selected element, with each side's colour scale (the 99th percentile of |value|)."""
    xc, oc = to_canonical(x, settings.layout), to_canonical(out, settings.layout)
    n, c, h, w = xc.shape
    sel = canonical_index(settings.selected, settings.layout)
    samples, channels = window(sel[0], n, MAX_TILES), window(sel[1], c, MAX_TILES)
    sh, sw = max(1, -(-h // TILE_PIXELS)), max(1, -(-w // (TILE_PIXELS * (2 if h == 1 else 1))))
    pick = np.ix_(samples, channels)
    before = np.ascontiguousarray(xc[pick][:, :, ::sh, ::sw])
    after = np.ascontiguousarray(oc[pick][:, :, ::sh, ::sw])
    return Tiles(before, after, samples, channels, sh, sw, color_limit(before), color_limit(after))


def color_limit(values: np.ndarray) -> float:
    """The colour scale ± limit of a heatmap: the 99th percentile of the finite |values| (1 when all 0)."""
    finite = np.abs(values[np.isfinite(values)])
    return float(np.percentile(finite, 99)) if finite.size and finite.max() > 0 else 1.0


def overlay_rows(groups: GroupStats, selected_row: int | None) -> list:
    """The groups that get their own histogram: the selected one, then the most extreme (by mean and
    log-variance away from the others'), at most MAX_OVERLAYS."""
    n = len(groups)
    if n <= 1:
        return []
    rows = [selected_row] if selected_row is not None else []
    score = np.abs(groups.mean_before - np.mean(groups.mean_before)) + np.abs(np.log1p(groups.var_before)
                                                                           - np.mean(np.log1p(groups.var_before)))
    for r in np.argsort(-score, kind="stable"):
        if len(rows) >= min(MAX_OVERLAYS, n):
            break
        if int(r) not in rows:
            rows.append(int(r))
    return rows


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


def take(a: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """a's elements at flat (C order) positions."""
    if a.flags.c_contiguous:
        return a.reshape(-1)[positions]
    return a[np.unravel_index(positions, a.shape)]


def stacked_counts(values: list, edges: np.ndarray, scales: list, clip: bool) -> list:
    """Histograms over the same edges of several arrays, in one bincount; counts scaled per array.
    clip: the values are finite and inside the edges up to rounding (no masking needed)."""
    labels = np.repeat(np.arange(len(values)), [len(v) for v in values])
    # edges[0], edges[-1] are float64 scalars: binned in float64, as the main histogram is
    counts = bin_counts(np.concatenate(values), edges[0], edges[-1], len(edges) - 1, clip, labels, len(values))
    return [row * scale for row, scale in zip(counts.astype(float), scales)]
