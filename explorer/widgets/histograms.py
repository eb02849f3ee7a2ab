"""Before and after histograms (pyqtgraph), with per-group overlays, the selected element's
value marked, and the summary numbers under each plot. They draw a Scene."""

from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from .. import theme
from ..colors import SELECTED_RGB
from ..palette import AFTER, BEFORE
from ..words import plural
from .histogram_item import HistogramItem

AXIS_WIDTH = 58  # pixels: room for the count axis' label and ticks up to 6 digits
#: The histograms keep their view while the data fills at least this fraction of it.
STEADY_FILL = 0.85
RANGE_MARGIN = 0.05  # of the data's span, on either side of the histogram


@functools.lru_cache(maxsize=64)
def _overlay_pen(rgb: tuple, bold: bool):
    return pg.mkPen(rgb, width=2.5 if bold else 1.3)


def format_summary(s) -> str:
    if s.count == 0:
        return f"no finite values ({s.nonfinite:,} NaN/Inf)"
    approx = "≈" if s.sampled else ""
    text = (f"mean {s.mean:.4g} · std {s.std:.4g} · min {s.min:.4g} · max {s.max:.4g} · "
            f"beyond 3σ {approx}{100 * s.beyond_3sigma:.2f}%")
    return text + (f" · NaN/Inf {s.nonfinite:,}" if s.nonfinite else "")


class HistogramPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.scene = None
        grid = QGridLayout(self)
        grid.setContentsMargins(2, 2, 2, 2)
        self.plots, self.labels, self.items = {}, {}, {}
        for col, (key, title, color) in enumerate((("before", "Before", BEFORE), ("after", "After", AFTER))):
            plot = pg.PlotWidget()
            plot.setObjectName(f"plot_hist_{key}")
            plot.setTitle(title)
            plot.setLabel("bottom", "value")
            # a fixed axis width: fitted to each result's tick labels it re-lays out (and paints twice)
            plot.getAxis("left").setWidth(AXIS_WIDTH)
            for side in ("left", "bottom"):  # the label is re-rendered as HTML on every range change otherwise
                plot.getAxis(side).enableAutoSIPrefix(False)
                plot.getAxis(side).setStyle(maxTextLevel=0)  # labels on major ticks: fewer texts to measure
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
        self.legend = QLabel(objectName="label_hist_legend")
        self.legend.setFixedHeight(18)
        self.legend.setStyleSheet(f"font-size: 11px; color: {theme.muted()};")
        grid.addWidget(self.legend, 2, 0, 1, 2)

    def set_scene(self, scene):
        self.scene = scene
        self.redraw()

    @staticmethod
    def _make_items(plot, color):
        """The items live as long as the plot; a redraw only sets their data."""
        fill = pg.mkColor(color)
        fill.setAlpha(110)
        bars = HistogramItem(pg.mkPen(color, width=1), pg.mkBrush(fill))
        ink = pg.getConfigOption("foreground")  # the theme's (explorer.theme)
        line = pg.InfiniteLine(angle=90, pen=pg.mkPen(ink, width=1, style=Qt.PenStyle.DashLine))
        for item in (bars, line):
            plot.addItem(item)
        return {"bars": bars, "line": line}

    def redraw(self):
        c = self.scene
        if c is None:
            return
        log = c.settings.log_counts
        selected = c.settings.selected
        h = c.hist
        shown = len(c.overlays)
        for key, edges, counts, summary, arr in (
                ("before", h.edges_before, h.counts_before, c.summary_before, c.x),
                ("after", h.edges_after, h.counts_after, c.summary_after, c.output)):
            items = self.items[key]
            lines = []
            for k, overlay in enumerate(c.overlays):
                oy = overlay.before if key == "before" else overlay.after
                nonzero = np.flatnonzero(oy)
                if nonzero.size:  # only where the group has values: no flat line along the axis
                    lo, hi = nonzero[0], nonzero[-1] + 1
                    pen = _overlay_pen(overlay.rgb, bold=k == 0)
                    lines.append((edges[lo:hi + 1], np.log10(1 + oy[lo:hi]) if log else oy[lo:hi], pen))
            heights = np.log10(1 + counts) if log else counts
            items["bars"].set_histogram(edges, heights, lines)
            value = arr[selected]
            visible = bool(np.isfinite(value))
            items["line"].setVisible(visible)
            if visible:
                items["line"].setPos(float(value))
            plot = self.plots[key]
            top = max(float(np.max(heights)), 1e-9)
            # ranges set here, not by pyqtgraph's auto-range, which scans every item on each repaint
            self._fit_range(plot, (float(edges[0]), float(edges[-1])), top * 1.05)
            y_label = "log₁₀(1 + count)" if log else ("count (estimated)" if h.sampled else "count")
            if plot.getAxis("left").labelText != y_label:  # setLabel re-renders HTML text: only on change
                plot.setLabel("left", y_label)
            groups = f" · lines: {shown} of {plural(len(c.groups), c.sharing.unit)}" if shown else ""
            self.labels[key].setText(format_summary(summary) + groups)
        self._legend(c)

    def _legend(self, c):
        """What the lines are: the selected group (blue), the most extreme others (their block colours)."""
        others = "".join(f"<span style='color:{_hex(o.rgb)}'>━</span>" for o in c.overlays[1:])
        unit = c.sharing.unit
        parts = [f"<span style='color:{_hex(SELECTED_RGB)}'>━</span> the selected element's {unit}"]
        if others:
            parts.append(f"{others} the {plural(len(c.overlays) - 1, unit)} farthest from the rest, in their block "
                         f"colours")
        parts.append("╎ dashed: the selected element's value")
        text = " · ".join(parts) if c.overlays else "╎ dashed: the selected element's value"
        if self.legend.text() != text:
            self.legend.setText(text)

    @staticmethod
    def _fit_range(plot, x_range: tuple, top: float):
        """Show x_range and [0, top], keeping the current view while the data still fills most of
        it: while a slider is dragged the axes stay put (steady to read, and the axes need no
        repaint) and move only when the data outgrows or shrinks inside them."""
        (x0, x1), (_, y1) = plot.getViewBox().viewRange()
        lo, hi = x_range
        x_fits = x0 <= lo and hi <= x1 and (hi - lo) >= STEADY_FILL * (x1 - x0)
        y_fits = top <= y1 and top >= STEADY_FILL * y1
        if not (x_fits and y_fits):
            margin = RANGE_MARGIN * (hi - lo)  # room to move before the axes must follow
            plot.setRange(xRange=(lo - margin, hi + margin), yRange=(0, top), padding=0.02)
            # apply the new range now, not when the scene prepares to paint: there it would move
            # the items after the paint began and cost a second paint
            plot.getViewBox().updateMatrix()


def _hex(rgb: tuple) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)
