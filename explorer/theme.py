"""Light or dark, following the system's colour scheme: the application palette (Fusion's dark
palette when the system is dark), pyqtgraph's plot colours, and the paper and ink colours the
painted views use. Statistics-group colours and the selection's blue stay the same in both.
NORM_EXPLORER_THEME=dark (or light) overrides the system (and lets a test see the dark one)."""

from __future__ import annotations

import contextlib
import gc
import os

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from .colors import TEXT_HINT

DARK = {QPalette.ColorRole.Window: "#2b2d31", QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1f2023", QPalette.ColorRole.AlternateBase: "#2b2d31",
        QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#34363b",
        QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.ToolTipBase: "#34363b",
        QPalette.ColorRole.ToolTipText: "#e6e6e6", QPalette.ColorRole.Highlight: "#3478f6",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.PlaceholderText: "#a0a0a0",
        QPalette.ColorRole.Link: "#8ab4f8"}


pg.setConfigOptions(antialias=True, background="w", foreground="k")  # until apply() says otherwise


def is_dark() -> bool:
    chosen = os.environ.get("NORM_EXPLORER_THEME", "").lower()
    if chosen in ("dark", "light"):
        return chosen == "dark"
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def plot_colors() -> dict:
    """pyqtgraph's background and foreground for the current scheme."""
    return dict(background="#1f2023", foreground="#e6e6e6") if is_dark() else dict(background="w", foreground="k")


def apply(app: QApplication):
    """Set the palette and the plot colours for the system's scheme, now and whenever it changes."""
    _apply(app)
    app.styleHints().colorSchemeChanged.connect(lambda _scheme: _apply(app))


def _apply(app: QApplication):
    if is_dark():
        app.setStyle("Fusion")
        palette = QPalette()
        for role, color in DARK.items():
            palette.setColor(role, QColor(color))
        app.setPalette(palette)
    else:
        app.setPalette(app.style().standardPalette())
    pg.setConfigOptions(antialias=True, **plot_colors())
    with collector_held():  # plots made before the change follow it too
        for widget in app.allWidgets():
            if isinstance(widget, pg.PlotWidget):
                widget.setBackground(plot_colors()["background"])
            widget.update()


@contextlib.contextmanager
def collector_held():
    """The garbage collector held off (and left as it was after): a collection that runs while
    QApplication.allWidgets() builds its list, or while its widgets are used, can delete a widget it
    wraps (a reference cycle through a Qt object), and that crashed the process (a segfault in the
    test suite)."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def all_widgets(app: QApplication) -> list:
    """QApplication.allWidgets(), built with the collector held off (see collector_held)."""
    with collector_held():
        return app.allWidgets()


def muted() -> str:
    """Secondary text (hints, captions, legends): 4.5:1 or more against the background in both schemes."""
    return "#b8b8b8" if is_dark() else TEXT_HINT


def paper(widget) -> QColor:
    """The background a painted view fills."""
    return widget.palette().color(QPalette.ColorRole.Base)


def ink(widget, alpha: int = 255) -> QColor:
    """The colour of a painted view's text and lines."""
    color = QColor(widget.palette().color(QPalette.ColorRole.Text))
    color.setAlpha(alpha)
    return color
