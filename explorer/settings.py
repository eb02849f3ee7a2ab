"""Every setting of the explorer, declared once.

`Settings` is a frozen dataclass: each field carries its default and, in its metadata, a
`Declared` with its kind, bounds, one-line doc, whether it changes the computation or only the
drawing, its command-line flag, and whether the app remembers it between runs. Sessions,
QSettings, the command line's flags and help, and the Compare tab's mirroring are all derived
from these declarations, so a new setting is one field here (plus the widget that edits it).

`Settings.replace(**changes)` validates, all or nothing, and raises one `SettingError` naming
the field and the value. Settings that are well-formed but cannot be computed (C=8 with
groups=3) are accepted; `problem()` says why they cannot be computed.

No Qt and no torch here: the command line imports this module.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from math import prod
from pathlib import Path

import numpy as np

from kernels import (
    FRAMEWORKS,
    GENERATORS,
    METHODS,
    NormError,
    available_backends,
    available_devices,
    parse_bool,
    prepare,
    resolve_params,
)

from . import frameworks
from .geometry import viewable_layout
from .limits import MAX_ELEMENTS

FILE_INPUT = "file"
BACKENDS = ("numpy", "torch")
#: Sizes an axis letter gets when a layout change brings it in (L for sequences, D for depth).
DEFAULT_SIZES = {"N": 4, "C": 8, "H": 8, "W": 8, "L": 32, "D": 4}
MAX_SEED = 2**31 - 1  # what a spin box holds


class SettingError(ValueError):
    """A setting that cannot be applied; str() is one line naming the setting and the value."""


@dataclass(frozen=True)
class Declared:
    """What the program knows about one setting (a field's metadata["setting"]).

    kind: "choice", "text", "layout", "int", "bool", "shape", "index", "params" or "file".
    computes: False when a change only redraws (no worker job).
    flag: the command-line option; "" when the command line does not offer it.
    remembered: kept in QSettings between runs.
    per_method: each Compare panel sets it itself; the other settings mirror the main window's.
    """

    doc: str
    kind: str
    computes: bool = True
    low: int | None = None
    high: int | None = None
    choices: Callable[[], tuple] | tuple = ()
    flag: str = ""
    remembered: bool = True
    per_method: bool = False

    def options(self) -> tuple:
        return tuple(self.choices()) if callable(self.choices) else tuple(self.choices)


def setting(default, doc: str, kind: str, **declared):
    return field(default=default, metadata={"setting": Declared(doc, kind, **declared)})


@dataclass(frozen=True)
class FileRef:
    """A person's own tensor: where it is (path, and the key of a tensor inside the file), what its
    axes are (layout), its shape as stored, and `token`, which tells two loads of a path apart."""

    path: str
    key: str = ""
    layout: str = "NCHW"
    shape: tuple = ()
    token: int = 0

    @property
    def label(self) -> str:
        name = Path(self.path).name
        return f"{name} [{self.key}]" if self.key else name

    def shape_in(self, layout: str) -> tuple:
        """The tensor's shape seen in `layout` (a permutation of its own)."""
        sizes = dict(zip(self.layout, self.shape))
        return tuple(sizes[a] for a in layout)


class FrozenArray:
    """An array parameter (a per-channel weight, say) made immutable and hashable, so settings that
    hold one compare and hash by content."""

    def __init__(self, values):
        self.array = np.array(values, copy=True)
        self.array.setflags(write=False)
        self._key = (self.array.shape, self.array.dtype.str, self.array.tobytes())

    def __eq__(self, other):
        return isinstance(other, FrozenArray) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        return f"FrozenArray(shape={self.array.shape})"


class Params(tuple):
    """A method's explicitly given parameters: sorted (name, value) pairs, read like a dict."""

    def __new__(cls, items=()):
        items = dict(items)
        return super().__new__(cls, sorted((str(k), _frozen(v)) for k, v in items.items()))

    def as_dict(self) -> dict:
        """Plain values, array parameters as read-only NumPy arrays."""
        return {k: v.array if isinstance(v, FrozenArray) else v for k, v in self}

    def get(self, name, default=None):
        return self.as_dict().get(name, default)

    def __getitem__(self, name):
        if isinstance(name, (int, slice)):
            return super().__getitem__(name)
        return self.as_dict()[name]

    def keys(self):
        return [k for k, _ in self]

    def __contains__(self, name):
        return name in self.keys()

    def __eq__(self, other):
        if isinstance(other, dict):
            return self.as_dict() == other
        return tuple.__eq__(self, other)

    __hash__ = tuple.__hash__


def _frozen(value):
    if isinstance(value, np.ndarray) or (hasattr(value, "detach") and hasattr(value, "shape")):
        return FrozenArray(np.asarray(value.detach().cpu() if hasattr(value, "detach") else value))
    if isinstance(value, list):
        return tuple(value)
    return value


@dataclass(frozen=True)
class Settings:
    """Everything that decides what the explorer computes and draws (see the module docstring)."""

    method: str = setting("batch", "the normalization, one of the registry's methods", "choice",
                          choices=lambda: tuple(METHODS), flag="--method", per_method=True)
    framework: str = setting("torch", "whose semantics, defaults and parameter meanings compute the method (keras: "
                                      "eps 1e-3, momentum 0.99 in Keras' meaning)", "choice",
                             choices=lambda: tuple(FRAMEWORKS), flag="--framework")
    layout: str = setting("NCHW", "the order of the tensor's axes: N, C and up to two spatial letters (H W, or L)",
                          "layout", flag="--layout")
    shape: tuple = setting((4, 8, 8, 8), "the size of every axis, in layout order", "shape", flag="--shape")
    params: Params = setting(Params(), "the method's parameters given explicitly; the others take defaults that fit "
                                       "the shape", "params", per_method=True)
    input: str = setting("shifted", "the values: a generated input, or 'file' for the loaded tensor", "choice",
                         choices=lambda: (*GENERATORS, FILE_INPUT), flag="--input")
    file: FileRef | None = setting(None, "the loaded tensor: a .npy/.npz/.pt/.pth/image file and the layout of its "
                                         "axes", "file", flag="--file", remembered=False)
    seed: int = setting(0, "the random seed of a generated input", "int", low=0, high=MAX_SEED, flag="--seed")
    training: bool = setting(True, "train mode (batch statistics) or eval mode (running statistics)", "bool",
                             flag="--train")
    running: str = setting("warmed", "the running statistics eval mode uses: after 20 training steps on fresh "
                                     "batches (warmed), a fresh module's mean 0, var 1, or those stored in the loaded "
                                     ".npz beside the tensor (file: running_mean, running_var, as a captured layer's)",
                           "choice", choices=("warmed", "fresh", FILE_INPUT), flag="--running")
    nonfinite: str = setting("omit", "NaN/Inf inputs: left out of the statistics (omit) or passed on as torch "
                                     "does (propagate)", "choice", choices=("omit", "propagate"), flag="--nonfinite")
    backend: str = setting("numpy", "the array library that computes: numpy or torch", "choice",
                           choices=BACKENDS, flag="--backend")
    device: str = setting("cpu", "where torch computes: cpu, cuda, cuda:1, mps", "text", flag="--device")
    selected: tuple = setting((1, 0, 3, 4), "the selected element, in layout order: its statistics group is "
                                            "highlighted", "index", flag="--selected")
    bins: int = setting(64, "histogram bins", "int", low=2, high=1000, flag="--bins")
    shared_bins: bool = setting(True, "the same bin edges before and after", "bool", flag="--shared-bins")
    overlays: bool = setting(True, "histograms of the selected and the most extreme statistics groups over the "
                                   "main ones", "bool", flag="--overlays")
    log_counts: bool = setting(False, "histogram counts on a log scale", "bool", computes=False, flag="--log-counts")
    shared_colors: bool = setting(True, "one colour scale for the values before and after (else one each)", "bool",
                                  computes=False, flag="--shared-colors")

    # -- reading -------------------------------------------------------------------------------
    @property
    def sizes(self) -> dict:
        return dict(zip(self.layout, self.shape))

    @property
    def spec(self):
        return METHODS[self.method]

    def kernel_params(self) -> dict:
        """The parameters as kernels.normalize takes them."""
        return self.params.as_dict()

    def prepared(self) -> tuple:
        """(resolved parameters, sharing) of these settings; NormError when they cannot be computed."""
        return _prepared(self.method, self.shape, self.layout, self.training, self.params, self.framework)

    def problem(self) -> str | None:
        """Why these settings cannot be computed here (one line), or None."""
        try:
            self.prepared()
        except NormError as exc:
            return exc.reason
        if self.running == FILE_INPUT and self.input != FILE_INPUT:
            return "running='file' reads running_mean and running_var from the loaded .npz; the input is not a file"
        if self.backend != "numpy" and self.backend not in available_backends():  # numpy: no torch import
            return f"backend {self.backend!r} is not available here ({', '.join(available_backends())} are)"
        devices = available_devices(self.backend)
        if self.device not in devices:
            return f"device {self.device!r} is not available with {self.backend}; devices: {', '.join(devices)}"
        return None

    def display_params(self) -> dict:
        """Every parameter as the controls show it: as given where well-formed, defaults elsewhere."""
        try:
            return self.prepared()[0]
        except NormError:
            pass
        if self.framework != frameworks.TORCH:
            return frameworks.display_params(self.method, self.framework, self.shape, self.layout, self.params)
        spec = self.spec
        try:
            return resolve_params(spec, self.layout, self.shape, self.kernel_params())
        except ValueError:
            return resolve_params(spec, self.layout, self.shape, {})

    def differs_only_in_drawing(self, other: Settings) -> bool:
        """Whether self and other compute the same and differ in drawing-only settings at most."""
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self)
                   if declared(f).computes)

    # -- writing -------------------------------------------------------------------------------
    def replace(self, **changes) -> Settings:
        """New settings with `changes` applied and checked, all or nothing (SettingError otherwise).
        Settings that follow from a change follow it: a new layout carries the sizes and the selected
        element by axis letter, a new method keeps the parameters it also takes and accepts, the
        numpy backend computes on the cpu."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise SettingError(f"unknown setting(s) {', '.join(unknown)}; valid: {', '.join(FIELDS)}")
        given = {name: coerce(name, value) for name, value in changes.items()}
        new = asdict_shallow(self)
        new.update(given)
        if new["input"] == FILE_INPUT and new["file"] is None:
            raise SettingError("input='file' but no file is loaded: use File > Open to load one")
        new["layout"] = viewable_layout(new["layout"])
        _check_file_layout(new)
        new["shape"] = _shape_for(self, new, given)
        if "framework" in given and "params" not in given and new["framework"] != self.framework:
            shown = self if not frameworks.refusal(self.method, self.framework) else self.replace(
                framework=frameworks.TORCH, params={})  # nothing to carry from a framework that lacks the method
            new["params"] = Params(frameworks.carried(self.framework, new["framework"], new["method"],
                                                      shown.display_params(), self.params.as_dict()))
        if "method" in given and "params" not in given and new["method"] != self.method:
            new["params"] = _carried_params(new, new["params"])
        elif "params" in given:
            new["params"] = _typed_params(new)
        if new["running"] == FILE_INPUT and new["input"] != FILE_INPUT and "running" not in given:
            new["running"] = "warmed"  # the file that held the running statistics is no longer the input
        if "backend" in given and "device" not in given and new["backend"] == "numpy":
            new["device"] = "cpu"
        new["selected"] = _selected_for(self, new, given)
        return Settings(**new)


# -- the declarations, read ----------------------------------------------------------------------

def declared(f) -> Declared:
    return f.metadata["setting"]


#: name -> Declared, in field order.
FIELDS: dict = {f.name: declared(f) for f in fields(Settings)}
DEFAULTS = Settings()


def asdict_shallow(settings: Settings) -> dict:
    return {name: getattr(settings, name) for name in FIELDS}


@functools.lru_cache(maxsize=64)
def _prepared(method, shape, layout, training, params, framework=frameworks.TORCH):
    if framework != frameworks.TORCH:  # the framework's parameters, in its meaning
        resolved, sharing, _ = frameworks.prepared(method, framework, shape, layout, training, params.as_dict())
        return resolved, sharing
    _, resolved, sharing, _ = prepare(method, shape, layout, training=training, **params.as_dict())
    return resolved, sharing


# -- coercion: a value of any accepted form -> the field's value, or SettingError naming it ---------

def _fail(name: str, value, why: str):
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise SettingError(f"{name}={shown} {why}")


def _integer(name: str, value) -> int:
    if isinstance(value, bool):
        _fail(name, value, "is not an integer")
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        number = float(value)
        if not math.isfinite(number) or number != int(number):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        _fail(name, value, "is not an integer")
    return int(number)


def coerce(name: str, value):
    """`value` as setting `name` holds it; SettingError naming the setting and the value otherwise."""
    d = FIELDS[name]
    kind = d.kind
    if kind == "choice":
        if value not in d.options():
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            raise SettingError(f"unknown {name} {shown}; choose one of {', '.join(map(str, d.options()))}")
        return value
    if kind in ("text", "layout"):
        if not isinstance(value, str) or not value.strip() or len(value) > 64:
            _fail(name, value, "is not a short non-empty text")
        value = value.strip()
        if kind == "layout":
            try:
                return viewable_layout(value)
            except ValueError as exc:
                raise SettingError(str(exc)) from None
        return value
    if kind == "int":
        number = _integer(name, value)
        if (d.low is not None and number < d.low) or (d.high is not None and number > d.high):
            raise SettingError(f"{name}={number} must be between {d.low} and {d.high}")
        return number
    if kind == "bool":
        try:
            return parse_bool(value)
        except ValueError:
            _fail(name, value, "is not true or false")
    if kind in ("shape", "index"):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            _fail(name, value, "is not a sequence of integers")
        items = list(value)
        if len(items) > 6:
            _fail(name, value, "has more axes than any layout")
        numbers = tuple(_integer(name, v) for v in items)
        if kind == "shape":
            if numbers and min(numbers) < 1:
                raise SettingError(f"shape {numbers}: every axis needs a size of at least 1")
            _check_budget(numbers)
        return numbers
    if kind == "params":
        if value is None:
            return Params()
        if isinstance(value, Params):
            return value
        if not isinstance(value, dict):
            _fail(name, value, "is not a dict of parameter names and values")
        return Params(value)
    if kind == "file":
        if value is not None and not isinstance(value, FileRef):
            _fail(name, value, "is not a loaded file (use AppState.set_file)")
        return value
    raise AssertionError(f"setting {name} has an unknown kind {kind!r}")


def _check_budget(shape: tuple):
    """Refuse a shape over the element budget before anything is allocated (or a spin box overflows)."""
    elements = prod(shape)
    if elements > MAX_ELEMENTS:
        shown = " x ".join(map(str, shape))
        count = f"{elements:,}" if elements < 10**15 else f"about 10^{len(str(elements)) - 1}"
        raise SettingError(f"{shown[:80]} = {count} elements is more than the {MAX_ELEMENTS:,} this explorer holds "
                           f"in memory")


# -- what follows from a change -------------------------------------------------------------------

def _check_file_layout(new: dict):
    file = new["file"]
    if new["input"] == FILE_INPUT and set(new["layout"]) != set(file.layout):
        raise SettingError(f"the loaded file has axes {file.layout}; layout {new['layout']} names other axes")


def _shape_for(old: Settings, new: dict, given: dict) -> tuple:
    layout = new["layout"]
    if new["input"] == FILE_INPUT:
        fixed = new["file"].shape_in(layout)
        if "shape" in given and given["shape"] != fixed and "file" not in given:
            raise SettingError("the shape is fixed by the loaded file; pick a generated input to change it")
        return fixed
    if "shape" in given:
        shape = given["shape"]
        if len(shape) != len(layout):
            raise SettingError(f"shape {shape} has {len(shape)} axes but layout {layout} names {len(layout)}")
        return shape
    sizes = dict(zip(old.layout, old.shape))
    shape = tuple(sizes.get(a, DEFAULT_SIZES[a]) for a in layout)
    _check_budget(shape)
    return shape


def _selected_for(old: Settings, new: dict, given: dict) -> tuple:
    shape, layout = new["shape"], new["layout"]
    if "selected" in given:
        selected = given["selected"]
        if len(selected) != len(shape) or not all(0 <= i < n for i, n in zip(selected, shape)):
            raise SettingError(f"selected element {selected} is outside the shape {shape}")
        return selected
    by_axis = dict(zip(old.layout, old.selected))
    return tuple(min(by_axis.get(a, 0), s - 1) for a, s in zip(layout, shape))


def _typed_params(new: dict) -> Params:
    """The given parameters as the registry reads them ("2" -> 2, [0, 1] -> (0.0, 1.0)) when they are
    valid; as given otherwise (problem() then says what is wrong)."""
    given = new["params"]
    if new["framework"] != frameworks.TORCH:
        return Params(frameworks.typed(new["method"], new["framework"], new["layout"], new["shape"], given.as_dict()))
    try:
        resolved = _prepared(new["method"], new["shape"], new["layout"], new["training"], given)[0]
    except (NormError, TypeError):
        return given
    return Params({k: resolved[k] for k in given.as_dict()})


def _carried_params(new: dict, old_params: Params) -> Params:
    """After a method change: the parameters the new method also has and accepts as they are
    (GroupNorm's groups=4 would break Custom axes, whose axes exclude C by default)."""
    names = [p.name for p in frameworks.param_specs(new["method"], new["framework"])]
    carried = {}
    for key, value in old_params.as_dict().items():
        if key in names:
            try:
                _prepared(new["method"], new["shape"], new["layout"], True, Params({**carried, key: value}),
                          new["framework"])
            except (NormError, TypeError):
                continue
            carried[key] = value
    return Params(carried)


# -- plain data: sessions, QSettings and the command line are derived from the declarations ------

def to_plain(settings: Settings, remembered_only: bool = False) -> dict:
    """The settings as JSON-able data (array parameters, which JSON cannot hold, are left out)."""
    out = {}
    for name, d in FIELDS.items():
        if remembered_only and not d.remembered:
            continue
        value = getattr(settings, name)
        if d.kind in ("shape", "index"):
            value = list(value)
        elif d.kind == "params":
            value = {k: list(v) if isinstance(v, tuple) else v for k, v in value
                     if isinstance(v, (int, float, str, bool, tuple, type(None)))}
        elif d.kind == "file":
            value = None if value is None else {"path": value.path, "key": value.key, "layout": value.layout}
        out[name] = value
    if remembered_only and out.get("input") == FILE_INPUT:  # a file is not remembered: a generated input instead
        out["input"] = DEFAULTS.input
    return out


_JSON_TYPES = {"choice": str, "text": str, "layout": str, "int": int, "bool": bool, "shape": list, "index": list,
               "params": dict, "file": (dict, type(None))}


def from_plain(data: dict, where: str = "settings") -> dict:
    """Checked keyword arguments for Settings.replace from JSON data (SettingError naming the
    setting otherwise). A file comes back as {"path", "key", "layout"}: the caller loads it."""
    if not isinstance(data, dict):
        raise SettingError(f"{where} is not an object of settings")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise SettingError(f"unknown setting(s) {', '.join(map(str, unknown))[:200]}")
    out = {}
    for name, value in data.items():
        kind = FIELDS[name].kind
        expected = _JSON_TYPES[kind]
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            raise SettingError(f"{name} should be {_type_name(expected)}, not {type(value).__name__} {shown}")
        if kind in ("shape", "index") and not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise SettingError(f"{name} should be a list of integers, not {value!r}"[:200])
        if kind == "params":
            value = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
        if kind == "file" and value is not None and not (
                isinstance(value.get("path"), str) and isinstance(value.get("key", ""), str)
                and isinstance(value.get("layout", "NCHW"), str)):
            raise SettingError("file should be {\"path\": ..., \"key\": ..., \"layout\": ...}")
        out[name] = tuple(value) if kind in ("shape", "index") else value
    return out


def _type_name(expected) -> str:
    return " or ".join(t.__name__.replace("NoneType", "null") for t in expected) if isinstance(expected, tuple) \
        else expected.__name__


def mirrored(settings: Settings) -> dict:
    """The settings a Compare panel takes from the main window: all but the per-method ones."""
    return {name: getattr(settings, name) for name, d in FIELDS.items() if not d.per_method}

