"""AppState: the one state object. Every control writes to it with `update`; the computation
runs on the worker, off the GUI thread, and comes back as one immutable `Scene` that the views
draw. `state.settings` is what the person asked for, `state.scene` what was last computed (for
settings that compute the same), `state.error` why the settings cannot be computed, if they
cannot.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from .file_loading import file_ref, load
from .limits import reuse_freed_memory
from .pipeline import Pipeline
from .settings import FIELDS, FILE_INPUT, FileRef, SettingError, Settings
from .worker import Worker

BUSY_AFTER_MS = 100
HISTORY = 200  # settings kept for undo


class AppState(QObject):
    """Settings, the latest Scene and the current error.

    resultChanged: a new scene is stored (also after an update that changed nothing).
    settingsChanged: some setting changed, or an update was refused (controls re-read the state).
    errorChanged(str or None): the inline error appeared, changed or cleared.
    busyChanged(bool): a computation has been running for more than BUSY_AFTER_MS.

    Every setting reads as an attribute too (state.method, state.shape, ...).
    """

    resultChanged = Signal()
    settingsChanged = Signal()
    errorChanged = Signal(object)
    busyChanged = Signal(bool)

    def __init__(self, parent=None, settings: Settings | None = None):
        super().__init__(parent)
        reuse_freed_memory()
        self.settings = settings or Settings()
        self.scene = None
        self.error: str | None = None
        self.busy = False
        self.worker = Worker("compute", self)
        self.pipeline = Pipeline(load_file=load)  # used on the worker's thread only
        self._channel = self.worker.channel("explore")
        self._channel.finished.connect(self._on_finished)
        self._channel.failed.connect(self._on_failed)
        self._awaiting: Settings | None = None  # the settings a submitted job computes
        self._file_array = None  # (FileRef, array) of the loaded file, handed to the worker with each job
        self._highlight = (None, None)
        self._undo: list = []  # earlier settings, newest last
        self._redo: list = []
        self._busy_timer = QTimer(self, singleShot=True, interval=BUSY_AFTER_MS)
        self._busy_timer.timeout.connect(lambda: self._set_busy(True))
        self._compute()

    # -- reading --------------------------------------------------------------------------
    @property
    def result(self):
        """The latest kernels.Result (None before the first computation finishes)."""
        return self.scene.result if self.scene is not None else None

    @property
    def method_spec(self):
        return self.settings.spec

    @property
    def sizes(self) -> dict:
        return self.settings.sizes

    @property
    def sharing(self):
        """Which elements share statistics under the current settings (None when they do not compute)."""
        try:
            return self.settings.prepared()[1]
        except ValueError:
            return None

    @property
    def resolved_params(self) -> dict:
        """Every parameter of the method as the controls show it."""
        return self.settings.display_params()

    @property
    def highlight(self) -> np.ndarray | None:
        """Boolean mask of the elements that share statistics with `selected`."""
        key, mask = self._highlight
        if key != self.settings:
            sharing = self.sharing
            mask = None if sharing is None else sharing.mask(self.settings.selected)
            self._highlight = (self.settings, mask)
        return mask

    @property
    def computing(self) -> bool:
        """A computation for the current settings is on its way."""
        return self._awaiting is not None

    # -- writing ----------------------------------------------------------------------------
    def update(self, **changes):
        """Change settings. A computed setting is followed by resultChanged, or by `error` set. An
        update that cannot be applied (a malformed value) changes nothing and sets `error`; an
        unknown key is a ValueError (a programming mistake, not a person's)."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise ValueError(f"AppState.update: unknown key(s) {', '.join(unknown)}; valid: {', '.join(FIELDS)}")
        try:
            settings = self.settings.replace(**changes)
        except SettingError as exc:
            self._set_error(str(exc))
            self.settingsChanged.emit()
            return
        self.apply(settings)

    def apply(self, settings: Settings, file: tuple | None = None, record: bool = True):
        """Make `settings` (already checked) the current ones: a session, an undo step, a lesson.
        file: (FileRef, array) of the loaded file the settings name, when it is a new one.
        record: keep the settings they replace for undo."""
        if file is not None:
            self._file_array = file
        if record and settings != self.settings:
            self._undo = (self._undo + [self.settings])[-HISTORY:]
            self._redo = []
        self.settings = settings
        self._compute()
        self.settingsChanged.emit()

    def undo(self) -> bool:
        """Back to the settings before the last change (False when there is none)."""
        if not self._undo:
            return False
        self._redo.append(self.settings)
        self.apply(self._undo.pop(), record=False)
        return True

    def redo(self) -> bool:
        """Forward again after an undo (False when there is nothing to redo)."""
        if not self._redo:
            return False
        self._undo.append(self.settings)
        self.apply(self._redo.pop(), record=False)
        return True

    def set_file(self, array: np.ndarray, layout: str, path: str, key: str = "", ref: FileRef | None = None):
        """Use a loaded tensor (its axes in `layout`) as the input; its shape fixes the sizes.
        path and key say where it came from (sessions re-read it from there)."""
        ref = ref or file_ref(path, key, layout, array.shape)
        if array.ndim != len(ref.layout):
            raise ValueError(f"the tensor has {array.ndim} axes but layout {ref.layout} names {len(ref.layout)}")
        settings = self.settings.replace(file=ref, input=FILE_INPUT, layout=ref.layout,
                                         selected=(0,) * array.ndim)
        self.apply(settings, (ref, array))

    def _compute(self):
        """Submit the current settings to the worker, or say why they cannot be computed."""
        settings = self.settings
        problem = settings.problem()
        if problem is not None:
            self._awaiting = None
            self._set_error(problem)
            self._finish()
            return
        self._set_error(None)
        if self.scene is not None and self.scene.settings.differs_only_in_drawing(settings) \
                and self.scene.settings != settings and not self.computing:
            self.scene = self.scene.with_settings(settings)  # a redraw, no computation
            self.resultChanged.emit()
            return
        self._awaiting = settings
        self._channel.submit(self.pipeline_job(lambda pipeline: pipeline.run(settings)))
        self._busy_timer.start()

    def pipeline_job(self, work):
        """A worker job that runs work(pipeline), the loaded file's array handed to the pipeline first
        (the pipeline lives on the worker's thread)."""
        pipeline, file = self.pipeline, self._file_array

        def job(progress, cancelled):
            if file is not None:
                pipeline.use_file(*file)
            return work(pipeline)
        return job

    def _on_finished(self, scene):
        if self._awaiting is None or not scene.settings.differs_only_in_drawing(self.settings):
            return  # computed for settings that are no longer the current ones
        self._awaiting = None
        self.scene = scene if scene.settings == self.settings else scene.with_settings(self.settings)
        self._finish()
        self.resultChanged.emit()

    def _on_failed(self, message: str):
        if self._awaiting is None:
            return
        self._awaiting = None
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
        """Stop the worker thread (call before the state goes away)."""
        self._busy_timer.stop()
        self.worker.shutdown()


def _setting_property(name: str):
    return property(lambda self: getattr(self.settings, name), doc=FIELDS[name].doc)


for _name in FIELDS:
    setattr(AppState, _name, _setting_property(_name))
