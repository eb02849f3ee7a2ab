"""The value view: the actual numbers as small heatmaps, one tile per (sample, channel) with
H x W pixels, before and after side by side, the selected element's group outlined."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from kernels.layouts import spatial_axes
from kernels.partition import ChannelWindow

from ..palette import SELECTED_EDGE
from ..pipeline import layout_index

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


def color_limit(tiles: np.ndarray) -> float:
    finite = np.abs(tiles[np.isfinite(tiles)])
    return float(np.percentile(finite, 99)) if finite.size and finite.max() > 0 else 1.0


class ValueView(QWidget):
    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.setObjectName("view_values")
        self.setMouseTracking(True)
        self.setMinimumSize(300, 160)
        self._panels = []  # (rect, tile width, tile height, key)
        state.resultChanged.connect(self.update)

    def sizeHint(self):
        return QSize(720, 300)

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
        c = self.state.computed
        if c is None:
            return
        tiles = {"before": c.tiles_before, "after": c.tiles_after}
        rows, cols, h, w = c.tiles_before.shape
        self._panels = self._layout(rows, cols, h, w)
        samples, channels, sh, sw = c.tile_index
        p.setFont(QFont(self.font().family(), 9))
        for rect, tw, th, key in self._panels:
            data = tiles[key]
            limit = color_limit(data)
            rgb = diverging(data, limit)
            for i in range(rows):
                for j in range(cols):
                    img = np.ascontiguousarray(rgb[i, j])
                    qimg = QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888)
                    target = QRectF(rect.left() + j * (tw + GAP), rect.top() + i * (th + GAP), tw, th)
                    p.drawImage(target, qimg)
            p.setPen(QColor("#222"))
            p.drawText(QPointF(rect.left(), rect.top() - 8),
                       f"{key}: samples {samples[0]}–{samples[-1]} (rows) × channels {channels[0]}–{channels[-1]} "
                       f"(columns), colour ±{limit:.3g}")
            self._outline(p, rect, tw, th, samples, channels, sh, sw)

    def _outline(self, p, rect, tw, th, samples, channels, sh, sw):
        """Outline, tile by tile, the part of the selected element's group that is on screen."""
        s = self.state
        sharing = s.sharing
        if sharing is None or len(s.selected) != len(s.shape):
            return
        box = sharing.box(s.selected) if isinstance(sharing, ChannelWindow) else sharing.box(
            sharing.group_of(s.selected))
        by_axis = dict(zip(s.layout, box))
        spatial = spatial_axes(s.layout)
        sizes = dict(zip(s.layout, s.shape))

        def span(axis, size):
            return by_axis[axis].indices(size)[:2] if axis in by_axis else (0, size)

        n0, n1 = span("N", sizes["N"])
        c0, c1 = span("C", sizes["C"])
        h0, h1 = span(spatial[0], sizes[spatial[0]]) if len(spatial) == 2 else (0, 1)
        w0, w1 = span(spatial[-1], sizes[spatial[-1]]) if spatial else (0, 1)
        p.setPen(QPen(SELECTED_EDGE, 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        ph, pw = th / max(1, -(-(sizes[spatial[0]] if len(spatial) == 2 else 1) // sh)), tw / max(
            1, -(-(sizes[spatial[-1]] if spatial else 1) // sw))
        for i, n in enumerate(samples):
            for j, ch in enumerate(channels):
                if n0 <= n < n1 and c0 <= ch < c1:
                    x = rect.left() + j * (tw + GAP)
                    y = rect.top() + i * (th + GAP)
                    p.drawRect(QRectF(x + (w0 // sw) * pw, y + (h0 // sh) * ph,
                                      max(pw, (-(-w1 // sw) - w0 // sw) * pw), max(ph, (-(-h1 // sh) - h0 // sh) * ph)))

    def element_at(self, pos):
        c = self.state.computed
        if c is None:
            return None, None
        samples, channels, sh, sw = c.tile_index
        _, _, h, w = c.tiles_before.shape
        for rect, tw, th, key in self._panels:
            if rect.contains(pos):
                j, i = int((pos.x() - rect.left()) // (tw + GAP)), int((pos.y() - rect.top()) // (th + GAP))
                if i >= len(samples) or j >= len(channels):
                    return None, None
                y = int((pos.y() - rect.top() - i * (th + GAP)) / th * h)
                x = int((pos.x() - rect.left() - j * (tw + GAP)) / tw * w)
                if not (0 <= y < h and 0 <= x < w):
                    return None, None
                index = layout_index((int(samples[i]), int(channels[j]), y * sh, x * sw), self.state.layout)
                return index, key
        return None, None

    def mouseMoveEvent(self, event):
        index, key = self.element_at(event.position())
        c = self.state.computed
        if index is None or c is None or c.x.shape != tuple(self.state.shape):
            QToolTip.hideText()
            return
        names = ", ".join(f"{a}={i}" for a, i in zip(self.state.layout, index))
        QToolTip.showText(event.globalPosition().toPoint(),
                          f"x[{names}]<br>before {c.x[index]:.5g} → after {c.output[index]:.5g}", self)

    def mousePressEvent(self, event):
        index, _ = self.element_at(event.position())
        if index is not None:
            self.state.update(selected=index)
