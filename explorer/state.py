"""AppState: the one state object. Every control writes to it with `update`, every view reads
from it after `resultChanged`; the computation runs on the compute worker, off the GUI thread.
"""

from __future__ import annotations

from math import prod

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from kernels import METHODS, NormError, available_backends, available_devices, prepare
from kernels.inputs import GENERATORS
from kernels.layouts import check_layout

from .compute import ComputeWorker
from .pipeline import MAX_ELEMENTS, Request, reuse_freed_memory

#: Keys `update` accepts that change what is computed.
COMPUTE_KEYS = ("method", "layout", "shape", "params", "backend", "device", "input", "seed", "selected",
                "training", "running", "nonfinite", "bins", "shared_bins", "overlays")
#: Keys that only change how results are drawn.
VIEW_KEYS = ("log_counts",)

DEFAULT_SIZES = {"N": 4, "C": 8, "H": 8, "W": 8, "L": 32, "D": 4}
FILE_INPUT = "file"
BUSY_AFTER_MS = 100


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
        self.file = None  # (array, layout, label) of a loaded file

        self.computed = None
        self.error: str | None = None
        self.busy = False
        self.resolved_params: dict = {}
        self.sharing = None
        self._generation = 0
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
        """Change settings. Computation keys are followed by resultChanged, or by `error` set."""
        unknown = set(changes) - set(COMPUTE_KEYS) - set(VIEW_KEYS)
        if unknown:
            raise ValueError(f"AppState.update: unknown key(s) {', '.join(sorted(unknown))}; "
                             f"valid: {', '.join(COMPUTE_KEYS + VIEW_KEYS)}")
        try:
            self._apply(changes)
        except ValueError as exc:
            self._set_error(str(exc))
            self.settingsChanged.emit()
            return
        self.settingsChanged.emit()
        if "log_counts" in changes:
            self.viewChanged.emit()
        if set(changes) & set(COMPUTE_KEYS) or not changes:
            self._validate_and_submit()

    def _apply(self, changes: dict):
        old_layout = self.layout
        if "layout" in changes:
            layout = check_layout(changes["layout"])
            if self.file is not None and self.input == FILE_INPUT and set(layout) != set(self.file[1]):
                raise ValueError(f"the loaded file has axes {self.file[1]}; layout {layout} names other axes")
            self.layout = layout
        if "shape" in changes:
            shape = tuple(int(s) for s in changes["shape"])
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
            if "params" not in changes:  # keep the settings the new method also has
                self.params = {k: v for k, v in self.params.items() if k in METHODS[self.method].param_names}
        if "params" in changes:
            self.params = dict(changes["params"] or {})
        if "input" in changes:
            name = changes["input"]
            if name == FILE_INPUT and self.file is None:
                raise ValueError("no file is loaded: use File > Open to load one")
            if name != FILE_INPUT and name not in GENERATORS:
                raise ValueError(f"unknown input {name!r}; choose one of {', '.join(GENERATORS)}")
            self.input = name
        for key, kind in (("seed", int), ("training", bool), ("bins", int), ("shared_bins", bool),
                          ("overlays", bool), ("log_counts", bool)):
            if key in changes:
                setattr(self, key, kind(changes[key]))
        for key, choices in (("running", ("warmed", "fresh")), ("nonfinite", ("omit", "propagate"))):
            if key in changes:
                if changes[key] not in choices:
                    raise ValueError(f"{key}={changes[key]!r} is not one of {', '.join(choices)}")
                setattr(self, key, changes[key])
        if "backend" in changes:
            self.backend = changes["backend"]
            if "device" not in changes and self.backend == "numpy":
                self.device = "cpu"
        if "device" in changes:
            self.device = str(changes["device"])
        if "selected" in changes:
            self.selected = tuple(int(i) for i in changes["selected"])
        elif self.layout != old_layout or "shape" in changes:
            self.selected = self._carry_selection(old_layout)
        if not 2 <= self.bins <= 1000:
            raise ValueError(f"bins={self.bins} must be between 2 and 1000")

    def _carry_selection(self, old_layout: str) -> tuple:
        """The selected element's index in the current layout, clamped to the shape."""
        by_axis = dict(zip(old_layout, self.selected)) if len(self.selected) == len(old_layout) else {}
        return tuple(min(by_axis.get(a, 0), s - 1) for a, s in zip(self.layout, self.shape))

    def _validate(self) -> str | None:
        """The reason the current settings cannot be computed, or None."""
        try:
            _, self.resolved_params, self.sharing, _ = prepare(self.method, self.shape, self.layout, **self.params)
        except NormError as exc:
            self.sharing = None
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
        if len(self.selected) != len(self.shape) or not all(0 <= i < s for i, s in zip(self.selected, self.shape)):
            return f"selected element {self.selected} is outside the shape {self.shape}"
        return None

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
    def set_file(self, array: np.ndarray, layout: str, label: str):
        """Use a loaded tensor (in `layout`) as the input; its shape fixes the sizes."""
        layout = check_layout(layout)
        if array.ndim != len(layout):
            raise ValueError(f"the tensor has {array.ndim} axes but layout {layout} names {len(layout)}")
        self.file = (array, layout, label)
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
        array, layout, label = self.file
        return f"{label}|{layout}|{array.shape}|{id(array)}"

    # -- results ----------------------------------------------------------------------------
    def _on_finished(self, generation: int, computed):
        if generation != self._generation:
            return  # a newer request is on its way; this result is stale
        self.computed = computed
        self._finish()
        self.resultChanged.emit()

    def _on_failed(self, generation: int, message: str):
        if generation != self._generation:
            return
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
