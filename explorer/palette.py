"""Qt colours shared by the views (the group colours themselves are in explorer.colors, Qt-free)."""

from __future__ import annotations

from PySide6.QtGui import QColor

from .colors import SELECTED_EDGE_RGB, SELECTED_RGB

#: The selected group (the blue of the Group Normalization paper's Figure 2).
SELECTED = QColor(*SELECTED_RGB)
SELECTED_EDGE = QColor(*SELECTED_EDGE_RGB)
BEFORE = QColor(120, 130, 150)
AFTER = QColor(236, 112, 52)
#: Strong colours for series of lines (experiment plots).
OVERLAY_COLORS = [QColor(h) for h in ("#3478f6", "#e4572e", "#29a36a", "#9b5de5", "#f3a712", "#00a6a6")]
