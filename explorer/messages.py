"""Errors as the person sees them: one line."""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """The user-facing message of an exception: its first line (a NormError's reason), or its class name."""
    text = getattr(exc, "reason", None) or str(exc)
    return (text or type(exc).__name__).strip().splitlines()[0]
