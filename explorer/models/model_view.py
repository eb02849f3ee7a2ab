"""The Model tab: open a real network, see its normalization layers (table, health strip, the selected
layer's flags and parameters), capture real activations with the train-vs-eval gap plot, fold BatchNorm,
export, and open a layer's real input in the Explore tab (`exploreRequested(Handoff)`).

Opening, capturing and folding run on the tab's own worker (explorer.worker) with progress and
Cancel: the Explore tab never waits for them. A model that cannot be opened is one message; the
model on screen and the Explore tab's session stay as they were."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..atomic import write_text
from ..experiments.view_parts import ask_save_path, caption, guarded, show_outcome, status_label
from ..settings import DEFAULTS
from ..widgets.export_dialog import install_export_menu
from ..worker import Worker
from .capture import CapturePanel
from .explore import handoff
from .fold_report import FoldReportView
from .gap_plot import GapPlot
from .health_strip import HealthStrip
from .jobs import Captured, Folded, OpenRequest, capture_job, fold_job, open_job
from .layer_detail import LayerDetail
from .layer_table import LayerTable
from .open_bar import OpenBar, confirm_import
from .report import default_input, describe, layers_csv

CANNOT_RUN = ("{name} holds weights without the network's code, so it cannot run: open it again \"read as\" the "
              "weights of its architecture, or open its ONNX export or an import path, to capture real inputs.")


def warn(parent, title: str, text: str):
    """One message box (a module function, so tests can see it)."""
    QMessageBox.warning(parent, title, text)


class ModelView(QWidget):
    """objectName view_model. exploreRequested(Handoff) asks the window to open a layer's input in Explore;
    base_settings() gives the settings the hand-off starts from (the window sets it to the Explore tab's)."""

    exploreRequested = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("view_model")
        self.model = None
        self.captured: Captured | None = None
        self.folded: Folded | None = None
        self.pending = None  # (layer index, training) waiting for a capture of that layer
        self.error = None
        self.base_settings = lambda: DEFAULTS
        self.worker = Worker("model", self)
        self.opener = self.worker.channel("open")
        self.runner = self.worker.channel("run")
        for channel in (self.opener, self.runner):
            channel.progress.connect(self._on_progress)
            channel.busyChanged.connect(self._on_busy)
            channel.cancelled.connect(lambda message: self._status(f"cancelled: {message}", "warning"))
        self.opener.finished.connect(self._on_opened)
        self.opener.failed.connect(self._on_open_failed)
        self.runner.finished.connect(self._on_run_finished)
        self.runner.failed.connect(self._on_run_failed)
        self._build()

    def _build(self):
        self.open_bar = OpenBar()
        self.open_bar.fileRequested.connect(self.open_path)
        self.open_bar.importRequested.connect(self.open_import)
        self.label_model = QLabel("No model open.", objectName="label_model_summary")
        self.label_model.setStyleSheet("font-weight: 600;")
        self.label_model.setWordWrap(True)  # a long import path must not widen the window (every tab shares its width)
        self.progress = QProgressBar(objectName="progress_model")
        self.progress.setRange(0, 1)
        self.progress.setMaximumWidth(180)
        self.button_cancel = QPushButton("Cancel", objectName="button_model_cancel")
        self.button_cancel.setEnabled(False)
        self.button_cancel.setToolTip("Stop the capture in progress at its next layer (an opening or folding in "
                                      "progress finishes in the background and is discarded)")
        self.button_cancel.clicked.connect(self.cancel)
        self.button_csv = QPushButton("Export table (CSV)…", objectName="button_model_csv")
        self.button_csv.clicked.connect(lambda: self.export_table())
        self.button_csv.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(self.label_model, 1)
        top.addWidget(self.progress)
        top.addWidget(self.button_cancel)
        top.addWidget(self.button_csv)
        self.label_notes = caption("", "label_model_notes")
        self.label_status = status_label("label_model_status")
        self.strip = HealthStrip()
        self.table = LayerTable()
        self.detail = LayerDetail()
        self.gaps = GapPlot()
        self.capture_panel = CapturePanel()
        self.capture_panel.captureRequested.connect(self.capture)
        self.fold_view = FoldReportView()
        self.button_fold = QPushButton("Fold BatchNorm", objectName="button_model_fold")
        self.button_fold.setToolTip("Fold each BatchNorm into the convolution or linear layer that feeds it, and "
                                    "measure the difference per dtype (on the captured input when there is one)")
        self.button_fold.clicked.connect(self.fold)
        self.button_fold.setEnabled(False)
        for signal in (self.table.layerSelected, self.strip.layerClicked, self.gaps.layerClicked):
            signal.connect(self.select)
        self.detail.exploreRequested.connect(self.explore)

        gap_tab = QWidget()
        row = QHBoxLayout(gap_tab)
        side = QVBoxLayout()
        side.addWidget(self.capture_panel)
        side.addStretch(1)
        holder = QWidget()
        holder.setLayout(side)
        holder.setMaximumWidth(340)
        row.addWidget(holder)
        row.addWidget(self.gaps, 1)
        fold_tab = QWidget()
        fold_column = QVBoxLayout(fold_tab)
        fold_row = QHBoxLayout()
        fold_row.addWidget(self.button_fold)
        fold_row.addStretch(1)
        fold_column.addLayout(fold_row)
        fold_column.addWidget(self.fold_view, 1)
        self.tabs = QTabWidget(objectName="tabs_model")
        self.tabs.addTab(gap_tab, "Capture: train vs eval gaps")
        self.tabs.addTab(fold_tab, "Folding BatchNorm")
        upper = QSplitter(Qt.Orientation.Horizontal, objectName="split_model_layers")
        upper.addWidget(self.table)
        upper.addWidget(self.detail)
        upper.setSizes([760, 560])
        split = QSplitter(Qt.Orientation.Vertical, objectName="split_model")
        split.addWidget(upper)
        split.addWidget(self.tabs)
        split.setSizes([520, 300])
        column = QVBoxLayout(self)
        column.addWidget(self.open_bar)
        column.addLayout(top)
        column.addWidget(self.label_notes)
        column.addWidget(self.strip)
        column.addWidget(split, 1)
        column.addWidget(self.label_status)
        menus = ((self.strip, "health strip", self.strip), (self.gaps.shift, "gap plot", self.gaps),
                 (self.gaps.ratio, "gap plot", self.gaps), (self.fold_view.plot, "folding report", self.fold_view))
        for widget, title, target in menus:
            install_export_menu(widget, title, target)

    # -- opening ----------------------------------------------------------------------------------
    def open_file(self):
        """The Open model dialog (File > Open model…)."""
        self.open_bar.choose_file()

    def open_path(self, path: str, architecture: str = ""):
        self._open(OpenRequest(str(path), architecture or None))

    def open_import(self, text: str, weights: str = "") -> bool:
        """Open a module named by an import path, after the person agreed that its code will run."""
        if not confirm_import(self, text):
            self._status(f"{text} was not imported", "warning")
            return False
        self._open(OpenRequest(text, None, weights or None, allow_import=True))
        return True

    def _open(self, request: OpenRequest):
        self.opener.submit(open_job(request))
        self._status(f"opening {request.source}…")

    def _on_opened(self, model):
        self.runner.cancel()
        self.model, self.captured, self.folded, self.pending, self.error = model, None, None, None, None
        self.label_model.setText(describe(model))
        self.label_notes.setText(" ".join(model.notes))
        self.label_notes.setVisible(bool(model.notes))
        self.table.set_model(model)
        self.strip.set_model(model)
        self.gaps.set_model(model)
        self.fold_view.set_report(None)
        self.capture_panel.set_kind(default_input(model))
        self.capture_panel.button_capture.setEnabled(model.can_run)
        self.capture_panel.button_capture.setToolTip("" if model.can_run else CANNOT_RUN.format(name=model.name))
        self.button_fold.setEnabled(bool(model.layers))
        self.button_csv.setEnabled(True)
        self.select(0 if model.layers else None)
        flagged = sum(1 for layer in model.layers if layer.health in ("warning", "problem"))
        self._status(f"opened {model.name}: {len(model.layers)} normalization layers, {flagged} with a warning or "
                     f"problem" + ("" if model.can_run else " · " + CANNOT_RUN.format(name=model.name)))

    def _on_open_failed(self, message: str):
        self.error = message
        self._status(f"cannot open the model: {message}", "error")
        warn(self, "Cannot open model", message)

    def _on_run_failed(self, message: str):
        self.pending, self.error = None, message
        self._status(message, "error")

    # -- selection --------------------------------------------------------------------------------
    @property
    def selected(self):
        layer = self.detail.layer
        return layer if self.model is not None and layer in self.model.layers else None

    def select(self, index):
        layer = None if self.model is None or index is None else self.model.layers[int(index)]
        self.table.select(index)
        self.strip.set_selected(index)
        self.gaps.set_selected(index)
        can_run = self.model is not None and self.model.can_run
        self.detail.set_layer(layer, can_run, "" if self.model is None else CANNOT_RUN.format(name=self.model.name))

    def _refresh(self):
        self.table.refresh()
        self.strip.set_model(self.model)
        label = self.captured.request.label if self.captured is not None else ""
        self.gaps.set_model(self.model, label)
        layer = self.selected
        self.select(None if layer is None else layer.index)

    # -- running ----------------------------------------------------------------------------------
    def capture(self, layers=None, statistics: bool = True) -> bool:
        """Run the model on the chosen input: every BatchNorm's gaps and the selected layer's input."""
        if self.model is None:
            return False
        try:
            request = self.capture_panel.request()
        except ValueError as exc:
            self._status(str(exc), "error")
            return False
        if layers is None:
            layers = [self.selected.name] if self.selected is not None else []
        self.runner.submit(capture_job(self.model, request, layers, statistics))
        self._status(f"capturing on {request.label}…")
        return True

    def fold(self):
        if self.model is None:
            return
        x = self.captured.capture.input if self.captured is not None and self.captured.model is self.model else None
        self.runner.submit(fold_job(self.model, x))
        self._status("folding BatchNorm…")

    def explore(self, training: bool):
        """Open the selected layer's real input in the Explore tab (capturing it first when needed)."""
        layer = self.selected
        if layer is None:
            return
        try:
            request = self.capture_panel.request()
        except ValueError as exc:
            self._status(str(exc), "error")
            return
        cap = self.captured
        if cap is not None and cap.model is self.model and layer.name in cap.capture and cap.request == request:
            self._hand_off(layer, training)
            return
        self.pending = (layer.index, training)
        # the gaps already drawn are this input's: then only the layer's input is needed (a torch module stops there)
        same_input = cap is not None and cap.model is self.model and cap.request == request
        self.capture([layer.name], statistics=not same_input)

    def _hand_off(self, layer, training: bool):
        try:
            h = handoff(self.model, layer, self.captured.capture[layer.name], training, self.base_settings(),
                        input_label=f"from {self.captured.request.label}")
        except (ValueError, OSError) as exc:
            self._status(f"cannot open {layer.name} in Explore: {exc}", "error")
            return
        self._status(f"{layer.name}'s input opened in the Explore tab ({'train' if h.settings.training else 'eval'} "
                     f"mode)" + (f"; not carried over: {'; '.join(h.unexpressed)}" if h.unexpressed else ""))
        self.exploreRequested.emit(h)

    def _on_run_finished(self, result):
        if getattr(result, "model", None) is not self.model:
            return  # for a model no longer open
        if isinstance(result, Folded):
            self.folded = result
            self.fold_view.set_report(result.report)
            self.tabs.setCurrentIndex(1)
            self._status(f"folded: {len(result.report.folded_names)} BatchNorms fold")
            return
        previous, self.captured, self.error = self.captured, result, None
        cap = result.capture
        if not cap.statistics and previous is not None and previous.model is self.model:
            cap.statistics = previous.capture.statistics  # the same input: its gaps still hold
        self._refresh()
        notes = f" · {' '.join(cap.notes)}" if cap.notes else ""
        self._status(f"captured on {result.request.label} (shape {tuple(cap.input.shape)}) in {cap.seconds:.2f} s: "
                     f"{len(cap.statistics)} BatchNorms measured{notes}")
        if self.pending is not None:
            index, training = self.pending
            self.pending = None
            layer = self.model.layers[index]
            if layer.name in cap:
                self._hand_off(layer, training)
            else:
                self._status(f"{layer.name} did not run on this input{notes}", "error")

    def cancel(self):
        self.pending = None
        self.runner.cancel()
        self.opener.cancel()

    # -- progress, status, export -------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.opener.busy or self.runner.busy

    def _on_progress(self, done: int, total: int):
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _on_busy(self, _busy):
        busy = self.busy
        self.button_cancel.setEnabled(busy)
        if busy:
            self.progress.setRange(0, 0)  # indeterminate until the job reports progress
        else:
            self.progress.setRange(0, 1)
            self.progress.setValue(1)

    def _status(self, text: str, kind: str = "info"):
        show_outcome(self.label_status, text, kind)

    def export_table(self, path: str | None = None) -> bool:
        """The layer table (with every flag sentence) as CSV."""
        if self.model is None:
            return False
        if path is None:
            path = ask_save_path(self, "Export the layer table", "layers.csv", "CSV table (*.csv)")
            if not path:
                return False
        text = layers_csv(self.model)
        return guarded(self, lambda: write_text(path, text))

    def export_targets(self) -> dict:
        """What File > Export figure offers from this tab."""
        return {"Model: health strip": self.strip, "Model: gap plot": self.gaps,
                "Model: folding report": self.fold_view}

    def current_figure(self) -> QWidget:
        return self.gaps if self.tabs.currentIndex() == 0 else self.fold_view

    def shutdown(self):
        self.worker.shutdown()
