"""What every headless command shares: one-line errors with exit codes and the parsing of the
figure options. No Qt (explorer.figures draws)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

#: Exit codes: 2 for bad arguments, 1 for input/output failures.
BAD_ARGUMENTS, IO_FAILURE = 2, 1


class CliError(Exception):
    """A user mistake or an I/O failure: `message` is printed on one line, `code` is the exit status."""

    def __init__(self, message: str, code: int = BAD_ARGUMENTS):
        super().__init__(message)
        self.message, self.code = message, code


class Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as CliError (one line, exit 2) instead of usage + exit."""

    def error(self, message):
        raise CliError(message)

    def _parse_optional(self, arg_string):
        # '-1,0,1' or '-0.5' is a value, never an option (no option starts with a digit): without
        # this, `--bias -1,0,1` fails with "expected one argument".
        if re.match(r"-[\d.]", arg_string):
            return None
        return super()._parse_optional(arg_string)


def parse_size(text: str) -> tuple:
    """'1600x1000' -> (1600, 1000)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CliError(f"--size {text!r} is not WIDTHxHEIGHT, e.g. 1600x1000") from None
    if not (16 <= w <= 20000 and 16 <= h <= 20000):
        raise CliError(f"--size {text!r}: width and height must be between 16 and 20000 pixels")
    return w, h


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
