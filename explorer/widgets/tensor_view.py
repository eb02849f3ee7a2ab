"""The schematic tensor view, after Figure 2 of the Group Normalization paper (Wu & He 2018):
one block per sample with W across, H down and C going back, H and W kept apart. Statistics
groups are drawn as regions in their own colours (never one cell per element), the selected
element's group in blue. Hover shows an element's numbers; a click emits `elementClicked`.
It draws a Scene (its `blocks`) and nothing else.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPaintEngine, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QToolTip, QWidget

from ..geometry import canonical_spans, layout_index
from ..limits import MAX_BLOCKS
from ..palette import SELECTED, SELECTED_EDGE
from ..theme import ink, paper
from .common import moved_selection
from .value_view import element_tooltip

DEPTH_X, DEPTH_Y = 0.62, -0.48  # direction of the channel axis on screen, per display unit
PALE = QColor("#e8eaef")  # the faces of a window method, whose elements share no groups


def display_extent(size: int) -> float:
    """Display length of an axis in units: linear up to 16, then logarithmic, so huge axes stay
    readable next to small ones."""
    return float(size) if size <= 16 else 16.0 + 6.0 * math.log2(size / 16.0)


def runs(labels: np.ndarray) -> list:
    """(start, stop, label) for each run of equal consecutive labels."""
    if len(labels) == 0:
        return []
    cuts = np.flatnonzero(np.diff(labels)) + 1
    starts = np.r_[0, cuts]
    stops = np.r_[cuts, len(labels)]
    return [(int(a), int(b), int(labels[a])) for a, b in zip(starts, stops)]


class Geometry:
    """Where each block and cell lands on screen; maps (c, h, w) <-> pixels for one block. Blocks are
    laid out in the grid of rows and columns that makes them largest."""

    LABEL_PX = 18  # room above each block for its "n = k" label

    def __init__(self, rect: QRectF, n_blocks: int, c: int, h: int, w: int):
        self.C, self.H, self.W = c, h, w
        ew, eh, ec = display_extent(w), display_extent(h), display_extent(c)
        gap = 3.0
        block_w, block_h = ew + ec * DEPTH_X, eh + ec * -DEPTH_Y

        def unit(rows):
            cols = -(-n_blocks // rows)
            return min(rect.width() / (cols * block_w + (cols - 1) * gap),
                       (rect.height() - rows * self.LABEL_PX) / (rows * block_h + (rows - 1) * gap)), cols

        (u, cols), rows = max(((unit(r), r) for r in range(1, n_blocks + 1)), key=lambda t: t[0][0])
        u = max(0.5, u)
        self.cw, self.ch = ew * u / w, eh * u / h
        self.dcx, self.dcy = ec * u * DEPTH_X / c, ec * u * DEPTH_Y / c
        step_x, step_y = (block_w + gap) * u, (block_h + gap) * u + self.LABEL_PX
        left = rect.left() + (rect.width() - (cols * block_w + (cols - 1) * gap) * u) / 2
        top = rect.top() + (rect.height() - rows * step_y + gap * u) / 2 + self.LABEL_PX + ec * u * -DEPTH_Y
        self.origins = [QPointF(left + (k % cols) * step_x, top + (k // cols) * step_y) for k in range(n_blocks)]

    def point(self, k: int, c: float, h: float, w: float) -> QPointF:
        o = self.origins[k]
        return QPointF(o.x() + w * self.cw + c * self.dcx, o.y() + h * self.ch + c * self.dcy)

    def front(self, k, h0, h1, w0, w1, c=0.0) -> QPolygonF:
        return QPolygonF([self.point(k, c, h0, w0), self.point(k, c, h0, w1), self.point(k, c, h1, w1),
                          self.point(k, c, h1, w0)])

    def top(self, k, c0, c1, w0, w1, h=0.0) -> QPolygonF:
        return QPolygonF([self.point(k, c0, h, w0), self.point(k, c0, h, w1), self.point(k, c1, h, w1),
                          self.point(k, c1, h, w0)])

    def side(self, k, c0, c1, h0, h1, w=None) -> QPolygonF:
        w = self.W if w is None else w
        return QPolygonF([self.point(k, c0, h0, w), self.point(k, c1, h0, w), self.point(k, c1, h1, w),
                          self.point(k, c0, h1, w)])

    def locate(self, k: int, pos: QPointF):
        """(c, h, w) of the visible face cell under pos in block k, or None."""
        o = self.origins[k]
        x, y = pos.x() - o.x(), pos.y() - o.y()
        w, h = x / self.cw, y / self.ch
        if 0 <= w < self.W and 0 <= h < self.H:
            return 0, int(h), int(w)
        c = y / self.dcy if self.dcy else -1
        w = (x - c * self.dcx) / self.cw
        if 0 <= c < self.C and 0 <= w < self.W and y <= 0:
            return int(c), 0, int(w)
        c = (x - self.W * self.cw) / self.dcx
        h = (y - c * self.dcy) / self.ch
        if 0 <= c < self.C and 0 <= h < self.H:
            return int(c), int(h), self.W - 1
        return None


class TensorView(QWidget):
    """objectName view_tensor. set_scene(scene) draws it; set_error(message) shows why nothing
    new can be drawn. Hover shows an element's numbers; a click emits elementClicked(index)."""

    elementClicked = Signal(tuple)

    def __init__(self, parent=None, show_method: bool = True):
        super().__init__(parent)
        self.setObjectName("view_tensor")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # arrow keys move the selected element
        self.setMinimumSize(360, 220)
        self.setToolTip("")
        self.scene, self.error = None, None
        self.lit = None  # spans (n0, n1, c0, c1, h0, h1, w0, w1) lit up (a step-through's elements), or None
        self.hovered = None  # spans of the hovered element's group, outlined
        self._geometry = None
        self._blocks = []
        self._cache, self._cache_key = None, None
        self.show_method = show_method  # the caption names the method (the compare view titles its panels instead)

    def sizeHint(self):
        return QSize(720, 340)

    def set_scene(self, scene):
        self.scene = scene
        self._changed()

    def set_error(self, message):
        self.error = message
        self._changed()

    def set_lit(self, spans):
        self.lit = spans
        self._changed()

    def _block_indices(self, n: int, selected_n: int) -> list:
        count = min(n, MAX_BLOCKS, max(1, self.width() * self.height() // 9000))
        start = min(max(0, selected_n - count // 2), n - count)
        return list(range(start, start + count))

    # -- painting ------------------------------------------------------------------------------
    def _drawing_key(self) -> tuple:
        """What the drawing depends on: the grouping and the selection, not the numbers."""
        sc = self.scene
        drawn = None if sc is None else (sc.settings.layout, sc.settings.shape, sc.sharing, sc.settings.selected,
                                         sc.settings.method, sc.blocks.words)
        return (drawn, self.error, self.lit, self.hovered, self.width(), self.height(), self.show_method,
                self.devicePixelRatioF())

    def _changed(self, *_):
        if self._drawing_key() != self._cache_key:  # results arriving while a slider moves repaint nothing
            self.update()

    def paintEvent(self, event):
        """The drawing is cached as a pixmap: a repaint for another reason costs one pixmap copy."""
        painter = QPainter(self)
        if painter.paintEngine().type() != QPaintEngine.Type.Raster:  # SVG/PDF export: draw real vectors
            self._draw(painter)
            return
        key = self._drawing_key()
        if key != self._cache_key:
            ratio = self.devicePixelRatioF()
            pixmap = QPixmap(round(self.width() * ratio), round(self.height() * ratio))
            pixmap.setDevicePixelRatio(ratio)
            on_pixmap = QPainter(pixmap)
            self._draw(on_pixmap)
            on_pixmap.end()
            self._cache, self._cache_key = pixmap, key
        painter.drawPixmap(0, 0, self._cache)

    def _draw(self, p):
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), paper(self))
        if self.error or self.scene is None:
            p.setPen(QColor("#c62828"))
            p.drawText(self.rect().adjusted(12, 12, -12, -12), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.error or "")
            return
        b = self.scene.blocks
        n, c, h, w = b.sizes
        sel = b.selected
        self._blocks = self._block_indices(n, sel[0])
        legend = self._legend_rect(self._legend(b))
        area = QRectF(self.rect()).adjusted(16, 34, -16, -(self.height() - legend.top()) - 12)
        g = self._geometry = Geometry(area, len(self._blocks), c, h, w)
        for k, sample in enumerate(self._blocks):
            self._paint_block(p, g, k, sample, b)
            self._paint_selected_box(p, g, k, sample, b)
            for spans, color, width in ((self.hovered, "#222222", 1.2), (self.lit, "#f2b705", 3.0)):
                if spans is not None:
                    self._paint_outline(p, g, k, sample, spans, QPen(QColor(color), width))
            p.setPen(ink(self, 220))
            p.setFont(QFont(self.font().family(), 9))
            corner = g.point(k, c, 0, w)  # above the back right corner, clear of the C label on the left
            p.drawText(QRectF(corner.x() - 70, corner.y() - g.LABEL_PX, 70, g.LABEL_PX - 2),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom, f"n = {sample}")
        self._paint_axes(p, g, b)
        self._paint_caption(p, b, n)
        self._paint_legend(p, b)

    def legend_text(self, b) -> str:
        s = self.scene.settings
        if b.labels is None:
            return "blue: the selected element's window (LocalResponseNorm shares no groups: each element has its own)"
        if s.spec.running_stats and not s.training:
            return ("blue: the elements normalized with the same running statistics as the selected one (its channel)"
                    " · each other colour: another channel's running statistics")
        return f"blue: the selected element's statistics group · other groups: {b.colors.legend}"

    def _legend_rect(self, text: str) -> QRectF:
        """Where the legend goes: the bottom lines, as many as its words need (never cut)."""
        width = max(60, self.width() - 36)
        height = QFontMetricsF(QFont(self.font().family(), 9)).boundingRect(
            QRectF(0, 0, width, 10000), Qt.TextFlag.TextWordWrap, text).height()
        return QRectF(26, self.height() - height - 4, width, height + 2)

    def _paint_legend(self, p, b):
        """Bottom: the sizes, what blue means and how the other colours are given out."""
        p.setFont(QFont(self.font().family(), 9))
        text = self._legend(b)
        rect = self._legend_rect(text)
        p.setPen(QPen(SELECTED_EDGE, 1))
        p.setBrush(SELECTED)
        p.drawRect(QRectF(10, rect.top() + 3, 11, 11))
        p.setPen(ink(self, 220))
        p.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap, text)

    def _legend(self, b) -> str:
        sizes = dict(zip(self.scene.settings.layout, self.scene.settings.shape))
        return " ".join(f"{a}={sizes[a]}" for a in self.scene.settings.layout) + " · " + self.legend_text(b)

    def _paint_block(self, p, g, k, sample, b):
        """The block's three visible faces, one polygon per run of a group along each axis, in the
        group's colour (a window method's elements share no groups: one pale colour)."""
        if b.labels is None:
            c_runs, h_runs, w_runs = [(0, g.C, 0)], [(0, g.H, 0)], [(0, g.W, 0)]
        else:
            c_runs, h_runs, w_runs = runs(b.labels[1]), runs(b.labels[2]), runs(b.labels[3])
        faces = []  # (polygon, a canonical element on it)
        for h0, h1, _ in h_runs:  # front face: channel 0
            for w0, w1, _ in w_runs:
                faces.append((g.front(k, h0, h1, w0, w1), (sample, 0, h0, w0)))
        for c0, c1, _ in c_runs:
            for w0, w1, _ in w_runs:  # top face: row 0
                faces.append((g.top(k, c0, c1, w0, w1), (sample, c0, 0, w0)))
            for h0, h1, _ in h_runs:  # right face: last column
                faces.append((g.side(k, c0, c1, h0, h1), (sample, c0, h0, g.W - 1)))
        p.setPen(Qt.PenStyle.NoPen)
        for poly, element in faces:
            p.setBrush(QColor(*b.rgb(*element)) if b.labels is not None else PALE)
            p.drawPolygon(poly)
        self._paint_grid(p, g, k)

    def _paint_grid(self, p, g, k):
        lines = []
        if g.cw >= 4:
            for x in range(1, g.W):
                lines += [QLineF(g.point(k, 0, 0, x), g.point(k, 0, g.H, x)), QLineF(g.point(k, 0, 0, x),
                                                                                    g.point(k, g.C, 0, x))]
        if g.ch >= 4:
            for y in range(1, g.H):
                lines += [QLineF(g.point(k, 0, y, 0), g.point(k, 0, y, g.W)), QLineF(g.point(k, 0, y, g.W),
                                                                                    g.point(k, g.C, y, g.W))]
        if math.hypot(g.dcx, g.dcy) >= 3:
            for z in range(1, g.C):
                lines += [QLineF(g.point(k, z, 0, 0), g.point(k, z, 0, g.W)), QLineF(g.point(k, z, 0, g.W),
                                                                                    g.point(k, z, g.H, g.W))]
        p.setPen(QPen(ink(self, 40), 0.6))
        p.drawLines(lines)
        p.setPen(QPen(ink(self, 200), 1.1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPolygon(g.front(k, 0, g.H, 0, g.W))
        p.drawPolygon(g.top(k, 0, g.C, 0, g.W))
        p.drawPolygon(g.side(k, 0, g.C, 0, g.H))

    def _paint_selected_box(self, p, g, k, sample, b):
        """The selected group's box (or LRN window) as a translucent block with dark edges."""
        n0, n1, c0, c1, h0, h1, w0, w1 = b.selected_spans
        if not n0 <= sample < n1:
            return
        fill, inside = QColor(SELECTED), QColor(SELECTED)
        fill.setAlpha(110)
        inside.setAlpha(150)  # a slab inside the block shows through the faces in front of it
        solid, dashed = QPen(SELECTED_EDGE, 1.6), QPen(SELECTED_EDGE, 1.4, Qt.PenStyle.DashLine)
        # faces on the block's surface are filled; faces inside it are drawn through, dashed
        for poly, visible in ((g.front(k, h0, h1, w0, w1, c=c0), c0 == 0), (g.top(k, c0, c1, w0, w1, h=h0), h0 == 0),
                              (g.side(k, c0, c1, h0, h1, w=w1), w1 == g.W)):
            p.setBrush(fill if visible else inside)
            p.setPen(solid if visible else dashed)
            p.drawPolygon(poly)
        sel = b.selected
        if sample == sel[0]:  # the selected element itself, on the front of its box
            p.setBrush(QColor("#111"))
            p.setPen(Qt.PenStyle.NoPen)
            center = g.point(k, sel[1], sel[2] + 0.5, sel[3] + 0.5)
            p.drawEllipse(center, 3.2, 3.2)

    def _paint_outline(self, p, g, k, sample, spans, pen):
        """The visible edges of a box (spans on (n, c, h, w)), no fill: a hovered group, a lit step."""
        n0, n1, c0, c1, h0, h1, w0, w1 = spans
        if not n0 <= sample < n1:
            return
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(pen)
        for poly in (g.front(k, h0, h1, w0, w1, c=c0), g.top(k, c0, c1, w0, w1, h=h0), g.side(k, c0, c1, h0, h1, w=w1)):
            p.drawPolygon(poly)

    def _paint_axes(self, p, g, b):
        n, c, h, w = b.sizes
        spatial = b.spatial
        p.setPen(ink(self, 190))
        p.setFont(QFont(self.font().family(), 9))
        if len(spatial) == 2:
            left = g.point(0, 0, g.H / 2, 0)
            p.drawText(QPointF(left.x() - 14, left.y() + 4), spatial[0])
        if spatial:
            below = g.point(0, 0, g.H, g.W / 2)
            p.drawText(QPointF(below.x() - 8, below.y() + 13), f"{spatial[-1]} →")
        depth = g.point(0, g.C / 2, 0, 0)
        p.drawText(QPointF(depth.x() - 18, depth.y()), "C ↗")

    def _paint_caption(self, p, b, n):
        words = b.words
        text = f"{self.scene.settings.spec.label}: {words}" if self.show_method else words[0].upper() + words[1:]
        if n > len(self._blocks):
            text += f"   (samples {self._blocks[0]}–{self._blocks[-1]} of {n})"
        p.setPen(ink(self))
        f = QFont(self.font().family(), 10 if self.show_method else 9)
        f.setBold(self.show_method)
        p.setFont(f)
        p.drawText(QRectF(10, 4, self.width() - 20, 30), Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap, text)

    # -- interaction ---------------------------------------------------------------------------
    def element_at(self, pos) -> tuple | None:
        """The element index (layout order) under widget position pos, or None."""
        g = self._geometry
        if g is None or self.scene is None:
            return None
        for k, sample in enumerate(self._blocks):
            hit = g.locate(k, QPointF(pos))
            if hit is not None:
                c, h, w = hit
                return layout_index((sample, c, h, w), self.scene.settings.layout)
        return None

    def mouseMoveEvent(self, event):
        index = self.element_at(event.position())
        self.set_hovered(index)
        if index is None:
            QToolTip.hideText()
            return
        QToolTip.showText(event.globalPosition().toPoint(), self.describe_element(index), self)

    def set_hovered(self, index):
        """Outline the statistics group (or window) of the element under the pointer."""
        s = self.scene.settings if self.scene is not None else None
        spans = None if index is None or s is None else canonical_spans(self.scene.sharing.box_of(index), s.layout,
                                                                         s.shape)
        if spans != self.hovered:
            self.hovered = spans
            self._changed()

    def leaveEvent(self, event):
        self.set_hovered(None)
        super().leaveEvent(event)

    def mousePressEvent(self, event):
        index = self.element_at(event.position())
        if index is not None and event.button() == Qt.MouseButton.LeftButton:
            self.elementClicked.emit(index)

    def keyPressEvent(self, event):
        index = moved_selection(self.scene, event)
        if index is None:
            super().keyPressEvent(event)
        elif index != self.scene.settings.selected:
            self.elementClicked.emit(index)

    def describe_element(self, index) -> str:
        return element_tooltip(self.scene, index)
