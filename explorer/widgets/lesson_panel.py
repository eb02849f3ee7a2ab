"""The lesson in progress: its title and its two or three sentences of why, above the tabs, with a
button to close it."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

STYLE = ("QFrame#panel_lesson { background: #eef4ff; border: 1px solid #a9c2f5; border-radius: 4px; } "
         "QLabel#label_lesson { color: #1a1a1a; }")


class LessonPanel(QFrame):
    """objectName panel_lesson; hidden until a lesson starts."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("panel_lesson")
        self.setStyleSheet(STYLE)
        self.lesson = None
        self.label = QLabel(objectName="label_lesson")
        self.label.setWordWrap(True)
        self.button_close = QPushButton("Close", objectName="button_lesson_close")
        self.button_close.setToolTip("End the lesson (the settings stay as they are)")
        self.button_close.clicked.connect(self.close_lesson)
        row = QHBoxLayout()
        row.addWidget(self.label, 1)
        column = QVBoxLayout()
        column.addWidget(self.button_close)
        column.addStretch(1)
        row.addLayout(column)
        self.setLayout(row)
        self.hide()

    def show_lesson(self, lesson):
        self.lesson = lesson
        self.label.setText(f"<b>Lesson: {html.escape(lesson.title)}</b><br>{html.escape(lesson.text)}")
        self.show()

    def close_lesson(self):
        self.lesson = None
        self.hide()
