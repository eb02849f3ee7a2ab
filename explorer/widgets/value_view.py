"""The value view: the actual numbers as small heatmaps, one tile per (sample, channel) with
H x W pixels, before and after side by side, the selected element's group outlined. It draws
a Scene (its `tiles`, colour scales included) and nothing else."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from ..geometry import layout_index
from ..palette import SELECTED_EDGE

GAP = 2


def diverging(values: np.ndarray, limit: float) -> np.ndarray:
    """Blue (−limit) - white (0) - red (+limit) as uint8 RGB; NaN/Inf grey."""
    t = np.clip(np.nan_to_num(values / limit, nan=0.0, posinf=1.0, neginf=-1.0), -1, 1)
    pos, neg = np.clip(t, 0, 1), np.clip(-t, 0, 1)
    rgb = np.empty(values.shape + (3,), np.float32)
    rgb[..., 0] = 1 - 0.75 * neg - 0.05 * pos
    rgb[..., 1] = 1 - 0.6 * neg - 0.7 * pos
    rgb[..., 2] = 1 - 0.2 * neg - 0.75 * pos
    rgb[~np.isfinite(values)] = 0.55
    return (rgb * 255).astype(np.uint8)


class ValueView(QWidget):
    """objectName view_values. set_scene(scene) draws it; a click emits elementClicked(index)."""

    elementClicked = Signal(tuple)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("view_values")
        self.setMouseTracking(True)
        self.setMinimumSize(300, 160)
        self.scene = None
        self._panels = []  # (rect, tile width, tile height, key)

    def sizeHint(self):
        return QSize(720, 300)

    def set_scene(self, scene):
        self.scene = scene
        self.update()

    def _layout(self, rows, cols, h, w):
        """Panel rects and the tile size that fits both panels side by side."""
        area = QRectF(self.rect()).adjusted(8, 26, -8, -8)
        panel_w = (area.width() - 24) / 2
        scale = max(1.0, min((panel_w - GAP * cols) / (cols * w), (area.height() - GAP * rows) / (rows * h)))
        tw, th = w * scale, h * scale
        panels = []
        for k, key in enumerate(("before", "after")):
            left = area.left() + k * (panel_w + 24)
            panels.append((QRectF(left, area.top(), cols * (tw + GAP), rows * (th + GAP)), tw, th, key))
        return panels

    def paintEvent(self, event):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        if self.scene is None:
            return
        t = self.scene.tiles
        rows, cols, h, w = t.before.shape
        self._panels = self._layout(rows, cols, h, w)
        p.setFont(QFont(self.font().family(), 9))
        for rect, tw, th, key in self._panels:
            data, limit = (t.before, t.limit_before) if key == "before" else (t.after, t.limit_after)
            rgb = diverging(data, limit)
            for i in range(rows):
                for j in range(cols):
                    img = np.ascontiguousarray(rgb[i, j])
                    qimg = QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888)
                    target = QRectF(rect.left() + j * (tw + GAP), rect.top() + i * (th + GAP), tw, th)
                    p.drawImage(target, qimg)
            p.setPen(QColor("#222"))
            p.drawText(QPointF(rect.left(), rect.top() - 8),
                       f"{key}: samples {t.samples[0]}–{t.samples[-1]} (rows) × channels {t.channels[0]}–"
                       f"{t.channels[-1]} (columns), colour ±{limit:.3g}")
            self._outline(p, rect, tw, th)

    def _outline(self, p, rect, tw, th):
        """Outline, tile by tile, the part of the selected element's group that is on screen."""
        t, b = self.scene.tiles, self.scene.blocks
        n0, n1, c0, c1, h0, h1, w0, w1 = b.selected_spans
        _, _, height, width = b.sizes
        sh, sw = t.step_h, t.step_w
        p.setPen(QPen(SELECTED_EDGE, 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        ph, pw = th / max(1, -(-height // sh)), tw / max(1, -(-width // sw))
        for i, n in enumerate(t.samples):
            for j, ch in enumerate(t.channels):
                if n0 <= n < n1 and c0 <= ch < c1:
                    x = rect.left() + j * (tw + GAP)
                    y = rect.top() + i * (th + GAP)
                    p.drawRect(QRectF(x + (w0 // sw) * pw, y + (h0 // sh) * ph,
                                      max(pw, (-(-w1 // sw) - w0 // sw) * pw), max(ph, (-(-h1 // sh) - h0 // sh) * ph)))

    def element_at(self, pos):
        if self.scene is None:
            return None, None
        t = self.scene.tiles
        _, _, h, w = t.before.shape
        for rect, tw, th, key in self._panels:
            if rect.contains(pos):
                j, i = int((pos.x() - rect.left()) // (tw + GAP)), int((pos.y() - rect.top()) // (th + GAP))
                if i >= len(t.samples) or j >= len(t.channels):
                    return None, None
                y = int((pos.y() - rect.top() - i * (th + GAP)) / th * h)
                x = int((pos.x() - rect.left() - j * (tw + GAP)) / tw * w)
                if not (0 <= y < h and 0 <= x < w):
                    return None, None
                index = layout_index((int(t.samples[i]), int(t.channels[j]), y * t.step_h, x * t.step_w),
                                     self.scene.settings.layout)
                return index, key
        return None, None

    def mouseMoveEvent(self, event):
        index, key = self.element_at(event.position())
        if index is None:
            QToolTip.hideText()
            return
        sc = self.scene
        names = ", ".join(f"{a}={i}" for a, i in zip(sc.settings.layout, index))
        QToolTip.showText(event.globalPosition().toPoint(),
                          f"x[{names}]<br>before {sc.x[index]:.5g} → after {sc.output[index]:.5g}", self)

    def mousePressEvent(self, event):
        index, _ = self.element_at(event.position())
        if index is not None:
            self.elementClicked.emit(index)
