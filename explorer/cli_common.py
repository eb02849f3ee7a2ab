"""What every headless command shares: one-line errors with exit codes, the offscreen Qt
application, waiting for results without a display, and writing a widget by extension."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

#: Exit codes: 2 for bad arguments, 1 for input/output failures.
BAD_ARGUMENTS, IO_FAILURE = 2, 1


class CliError(Exception):
    """A user mistake or an I/O failure: `message` is printed on one line, `code` is the exit status."""

    def __init__(self, message: str, code: int = BAD_ARGUMENTS):
        super().__init__(message)
        self.message, self.code = message, code


def parse_size(text: str) -> tuple:
    """'1600x1000' -> (1600, 1000)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CliError(f"--size {text!r} is not WIDTHxHEIGHT, e.g. 1600x1000") from None
    if not (16 <= w <= 20000 and 16 <= h <= 20000):
        raise CliError(f"--size {text!r}: width and height must be between 16 and 20000 pixels")
    return w, h


def parse_ints(text: str, name: str) -> tuple:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise CliError(f"{name} {text!r} is not a comma-separated list of integers, e.g. 4,8,8,8") from None
    if any(v < 1 for v in values):
        raise CliError(f"{name} {text!r}: every size must be at least 1")
    return values


def check_extension(path: str, allowed, flag: str = "--out") -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise CliError(f"{flag} {path!r}: unknown extension {suffix or '(none)'!r}; use {', '.join(allowed)}")
    return suffix


def parse_number(text: str, flag: str, low: float, high: float) -> float:
    """A finite number within [low, high] from a flag's text, or CliError naming the flag."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CliError(f"{flag} {text!r} is not a number") from None
    if not low <= value <= high:  # also refuses nan and inf
        raise CliError(f"{flag} {text}: must be between {low:g} and {high:g}")
    return value


def qt_app():
    """The QApplication, on the offscreen platform unless a platform was chosen explicitly."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication
    qInstallMessageHandler(_quiet_offscreen_notices)
    return QApplication.instance() or QApplication(sys.argv[:1])


def _quiet_offscreen_notices(kind, context, message):
    """Drop the offscreen platform's notice about window size hints; pass everything else on."""
    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def wait_for(predicate, timeout: float = 120.0, what: str = "the computation"):
    """Process Qt events until predicate() is true."""
    from PySide6.QtCore import QCoreApplication, QEventLoop
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise CliError(f"{what} did not finish within {timeout:.0f} s", IO_FAILURE)
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.005)


def save_widget_file(widget, path: str, size=None, dpi: float = 96.0):
    """Write a widget to .png or .svg; an I/O failure becomes CliError(code=1)."""
    from PySide6.QtCore import QSize

    from .atomic import SaveError
    from .export import save_widget
    try:
        save_widget(widget, path, QSize(*size) if size else None, dpi)
    except SaveError as exc:
        raise CliError(str(exc), IO_FAILURE) from None
