"""The banner above the main views: what is odd about the numbers on screen (the scene's warnings:
one value per channel, zero-variance groups, eps=0, NaN/Inf inputs, ...) or why the current
settings cannot be computed, in the view itself rather than only in a side panel."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

WARNING_STYLE = "background: #fff4e0; color: #5c3b00; border: 1px solid #e0b870; padding: 4px 8px;"
ERROR_STYLE = "background: #fdecea; color: #8a1c14; border: 1px solid #e6a39c; padding: 4px 8px;"


class Banner(QLabel):
    """objectName label_banner. Hidden when there is nothing to say."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("label_banner")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.scene, self.error = None, None
        self.hide()

    def set_scene(self, scene):
        self.scene = scene
        self._show()

    def set_error(self, message):
        self.error = message
        self._show()

    @property
    def messages(self) -> list:
        return [self.error] if self.error else list(self.scene.warnings if self.scene is not None else [])

    def _show(self):
        messages = self.messages
        self.setVisible(bool(messages))
        if not messages:
            return
        self.setStyleSheet(ERROR_STYLE if self.error else WARNING_STYLE)
        head = "<b>Cannot compute:</b> " if self.error else "<b>⚠</b> "
        self.setText("<br>".join(head + html.escape(m) for m in messages))
        self.setToolTip("The last settings that could be computed stay on screen" if self.error else
                        "What is odd about these numbers, and why")
