"""The layer table: one row per normalization layer (name, kind, method, layout, channels, eps,
momentum and its convention, affine, running statistics, num_batches_tracked, gap, health), the
health cell coloured, every cell's tooltip the layer's flag sentences."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from ..widgets.common import blocked
from .report import COLUMNS, HEALTH_COLORS, HEALTH_TEXT, display_row


class LayerTable(QTableWidget):
    """objectName table_model_layers. layerSelected(index) when the person selects a row."""

    layerSelected = Signal(int)

    def __init__(self, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("table_model_layers")
        self.model_ = None
        for col, (_, header, tip) in enumerate(COLUMNS):
            item = QTableWidgetItem(header)
            item.setToolTip(tip)
            self.setHorizontalHeaderItem(col, item)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        self.setWordWrap(False)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.currentCellChanged.connect(self._on_current)

    def set_model(self, model):
        self.model_ = model
        with blocked(self):
            self.clearContents()
            self.setRowCount(0 if model is None else len(model.layers))
        self.refresh()

    def refresh(self):
        """Re-read every layer (a capture adds gaps and gap flags)."""
        if self.model_ is None:
            return
        with blocked(self):
            for row, layer in enumerate(self.model_.layers):
                cells = display_row(layer)
                tip = _tooltip(layer)
                for col, (key, _, _) in enumerate(COLUMNS):
                    item = self.item(row, col) or QTableWidgetItem()
                    item.setText(cells[key])
                    item.setToolTip(tip)
                    if key == "health":
                        item.setBackground(QColor(HEALTH_COLORS[layer.health]))
                        item.setForeground(QColor(HEALTH_TEXT[layer.health]))
                    if key in ("index", "channels", "eps", "num_batches_tracked"):
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    if self.item(row, col) is None:
                        self.setItem(row, col, item)
        self.resizeColumnsToContents()
        for col, (key, _, _) in enumerate(COLUMNS):  # long names and summaries must not push the rest away
            limit = {"name": 200, "running": 210, "kind": 140, "gap": 160}.get(key, 110)
            self.setColumnWidth(col, min(self.columnWidth(col) + 6, limit))

    def select(self, index):
        with blocked(self):
            if index is None:
                self.clearSelection()
            else:
                self.setCurrentCell(index, 1)
                self.scrollToItem(self.item(index, 1))

    def _on_current(self, row, *_):
        if row >= 0:
            self.layerSelected.emit(row)


def _tooltip(layer) -> str:
    if not layer.flags:
        return f"<p><b>{html.escape(layer.name)}</b>: no flags</p>"
    items = "".join(f"<li><b>{f.level}</b>: {html.escape(str(f))}</li>" for f in layer.flags)
    return f"<p><b>{html.escape(layer.name)}</b> ({html.escape(layer.kind)})</p><ul>{items}</ul>"
