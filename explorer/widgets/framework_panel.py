"""The line under the banner that says how far the chosen framework's result is from torch's on the
tensor shown ("Keras 3 defaults: max |Δ| = 0.0014, from eps 0.001 vs 1e-05"): the Scene's
framework_delta, computed by the pipeline. Hidden while the framework is torch."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

STYLE = "background: #e8f0fe; color: #0b2a5b; border: 1px solid #9bb8e8; padding: 3px 8px;"


class FrameworkLine(QLabel):
    """objectName label_framework_delta. set_scene(scene) shows the scene's framework_delta."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("label_framework_delta")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setStyleSheet(STYLE)
        self.setToolTip("The chosen framework's output against torch's on this tensor: the largest difference of "
                        "any element, and the defaults and conventions that make it (Tools > Translate between "
                        "frameworks… gives the parameters for the same numbers)")
        self.delta = None
        self.hide()

    def set_scene(self, scene):
        self.delta = None if scene is None else scene.framework_delta
        self.setVisible(self.delta is not None)
        if self.delta is not None:
            self.setText(f"<b>vs torch</b> · {html.escape(self.delta.sentence)}")

    def set_error(self, message):
        """The last scene stays on screen with its line while the settings cannot be computed."""
