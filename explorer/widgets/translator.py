"""Tools > Translate between frameworks…: pick a source and a target framework; the dialog shows the
target's call with the translated parameters (kernels.translate), what was converted and what has no
exact equivalent, and the numbers on the current tensor: the translated parameters against the
source's own output and, for running statistics, after a few training steps, and the same for the
source's parameters pasted unchanged (the momentum and eps mistakes). Computed on the state's worker
(channel "translate"); the dialog draws explorer.translation.Translated."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from kernels import FRAMEWORKS, METHODS

from ..frameworks import refusal
from ..translation import STEPS


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3g}"


def _params(params: dict) -> str:
    shown = {k: v for k, v in params.items() if k not in ("weight", "bias") or v is not None}
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in shown.items()
                     if not hasattr(v, "shape")) or "its defaults"


class TranslatorDialog(QDialog):
    """objectName dialog_translator. Follows the state's method and tensor while open."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.setObjectName("dialog_translator")
        self.setWindowTitle("Translate between frameworks")
        self.main = state
        self.result, self.error, self.computed_for, self._pending = None, None, None, None
        self._channel = state.worker.channel("translate")
        self._channel.finished.connect(self._on_finished)
        self._channel.failed.connect(self._on_failed)
        row = QHBoxLayout()
        self.combo_source = QComboBox(objectName="combo_translate_source")
        self.combo_target = QComboBox(objectName="combo_translate_target")
        for combo in (self.combo_source, self.combo_target):
            for name, fw in FRAMEWORKS.items():
                combo.addItem(fw.label, name)
            combo.currentIndexChanged.connect(self.sync)
        self.combo_source.setCurrentIndex(self.combo_source.findData(state.framework))
        self.combo_target.setCurrentIndex(self.combo_target.findData("keras" if state.framework == "torch"
                                                                        else "torch"))
        row.addWidget(QLabel("from"))
        row.addWidget(self.combo_source, 1)
        row.addWidget(QLabel("to"))
        row.addWidget(self.combo_target, 1)
        self.label_source = QLabel(objectName="label_translate_source")
        self.label_source.setWordWrap(True)
        self.code = QPlainTextEdit(objectName="code_translated")
        self.code.setReadOnly(True)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.code.setFont(font)
        self.label_numbers = QLabel(objectName="label_translate_numbers")
        self.label_numbers.setWordWrap(True)
        self.label_numbers.setTextFormat(Qt.TextFormat.RichText)
        self.label_numbers.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label_numbers.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.button_copy = QPushButton("Copy code", objectName="button_translate_copy")
        self.button_copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.code.toPlainText()))
        close = QPushButton("Close", objectName="button_translate_close")
        close.clicked.connect(self.close)
        buttons.addWidget(self.button_copy)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.label_source)
        layout.addWidget(self.code, 2)
        layout.addWidget(self.label_numbers, 3)
        layout.addLayout(buttons)
        self.resize(720, 640)
        state.settingsChanged.connect(self.sync)

    @property
    def source(self) -> str:
        return self.combo_source.currentData()

    @property
    def target(self) -> str:
        return self.combo_target.currentData()

    def showEvent(self, event):
        super().showEvent(event)
        self.sync()

    def sync(self, *_):
        """Translate for the current settings and choices (only while the dialog is shown)."""
        s = self.main.settings
        key = (s, self.source, self.target)
        if not self.isVisible() or self.computed_for == key or key == self._pending:
            return
        why = refusal(s.method, self.source) or refusal(s.method, self.target) or s.problem()
        if why:
            self._pending = None
            self._on_failed(why, key)
            return
        self._pending = key
        source, target = self.source, self.target
        self._channel.submit(self.main.pipeline_job(lambda pipeline: pipeline.run_translation(s, source, target)))

    def ready(self) -> bool:
        return self.computed_for == (self.main.settings, self.source, self.target) and not self._channel.busy

    def _on_failed(self, message: str, key=None):
        self.computed_for, self.result, self.error = key or self._pending, None, message
        self._pending = None
        self.code.setPlainText("")
        self.label_source.setText("")
        self.label_numbers.setText(f"<span style='color:#b71c1c'><b>Cannot translate:</b> {html.escape(message)}"
                                   "</span>")

    def _on_finished(self, t):
        self.computed_for, self.result, self.error = self._pending, t, None
        self._pending = None
        src, tgt = t.labels
        where = "the window's settings" if t.source == self.main.settings.framework else f"{src}'s defaults"
        self.label_source.setText(f"{src}'s {METHODS[t.method].label} with {_params(t.source_params)} ({where}) "
                                  f"becomes in {tgt}:")
        self.code.setPlainText(t.translation.call)
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in t.translation.notes) or "<li>nothing to convert</li>"
        running = t.translated.running is not None
        steps = f"; running statistics after {STEPS} training steps: max |Δ| = " if running else ""
        exact = "the same numbers" if t.translation.exact else "no exact equivalent"
        lines = [f"<b>Translated</b> ({exact}): {html.escape(_params(t.translation.params))}<ul>{notes}</ul>",
                 f"<b>On the current tensor</b>, against {html.escape(src)}'s own numbers:<ul>"
                 f"<li>translated: outputs max |Δ| = {_fmt(t.translated.output)}{steps}"
                 f"{_fmt(t.translated.running) if running else ''}</li>"]
        if t.pasted is not None:
            lines.append(f"<li><b>pasted unchanged</b> ({html.escape(_params(t.pasted_params))} into "
                         f"{html.escape(tgt)}): outputs max |Δ| = {_fmt(t.pasted.output)}{steps}"
                         f"{_fmt(t.pasted.running) if running else ''}</li></ul>")
        else:
            lines.append(f"<li><b>pasted unchanged</b>: {html.escape(tgt)} refuses them: "
                         f"{html.escape(t.pasted_error)}</li></ul>")
        self.label_numbers.setText("".join(lines))
