"""Before and after histograms (pyqtgraph), with per-group overlays, the selected element's
value marked, and the summary numbers under each plot."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from kernels.partition import ChannelWindow

from ..palette import AFTER, BEFORE, overlay_color
from ..pipeline import MAX_OVERLAYS


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
        self.plots, self.labels, self.items = {}, {}, {}
        for col, (key, title, color) in enumerate((("before", "Before", BEFORE), ("after", "After", AFTER))):
            plot = pg.PlotWidget()
            plot.setObjectName(f"plot_hist_{key}")
            plot.setTitle(title)
            plot.setLabel("bottom", "value")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMenuEnabled(False)
            plot.disableAutoRange()
            plot.setToolTip(f"Histogram of the values {key} normalizing; coloured lines: single statistics groups")
            label = QLabel(objectName=f"label_summary_{key}")
            label.setWordWrap(True)
            label.setStyleSheet("font-size: 11px;")
            label.setFixedHeight(32)  # two lines, whatever the numbers: no re-layout on every result
            grid.addWidget(plot, 0, col)
            grid.addWidget(label, 1, col)
            self.plots[key], self.labels[key] = plot, label
            self.items[key] = self._make_items(plot, color)
        state.resultChanged.connect(self.redraw)
        state.viewChanged.connect(self.redraw)

    @staticmethod
    def _make_items(plot, color):
        """The curves live as long as the plot; a redraw only sets their data (cheaper than re-adding)."""
        fill = pg.mkColor(color)
        fill.setAlpha(110)
        # step curves are horizontal and vertical lines: antialiasing them costs time and shows nothing
        empty = dict(x=np.array([0.0, 1.0]), y=np.array([0.0]), stepMode="center", antialias=False)
        main = pg.PlotCurveItem(**empty, fillLevel=0, brush=fill, pen=pg.mkPen(color, width=1))
        overlays = [pg.PlotCurveItem(**empty, pen=pg.mkPen(overlay_color(k), width=1.3)) for k in range(MAX_OVERLAYS)]
        line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#222", width=1, style=Qt.PenStyle.DashLine))
        for item in [main, *overlays, line]:
            plot.addItem(item)
        return {"main": main, "overlays": overlays, "line": line}

    def redraw(self):
        c = self.state.computed
        if c is None:
            return
        log = self.state.log_counts
        h = c.hist
        shown = len(c.overlays)
        for key, edges, counts, summary, arr in (
                ("before", h.edges_before, h.counts_before, c.summary_before, c.x),
                ("after", h.edges_after, h.counts_after, c.summary_after, c.output)):
            items = self.items[key]
            items["main"].setData(edges, np.log10(1 + counts) if log else counts)
            for k, curve in enumerate(items["overlays"]):
                oy = (c.overlays[k][1] if key == "before" else c.overlays[k][2]) if k < shown else np.zeros(1)
                nonzero = np.flatnonzero(oy)
                if nonzero.size:  # only where the group has values: no flat line along the axis
                    lo, hi = nonzero[0], nonzero[-1] + 1
                    part = oy[lo:hi]
                    curve.setData(edges[lo:hi + 1], np.log10(1 + part) if log else part)
                    curve.setPen(pg.mkPen(overlay_color(k), width=2.5 if k == 0 and self.state.selected else 1.3))
                curve.setVisible(bool(nonzero.size))
            value = self._selected_value(arr)
            visible = value is not None and bool(np.isfinite(value))
            items["line"].setVisible(visible)
            if visible:
                items["line"].setPos(float(value))
            plot = self.plots[key]
            top = max(float(np.max(np.log10(1 + counts) if log else counts)), 1e-9)
            # ranges set here, not by pyqtgraph's auto-range, which scans every item on each repaint
            plot.setRange(xRange=(edges[0], edges[-1]), yRange=(0, top * 1.05), padding=0.02)
            y_label = "log₁₀(1 + count)" if log else ("count (estimated)" if h.sampled else "count")
            if plot.getAxis("left").labelText != y_label:  # setLabel re-renders HTML text: only on change
                plot.setLabel("left", y_label)
            unit = "channels" if isinstance(c.result.sharing, ChannelWindow) else "groups"
            groups = f" · lines: {shown} of {len(c.groups)} {unit}" if shown else ""
            self.labels[key].setText(format_summary(summary) + groups)

    def _selected_value(self, arr):
        sel = self.state.selected
        if len(sel) != arr.ndim or any(i >= s for i, s in zip(sel, arr.shape)):
            return None
        return arr[sel]
