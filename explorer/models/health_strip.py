"""The health strip: a network's normalization layers in order, one cell each, coloured by health
(ok, info, warning, problem) with the family's letter; hover says why, a click selects the layer."""

from __future__ import annotations

import html

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from .report import FAMILY_LETTERS, HEALTH_COLORS, HEALTH_TEXT, HEALTH_WORDS

MARGIN = 8
CELLS_HEIGHT = 30
LEGEND_HEIGHT = 22


class HealthStrip(QWidget):
    """objectName strip_model_health. layerClicked(index) when a cell is clicked."""

    layerClicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("strip_model_health")
        self.cells: list = []  # (name, health, family, tooltip)
        self.selected: int | None = None
        self.setMinimumHeight(CELLS_HEIGHT + LEGEND_HEIGHT + 2 * MARGIN)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)
        self.setToolTip("Each cell is a normalization layer, input side on the left; colour = its most serious "
                        "flag. Click to select.")

    def sizeHint(self):
        size = super().sizeHint()
        size.setHeight(self.minimumHeight())
        return size

    def set_model(self, model):
        self.cells = [] if model is None else [(layer.name, layer.health, layer.family, _tooltip(layer))
                                                for layer in model.layers]
        if self.selected is not None and self.selected >= len(self.cells):
            self.selected = None
        self.update()

    def set_selected(self, index):
        self.selected = index
        self.update()

    def cell_rect(self, i: int) -> QRectF:
        n = max(1, len(self.cells))
        width = (self.width() - 2 * MARGIN) / n
        return QRectF(MARGIN + i * width, MARGIN, width, CELLS_HEIGHT)

    def index_at(self, pos) -> int | None:
        for i in range(len(self.cells)):
            if self.cell_rect(i).contains(QPointF(pos)):
                return i
        return None

    def paintEvent(self, event):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        if not self.cells:
            p.setPen(QColor("#666"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "no model open: the strip shows its normalization "
                                                                  "layers in order, coloured by health")
            p.end()
            return
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, font.pointSizeF() - 1))
        p.setFont(font)
        for i, (_, health, family, _) in enumerate(self.cells):
            r = self.cell_rect(i)
            p.fillRect(r.adjusted(0.5, 0, -0.5, 0), QColor(HEALTH_COLORS[health]))
            if r.width() >= 11:
                p.setPen(QColor(HEALTH_TEXT[health]))
                p.drawText(r, Qt.AlignmentFlag.AlignCenter, FAMILY_LETTERS.get(family, "?"))
        if self.selected is not None and self.selected < len(self.cells):
            p.setPen(QPen(QColor("#111"), 2.5))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(self.cell_rect(self.selected).adjusted(-1, -2, 1, 2))
        self._legend(p)
        p.end()

    def _legend(self, p: QPainter):
        y = MARGIN + CELLS_HEIGHT + 6
        x = float(MARGIN)
        p.setPen(QColor("#333"))
        metrics = p.fontMetrics()
        counts = {h: sum(1 for c in self.cells if c[1] == h) for h in HEALTH_COLORS}
        first = f"input side · {len(self.cells)} layers:"
        p.drawText(QPointF(x, y + 11), first)
        x += metrics.horizontalAdvance(first) + 10
        for health, color in HEALTH_COLORS.items():
            p.fillRect(QRectF(x, y + 1, 12, 12), QColor(color))
            text = f"{health} ({counts[health]}): {HEALTH_WORDS[health]}"
            p.drawText(QPointF(x + 16, y + 11), text)
            x += 16 + metrics.horizontalAdvance(text) + 14
        letters = "B BatchNorm · L LayerNorm · G GroupNorm · I InstanceNorm · R RMSNorm · N LRN"
        width = metrics.horizontalAdvance(letters)
        if x + width + MARGIN < self.width():
            p.setPen(QColor("#666"))
            p.drawText(QPointF(self.width() - MARGIN - width, y + 11), letters)

    def mousePressEvent(self, event):
        i = self.index_at(event.position())
        if i is not None and event.button() == Qt.MouseButton.LeftButton:
            self.set_selected(i)
            self.layerClicked.emit(i)
        super().mousePressEvent(event)

    def event(self, event):
        if event.type() == event.Type.ToolTip:
            i = self.index_at(event.position() if hasattr(event, "position") else event.pos())
            if i is not None:
                QToolTip.showText(event.globalPos(), self.cells[i][3], self)
                return True
        return super().event(event)


def _tooltip(layer) -> str:
    flags = "".join(f"<li><b>{f.level}</b>: {html.escape(str(f))}</li>" for f in layer.flags)
    return (f"<p><b>{html.escape(layer.name)}</b> ({html.escape(layer.kind)}) — {layer.health}</p>"
            + (f"<ul>{flags}</ul>" if flags else "<p>no flags</p>"))
