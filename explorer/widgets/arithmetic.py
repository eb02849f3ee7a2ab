"""The arithmetic of the selected element, as the formula filled in with the real numbers, one
step per line (kernels.explain, carried by the Scene), and a step-through: play, pause and scrub
through gather → mean → deviation → variance → normalize → scale and shift (→ running update);
each step tells the views which elements it reads (`stepChanged`), so they light them up."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSlider, QTextBrowser, QVBoxLayout

from .. import theme
from .common import DeferredPanel

STEP_MS = 1200  # how long the step-through stays on a step while playing


def steps_html(explanation, current: int | None = None, layout: str = "") -> str:
    """The steps as an HTML table, the current one highlighted (also what exports draw)."""
    e = explanation
    names = ", ".join(f"{a}={i}" for a, i in zip(layout, e.index)) if layout else ", ".join(map(str, e.index))
    rows, muted = [], theme.muted()
    for k, step in enumerate(e.steps):
        style = "background:#fff1b8;" if k == current else ""
        rows.append(f"<tr style='{style}'><td style='color:{muted};padding-right:6px' valign='top'>{k + 1}</td>"
                    f"<td><b>{html.escape(step.title)}</b> &nbsp;<span style='color:{muted}'>"
                    f"{html.escape(step.formula)}</span><br>{html.escape(step.text)}</td></tr>")
    mode = "" if e.training else " (eval mode)"
    return (f"<p><b>x[{html.escape(names)}]</b>{mode}: {html.escape(_short(e.value))} → "
            f"<b>{html.escape(_short(e.output))}</b></p><table cellspacing='0' cellpadding='3' width='100%'>"
            + "".join(rows) + "</table>")


def _short(v: float) -> str:
    from kernels import fmt
    return fmt(v)


class ArithmeticPanel(DeferredPanel):
    """objectName panel_arithmetic. set_scene(scene) shows its explanation; the step-through
    emits stepChanged(step index, or -1 for none)."""

    stepChanged = Signal(int)

    def __init__(self, busy=lambda: False, parent=None):
        # a new result's text follows once the histograms have painted (DeferredPanel: 1-2 ms of HTML
        # layout that a dragged slider need not wait for); a step the person picks shows at once
        super().__init__(busy, parent)
        self.setObjectName("panel_arithmetic")
        self.current = -1  # the step the step-through shows; -1: none (all steps, nothing lit)
        self.text = QTextBrowser(objectName="text_arithmetic")
        self.text.setOpenExternalLinks(False)
        self.button_back = QPushButton("◀", objectName="button_step_back")
        self.button_play = QPushButton("▶ Play", objectName="button_step_play")
        self.button_next = QPushButton("▶|", objectName="button_step_next")
        self.slider = QSlider(Qt.Orientation.Horizontal, objectName="slider_step")
        self.button_export = QPushButton("Export…", objectName="button_step_export")
        for button, tip in ((self.button_back, "The previous step (Alt+Left)"),
                            (self.button_play, "Play the computation step by step, lighting up the elements "
                                               "each step reads; again to pause"),
                            (self.button_next, "The next step (Alt+Right)"),
                            (self.button_export, "Save the step-through as an animated GIF or APNG (or PNG "
                                                 "frames) for slides")):
            button.setToolTip(tip)
        self.slider.setToolTip("Scrub through the steps")
        self.button_back.clicked.connect(lambda: self.show_step(max(0, self.current - 1)))
        self.button_next.clicked.connect(lambda: self.show_step(min(self.count - 1, self.current + 1)))
        self.button_play.clicked.connect(self.toggle_play)
        self.slider.valueChanged.connect(self.show_step)
        self.timer = QTimer(self, interval=STEP_MS)
        self.timer.timeout.connect(self._advance)
        row = QHBoxLayout()
        for w in (self.button_back, self.button_play, self.button_next, self.button_export):
            row.addWidget(w)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.slider)
        layout.addLayout(row)

    @property
    def explanation(self):
        return None if self.scene is None else self.scene.explanation

    @property
    def count(self) -> int:
        return 0 if self.explanation is None else len(self.explanation.steps)

    def set_scene(self, scene):
        same_element = (self.scene is not None and scene is not None and scene.explanation is not None
                        and self.scene.settings.selected == scene.settings.selected
                        and self.count == len(scene.explanation.steps))
        self.scene = scene
        if not same_element:
            self.stop()
            if self.current >= 0:
                self.current = -1
                self.stepChanged.emit(-1)  # nothing lit for another element
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, self.count - 1))
        self.slider.setValue(max(0, self.current))
        self.slider.blockSignals(False)
        self._later.start()

    def show_step(self, k: int):
        """Show step k (lighting up its elements); -1 shows all steps and lights nothing."""
        if self.explanation is None:
            return
        self.current = max(-1, min(int(k), self.count - 1))
        if self.current >= 0 and self.slider.value() != self.current:
            self.slider.blockSignals(True)
            self.slider.setValue(self.current)
            self.slider.blockSignals(False)
        self.refresh()
        self.stepChanged.emit(self.current)

    def toggle_play(self):
        if self.timer.isActive():
            self.stop()
        else:
            self.timer.start()
            self.button_play.setText("❚❚ Pause")
            self.show_step(0 if self.current < 0 or self.current >= self.count - 1 else self.current + 1)

    def stop(self):
        self.timer.stop()
        self.button_play.setText("▶ Play")

    def _advance(self):
        if self.current >= self.count - 1:
            self.stop()
            return
        self.show_step(self.current + 1)

    def refresh(self):
        if self.explanation is None:
            self.text.setHtml("")
            return
        self.text.setHtml(steps_html(self.explanation, self.current if self.current >= 0 else None,
                                     self.scene.settings.layout))
