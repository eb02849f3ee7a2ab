"""The `norm-explorer` command: with no subcommand it opens the window."""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    from .app import run_gui
    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main())
