"""The folding report: per normalization layer, whether BatchNorm folds into the convolution or linear
layer before it (and into which), or why not; the largest |folded − original| of that layer's output per
dtype (float32, float16, bfloat16) as a table and a plot; the whole model's output difference."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from kernels.models import DTYPES

from ..experiments.view_parts import caption, make_plot, two_line_title
from .report import HEALTH_COLORS

DTYPE_COLORS = {"float32": "#1f77b4", "float16": "#ff7f0e", "bfloat16": "#2ca02c"}
HEADERS = ("layer", "kind", "folds into", "foldable", *(f"max |Δ| {d}" for d in DTYPES), "why not")
EMPTY = ("Fold BatchNorm to see which layers fold into the convolution or linear layer before them, and how much "
         "the folded layer's output differs from the original in float32, float16 and bfloat16.")
TITLE = "largest |folded − original| of each folded layer's output, per dtype"
#: where an exact 0 is drawn on the log axis (the table says 0)
ZERO_FLOOR = 1e-12


class FoldReportView(QWidget):
    """objectName view_model_fold: table_model_fold, plot_model_fold and label_model_fold."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("view_model_fold")
        self.report = None
        self.table = QTableWidget(0, len(HEADERS), objectName="table_model_fold")
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)  # each distinct reason is also written out in full above the table
        self.plot = make_plot("plot_model_fold", TITLE, "normalization layer (index)", "max |Δ|")
        self.plot.setLogMode(False, True)
        self.summary = caption(EMPTY, "label_model_fold")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.summary)
        column.addWidget(self.table, 1)
        column.addWidget(self.plot, 1)

    def set_report(self, report):
        self.report = report
        self.table.setRowCount(0)
        self.plot.clear()
        if report is None:
            self.plot.setVisible(True)
            self.summary.setText(EMPTY)
            return
        rows = report.rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            foldable = {True: "yes", False: "no", None: "unknown"}[row.foldable]
            cells = [row.name, row.kind, row.into, foldable,
                     *(_number(row.diffs.get(d)) for d in DTYPES), row.reason]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 3:
                    level = {True: "ok", False: "warning", None: "info"}[row.foldable]
                    item.setBackground(QColor(HEALTH_COLORS[level]))
                if row.reason:
                    item.setToolTip(f"<p>{html.escape(row.reason)}</p>")
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        for c in range(len(HEADERS) - 1):
            self.table.setColumnWidth(c, min(self.table.columnWidth(c), 200))
        self._plot(rows)
        folded = sum(1 for row in rows if row.foldable)
        parts = [f"<b>{folded} of {len(rows)}</b> normalization layers fold."]
        if report.output_diff:
            parts.append("Whole model, folded against original in each dtype: " + ", ".join(
                f"{d} {report.output_diff[d]:.3g}" for d in DTYPES if d in report.output_diff) + ".")
        if report.reference_diff:
            parts.append("For scale, the original in that dtype against float32: " + ", ".join(
                f"{d} {report.reference_diff[d]:.3g}" for d in DTYPES if d in report.reference_diff) + ".")
        reasons = {}
        for row in rows:
            if row.reason and row.foldable is not True:
                reasons.setdefault(row.reason, []).append(row.name)
        for reason, names in reasons.items():
            who = names[0] if len(names) == 1 else f"{len(names)} layers ({names[0]} … {names[-1]})"
            parts.append(f"<br>Not folded, {html.escape(who)}: {html.escape(reason)}.")
        parts += [html.escape(n) for n in report.notes]
        self.summary.setText(" ".join(parts))

    def _plot(self, rows):
        self.plot.setTitle(two_line_title(TITLE, *((d, DTYPE_COLORS[d]) for d in DTYPES)), size="10pt")
        index = [i for i, row in enumerate(rows) if row.diffs]
        self.plot.setVisible(bool(index))  # nothing folded: no differences to plot, the table says why
        if not index:
            return
        self.plot.setLogMode(False, True)
        for k, d in enumerate(DTYPES):
            x = np.array([i + (k - 1) * 0.15 for i in index], dtype=float)
            y = np.array([max(float(rows[i].diffs.get(d, np.nan)), ZERO_FLOOR) for i in index])
            keep = np.isfinite(y)
            if keep.any():
                self.plot.plot(x[keep], y[keep], pen=None, symbol="o", symbolSize=8,
                               symbolBrush=DTYPE_COLORS[d], symbolPen=None, name=d)
        self.plot.getAxis("bottom").setTicks([[(i, str(i)) for i in index]] if len(index) <= 30 else None)


def _number(value) -> str:
    if value is None or value == "":
        return ""
    return "0" if value == 0 else f"{float(value):.3g}"
