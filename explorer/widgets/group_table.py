"""Per-group statistics: a table (every group, rows made on demand) and a plot of each group's
mean ± std before and after, the selected element's group marked."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QSplitter, QTableView, QVBoxLayout

from ..colors import TEXT_AFTER, TEXT_BEFORE
from ..palette import AFTER, BEFORE, SELECTED
from ..words import group_header, group_label, plural
from .common import DeferredPanel

COLUMNS = ("group", "elements", "mean before", "var before", "mean after", "var after")
MAX_PLOTTED = 512


class GroupModel(QAbstractTableModel):
    """One row per statistics group; the group column names the axes it indexes ('n=1, g=0')."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.stats, self.table = None, None
        self.selected_row = -1

    def set_stats(self, stats, table, selected_row: int):
        self.beginResetModel()
        self.stats, self.table, self.selected_row = stats, table, selected_row
        self.endResetModel()

    def rowCount(self, parent=None):
        return 0 if (parent is not None and parent.isValid()) or self.stats is None else len(self.stats)

    def columnCount(self, parent=None):
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return group_header(self.table) if section == 0 and self.table is not None else COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or self.stats is None:
            return None
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            s = self.stats
            if col == 0:
                return group_label(self.table, row)
            value = (s.count, s.mean_before, s.var_before, s.mean_after, s.var_after)[col - 1][row]
            return f"{int(value):,}" if col == 1 else f"{value:.5g}"
        if role == Qt.ItemDataRole.BackgroundRole and row == self.selected_row:
            color = QColor(SELECTED)
            color.setAlpha(60)
            return QBrush(color)
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class GroupStatsPanel(DeferredPanel):
    """The per-group table and plot of a Scene."""

    def __init__(self, busy=lambda: False, parent=None):
        super().__init__(busy, parent)
        self.model = GroupModel(self)
        self.table = QTableView(objectName="table_groups")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setToolTip("One row per statistics group; group = its index along each axis of a statistic")
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("plot_group_stats")
        for side in ("bottom", "left"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # no "(x0.001)" beside a group number
        self.plot.setMenuEnabled(False)
        self.plot.disableAutoRange()
        self._make_plot_items()
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(self.plot)
        split.setSizes([480, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(split)
        # the title names the axes (no axis labels): under a lesson's panel the dock is short, and the
        # labels once took all its height from the data
        self.setMinimumHeight(120)

    def refresh(self):
        c = self.scene
        if c is None:
            return
        stats = c.groups
        row = c.selected_row
        self.model.set_stats(stats, c.sharing.table, row)
        self.table.scrollTo(self.model.index(row, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
        self._plot(stats, row, not c.sharing.shares_groups)

    def _make_plot_items(self):
        """Error bars and points for before and after, kept and refilled on every result."""
        self.plot_items = []
        for color in (BEFORE, AFTER):
            bars = pg.ErrorBarItem(x=np.zeros(1), y=np.zeros(1), height=np.zeros(1), pen=pg.mkPen(color, width=1))
            points = pg.ScatterPlotItem(size=5, brush=pg.mkBrush(color), pen=None)
            self.plot.addItem(bars)
            self.plot.addItem(points)
            self.plot_items.append((bars, points))
        self.selected_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(SELECTED, width=1.5))
        self.plot.addItem(self.selected_line)

    def _plot(self, stats, selected_row, per_channel=False):
        n = min(len(stats), MAX_PLOTTED)
        x = np.arange(n)
        for (bars, points), mean, var, shift in zip(self.plot_items, (stats.mean_before, stats.mean_after),
                                                   (stats.var_before, stats.var_after), (-0.15, 0.15)):
            m, sd = mean[:n], np.sqrt(np.maximum(var[:n], 0))
            bars.setData(x=x + shift, y=m, height=2 * sd)
            points.setData(x + shift, m)
        low, high = -1.0, 1.0
        for mean, var in ((stats.mean_before, stats.var_before), (stats.mean_after, stats.var_after)):
            sd = np.sqrt(np.maximum(var[:n], 0))
            low, high = min(low, float(np.min(mean[:n] - sd))), max(high, float(np.max(mean[:n] + sd)))
        self.plot.setRange(xRange=(-0.5, n - 0.5), yRange=(low, high), padding=0.05)
        step = max(1, int(np.ceil(n / 16)))  # whole group numbers only, at most ~16 labels
        self.plot.getAxis("bottom").setTicks([[(k, str(k)) for k in range(0, n, step)], []])
        self.selected_line.setVisible(0 <= selected_row < n)
        self.selected_line.setPos(max(selected_row, 0))
        shown = f" (first {n} shown)" if n < len(stats) else ""
        what = plural(len(stats), "channel") + " (LRN shares no groups)" if per_channel else plural(len(stats), "group")
        self.plot.setTitle(f"{what}{shown}, one per row: <span style='color:{TEXT_BEFORE}'>before</span> and "
                           f"<span style='color:{TEXT_AFTER}'>after</span>, mean ± std", size="9pt")
