"""Running code in a fresh interpreter: what a command or an import loads by itself."""

import subprocess
import sys
import textwrap

HEAVY = ("PySide6", "pyqtgraph", "shiboken6", "torch")
#: Print the heavy packages a snippet has loaded so far.
PRINT_HEAVY = f"import sys; print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))"


def run_fresh(code: str, env=None) -> str:
    """stdout of `code` (dedented) run by a new Python; the test fails when it exits non-zero."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout
