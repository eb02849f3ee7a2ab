"""Colours shared by the views, so a statistics group has the same colour everywhere."""

from __future__ import annotations

from PySide6.QtGui import QColor

#: The selected group (the blue of the Group Normalization paper's Figure 2).
SELECTED = QColor(52, 120, 246)
SELECTED_EDGE = QColor(20, 60, 170)
BEFORE = QColor(120, 130, 150)
AFTER = QColor(236, 112, 52)
#: Distinct pale colours for the other statistics groups.
GROUP_COLORS = [QColor(h) for h in ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
                                    "#b3de69", "#fccde5", "#a6cee3", "#bc80bd", "#ccebc5", "#ffed6f")]
#: Strong colours for histogram overlays of individual groups.
OVERLAY_COLORS = [QColor(h) for h in ("#3478f6", "#e4572e", "#29a36a", "#9b5de5", "#f3a712", "#00a6a6")]


def group_color(label: int) -> QColor:
    return GROUP_COLORS[label % len(GROUP_COLORS)]


def overlay_color(k: int) -> QColor:
    return OVERLAY_COLORS[k % len(OVERLAY_COLORS)]
