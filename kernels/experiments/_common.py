"""Pieces every experiment shares: the `Cancelled` exception, progress/cancel bookkeeping,
argument checks that raise one-line ValueErrors, and sampled values for histograms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: values kept per recorded tensor for histograms (a reproducible sample when there are more)
MAX_VALUES = 20000


class Cancelled(Exception):
    """Raised by an experiment when its `cancelled()` callable returned True; nothing is returned."""


class Loop:
    """Progress and cancellation for a loop of `total` units: call `tick()` after each unit.

    progress(done, total) is called after every unit; cancelled() is asked before every unit
    (`check()`) and after the last, and raises `Cancelled` when it returns True.
    """

    def __init__(self, total: int, progress: Callable | None = None, cancelled: Callable | None = None):
        self.total, self.done = max(1, int(total)), 0
        self.progress, self.cancelled = progress, cancelled

    def check(self):
        if self.cancelled is not None and self.cancelled():
            raise Cancelled(f"cancelled after {self.done} of {self.total} steps")

    def tick(self, units: int = 1):
        self.done = min(self.total, self.done + units)
        if self.progress is not None:
            self.progress(self.done, self.total)
        self.check()


@dataclass
class Values:
    """A recorded tensor, summarized: `values` holds at most MAX_VALUES of its elements (all of
    them when it has fewer; otherwise a seeded sample without replacement, in element order);
    mean, std (biased), min and max are over every element. `size` is the element count."""

    values: np.ndarray
    mean: float
    std: float
    min: float
    max: float
    size: int


def summarize(x, seed: int = 0, max_values: int = MAX_VALUES) -> Values:
    """`Values` of array x (non-finite elements must have been handled by the caller)."""
    flat = np.asarray(x, dtype=np.float64).ravel()
    if flat.size > max_values:
        idx = np.sort(np.random.default_rng(seed).choice(flat.size, max_values, replace=False))
        sample = flat[idx]
    else:
        sample = flat.copy()
    return Values(values=sample, mean=float(flat.mean()), std=float(flat.std()), min=float(flat.min()),
                  max=float(flat.max()), size=int(flat.size))


def check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    """value as an int within [lo, hi], else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ValueError(f"{name}={value} must be {bound}")
    return int(value)


def check_float(name: str, value, lo: float | None = None, hi: float | None = None,
                positive: bool = False) -> float:
    """value as a finite float within [lo, hi] (or > 0 with positive=True), else ValueError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, not {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name}={value!r} must be a finite number")
    if positive and v <= 0:
        raise ValueError(f"{name}={v:g} must be positive")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name}={v:g} must be between {lo if lo is not None else '-inf'} and "
                         f"{hi if hi is not None else 'inf'}")
    return v


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(str, choices))}")
    return value


def add_warnings(target: list, new, prefix: str = ""):
    """Append each new warning (with an optional prefix) unless the same text is already there."""
    for w in new:
        text = prefix + w
        if text not in target:
            target.append(text)
