"""The norm-explorer command's entry point: `--version` answers before anything is imported (the
settings' declarations, and with them NumPy and kernels, load only for a real command)."""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == ["--version"]:
        from . import __version__
        print(f"norm-explorer {__version__}")
        return 0
    from .cli import main as run
    return run(argv)
