"""The selected layer in detail: its flag sentences, γ, β, running mean and running variance per
channel as small plots (after a capture, the batch's mean and variance beside the running ones: the
"train fine, eval wrong" picture), and the buttons that open its real input in the Explore tab."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..experiments.view_parts import make_plot, two_line_title
from .report import flags_html, momentum_text

RUNNING = "#1f77b4"
BATCH = "#d62728"
PARAM = "#444444"
PLOTS = (("gamma", "γ (weight)"), ("beta", "β (bias)"), ("running_mean", "running mean"),
         ("running_var", "running variance"))


class LayerDetail(QWidget):
    """exploreRequested(training) from the two Open in Explore buttons."""

    exploreRequested = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("panel_model_layer")
        self.layer = None
        self.label_title = QLabel(objectName="label_model_layer")
        self.label_title.setWordWrap(True)
        self.label_title.setTextFormat(Qt.TextFormat.RichText)
        self.label_flags = QLabel(objectName="label_model_flags")
        self.label_flags.setWordWrap(True)
        self.label_flags.setTextFormat(Qt.TextFormat.RichText)
        self.label_flags.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label_flags.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.plots = {}
        grid = QGridLayout()
        grid.setSpacing(4)
        for k, (key, title) in enumerate(PLOTS):
            plot = make_plot(f"plot_model_{key}", title, "channel", "")
            plot.setMinimumSize(160, 100)
            self.plots[key] = plot
            grid.addWidget(plot, k // 2, k % 2)
        self.button_train = QPushButton("Open in Explore: train", objectName="button_model_explore_train")
        self.button_train.setToolTip("This layer's captured real input in the Explore tab with the layer's own "
                                     "settings, normalized with the batch's statistics (training)")
        self.button_eval = QPushButton("Open in Explore: eval", objectName="button_model_explore_eval")
        self.button_eval.setToolTip("The same with the layer's running statistics (eval mode)")
        self.button_train.clicked.connect(lambda: self.exploreRequested.emit(True))
        self.button_eval.clicked.connect(lambda: self.exploreRequested.emit(False))
        self.label_explore = QLabel(objectName="label_model_explore")
        self.label_explore.setWordWrap(True)
        self.label_explore.setStyleSheet("color: #555; font-size: 11px;")
        buttons = QHBoxLayout()
        buttons.addWidget(self.button_train)
        buttons.addWidget(self.button_eval)
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 0, 0, 0)
        column.addWidget(self.label_title)
        column.addLayout(buttons)
        column.addWidget(self.label_explore)
        column.addWidget(self.label_flags)
        column.addLayout(grid, 1)
        self.set_layer(None)

    def set_layer(self, layer, can_run: bool = False, why_not: str = ""):
        self.layer = layer
        for button in (self.button_train, self.button_eval):
            button.setEnabled(layer is not None and can_run)
        if layer is None:
            self.label_title.setText("<b>No layer selected</b>: open a model, then pick a layer in the table or "
                                     "the strip.")
            self.label_flags.setText("")
            self.label_explore.setText("")
            for plot in self.plots.values():
                plot.clear()
            return
        facts = [layer.kind, f"eps {layer.eps:g}" if layer.eps is not None else "",
                 f"momentum {momentum_text(layer)}" if momentum_text(layer) else "",
                 f"groups {layer.groups}" if layer.groups else ""]
        facts = " · ".join(f for f in facts if f)
        self.label_title.setText(f"<b>{html.escape(layer.name)}</b> — {html.escape(facts)}")
        self.label_flags.setText(flags_html(layer, html.escape))
        self.label_explore.setText("" if can_run else why_not)
        self._draw(layer)

    def _draw(self, layer):
        gap = layer.gap
        arrays = {"gamma": layer.weight, "beta": layer.bias, "running_mean": layer.running_mean,
                  "running_var": layer.running_var}
        batch = {"running_mean": None if gap is None else gap.batch_mean,
                 "running_var": None if gap is None else gap.batch_var}
        for key, plot in self.plots.items():
            plot.clear()
            title = dict(PLOTS)[key]
            plot.setTitle(title, size="10pt")
            values = arrays[key]
            if values is None:
                what = {"gamma": "no γ (affine=False)", "beta": "no β", "running_mean": "no running statistics",
                        "running_var": "no running statistics"}[key]
                text = pg.TextItem(what, color="#777", anchor=(0.5, 0.5))
                plot.addItem(text)
                text.setPos(0.5, 0.5)
                plot.setLogMode(False, False)
                plot.setXRange(0, 1)
                plot.setYRange(0, 1)
                continue
            flat = np.asarray(values, dtype=np.float64).ravel()
            x = np.arange(flat.size)
            plot.setLabel("bottom", "channel" if np.ndim(values) == 1 else "element (flattened)")
            log = key == "running_var" and np.all(flat > 0) and (batch[key] is None or np.all(batch[key] > 0))
            plot.setLogMode(False, bool(log))
            color = RUNNING if key.startswith("running") else PARAM
            symbol = "o" if flat.size <= 64 else None
            plot.plot(x, flat, pen=pg.mkPen(color, width=1.5), symbol=symbol, symbolSize=5, symbolBrush=color,
                      symbolPen=None)
            if batch.get(key) is not None:
                plot.setTitle(two_line_title(title, ("● running", RUNNING), ("× this batch", BATCH)), size="10pt")
                b = np.asarray(batch[key], dtype=np.float64).ravel()
                plot.plot(np.arange(b.size), b, pen=None, symbol="x", symbolSize=7,
                          symbolPen=pg.mkPen(BATCH, width=1.5))
            if key == "running_var" and layer.eps:
                line = pg.InfiniteLine(pos=np.log10(layer.eps) if log else layer.eps, angle=0,
                                       pen=pg.mkPen("#999", width=1, style=Qt.PenStyle.DashLine),
                                       label=f"eps {layer.eps:g}", labelOpts=dict(position=0.9, color="#666"))
                plot.addItem(line)
            plot.enableAutoRange()
