"""Drawing pieces the views of the experiments on real data share: a plot with its caption in a grid
cell, a table filled from rows, lines with ±std bands, series colours, whole-decade log ranges and a
text item that says why a plot is empty."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QGridLayout, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout

from .view_parts import caption

#: one colour per series (norms, placements, scalings, devices), in order; the blues stay distinct
SERIES = [pg.mkColor(c) for c in ("#3478f6", "#e4572e", "#29a36a", "#9b5de5", "#f3a712", "#8c564b", "#6b6b6b",
                                  "#c2185b")]
SOLID, DASH, DOT = Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine
BLACK = pg.mkColor("#222222")


def series_color(k: int):
    return SERIES[k % len(SERIES)]


def pen(color, width: float = 2.0, style=Qt.PenStyle.SolidLine):
    return pg.mkPen(color, width=width, style=style)


def faint(color, alpha: int = 60):
    c = pg.mkColor(color)
    c.setAlpha(alpha)
    return c


def plot_cell(grid: QGridLayout, row: int, col: int, widget, text: str, name: str, rowspan: int = 1,
              colspan: int = 1):
    """`widget` with a caption (what to notice) under it, in one cell of `grid`."""
    box = QVBoxLayout()
    box.addWidget(widget, 1)
    box.addWidget(caption(text, name))
    grid.addLayout(box, row, col, rowspan, colspan)


def color_key(items) -> str:
    """'a · b · c' in bold, each in its colour: a legend as one line of text (items: (text, colour))."""
    return " · ".join(f"<span style='color:{pg.mkColor(c).name()}'><b>{t}</b></span>" for t, c in items)


def make_table(name: str, tooltip: str = "") -> QTableWidget:
    table = QTableWidget(objectName=name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setMinimumSize(200, 120)
    if tooltip:
        table.setToolTip(tooltip)
    return table


def fill_table(table: QTableWidget, header, rows):
    """Put `rows` (lists of str or numbers; floats shown with 4 significant digits) under `header`."""
    table.clear()
    table.setColumnCount(len(header))
    table.setRowCount(len(rows))
    table.setHorizontalHeaderLabels([str(h) for h in header])
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            text = fmt(value) if isinstance(value, (float, np.floating)) else str(value)
            item = QTableWidgetItem(text)
            if isinstance(value, (int, float, np.integer, np.floating)):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)


def fmt(value, digits: int = 4) -> str:
    v = float(value)
    if not np.isfinite(v):
        return "—"
    return f"{v:.{digits}g}"


def band(plot, x, lo, hi, color, alpha: int = 45):
    """A filled band between lo and hi (±std over seeds) behind the lines."""
    upper = pg.PlotCurveItem(np.asarray(x, float), np.asarray(hi, float), pen=pg.mkPen(None))
    lower = pg.PlotCurveItem(np.asarray(x, float), np.asarray(lo, float), pen=pg.mkPen(None))
    fill = pg.FillBetweenItem(upper, lower, brush=pg.mkBrush(faint(color, alpha)))
    fill.setZValue(-10)
    plot.addItem(fill)
    return fill


def log_decades(plot, values, axis: str = "y"):
    """A log axis range of whole decades (at least one), so the axis always has labelled ticks."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        return
    lo, hi = np.floor(np.log10(v.min())), np.ceil(np.log10(v.max()))
    hi = max(hi, lo + 1)
    if axis == "y":
        plot.setYRange(lo, hi, padding=0.02)
    else:
        plot.setXRange(lo, hi, padding=0.02)


def _legend(plot):
    return plot.getPlotItem().legend


def fresh(plot):
    """plot emptied, its axes following the data again and labelled (a note fixes and blanks them)."""
    plot.clear()
    plot.enableAutoRange()
    for axis in ("left", "bottom"):
        plot.getAxis(axis).setTicks(None)
    if _legend(plot) is not None:
        _legend(plot).setVisible(True)


def log_ticks(plot, values, axis: str = "left"):
    """Ticks at 1, 2 and 5 times powers of ten on a log axis spanning less than a few decades (pyqtgraph
    labels every minor tick there), and the range around the data."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        return
    lo, hi = np.log10(v.min()), np.log10(v.max())
    nice = [m * 10.0 ** k for k in range(int(np.floor(lo)) - 1, int(np.ceil(hi)) + 1) for m in (1, 2, 5)]
    ticks = [(np.log10(t), f"{t:g}") for t in nice if lo - 0.05 <= np.log10(t) <= hi + 0.05]
    plot.getAxis(axis).setTicks([ticks])
    margin = max(0.05, 0.05 * (hi - lo))
    (plot.setYRange if axis == "left" else plot.setXRange)(lo - margin, hi + margin, padding=0)


def note(plot, text: str):
    """A grey sentence in the middle of an empty plot (why it is empty), without meaningless ticks."""
    plot.clear()
    item = pg.TextItem(text, color="#666", anchor=(0.5, 0.5))
    plot.addItem(item)
    item.setPos(0.5, 0.5)
    plot.setXRange(0, 1)
    plot.setYRange(0, 1)
    for axis in ("left", "bottom"):
        plot.getAxis(axis).setTicks([[]])
    if _legend(plot) is not None:
        _legend(plot).setVisible(False)
    return item


def data_items(plot) -> list:
    """The plot's data curves (PlotDataItems), in the order they were added."""
    return plot.getPlotItem().listDataItems()

