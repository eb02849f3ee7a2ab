"""Starting the GUI where it cannot open explains why in one line instead of a Qt abort."""

import os
import subprocess
import sys

from explorer.app import display_problem


def test_no_display_is_explained():
    assert "no display found" in display_problem(environ={}, platform="linux")
    assert display_problem(environ={"QT_QPA_PLATFORM": "offscreen"}, platform="linux") is None
    assert display_problem(environ={}, platform="darwin") is None


def test_missing_xcb_libraries_are_named():
    message = display_problem(environ={"DISPLAY": ":0"}, platform="linux",
                              find_library=lambda name: None if name == "xcb-cursor" else "lib")
    assert "libxcb-cursor0" in message and "apt-get install" in message
    assert display_problem(environ={"DISPLAY": ":0"}, platform="linux", find_library=lambda name: "lib") is None


def test_command_without_display_exits_with_one_line():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "explorer"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display found" in lines[0] and "xvfb-run" in lines[0]
