"""The value view: the actual numbers as small heatmaps, one tile per (sample, channel) with
H x W pixels, before and after side by side, the selected element's group outlined. It draws
a Scene (its `tiles`, colour scales included) and nothing else."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from kernels import fmt

from ..geometry import layout_index
from ..palette import SELECTED_EDGE
from ..theme import ink, paper
from ..words import plural
from .common import moved_selection

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
    """objectName view_values. set_scene(scene) draws it; a click emits elementClicked(index).

    Each panel (before, after) is a grid of tiles: rows are samples (n), columns channels (c), each
    tile the H × W map. A colour bar gives the scale (shared by both panels unless the settings say
    otherwise); on a small tensor every cell shows its number. The selected element's group is
    outlined and `lit` (a box of x, e.g. a step-through's elements) is lit up."""

    elementClicked = Signal(tuple)
    LEFT, TOP, BAR = 44, 40, 58  # room for the sample labels, the titles and channel labels, a colour bar

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("view_values")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # arrow keys move the selected element
        self.setMinimumSize(300, 160)
        self.scene = None
        self.lit = None  # spans (n0, n1, c0, c1, h0, h1, w0, w1) to light up, or None
        self._panels = []  # (rect, tile width, tile height, key)

    def sizeHint(self):
        return QSize(720, 300)

    def set_scene(self, scene):
        self.scene = scene
        self.update()

    def set_lit(self, spans):
        self.lit = spans
        self.update()

    def _layout(self, rows, cols, h, w, bars: int):
        """Panel rects and the tile size that fits both panels (and `bars` colour bars) side by side."""
        area = QRectF(self.rect()).adjusted(8, self.TOP, -8 - bars * self.BAR, -8)
        panel_w = (area.width() - 2 * self.LEFT - 16) / 2
        scale = max(1.0, min((panel_w - GAP * cols) / (cols * w), (area.height() - GAP * rows) / (rows * h)))
        tw, th = w * scale, h * scale
        panels, left = [], area.left()
        for key in ("before", "after"):
            rect = QRectF(left + self.LEFT, area.top(), cols * (tw + GAP), rows * (th + GAP))
            panels.append((rect, tw, th, key))
            left = rect.right() + 16 + (self.BAR if bars == 2 else 0)
        return panels

    def paintEvent(self, event):
        p = QPainter(self)
        p.fillRect(self.rect(), paper(self))
        if self.scene is None:
            return
        t = self.scene.tiles
        rows, cols, h, w = t.before.shape
        shared = self.scene.settings.shared_colors
        self._panels = self._layout(rows, cols, h, w, 1 if shared else 2)
        limits = dict(zip(("before", "after"), t.limits(shared)))
        font = QFont(self.font().family(), 9)
        p.setFont(font)
        for rect, tw, th, key in self._panels:
            data, limit = (t.before if key == "before" else t.after), limits[key]
            rgb = diverging(data, limit)
            for i in range(rows):
                for j in range(cols):
                    img = np.ascontiguousarray(rgb[i, j])
                    qimg = QImage(img.data, w, h, 3 * w, QImage.Format.Format_RGB888)
                    target = QRectF(rect.left() + j * (tw + GAP), rect.top() + i * (th + GAP), tw, th)
                    p.drawImage(target, qimg)
                    if tw / w >= 30 and th / h >= 15:
                        self._numbers(p, target, data[i, j], limit)
            self._labels(p, rect, tw, th, key, t)
            self._outline(p, rect, tw, th, self.scene.blocks.selected_spans, QPen(SELECTED_EDGE, 2))
            if self.lit is not None:
                self._outline(p, rect, tw, th, self.lit, QPen(QColor("#f2b705"), 3))
            if not shared or key == "after":
                self._color_bar(p, QRectF(rect.right() + 14, rect.top(), 12, min(rect.height(), 220)), limit)

    def _labels(self, p, rect, tw, th, key, t):
        """The panel's title, its samples down the left (n) and channels across the top (c)."""
        p.setPen(ink(self))
        bold = QFont(self.font().family(), 9)
        bold.setBold(True)
        p.setFont(bold)
        p.drawText(QPointF(rect.left(), rect.top() - 22), f"{key}: rows n (samples), columns c (channels)")
        p.setFont(QFont(self.font().family(), 8))
        p.setPen(ink(self, 200))
        for j, c in enumerate(t.channels):
            p.drawText(QRectF(rect.left() + j * (tw + GAP), rect.top() - 16, tw, 14),
                       Qt.AlignmentFlag.AlignCenter, f"c={c}")
        for i, n in enumerate(t.samples):
            p.drawText(QRectF(rect.left() - self.LEFT + 2, rect.top() + i * (th + GAP), self.LEFT - 6, th),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"n={n}")

    def _numbers(self, p, target, tile, limit):
        """Each cell's value, dark or light to stay readable on its colour."""
        h, w = tile.shape
        cw, ch = target.width() / w, target.height() / h
        p.setFont(QFont(self.font().family(), 7 if cw < 40 else 8))
        for y in range(h):
            for x in range(w):
                v = float(tile[y, x])
                p.setPen(QColor("white") if np.isfinite(v) and abs(v) > 0.6 * limit else QColor("#111"))
                p.drawText(QRectF(target.left() + x * cw, target.top() + y * ch, cw, ch), Qt.AlignmentFlag.AlignCenter,
                           f"{v:.3g}")

    def _color_bar(self, p, bar, limit):
        """A vertical colour bar from +limit (top) through 0 to −limit, labelled."""
        values = np.linspace(limit, -limit, max(2, int(bar.height())))[:, None]
        rgb = np.ascontiguousarray(diverging(values, limit))
        p.drawImage(bar, QImage(rgb.data, 1, rgb.shape[0], 3, QImage.Format.Format_RGB888))
        p.setPen(ink(self, 200))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(bar)
        p.setFont(QFont(self.font().family(), 8))
        for frac, v in ((0.0, limit), (0.5, 0.0), (1.0, -limit)):
            y = bar.top() + frac * bar.height()
            p.drawText(QRectF(bar.right() + 4, y - 7, self.BAR - 18, 14),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{v:+.3g}" if v else "0")

    def _outline(self, p, rect, tw, th, spans, pen):
        """Outline, tile by tile, the part of a box (spans on (n, c, h, w)) that is on screen."""
        t, b = self.scene.tiles, self.scene.blocks
        n0, n1, c0, c1, h0, h1, w0, w1 = spans
        _, _, height, width = b.sizes
        sh, sw = t.step_h, t.step_w
        p.setPen(pen)
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
        QToolTip.showText(event.globalPosition().toPoint(), element_tooltip(self.scene, index), self)

    def mousePressEvent(self, event):
        index, _ = self.element_at(event.position())
        if index is not None:
            self.elementClicked.emit(index)

    def keyPressEvent(self, event):
        index = moved_selection(self.scene, event)
        if index is None:
            super().keyPressEvent(event)
        elif index != self.scene.settings.selected:
            self.elementClicked.emit(index)


def element_tooltip(scene, index) -> str:
    """What hovering an element says (the block view and the value view say the same)."""
    names = ", ".join(f"{a}={i}" for a, i in zip(scene.settings.layout, index))
    row = scene.row_of(index)
    gs, unit = scene.groups, scene.sharing.unit
    lines = [f"<b>x[{names}]</b>", f"before {fmt(scene.x[index])} → after {fmt(scene.output[index])}",
             f"{unit} {row} of {len(gs)} ({plural(scene.sharing.table.group_size, 'element')})",
             f"mean {fmt(gs.mean_before[row])} → {fmt(gs.mean_after[row])}",
             f"var {fmt(gs.var_before[row])} → {fmt(gs.var_after[row])}"]
    if scene.running_used:  # eval mode: the statistics used are the channel's running ones
        c = index[scene.settings.layout.index("C")]
        rm, rv = (np.asarray(a).reshape(-1) for a in scene.running_used)
        lines.insert(2, f"normalized with running_mean[{c}] = {fmt(rm[c])}, running_var[{c}] = {fmt(rv[c])}")
    return "<br>".join(lines + ["<i>click to select</i>"])
