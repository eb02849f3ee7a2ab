"""The per-layer gap plot after a capture: for every BatchNorm, how far eval mode's output lands from
what training would give on this input (the "train fine, eval wrong" diagnosis). Top: the mean shift
(|batch mean − running mean| in running std units, rms over channels); bottom: the worst std ratio
over channels. Points are coloured by the layer's gap flag; a click selects the layer."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ..experiments.view_parts import caption, make_plot
from .report import HEALTH_COLORS

EMPTY = ("Capture to see the gaps: a model that runs (an ONNX file, an import path, or a weights file with its "
         "architecture) on an input, with every BatchNorm's batch statistics measured against its running ones.")


class GapPlot(QWidget):
    """objectName plot_model_gaps (the two plots: plot_model_gap_shift, plot_model_gap_ratio)."""

    layerClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("plot_model_gaps")
        self.rows: list = []
        self.shift = make_plot("plot_model_gap_shift", "eval's mean shift on this input (running std units, rms "
                                                       "over channels)", "", "shift")
        self.ratio = make_plot("plot_model_gap_ratio", "eval's worst std ratio over channels (×, log scale)",
                               "normalization layer (index, input side first)", "ratio")
        self.ratio.setLogMode(False, True)
        self.ratio.setXLink(self.shift)
        for plot in (self.shift, self.ratio):
            plot.setMinimumSize(180, 90)
        self.caption = caption(EMPTY, "label_model_gaps")
        self._marks = []
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.shift, 1)
        column.addWidget(self.ratio, 1)
        column.addWidget(self.caption)

    def set_model(self, model, input_label: str = ""):
        """Draw the model's gaps (model.gaps(): empty before a capture)."""
        self.rows = [] if model is None else model.gaps()
        for plot in (self.shift, self.ratio):
            plot.clear()
        self._marks = []
        if not self.rows:
            self.caption.setText(EMPTY)
            return
        levels = {layer.index: next((f.level for f in layer.flags if f.code == "gap"), "ok") for layer in model.layers}
        x = np.array([r["index"] for r in self.rows], dtype=float)
        tips = {r["index"]: _tip(r) for r in self.rows}  # a plain dict: the items hold no reference to the view
        for plot, key, floor in ((self.shift, "shift_rms", 0.0), (self.ratio, "ratio_worst", 1.0)):
            y = np.array([max(r[key], floor) if np.isfinite(r[key]) else np.nan for r in self.rows])
            plot.plot(x, y, pen=pg.mkPen("#bbbbbb", width=1))  # a PlotDataItem follows the log mode by itself
            spots = [dict(pos=(xi, np.log10(yi) if plot is self.ratio else yi), data=r["index"],  # a raw item: log here
                          brush=pg.mkBrush(HEALTH_COLORS[levels.get(r["index"], "ok")]), pen=pg.mkPen("#333"),
                          size=10) for xi, yi, r in zip(x, y, self.rows) if np.isfinite(yi)]
            scatter = pg.ScatterPlotItem(spots=spots, hoverable=True,
                                         tip=lambda x, y, data, tips=tips: tips.get(data, ""))
            scatter.sigClicked.connect(self._clicked)
            plot.addItem(scatter)
            mark = pg.InfiniteLine(angle=90, pen=pg.mkPen("#111", width=1, style=Qt.PenStyle.DashLine))
            mark.hide()
            plot.addItem(mark)
            self._marks.append(mark)
        ticks = [[(i, str(i)) for i in range(len(model.layers))]] if len(model.layers) <= 40 else None
        for plot in (self.shift, self.ratio):
            plot.getAxis("bottom").setTicks(ticks)
        self.ratio.setYRange(0, max(0.5, float(np.nanmax(np.log10([max(r["ratio_worst"], 1.0) for r in self.rows
                                                                    if np.isfinite(r["ratio_worst"])] or [1.0])))
                                        * 1.1))
        worst = max(self.rows, key=lambda r: r["shift_rms"] if np.isfinite(r["shift_rms"]) else -1)
        self.caption.setText(
            f"On {input_label or 'the captured input'}: {len(self.rows)} BatchNorms measured. 0 shift and ratio 1 mean "
            f"the running statistics describe this input, so train and eval outputs agree; the largest shift is "
            f"{worst['shift_rms']:.3g} at {worst['name']}. Colours: the layer's gap flag (green: none). Click a "
            f"point to select its layer.")

    def set_selected(self, index):
        for mark in self._marks:
            if index is None:
                mark.hide()
            else:
                mark.setValue(index)
                mark.show()

    def _clicked(self, item, points, *_):
        if len(points):
            self.layerClicked.emit(int(points[0].data()))


def _tip(row) -> str:
    return (f"{row['name']} (#{row['index']}): mean shift {row['shift_rms']:.3g} (max {row['shift_max']:.3g}), "
            f"std ratio median {row['ratio_median']:.3g}, worst {row['ratio_worst']:.3g}")
