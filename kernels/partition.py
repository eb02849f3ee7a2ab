"""Which elements share statistics: a partition of the tensor into statistics groups.

A `Partition` reduces over some named axes, optionally splitting C into `groups` blocks of
consecutive channels (GroupNorm) and N into virtual batches (ghost BatchNorm). Splitting an
axis is a reshape, so statistics are computed with plain reductions on a view of x.
LocalResponseNorm shares no groups: every element has its own `ChannelWindow`.

Both give the views one interface (a "sharing"):
    box_of(index)   slices of the elements whose values enter x[index]'s statistics
    mask(index)     the same as a boolean array
    describe()      the sharing in words
    table           the Partition whose groups the per-group tables and overlays list
    unit            what one row of that table is: "group" or "channel"
    shares_groups   False when every element has its own window
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import prod

import numpy as np

from .layouts import BATCH, CHANNEL, SPATIAL_LETTERS, spatial_axes


@dataclass(frozen=True)
class Partition:
    """Statistics groups of a tensor with `shape` in `layout`.

    reduce: the axis letters reduced over. groups > 1 splits C into that many blocks
    (C must be reduced and divisible). virtual_batch > 0 splits N into chunks of that
    many samples (N must be reduced and divisible).

    A partition is immutable, so its derived shapes are computed once (cached on the instance;
    `kernels.core.prepare` hands the same instance to every call with the same settings).
    """

    layout: str
    shape: tuple
    reduce: str
    groups: int = 1
    virtual_batch: int = 0
    batch_chunk: str = "virtual batch"  # what the chunks of N are called in words ("sample group")

    def __post_init__(self):
        size = dict(zip(self.layout, self.shape))
        if self.groups > 1:
            if CHANNEL not in self.reduce:
                raise ValueError(f"groups={self.groups} splits C, so the reduced axes must include C")
            if size[CHANNEL] % self.groups:
                raise ValueError(f"C={size[CHANNEL]} is not divisible by groups={self.groups}")
        if self.virtual_batch:
            if BATCH not in self.reduce:
                raise ValueError("virtual batches split N, so the reduced axes must include N")
            if size[BATCH] % self.virtual_batch:
                raise ValueError(f"N={size[BATCH]} is not divisible by virtual_batch={self.virtual_batch}")

    # -- the split of each axis ------------------------------------------------------
    def _split(self, axis: str) -> int:
        """Block length along `axis` (elements per block), or 0 when the axis is not split."""
        size = dict(zip(self.layout, self.shape))[axis]
        if axis == CHANNEL and self.groups > 1:
            return size // self.groups
        if axis == BATCH and 0 < self.virtual_batch < size:
            return self.virtual_batch
        return 0

    @cached_property
    def expanded_shape(self) -> tuple:
        """x's shape with each split axis replaced by (blocks, block length)."""
        out = []
        for axis, size in zip(self.layout, self.shape):
            block = self._split(axis)
            out.extend((size // block, block) if block else (size,))
        return tuple(out)

    @cached_property
    def reduce_positions(self) -> tuple:
        """Positions in `expanded_shape` to reduce over."""
        out, pos = [], 0
        for axis in self.layout:
            if self._split(axis):
                out.append(pos + 1)  # reduce within the block, keep the block index
                pos += 2
            else:
                if axis in self.reduce:
                    out.append(pos)
                pos += 1
        return tuple(out)

    @cached_property
    def stat_shape(self) -> tuple:
        """Shape of a statistic in layout order: 1 on reduced axes, the block count on split ones."""
        out = []
        for axis, size in zip(self.layout, self.shape):
            block = self._split(axis)
            out.append(size // block if block else (1 if axis in self.reduce else size))
        return tuple(out)

    @cached_property
    def expanded_stat_shape(self) -> tuple:
        reduced = set(self.reduce_positions)
        return tuple(1 if i in reduced else s for i, s in enumerate(self.expanded_shape))

    @cached_property
    def group_size(self) -> int:
        """Elements per statistics group."""
        return prod(self.expanded_shape[i] for i in self.reduce_positions)

    @cached_property
    def n_groups(self) -> int:
        return prod(self.stat_shape)

    # -- masks and labels (numpy, for display) -----------------------------------------
    def axis_labels(self) -> list:
        """Per axis, the statistics-group coordinate of each index along it."""
        out = []
        for axis, size in zip(self.layout, self.shape):
            block = self._split(axis)
            idx = np.arange(size)
            out.append(idx // block if block else (np.zeros(size, int) if axis in self.reduce else idx))
        return out

    def group_of(self, index) -> tuple:
        """Index into a statistic (of `stat_shape`) of the group holding x[index]."""
        return tuple(int(lab[i]) for lab, i in zip(self.axis_labels(), index))

    def group_box(self, group) -> tuple:
        """Slices selecting the elements of the group at `group` (an index into a statistic):
        every statistics group is a box, a range along each axis."""
        out = []
        for axis, g in zip(self.layout, group):
            block = self._split(axis)
            if block:
                out.append(slice(g * block, (g + 1) * block))
            else:
                out.append(slice(None) if axis in self.reduce else slice(g, g + 1))
        return tuple(out)

    def labels(self) -> np.ndarray:
        """Flat statistics-group number of every element (an int array of `shape`)."""
        labs = self.axis_labels()
        grids = np.ix_(*labs)
        return np.ravel_multi_index(grids, self.stat_shape).astype(np.int64) + np.zeros(self.shape, np.int64)

    def box_of(self, index) -> tuple:
        """Slices selecting the statistics group of x[index]."""
        return self.group_box(self.group_of(index))

    def mask(self, index) -> np.ndarray:
        """True where an element is in the same statistics group as x[index]."""
        return _box_mask(self.shape, self.box_of(index))

    # -- the shared interface with ChannelWindow -----------------------------------------
    shares_groups = True
    unit = "group"

    @property
    def table(self) -> Partition:
        return self

    # -- words ---------------------------------------------------------------------------
    def describe(self) -> str:
        """The partition in words, e.g. 'per sample, over channels in groups of 4 and all positions (H, W)'."""
        spatial = spatial_axes(self.layout)
        kept, over = [], []
        block_n, block_c = self._split(BATCH), self._split(CHANNEL)
        if BATCH in self.reduce:
            over.append(f"the {block_n} samples of its {self.batch_chunk}" if block_n else "all samples")
            if block_n:
                kept.append(f"{self.batch_chunk} of {block_n} samples")
        else:
            kept.append("sample")
        if CHANNEL in self.reduce:
            over.append(f"channels in groups of {block_c} ({self.groups} groups)" if block_c else "all channels")
        else:
            kept.append("channel")
        red_sp = [a for a in spatial if a in self.reduce]
        kept_sp = [a for a in spatial if a not in self.reduce]
        if red_sp:
            over.append(f"all positions ({', '.join(red_sp)})" if not kept_sp else f"all of {', '.join(red_sp)}")
        if kept_sp:
            kept.append(f"position ({', '.join(kept_sp)})" if not red_sp else f"{', '.join(kept_sp)} index")
        if not over:
            return "no statistics shared: every element is its own group"
        where = "one group for the whole tensor" if not kept else "per " + _join(kept)
        return f"{where}, over {_join(over)}"


def _box_mask(shape, box) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[box] = True
    return mask


def _join(words) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


@dataclass(frozen=True)
class ChannelWindow:
    """LocalResponseNorm's sharing: at each sample and position, x[c] is scaled by the squares
    of channels c - size//2 ... c + (size-1)//2 (torch's asymmetric window, zero padded)."""

    layout: str
    shape: tuple
    size: int

    def window(self, c: int) -> tuple:
        """First and last channel (inclusive, clipped to the tensor) of channel c's window."""
        channels = dict(zip(self.layout, self.shape))[CHANNEL]
        return max(0, c - self.size // 2), min(channels - 1, c + (self.size - 1) // 2)

    def box_of(self, index) -> tuple:
        """Slices selecting the window of the element at `index`."""
        lo, hi = self.window(index[self.layout.index(CHANNEL)])
        return tuple(slice(lo, hi + 1) if a == CHANNEL else slice(i, i + 1) for a, i in zip(self.layout, index))

    def mask(self, index) -> np.ndarray:
        return _box_mask(self.shape, self.box_of(index))

    shares_groups = False
    unit = "channel"

    @property
    def table(self) -> Partition:
        """No shared groups to list: the tables list the channels, each over the batch and positions."""
        return Partition(self.layout, self.shape, self.layout.replace(CHANNEL, ""))

    def describe(self) -> str:
        spatial = ", ".join(a for a in self.layout if a in SPATIAL_LETTERS)
        return (f"per element: at each sample and position ({spatial}), channel c is scaled by "
                f"the squares of the {self.size} channels c-{self.size // 2} ... c+{(self.size - 1) // 2} "
                f"(zero padded at the ends)")
