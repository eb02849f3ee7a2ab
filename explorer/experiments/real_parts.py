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
SERIES = [pg.mkColor(c) for c in ("#3478f6", "#e4572e", "#29a36a", "#9b5de5", "#f3a712", "#00a6a6", "#6b6b6b",
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


def fresh(plot):
    """plot emptied, its axes following the data again (a note fixes them)."""
    plot.clear()
    plot.enableAutoRange()


def note(plot, text: str):
    """A grey sentence in the middle of an empty plot (why it is empty)."""
    plot.clear()
    item = pg.TextItem(text, color="#666", anchor=(0.5, 0.5))
    plot.addItem(item)
    item.setPos(0.5, 0.5)
    plot.setXRange(0, 1)
    plot.setYRange(0, 1)
    return item


def data_items(plot) -> list:
    """The plot's data curves (PlotDataItems), in the order they were added."""
    return plot.getPlotItem().listDataItems()

