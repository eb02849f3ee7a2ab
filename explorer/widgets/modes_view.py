"""Train and eval side by side: the same input through a BatchNorm-family layer with the batch's
statistics (train) and with the running ones (eval), and the histogram of the difference. It is
computed, on its own worker channel, only while the tab is shown; methods without running
statistics say they compute the same in both modes."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from ..palette import AFTER, BEFORE, SELECTED
from .histograms import format_summary

PLOTS = (("train", "train: the batch's statistics", AFTER), ("eval", "eval: the running statistics", SELECTED),
         ("diff", "eval − train, per element", BEFORE))


class ModesView(QWidget):
    """objectName view_modes. Follows `state` while visible."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.setObjectName("view_modes")
        self.main = state
        self.modes, self.error, self.computed_for = None, None, None
        self._channel = state.worker.channel("modes")
        self._channel.finished.connect(self._on_finished)
        self._channel.failed.connect(self._on_failed)
        self.caption = QLabel(objectName="label_modes")
        self.caption.setWordWrap(True)
        grid = QGridLayout()
        self.plots, self.labels = {}, {}
        for col, (key, title, color) in enumerate(PLOTS):
            plot = pg.PlotWidget()
            plot.setObjectName(f"plot_modes_{key}")
            plot.setTitle(title, size="10pt")
            plot.setLabel("bottom", "value" if key != "diff" else "difference")
            plot.setMenuEnabled(False)
            plot.getAxis("left").enableAutoSIPrefix(False)
            label = QLabel(objectName=f"label_modes_{key}")
            label.setWordWrap(True)
            label.setStyleSheet("font-size: 11px;")
            grid.addWidget(plot, 0, col)
            grid.addWidget(label, 1, col)
            self.plots[key], self.labels[key] = plot, label
            self._color = {**getattr(self, "_color", {}), key: color}
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(grid, 1)
        state.settingsChanged.connect(self.sync)

    def showEvent(self, event):
        super().showEvent(event)
        self.sync()

    def sync(self):
        if not self.isVisible() or self.computed_for == self.main.settings:
            return
        settings = self.main.settings
        self._pending = settings
        self._channel.submit(self.main.pipeline_job(lambda pipeline: pipeline.run_modes(settings)))

    def ready(self) -> bool:
        return self.computed_for == self.main.settings and not self._channel.busy

    def _on_failed(self, message: str):
        self.computed_for, self.modes, self.error = self._pending, None, message
        for plot in self.plots.values():
            plot.clear()
        for label in self.labels.values():
            label.setText("")
        self.caption.setText(message)

    def _on_finished(self, modes):
        self.computed_for, self.modes, self.error = self._pending, modes, None
        for key, scene in (("train", modes.train), ("eval", modes.eval)):
            hist = scene.hist
            self._draw(key, hist.edges_after, hist.counts_after)
            self.labels[key].setText(format_summary(scene.summary_after))
        self._draw("diff", modes.diff_edges, modes.diff_counts)
        self.labels["diff"].setText(f"largest |eval − train| {modes.diff_max:.4g} · mean {modes.diff_mean:.4g} · "
                                    f"std {modes.diff_std:.4g}")
        s = modes.eval.settings
        source = {"warmed": "after 20 training steps on fresh batches of the same input",
                  "fresh": "of a fresh module (mean 0, variance 1)"}.get(s.running, "stored with the loaded file")
        self.caption.setText(f"{s.spec.label} on the same input: training normalizes with the batch's own statistics, "
                             f"eval with the running statistics {source}. The difference is what a model sees if it "
                             f"is evaluated without model.eval() (or trained without model.train()).")

    def _draw(self, key, edges, counts):
        plot = self.plots[key]
        plot.clear()
        fill = pg.mkColor(self._color[key])
        fill.setAlpha(110)
        plot.addItem(pg.PlotCurveItem(edges, counts, stepMode="center", fillLevel=0, brush=fill,
                                      pen=pg.mkPen(self._color[key], width=1), antialias=False))
        if key == "diff":
            pen = pg.mkPen(pg.getConfigOption("foreground"), style=Qt.PenStyle.DashLine)
            plot.addItem(pg.InfiniteLine(0, angle=90, pen=pen))
