"""Starting the GUI: a one-line explanation instead of a Qt abort when there is no display or
the xcb libraries are missing, then the main window."""

from __future__ import annotations

import ctypes.util
import os
import sys

#: Libraries Qt's xcb platform plugin loads, and the Debian/Ubuntu packages that provide them.
XCB_LIBRARIES = {"xcb-cursor": "libxcb-cursor0", "xkbcommon-x11": "libxkbcommon-x11-0", "EGL": "libegl1",
                 "GL": "libgl1", "fontconfig": "libfontconfig1", "dbus-1": "libdbus-1-3"}


def display_problem(environ=os.environ, platform=sys.platform, find_library=ctypes.util.find_library) -> str | None:
    """Why a window cannot open here (one line), or None."""
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    if not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        return ("no display found (neither DISPLAY nor WAYLAND_DISPLAY is set): run it on a desktop or under "
                "Xvfb (xvfb-run norm-explorer), or use the headless commands (norm-explorer --help)")
    if environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        missing = [pkg for lib, pkg in XCB_LIBRARIES.items() if find_library(lib) is None]
        if missing:
            return ("Qt's xcb platform needs system libraries that are missing; install them with: "
                    f"sudo apt-get install {' '.join(missing)}")
    return None


def run_gui(argv=None) -> int:
    """Open the window; `--session PATH` starts from a saved session. A bad argument is one line
    on stderr (exit 2), as for the other commands."""
    from .cli_common import CliError, Parser
    parser = Parser(prog="norm-explorer gui", description="Open the Norm Explorer window.")
    parser.add_argument("--session", help="a session .json file to open")
    from .vocabulary import EXPERIMENTS
    parser.add_argument("--tab", choices=("explore", "compare", "model", "experiments", *EXPERIMENTS),
                        help="the tab to show first (an experiment's name opens the Experiments tab on it)")
    parser.add_argument("--lesson", help="start a lesson (norm-explorer lesson lists them)")
    try:
        args = parser.parse_args(list(argv or []))
    except CliError as exc:
        print(f"norm-explorer: error: {exc.message}", file=sys.stderr)
        return exc.code
    problem = display_problem()
    if problem:
        print(f"norm-explorer: {problem}", file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication

    from . import theme
    from .main_window import MainWindow, app_icon

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Norm Explorer")
    app.setOrganizationName("NormExplorer")
    theme.apply(app)  # light or dark, following the system
    app.setWindowIcon(app_icon())
    window = MainWindow(remember=True)
    window.show()
    if args.session:
        window.open_session(args.session)
    if args.tab:
        window.show_tab(args.tab)
    if args.lesson:
        from .lessons import LESSONS
        if args.lesson in LESSONS:
            window.start_lesson(args.lesson)
        else:
            window.warn("Unknown lesson", f"unknown lesson {args.lesson!r}; choose one of {', '.join(LESSONS)}")
    return app.exec()
