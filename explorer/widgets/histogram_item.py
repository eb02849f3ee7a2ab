"""One pyqtgraph item that draws a whole histogram: the filled bars and the group overlay lines.

Why not seven PlotCurveItems: on every result each curve recomputed its data bounds and
pixel-padded bounding rect, and the scene walked them all; that bookkeeping cost more than
the drawing. Here the bounds are known from the data (the edges and the highest count), and
one paint draws a filled step polygon and a few polylines.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPainter


def step_outline(edges: np.ndarray, heights: np.ndarray, closed: bool) -> tuple:
    """x, y of a step line over bins [edges[i], edges[i+1]) at heights[i]; closed: down to 0 at both ends."""
    x = np.repeat(np.asarray(edges, float), 2)[1:-1]
    y = np.repeat(np.asarray(heights, float), 2)
    if closed:
        x = np.concatenate(([x[0]], x, [x[-1]]))
        y = np.concatenate(([0.0], y, [0.0]))
    return x, y


class HistogramItem(pg.GraphicsObject):
    """Bars (filled step polygon) plus overlay lines, all in data coordinates, cosmetic pens."""

    def __init__(self, pen, brush):
        super().__init__()
        self._pen, self._brush = pen, brush
        self._bars = None
        self._lines: list = []  # (QPainterPath, pen)
        self._data = (np.zeros(2), np.zeros(1))
        self._bounds = QRectF(0.0, 0.0, 1.0, 1.0)

    def set_histogram(self, edges, heights, lines=()):
        """edges (bins + 1), heights (bins); lines: (edges, heights, pen) of each overlay."""
        self.prepareGeometryChange()
        self._data = (np.asarray(edges, float), np.asarray(heights, float))
        self._bars = pg.arrayToQPath(*step_outline(edges, heights, closed=True), connect="all")
        self._lines = [(pg.arrayToQPath(*step_outline(e, h, closed=False), connect="all"), pen)
                       for e, h, pen in lines]
        top = max([float(np.max(heights, initial=0.0))] + [float(np.max(h, initial=0.0)) for _, h, _ in lines])
        self._bounds = QRectF(float(edges[0]), 0.0, float(edges[-1] - edges[0]), max(top, 1e-12))
        self.update()

    # what PlotItem.listDataItems() and its users expect of a data item
    def implements(self, interface=None):
        return interface == "plotData" if interface is not None else ["plotData"]

    def name(self):
        return "histogram"

    def getData(self):
        return self._data

    def dataBounds(self, ax, frac=1.0, orthoRange=None):
        r = self._bounds
        return (r.left(), r.right()) if ax == 0 else (r.top(), r.bottom())

    def boundingRect(self):
        return self._bounds

    def paint(self, painter: QPainter, *args):
        if self._bars is None:
            return
        # horizontal and vertical lines only: antialiasing costs time and shows nothing
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(self._pen)
        painter.setBrush(self._brush)
        painter.drawPath(self._bars)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for path, pen in self._lines:
            painter.setPen(pen)
            painter.drawPath(path)
