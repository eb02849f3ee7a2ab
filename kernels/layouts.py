"""Tensor layouts: strings of axis letters that map names (N, C, H, W, ...) to positions.

Methods say which *named* axes they reduce over; a layout tells where those axes are.
"N" is the batch, "C" the channels, and the spatial letters are "D", "H", "W" for images
and volumes or "L" for sequences. Any order of the letters is a valid layout.
"""

from __future__ import annotations

from itertools import permutations

BATCH = "N"
CHANNEL = "C"
SPATIAL_LETTERS = "DHWL"

#: The layouts offered first in menus; every permutation of their letters works too.
COMMON_LAYOUTS = ("NCHW", "NHWC", "NCL", "NLC")


def all_layouts(letters: str = "NCHW") -> tuple[str, ...]:
    """Every order of `letters`, the common layouts first."""
    perms = ["".join(p) for p in permutations(letters)]
    first = [lay for lay in COMMON_LAYOUTS if lay in perms]
    return tuple(first + sorted(p for p in perms if p not in first))


def check_layout(layout: str) -> str:
    """Return `layout` (upper-cased) or raise ValueError saying what is wrong with it."""
    if not isinstance(layout, str) or not layout:
        raise ValueError(f"layout must be a string of axis letters such as 'NCHW', not {layout!r}")
    lay = layout.upper()
    bad = sorted(set(lay) - set(BATCH + CHANNEL + SPATIAL_LETTERS))
    if bad:
        raise ValueError(f"layout {layout!r} has unknown axis letter(s) {', '.join(bad)}; "
                         f"use N, C and spatial letters from {SPATIAL_LETTERS}")
    if len(set(lay)) != len(lay):
        raise ValueError(f"layout {layout!r} repeats an axis letter")
    if BATCH not in lay or CHANNEL not in lay:
        raise ValueError(f"layout {layout!r} needs both a batch axis N and a channel axis C")
    if "L" in lay and set(lay) & set("DHW"):
        raise ValueError(f"layout {layout!r} mixes the sequence axis L with image axes D/H/W")
    return lay


def spatial_axes(layout: str) -> str:
    """The spatial letters of `layout`, in layout order ('HW' for NHWC, 'L' for NLC)."""
    return "".join(a for a in layout if a in SPATIAL_LETTERS)


def canonical_order(layout: str) -> str:
    """The same letters as N, C, then spatial axes: 'NCHW' for 'NHWC', 'NCL' for 'NLC'."""
    return BATCH + CHANNEL + spatial_axes(layout)


def permutation(src: str, dst: str) -> tuple[int, ...]:
    """The axes argument for transpose/permute that turns layout `src` into `dst`."""
    return tuple(src.index(a) for a in dst)
