"""The shape of a registry entry: a normalization method and its parameters, declared as data.

The entries themselves live in `kernels.methods`; this module holds their types and the
rules that turn a caller's keywords into a complete, validated parameter dict.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .layouts import BATCH, CHANNEL, spatial_axes
from .partition import Partition

FAMILIES = {"activation": "Activation normalization", "data": "Data scaling"}


@dataclass(frozen=True)
class Param:
    """One keyword of a method.

    kind: "int", "float", "optional_float" (None allowed), "bool", "choice", "axes"
    (letters of the layout), "range" (a (low, high) pair) or "array" (scalar, per-channel
    vector or an array broadcastable to x; None means "not used").
    default: a value, or a function of `ShapeInfo` for defaults that must fit the shape.
    """

    name: str
    kind: str
    default: Any = None
    doc: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    log: bool = False  # a display hint: values span decades (eps, alpha), step them by factors

    def default_for(self, info: ShapeInfo):
        return self.default(info) if callable(self.default) else self.default


@dataclass(frozen=True)
class ShapeInfo:
    """What a shape-dependent default needs: the layout and each axis' size."""

    layout: str
    shape: tuple

    def size(self, axis: str) -> int:
        return dict(zip(self.layout, self.shape))[axis]

    @property
    def spatial(self) -> str:
        return spatial_axes(self.layout)


@dataclass(frozen=True)
class Method:
    """A normalization, declared once.

    axes: the reduced axis letters, with '*' for every spatial axis of the layout ('N*' is
    BatchNorm's N, H, W on images and N, L on sequences); '' when the `axes` parameter
    decides. compute(ctx) -> dict(output=..., mean=..., var=..., [stats, running_mean, ...]).
    code(layout, shape, params, training) -> {"PyTorch": text, "Keras": text, ...}: equivalent code
    without the affine step (kernels.code.code_for adds it).
    sharing(layout, shape, params) -> a sharing (see kernels.partition) for methods whose elements
    do not share groups; None: the Partition of `axes`, C split into `groups`, N into `virtual_batch`.
    """

    name: str
    label: str
    family: str
    axes: str
    centers: bool
    params: tuple
    formula: str
    summary: str
    compute: Callable
    code: Callable
    sharing: Callable | None = None
    references: tuple = ()
    pitfalls: tuple = ()
    running_stats: bool = False

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def param_names(self) -> tuple:
        return tuple(p.name for p in self.params)

    def reduced_letters(self, layout: str, params: dict) -> str:
        """The reduced axis letters for `layout`, in layout order."""
        spec = params["axes"] if not self.axes else self.axes
        spec = spec.replace("*", spatial_axes(layout))
        return "".join(a for a in layout if a in spec)

    def make_sharing(self, layout: str, shape: tuple, params: dict):
        """Which elements share statistics for these settings (ValueError when they cannot)."""
        if self.sharing is not None:
            return self.sharing(layout, tuple(shape), params)
        return Partition(layout, tuple(shape), self.reduced_letters(layout, params), groups=params.get("groups", 1),
                         virtual_batch=params.get("virtual_batch", 0))


def expand_axes_param(value, layout: str) -> str:
    """Validate an `axes` keyword ('NHW', ['N', 'H'], '*' for all spatial) against `layout`."""
    if isinstance(value, (list, tuple, set, frozenset)):
        value = "".join(str(v) for v in value)
    if not isinstance(value, str):
        raise ValueError(f"axes must be a string of axis letters such as 'NHW', not {value!r}")
    letters = value.upper().replace(",", "").replace(" ", "").replace("*", spatial_axes(layout))
    bad = [a for a in letters if a not in layout]
    if bad:
        raise ValueError(f"axes letter(s) {', '.join(dict.fromkeys(bad))} not in layout {layout}")
    if not letters:
        raise ValueError("axes is empty: choose at least one axis to reduce over")
    return "".join(a for a in layout if a in letters)


def parse_bool(value) -> bool:
    """True/False, 1/0 or their words; anything else is a ValueError (2 is not a boolean)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def _number(p: Param, value) -> float:
    """A finite float from value, or ValueError naming the parameter."""
    if isinstance(value, bool):
        raise ValueError(f"{p.name}={value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{p.name}={value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{p.name}={value!r} must be a finite number")
    return number


def _coerce(p: Param, value, layout: str):
    """The value converted to p's kind and checked against its bounds, or ValueError naming p."""
    if p.kind == "array" or (p.kind == "optional_float" and value is None):
        return value
    if p.kind == "choice":
        if value not in p.choices:
            raise ValueError(f"{p.name}={value!r} is not one of {', '.join(map(str, p.choices))}")
        return value
    if p.kind == "axes":
        return expand_axes_param(value, layout)
    if p.kind == "bool":
        try:
            return parse_bool(value)
        except ValueError:
            raise ValueError(f"{p.name}={value!r} is not true or false") from None
    if p.kind == "range":
        try:
            pair = tuple(value)
        except TypeError:
            pair = ()
        if len(pair) != 2 or isinstance(value, str):
            raise ValueError(f"{p.name}={value!r} needs two numbers (low, high)")
        lo, hi = (_number(p, v) for v in pair)
        if not lo < hi:
            raise ValueError(f"{p.name} needs low < high, got ({lo:g}, {hi:g})")
        return (lo, hi)
    number = _number(p, value)
    if p.kind == "int":
        if number != int(number):
            raise ValueError(f"{p.name}={value!r} is not a valid int")
        number = int(number)
    if p.minimum is not None and number < p.minimum:
        raise ValueError(f"{p.name}={number:g} must be at least {p.minimum:g}")
    if p.maximum is not None and number > p.maximum:
        raise ValueError(f"{p.name}={number:g} must be at most {p.maximum:g}")
    return number


def resolve_params(method: Method, layout: str, shape: tuple, given: dict) -> dict:
    """Every parameter of `method`: the given ones validated, the rest at their defaults."""
    unknown = sorted(set(given) - set(method.param_names))
    if unknown:
        valid = ", ".join(method.param_names) or "none"
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; valid: {valid}")
    info = ShapeInfo(layout, tuple(shape))
    return {p.name: _coerce(p, given[p.name], layout) if p.name in given else p.default_for(info)
            for p in method.params}


# -- shape-dependent defaults -------------------------------------------------------------

def largest_divisor(n: int, limit: int) -> int:
    """The largest divisor of n that is at most `limit` (at least 1)."""
    return max(d for d in range(1, max(1, min(n, limit)) + 1) if n % d == 0)


def default_groups(info: ShapeInfo) -> int:
    """GroupNorm's default G, chosen to show what GroupNorm is (neither LayerNorm, G=1, nor
    InstanceNorm, G=C): the paper's G=32 when C ≥ 64 allows it, otherwise the most groups that
    keep at least 4 channels in each (C=8: 2 groups of 4), else at least 2 (C=6: 3 groups of 2)."""
    c = info.size(CHANNEL)
    if c >= 64 and c % 32 == 0:
        return 32
    for per_group in (4, 2):
        groups = [g for g in range(2, c + 1) if c % g == 0 and c // g >= per_group]
        if groups:
            return max(groups)
    return 1


def default_virtual_batch(info: ShapeInfo) -> int:
    """Ghost BatchNorm's default: the largest divisor of N up to N/2, so at least two virtual batches."""
    n = info.size(BATCH)
    return largest_divisor(n, max(1, n // 2))


def default_batch_axes(info: ShapeInfo) -> str:
    """BatchNorm's axes in this layout: N and every spatial axis."""
    return "".join(a for a in info.layout if a == BATCH or a in info.spatial)


@dataclass
class Context:
    """What a method's compute function gets: the input on its backend and the settings."""

    method: Method
    ops: Any
    x: Any
    layout: str
    shape: tuple
    params: dict
    training: bool
    running_mean: Any = None
    running_var: Any = None
    num_batches_tracked: int = 0
    nonfinite: str = "omit"
    compute_eps: float = 1.1920929e-07  # finfo(compute dtype).eps: RMSNorm's eps=None
    sharing: Any = None
    overflow: bool = False
    finite: Any = None  # mask of finite inputs, set when non-finite ones were left out
    moments_cache: Any = None  # the caller's dict of moments already computed for this x (see normalize)
    warnings: list = field(default_factory=list)

    def warn(self, text: str):
        if text not in self.warnings:
            self.warnings.append(text)
