"""AppState: the one state object. Every control writes to it with `update`, every view reads
from it after `resultChanged`; the computation runs on the compute worker, off the GUI thread.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from math import prod
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from kernels import METHODS, NormError, available_backends, available_devices, prepare
from kernels.inputs import GENERATORS
from kernels.registry import parse_bool, resolve_params

from .compute import ComputeWorker
from .pipeline import MAX_ELEMENTS, Request, reuse_freed_memory, viewable_layout

#: Keys `update` accepts that change what is computed.
COMPUTE_KEYS = ("method", "layout", "shape", "params", "backend", "device", "input", "seed", "selected",
                "training", "running", "nonfinite", "bins", "shared_bins", "overlays")
#: Keys that only change how results are drawn.
VIEW_KEYS = ("log_counts",)

#: The attributes that make up the settings (restored together when an update is refused).
SETTINGS = ("method", "layout", "sizes", "params", "backend", "device", "input", "seed", "selected", "training",
            "running", "nonfinite", "bins", "shared_bins", "overlays", "log_counts")
DEFAULT_SIZES = {"N": 4, "C": 8, "H": 8, "W": 8, "L": 32, "D": 4}
FILE_INPUT = "file"
BUSY_AFTER_MS = 100


@dataclass(frozen=True, eq=False)
class LoadedFile:
    """A person's own tensor: the array, the layout of its axes, and where it came from."""

    array: np.ndarray
    layout: str
    path: str
    key: str = ""

    @property
    def label(self) -> str:
        name = Path(self.path).name
        return f"{name} [{self.key}]" if self.key else name


def _integer(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """value as an int within [low, high], or ValueError naming `name`."""
    try:
        number = float(value)
        if isinstance(value, bool) or number != int(number):
            raise ValueError
        number = int(number)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name}={value!r} is not an integer") from None
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(f"{name}={number} must be between {low} and {high}" if high is not None
                         else f"{name}={number} must be at least {low}")
    return number


class AppState(QObject):
    """Settings, the latest result and the current error.

    resultChanged: a new result is stored (also after an update that changed nothing).
    settingsChanged: some setting changed (controls re-read the state).
    errorChanged(str or None): the inline error appeared, changed or cleared.
    busyChanged(bool): a computation has been running for more than BUSY_AFTER_MS.
    """

    resultChanged = Signal()
    settingsChanged = Signal()
    errorChanged = Signal(object)
    busyChanged = Signal(bool)
    viewChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        reuse_freed_memory()
        self.method = "batch"
        self.layout = "NCHW"
        self.sizes = dict(DEFAULT_SIZES)
        self.params: dict = {}
        self.backend = "numpy"
        self.device = "cpu"
        self.input = "shifted"
        self.seed = 0
        self.selected: tuple = (1, 2, 3, 4)  # inside the tensor, so the group shows in the block view
        self.training = True
        self.running = "warmed"
        self.nonfinite = "omit"
        self.bins = 64
        self.shared_bins = True
        self.overlays = True
        self.log_counts = False
        self.file: LoadedFile | None = None

        self.computed = None
        self.error: str | None = None
        self.busy = False
        self.resolved_params: dict = {}
        self.sharing = None
        self._generation = 0  # of the latest request sent to the worker
        self._answered = 0  # the latest generation whose result or failure came back
        self._highlight_key = None
        self._highlight = None
        self._worker = ComputeWorker()
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._busy_timer = QTimer(self, singleShot=True, interval=BUSY_AFTER_MS)
        self._busy_timer.timeout.connect(lambda: self._set_busy(True))
        self._validate_and_submit()

    # -- reading --------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self.sizes[a] for a in self.layout)

    @property
    def result(self):
        """The latest kernels.Result (None before the first computation finishes)."""
        return self.computed.result if self.computed is not None else None

    @property
    def method_spec(self):
        return METHODS[self.method]

    @property
    def highlight(self) -> np.ndarray | None:
        """Boolean mask of the elements that share statistics with `selected`."""
        if self.sharing is None or len(self.selected) != len(self.shape):
            return None
        key = (self.sharing, self.selected)
        if key != self._highlight_key:
            self._highlight_key, self._highlight = key, self.sharing.mask(self.selected)
        return self._highlight

    def request(self) -> Request:
        return Request(method=self.method, layout=self.layout, shape=self.shape,
                       params=tuple(sorted(self.params.items(), key=lambda kv: kv[0])), backend=self.backend,
                       device=self.device, input=self.input, seed=self.seed, training=self.training,
                       running=self.running, nonfinite=self.nonfinite, bins=self.bins,
                       shared_bins=self.shared_bins, overlays=self.overlays, selected=self.selected,
                       file_key=self._file_key())

    def settings(self) -> dict:
        """The settings as plain data (for sessions and QSettings)."""
        return dict(method=self.method, layout=self.layout, shape=list(self.shape), params=dict(self.params),
                    backend=self.backend, device=self.device, input=self.input, seed=self.seed,
                    selected=list(self.selected), training=self.training, running=self.running,
                    nonfinite=self.nonfinite, bins=self.bins, shared_bins=self.shared_bins,
                    overlays=self.overlays, log_counts=self.log_counts)

    # -- writing ----------------------------------------------------------------------------
    def update(self, **changes):
        """Change settings. Computation keys are followed by resultChanged, or by `error` set.
        An update that cannot be applied (a malformed value) changes nothing and sets `error`."""
        unknown = set(changes) - set(COMPUTE_KEYS) - set(VIEW_KEYS)
        if unknown:
            raise ValueError(f"AppState.update: unknown key(s) {', '.join(sorted(unknown))}; "
                             f"valid: {', '.join(COMPUTE_KEYS + VIEW_KEYS)}")
        before = {name: copy.copy(getattr(self, name)) for name in SETTINGS}
        try:
            self._apply(changes)
        except (ValueError, TypeError) as exc:
            for name, value in before.items():  # all or nothing
                setattr(self, name, value)
            self._set_error(str(exc))
            self.settingsChanged.emit()
            return
        if set(changes) & set(COMPUTE_KEYS) or not changes:
            self._validate_and_submit()  # first: the worker computes while the controls catch up
        self.settingsChanged.emit()
        if "log_counts" in changes:
            self.viewChanged.emit()

    def _apply(self, changes: dict):
        old_layout, old_method = self.layout, self.method
        if "layout" in changes:
            layout = viewable_layout(changes["layout"])
            if self.file is not None and self.input == FILE_INPUT and set(layout) != set(self.file.layout):
                raise ValueError(f"the loaded file has axes {self.file.layout}; layout {layout} names other axes")
            self.layout = layout
        if "shape" in changes:
            shape = tuple(_integer(s, "shape") for s in changes["shape"])
            if len(shape) != len(self.layout):
                raise ValueError(f"shape {shape} has {len(shape)} axes but layout {self.layout} names "
                                 f"{len(self.layout)}")
            if min(shape) < 1:
                raise ValueError(f"shape {shape}: every axis needs a size of at least 1")
            if self.input == FILE_INPUT and "input" not in changes and shape != self.shape:
                raise ValueError("the shape is fixed by the loaded file; pick a generated input to change it")
            self.sizes.update(zip(self.layout, shape))
        if "method" in changes:
            if changes["method"] not in METHODS:
                raise ValueError(f"unknown method {changes['method']!r}; choose one of {', '.join(METHODS)}")
            self.method = changes["method"]
        if "params" in changes:
            self.params = dict(changes["params"] or {})
        elif self.method != old_method:
            self.params = self._carried_params()
        if "input" in changes:
            name = changes["input"]
            if name == FILE_INPUT and self.file is None:
                raise ValueError("no file is loaded: use File > Open to load one")
            if name != FILE_INPUT and name not in GENERATORS:
                raise ValueError(f"unknown input {name!r}; choose one of {', '.join(GENERATORS)}")
            self.input = name
        if "seed" in changes:
            self.seed = _integer(changes["seed"], "seed", 0, 2**63 - 1)
        if "bins" in changes:
            self.bins = _integer(changes["bins"], "bins", 2, 1000)
        for key in ("training", "shared_bins", "overlays", "log_counts"):
            if key in changes:
                try:
                    setattr(self, key, parse_bool(changes[key]))
                except ValueError:
                    raise ValueError(f"{key}={changes[key]!r} is not true or false") from None
        for key, choices in (("running", ("warmed", "fresh")), ("nonfinite", ("omit", "propagate"))):
            if key in changes:
                if changes[key] not in choices:
                    raise ValueError(f"{key}={changes[key]!r} is not one of {', '.join(choices)}")
                setattr(self, key, changes[key])
        if "backend" in changes:
            self.backend = str(changes["backend"])
            if "device" not in changes and self.backend == "numpy":
                self.device = "cpu"
        if "device" in changes:
            self.device = str(changes["device"])
        if "selected" in changes:
            selected = tuple(_integer(i, "selected") for i in changes["selected"])
            if len(selected) != len(self.shape) or not all(0 <= i < n for i, n in zip(selected, self.shape)):
                raise ValueError(f"selected element {selected} is outside the shape {self.shape}")
            self.selected = selected
        elif self.layout != old_layout or "shape" in changes or len(self.selected) != len(self.layout):
            self.selected = self._carry_selection(old_layout)

    def _carried_params(self) -> dict:
        """After a method change: the settings the new method also has and accepts as they are
        (GroupNorm's groups=4 would break Custom axes, whose axes exclude C by default)."""
        names = METHODS[self.method].param_names
        carried = {}
        for key, value in self.params.items():
            if key in names:
                try:
                    prepare(self.method, self.shape, self.layout, **carried, **{key: value})
                except NormError:
                    continue
                carried[key] = value
        return carried

    def _carry_selection(self, old_layout: str) -> tuple:
        """The selected element's index in the current layout, clamped to the shape."""
        by_axis = dict(zip(old_layout, self.selected)) if len(self.selected) == len(old_layout) else {}
        return tuple(min(by_axis.get(a, 0), s - 1) for a, s in zip(self.layout, self.shape))

    def _validate(self) -> str | None:
        """The reason the current settings cannot be computed, or None."""
        try:
            _, self.resolved_params, self.sharing, _ = prepare(self.method, self.shape, self.layout,
                                                               training=self.training, **self.params)
        except NormError as exc:
            self.sharing = None
            self.resolved_params = self._params_for_display()
            return exc.reason
        elements = prod(self.shape)
        if elements > MAX_ELEMENTS:
            return (f"{' x '.join(map(str, self.shape))} = {elements:,} elements is more than the "
                    f"{MAX_ELEMENTS:,} this explorer holds in memory")
        if self.backend not in available_backends():
            return f"backend {self.backend!r} is not available here ({', '.join(available_backends())} are)"
        devices = available_devices(self.backend)
        if self.device not in devices:
            return f"device {self.device!r} is not available with {self.backend}; devices: {', '.join(devices)}"
        return None

    def _params_for_display(self) -> dict:
        """The parameters the controls show when the settings do not compute: as given where they
        are well-formed, defaults elsewhere."""
        spec = METHODS[self.method]
        try:
            return resolve_params(spec, self.layout, self.shape, self.params)
        except ValueError:
            return resolve_params(spec, self.layout, self.shape, {})

    def _validate_and_submit(self):
        reason = self._validate()
        if reason is not None:
            self._set_error(reason)
            return
        self._set_error(None)
        self._generation += 1
        self._worker.submit(self._generation, self.request())
        self._busy_timer.start()

    # -- files --------------------------------------------------------------------------------
    def set_file(self, array: np.ndarray, layout: str, path: str, key: str = ""):
        """Use a loaded tensor (its axes in `layout`) as the input; its shape fixes the sizes.
        path and key say where it came from (sessions re-read it from there)."""
        layout = viewable_layout(layout)
        if array.ndim != len(layout):
            raise ValueError(f"the tensor has {array.ndim} axes but layout {layout} names {len(layout)}")
        self.file = LoadedFile(array, layout, str(path), key)
        self.input = FILE_INPUT
        self._worker.pipeline.files[self._file_key()] = (array, layout)
        self.layout = layout
        self.sizes.update(zip(layout, array.shape))
        self.selected = tuple(0 for _ in layout)
        self.settingsChanged.emit()
        self._validate_and_submit()

    def _file_key(self) -> str:
        if self.input != FILE_INPUT or self.file is None:
            return ""
        f = self.file
        return f"{f.path}|{f.key}|{f.layout}|{f.array.shape}|{id(f.array)}"

    # -- results ----------------------------------------------------------------------------
    @property
    def computing(self) -> bool:
        """A computation for the latest settings is on its way."""
        return self._answered < self._generation

    def _on_finished(self, generation: int, computed):
        if generation != self._generation:
            return  # a newer request is on its way; this result is stale
        self._answered = generation
        self.computed = computed
        self._finish()
        self.resultChanged.emit()

    def _on_failed(self, generation: int, message: str):
        if generation != self._generation:
            return
        self._answered = generation
        self._set_error(message)
        self._finish()

    def _finish(self):
        self._busy_timer.stop()
        self._set_busy(False)

    def _set_error(self, message):
        if message != self.error:
            self.error = message
            self.errorChanged.emit(message)

    def _set_busy(self, busy: bool):
        if busy != self.busy:
            self.busy = busy
            self.busyChanged.emit(busy)

    def shutdown(self):
        """Stop the compute thread (call before the state goes away)."""
        self._busy_timer.stop()
        self._worker.stop()
