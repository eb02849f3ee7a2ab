"""A conv weight (O, I, kH, kW) drawn as a grid of kH×kW tiles (rows: output channels, columns:
input channels), the elements that share a norm with the selected one outlined; click to select."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from ..palette import SELECTED, SELECTED_EDGE
from ..theme import ink, paper

NEGATIVE, ZERO, POSITIVE = np.array([59, 76, 192]), np.array([247, 247, 247]), np.array([180, 4, 38])
TITLE_H, LABEL_W, HEADER_H, BAR_H, GAP = 22, 30, 16, 34, 4


def diverging(values: np.ndarray, limit: float) -> np.ndarray:
    """RGB (…, 3) uint8: blue for −limit, near-white for 0, red for +limit (clipped)."""
    t = np.clip(np.asarray(values, dtype=float) / (limit or 1.0), -1.0, 1.0)[..., None]
    rgb = np.where(t < 0, ZERO + (NEGATIVE - ZERO) * -t, ZERO + (POSITIVE - ZERO) * t)
    return rgb.astype(np.uint8)


class WeightTiles(QWidget):
    """set_weight(weight, mask, selected, title); emits clicked((o, i, h, w)) on a cell."""

    clicked = Signal(tuple)

    def __init__(self, name: str, parent=None):
        super().__init__(parent)
        self.setObjectName(name)
        self.setMinimumSize(260, 220)
        self.weight = None
        self.mask = None
        self.selected = None
        self.title = ""
        self.setToolTip("Click a cell to select that weight; outlined cells share its norm")

    def set_weight(self, weight, mask, selected, title: str):
        self.weight, self.mask, self.selected, self.title = np.asarray(weight), mask, tuple(selected), title
        self.update()

    # -- geometry --------------------------------------------------------------------------
    def _geometry(self):
        """(cell size, x0, y0) of the tile grid inside the widget."""
        O, I, kh, kw = self.weight.shape
        width = self.width() - LABEL_W - 8
        height = self.height() - TITLE_H - HEADER_H - BAR_H
        cell = max(1.0, min((width - GAP * (I - 1)) / (I * kw), (height - GAP * (O - 1)) / (O * kh)))
        grid_w = I * kw * cell + GAP * (I - 1)
        x0 = LABEL_W + max(0.0, (width - grid_w) / 2)
        return cell, x0, TITLE_H + HEADER_H

    def _cell_rect(self, o, i, h, w, cell, x0, y0) -> QRectF:
        kh, kw = self.weight.shape[2:]
        return QRectF(x0 + i * (kw * cell + GAP) + w * cell, y0 + o * (kh * cell + GAP) + h * cell, cell, cell)

    def index_at(self, pos: QPointF):
        """(o, i, h, w) under a widget position, or None."""
        if self.weight is None:
            return None
        O, I, kh, kw = self.weight.shape
        cell, x0, y0 = self._geometry()
        fx, fy = pos.x() - x0, pos.y() - y0
        i, o = int(fx // (kw * cell + GAP)), int(fy // (kh * cell + GAP))
        w, h = int((fx - i * (kw * cell + GAP)) // cell), int((fy - o * (kh * cell + GAP)) // cell)
        if fx < 0 or fy < 0 or not (0 <= o < O and 0 <= i < I and 0 <= h < kh and 0 <= w < kw):
            return None
        return o, i, h, w

    # -- events ----------------------------------------------------------------------------
    def mousePressEvent(self, event):
        index = self.index_at(event.position())
        if index is not None and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(index)
        else:
            super().mousePressEvent(event)

    def event(self, event):
        if event.type() == QEvent.Type.ToolTip and self.weight is not None:
            index = self.index_at(QPointF(event.pos()))
            if index is not None:
                text = f"w[{', '.join(map(str, index))}] = {self.weight[index]:.4g}"
                QToolTip.showText(event.globalPos(), text, self)
                return True
        return super().event(event)

    def paintEvent(self, event):
        painter = QPainter(self)
        painter.fillRect(self.rect(), paper(self))
        if self.weight is None:
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        O, I, kh, kw = self.weight.shape
        cell, x0, y0 = self._geometry()
        limit = float(np.max(np.abs(self.weight))) or 1.0
        colors = diverging(self.weight, limit)
        font = QFont(self.font())
        font.setPointSizeF(8.5)
        painter.setFont(font)
        painter.setPen(ink(self))
        bold = QFont(font)
        bold.setPointSizeF(10)
        painter.setFont(bold)
        painter.drawText(QRectF(0, 0, self.width(), TITLE_H), Qt.AlignmentFlag.AlignCenter, self.title)
        painter.setFont(font)
        step_i, step_o = max(1, int(np.ceil(24 / (kw * cell + GAP)))), max(1, int(np.ceil(14 / (kh * cell + GAP))))
        for i in range(0, I, step_i):
            r = self._cell_rect(0, i, 0, 0, cell, x0, y0)
            painter.drawText(QRectF(r.x(), TITLE_H, kw * cell, HEADER_H), Qt.AlignmentFlag.AlignCenter, f"i{i}")
        for o in range(0, O, step_o):
            r = self._cell_rect(o, 0, 0, 0, cell, x0, y0)
            painter.drawText(QRectF(x0 - LABEL_W, r.y(), LABEL_W - 4, kh * cell), Qt.AlignmentFlag.AlignRight
                             | Qt.AlignmentFlag.AlignVCenter, f"o{o}")
        painter.setPen(Qt.PenStyle.NoPen)
        dim = self.mask is not None and not self.mask.all()
        for index in np.ndindex(self.weight.shape):
            c = colors[index]
            color = QColor(int(c[0]), int(c[1]), int(c[2]))
            if dim and not self.mask[index]:
                color.setAlpha(110)  # the rest fades, so the shared group stands out
            painter.fillRect(self._cell_rect(*index, cell, x0, y0), color)
        if self.mask is not None:
            painter.setPen(QPen(SELECTED, 1.5 if cell > 6 else 1.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            for index in zip(*np.nonzero(self.mask)):
                painter.drawRect(self._cell_rect(*index, cell, x0, y0).adjusted(0.5, 0.5, -0.5, -0.5))
        if self.selected is not None and len(self.selected) == 4:
            painter.setPen(QPen(SELECTED_EDGE, 3))
            painter.drawRect(self._cell_rect(*self.selected, cell, x0, y0))
        self._paint_colorbar(painter, limit)
        painter.end()

    def _paint_colorbar(self, painter: QPainter, limit: float):
        top = self.height() - BAR_H + 8
        left, width = LABEL_W + 20, max(60, self.width() - 2 * LABEL_W - 40)
        steps = 64
        colors = diverging(np.linspace(-limit, limit, steps), limit)
        for k in range(steps):
            painter.fillRect(QRectF(left + k * width / steps, top, width / steps + 0.5, 8),
                             QColor(int(colors[k][0]), int(colors[k][1]), int(colors[k][2])))
        painter.setPen(ink(self))
        for frac, text in ((0.0, f"{-limit:.3g}"), (0.5, "0"), (1.0, f"{limit:.3g}")):
            painter.drawText(QRectF(left + frac * width - 40, top + 9, 80, 14), Qt.AlignmentFlag.AlignCenter, text)
