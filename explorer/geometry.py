"""Coordinates the views share: any layout seen as (N, C, H, W) blocks, element indices in both
orders, and the tiles of the value view. No Qt, no computation."""

from __future__ import annotations

import numpy as np

from kernels import canonical_order, check_layout, permutation, spatial_axes


def viewable_layout(layout) -> str:
    """`layout` checked, with at most two spatial axes: the views draw (N, C, H, W) blocks."""
    layout = check_layout(layout)
    if len(spatial_axes(layout)) > 2:
        raise ValueError(f"layout {layout} has {len(spatial_axes(layout))} spatial axes; the explorer draws up to two "
                         f"(the kernels API takes volumes)")
    return layout


def to_canonical(a: np.ndarray, layout: str) -> np.ndarray:
    """A view of `a` (in `layout`) as (N, C, H, W); sequence layouts get H = 1."""
    v = a.transpose(permutation(layout, canonical_order(layout)))
    missing = 2 - len(spatial_axes(layout))
    return v.reshape(v.shape[:2] + (1,) * missing + v.shape[2:])


def canonical_sizes(layout: str, shape) -> tuple:
    """(n, c, h, w) of a tensor of `shape` in `layout`; missing spatial axes count 1."""
    return canonical_index(tuple(shape), layout, fill=1)


def canonical_index(index, layout: str, fill: int = 0) -> tuple:
    """An element index in `layout` order as (n, c, h, w); missing spatial axes are `fill`."""
    pos = dict(zip(layout, index))
    sp = [pos[a] for a in spatial_axes(layout)]
    sp = ([fill] * (2 - len(sp)) + sp)[-2:]
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


def canonical_spans(box, layout: str, shape) -> tuple:
    """A box (slices in layout order) as (n0, n1, c0, c1, h0, h1, w0, w1) on the (N, C, H, W) picture."""
    spans = {a: sl.indices(size)[:2] for a, sl, size in zip(layout, box, shape)}
    spatial = spatial_axes(layout)
    h = spans[spatial[0]] if len(spatial) == 2 else (0, 1)
    w = spans[spatial[-1]] if spatial else (0, 1)
    return (*spans["N"], *spans["C"], *h, *w)


def window(center: int, size: int, count: int) -> np.ndarray:
    """`count` consecutive indices in range(size) that include `center`."""
    count = min(count, size)
    start = min(max(0, center - count // 2), size - count)
    return np.arange(start, start + count)


#: Keys that move the selected element: key name -> (canonical axis 0..3 = n, c, h, w, step).
MOVES = {"Left": (3, -1), "Right": (3, 1), "Up": (2, -1), "Down": (2, 1), "PageUp": (1, -1), "PageDown": (1, 1),
         "Home": (0, -1), "End": (0, 1)}


def moved(index, layout: str, shape, key: str) -> tuple:
    """The element `index` (layout order) one step along the axis `key` moves on (see MOVES),
    clamped to the tensor: arrows move across W and H, Page Up/Down across C, Home/End across N."""
    axis, step = MOVES[key]
    canon = list(canonical_index(index, layout))
    limit = canonical_sizes(layout, shape)[axis]
    canon[axis] = min(max(0, canon[axis] + step), limit - 1)
    return layout_index(tuple(canon), layout)
