"""The distributed view's block picture: the batch as a grid of samples × channels, each sample in the
colour of the device that holds it, and outlined the elements that share statistics: one group per
channel over every device (synchronized BatchNorm), or one per channel and device (per-device)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .. import theme
from .real_parts import series_color

MODES = (("sync", "Synchronized BatchNorm: one group per channel, over every device"),
         ("local", "Per-device BatchNorm: one group per channel on each device"))


def shard_bounds(device) -> list:
    """[(device, first sample, end)] of each device's contiguous run of samples."""
    device = np.asarray(device)
    out, start = [], 0
    for n in range(1, len(device) + 1):
        if n == len(device) or device[n] != device[start]:
            out.append((int(device[start]), start, n))
            start = n
    return out


class ShardBlocks(QWidget):
    """objectName blocks_sync. set_run(device, channels) draws; `groups(mode)` lists the outlined
    groups as (channel, first sample, end) — what the picture says shares statistics."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("blocks_sync")
        self.device = np.zeros(0, dtype=int)
        self.channels = 0
        self.selected_channel = 0
        self.setMinimumHeight(170)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setToolTip("Columns: the samples of the batch, in the colour of the device holding them; rows: "
                        "channels. Each dark outline is one statistics group (one mean and variance).")

    def sizeHint(self):
        return QSize(800, 190)

    def set_run(self, device, channels: int, selected_channel: int = 0):
        self.device = np.asarray(device, dtype=int)
        self.channels = int(channels)
        self.selected_channel = int(selected_channel)
        self.update()

    def groups(self, mode: str) -> list:
        if mode == "sync":
            return [(c, 0, len(self.device)) for c in range(self.channels)]
        return [(c, first, end) for c in range(self.channels) for _, first, end in shard_bounds(self.device)]

    def paintEvent(self, event):
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        ink = theme.ink(self)
        painter.setPen(ink)
        n, c = len(self.device), self.channels
        if n == 0 or c == 0:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "the batch appears here after a run")
            painter.end()
            return
        legend_h, title_h, gap = 20, 18, 24
        width = (self.width() - gap - 40) / 2
        top = legend_h + title_h + 6
        height = self.height() - top - 22
        self._legend(painter, ink)
        for k, (mode, title) in enumerate(MODES):
            x0 = 30 + k * (width + gap)
            painter.setPen(ink)
            painter.drawText(QRectF(x0, legend_h + 2, width, title_h), Qt.AlignmentFlag.AlignLeft, title)
            self._panel(painter, QRectF(x0, top, width, height), mode, ink)
        painter.end()

    def _legend(self, painter, ink):
        x = 30.0
        sizes = {d: int((self.device == d).sum()) for d in np.unique(self.device)}
        for d, count in sizes.items():
            painter.fillRect(QRectF(x, 4, 12, 12), series_color(d))
            text = f"device {d}: {count} sample{'s' if count != 1 else ''}"
            painter.setPen(ink)
            painter.drawText(QRectF(x + 16, 0, 160, 20), Qt.AlignmentFlag.AlignVCenter, text)
            x += 22 + painter.fontMetrics().horizontalAdvance(text)

    def _panel(self, painter, rect: QRectF, mode: str, ink):
        n, c = len(self.device), self.channels
        cw, ch = rect.width() / n, rect.height() / c
        for s in range(n):
            color = QColor(series_color(int(self.device[s])))
            color.setAlpha(150)
            for row in range(c):
                cell = QRectF(rect.left() + s * cw, rect.top() + row * ch, cw, ch)
                painter.fillRect(cell.adjusted(0.5, 0.5, -0.5, -0.5), color)
        outline = QPen(ink, 2.2)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for row, first, end in self.groups(mode):
            painter.setPen(outline)
            painter.drawRect(QRectF(rect.left() + first * cw + 1.5, rect.top() + row * ch + 1.5,
                                    (end - first) * cw - 3, ch - 3))
        painter.setPen(ink)
        for row in range(c):
            painter.drawText(QRectF(rect.left() - 28, rect.top() + row * ch, 24, ch),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"c{row}")
        painter.drawText(QRectF(rect.left(), rect.bottom() + 2, rect.width(), 18), Qt.AlignmentFlag.AlignHCenter,
                         f"samples 0 … {n - 1} →")
