"""Small building blocks shared by the panels: a spin box for numbers that span decades,
the inline error style, and signal blocking."""

from __future__ import annotations

import math
from contextlib import contextmanager

from PySide6.QtCore import QObject, QSignalBlocker, Qt, QTimer
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox, QLabel, QWidget

from .. import theme
from ..colors import TEXT_ERROR
from ..geometry import moved

INVALID_STYLE = ("QAbstractSpinBox[invalid=true], QComboBox[invalid=true] "
                 "{ border: 1px solid #d33; background: #fff0f0; }")


@contextmanager
def blocked(*objects: QObject):
    """Model -> widget updates without signals looping back."""
    blockers = [QSignalBlocker(o) for o in objects]
    try:
        yield
    finally:
        for b in blockers:
            b.unblock()


def set_value(spin, value):
    """spin.setValue only when the value changes: setting the same value repaints the spin box
    (and its frame), on every result."""
    if spin.value() != value:
        spin.setValue(value)


def mark_invalid(widget: QWidget, invalid: bool):
    if bool(widget.property("invalid")) != invalid:
        widget.setProperty("invalid", invalid)
        widget.style().unpolish(widget)
        widget.style().polish(widget)


class SciSpinBox(QDoubleSpinBox):
    """A double spin box that shows values like 1e-05 and, with log=True, steps by factors
    (1e-5 -> 3.16e-5 -> 1e-4), so eps-like values are easy to sweep."""

    def __init__(self, log: bool = False, minimum: float = -1e12, maximum: float = 1e12, parent=None):
        super().__init__(parent)
        self.log = log
        self.setDecimals(15)
        self.setRange(minimum, maximum)
        self.setKeyboardTracking(False)
        self.setSingleStep(0.05)
        self.setAccelerated(True)

    def textFromValue(self, value: float) -> str:
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        stripped = text.strip()
        try:
            float(stripped)
            return QValidator.State.Acceptable, text, pos
        except ValueError:
            ok = all(ch in "0123456789.eE+-" for ch in stripped)
            return (QValidator.State.Intermediate if ok else QValidator.State.Invalid), text, pos

    def stepBy(self, steps: int):
        v = self.value()
        if self.log and v > 0:
            self.setValue(v * math.pow(10.0, 0.5 * steps))
        elif self.log and steps > 0:
            self.setValue(1e-8)
        else:
            super().stepBy(steps)


def hint_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {theme.muted()}; font-size: 11px;")
    return label


def error_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {TEXT_ERROR}; font-weight: 600;")
    label.hide()
    return label


def refresh_after(widget: QWidget, slot, busy, delay_ms: int = 30) -> QTimer:
    """A timer that calls `slot` once, delay_ms after the last start(), and only while busy() is
    False (otherwise it waits delay_ms more): panels that need not follow every frame (tables,
    text) refresh once the histograms have painted and a slider rests, and never take the
    processor from the computation of the next result."""
    timer = QTimer(widget, singleShot=True, interval=delay_ms)
    timer.timeout.connect(lambda: timer.start() if busy() else slot())
    return timer


class DeferredPanel(QWidget):
    """A panel that follows the Scene once no computation runs (`busy()` says whether one does) and
    the histograms have painted: tables and text need not follow every frame of a dragged slider.
    Subclasses draw `self.scene` in refresh()."""

    def __init__(self, busy=lambda: False, parent=None):
        super().__init__(parent)
        self.scene = None
        self._later = refresh_after(self, self.refresh, busy)

    def set_scene(self, scene):
        self.scene = scene
        self._later.start()

    def refresh(self):
        raise NotImplementedError


_KEYS = {Qt.Key.Key_Left: "Left", Qt.Key.Key_Right: "Right", Qt.Key.Key_Up: "Up", Qt.Key.Key_Down: "Down",
         Qt.Key.Key_PageUp: "PageUp", Qt.Key.Key_PageDown: "PageDown", Qt.Key.Key_Home: "Home", Qt.Key.Key_End: "End"}


def moved_selection(scene, event):
    """The element the selection moves to for a key press in a view (arrows: W and H, Page Up/Down:
    C, Home/End: N), or None when the key does not move it."""
    name = _KEYS.get(event.key())
    if scene is None or name is None or event.modifiers() & (Qt.KeyboardModifier.ControlModifier
                                                               | Qt.KeyboardModifier.AltModifier):
        return None
    s = scene.settings
    return moved(s.selected, s.layout, s.shape, name)
