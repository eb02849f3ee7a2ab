"""Before and after histograms (pyqtgraph), with per-group overlays, the selected element's
value marked, and the summary numbers under each plot."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from ..palette import AFTER, BEFORE, overlay_color


def format_summary(s) -> str:
    if s.count == 0:
        return f"no finite values ({s.nonfinite:,} NaN/Inf)"
    approx = "≈" if s.sampled else ""
    text = (f"mean {s.mean:.4g} · std {s.std:.4g} · min {s.min:.4g} · max {s.max:.4g} · "
            f"beyond 3σ {approx}{100 * s.beyond_3sigma:.2f}%")
    return text + (f" · NaN/Inf {s.nonfinite:,}" if s.nonfinite else "")


class HistogramPanel(QWidget):
    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        grid = QGridLayout(self)
        grid.setContentsMargins(2, 2, 2, 2)
        self.plots, self.labels = {}, {}
        for col, (key, title) in enumerate((("before", "Before"), ("after", "After"))):
            plot = pg.PlotWidget()
            plot.setObjectName(f"plot_hist_{key}")
            plot.setTitle(title)
            plot.setLabel("bottom", "value")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMenuEnabled(False)
            plot.setToolTip(f"Histogram of the values {key} normalizing; coloured lines: single statistics groups")
            label = QLabel(objectName=f"label_summary_{key}")
            label.setWordWrap(True)
            label.setStyleSheet("font-size: 11px;")
            grid.addWidget(plot, 0, col)
            grid.addWidget(label, 1, col)
            self.plots[key], self.labels[key] = plot, label
        state.resultChanged.connect(self.redraw)
        state.viewChanged.connect(self.redraw)

    def redraw(self):
        c = self.state.computed
        if c is None:
            return
        log = self.state.log_counts
        h = c.hist
        part_rows = [r for r, _, _ in c.overlays]
        for key, edges, counts, summary, arr, color in (
                ("before", h.edges_before, h.counts_before, c.summary_before, c.x, BEFORE),
                ("after", h.edges_after, h.counts_after, c.summary_after, c.output, AFTER)):
            plot = self.plots[key]
            plot.clear()
            y = np.log10(1 + counts) if log else counts
            fill = pg.mkColor(color)
            fill.setAlpha(110)
            plot.addItem(pg.PlotCurveItem(edges, y, stepMode="center", fillLevel=0, brush=fill,
                                          pen=pg.mkPen(color, width=1)))
            for k, (row, cb, ca) in enumerate(c.overlays):
                oy = cb if key == "before" else ca
                oy = np.log10(1 + oy) if log else oy
                width = 2.5 if k == 0 and self.state.selected else 1.3
                plot.addItem(pg.PlotCurveItem(edges, oy, stepMode="center", pen=pg.mkPen(overlay_color(k),
                                                                                          width=width)))
            value = self._selected_value(arr)
            if value is not None and np.isfinite(value):
                plot.addItem(pg.InfiniteLine(pos=float(value), angle=90, pen=pg.mkPen("#222", width=1,
                                                                                       style=pg.QtCore.Qt.DashLine)))
            plot.setLabel("left", "log₁₀(1 + count)" if log else ("count (estimated)" if h.sampled else "count"))
            groups = f" · lines: {len(part_rows)} of {len(c.groups)} groups" if part_rows else ""
            self.labels[key].setText(format_summary(summary) + groups)

    def _selected_value(self, arr):
        sel = self.state.selected
        if len(sel) != arr.ndim or any(i >= s for i, s in zip(sel, arr.shape)):
            return None
        return arr[sel]
