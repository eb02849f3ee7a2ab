"""What the experiment views share: a worker of their own (runs are long: the explore view's
updates must not wait for them), reruns debounced while controls move, controls that schedule
a rerun, the status line on failure or cancel, and shutdown."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLayout, QSpinBox, QVBoxLayout, QWidget

from ..worker import Worker
from .view_parts import RunBar, install_view_menu, namespace_children, show_outcome, status_label

DEBOUNCE_MS = 200


class ExperimentView(QWidget):
    """Subclasses build `label_status`, implement `job()` (a callable(progress, cancelled) that
    computes the result off the GUI thread) and `_on_finished(result)`."""

    def __init__(self, name: str, parent=None):
        super().__init__(parent)
        self.setObjectName(f"view_{name}")
        self.name = name
        self.error = None
        self.worker = Worker(name, self)
        self.runner = self.worker.channel(name)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.run)

    def _built(self, autorun: bool):
        """Call at the end of a subclass's __init__: right-click menu, unique control names, first run."""
        install_view_menu(self, f"{self.name} experiment")
        namespace_children(self, self.name)
        if autorun:
            self.run()

    @property
    def busy(self) -> bool:
        return self.runner.busy

    def job(self):
        raise NotImplementedError

    def _on_finished(self, result):
        raise NotImplementedError

    def schedule(self, *_):
        """A control changed: rerun once the person pauses."""
        self._debounce.start()

    def run(self):
        self._debounce.stop()
        self.runner.submit(self.job())
        show_outcome(self.label_status, "running…")

    def _on_failed(self, message: str):
        self.error = message
        show_outcome(self.label_status, message, "error")

    def _on_cancelled(self, message: str):
        show_outcome(self.label_status, f"cancelled; the previous result is shown ({message})", "warning")

    def _control_column(self, box, form, extras=(), labels=()) -> None:
        """Lay out a view's controls in `box`: the form, `extras` (widgets or layouts), Run/Cancel with
        the progress bar, then `labels` and the status and warning lines."""
        self.run_bar = RunBar(self.runner, self.run)
        self.label_status = status_label("label_status")
        self.label_warnings = status_label("label_warnings")
        column = QVBoxLayout(box)
        column.addLayout(form)
        for item in extras:
            column.addLayout(item) if isinstance(item, QLayout) else column.addWidget(item)
        column.addSpacing(8)
        column.addWidget(self.run_bar)
        for label in (*labels, self.label_status, self.label_warnings):
            column.addWidget(label)
        column.addStretch(1)

    def _spin(self, name, lo, hi, value, tip, rerun=True):
        """A spin box that reruns the experiment (or, with rerun=False, only redraws)."""
        spin = QSpinBox(objectName=f"spin_{name}")
        spin.setRange(lo, hi)
        spin.setValue(value)
        spin.setKeyboardTracking(False)
        spin.setToolTip(tip)
        spin.valueChanged.connect(self.schedule if rerun else self.redraw)
        return spin

    DECIMALS = 2  # of the _double spin boxes

    def _double(self, name, lo, hi, value, tip, step=0.1):
        """A spin box of DECIMALS decimals that reruns the experiment."""
        spin = QDoubleSpinBox(objectName=f"spin_{name}")
        spin.setRange(lo, hi)
        spin.setDecimals(self.DECIMALS)
        spin.setSingleStep(step)
        spin.setValue(value)
        spin.setKeyboardTracking(False)
        spin.setToolTip(tip)
        spin.valueChanged.connect(self.schedule)
        return spin

    def _combo(self, name, items, tip):
        """A combo box of (label, data) items that reruns the experiment."""
        combo = QComboBox(objectName=f"combo_{name}")
        for label, data in items:
            combo.addItem(label, data)
        combo.setToolTip(tip)
        combo.currentIndexChanged.connect(self.schedule)
        return combo

    def shutdown(self):
        """Cancel a run in progress and join the thread (before the view goes away)."""
        self._debounce.stop()
        self.worker.shutdown()
