"""Figures for the command line: the window's views, the Compare figure and the experiment views
rendered headless on the offscreen platform, and written by extension. The command line imports
this module only when it draws; everything else it does needs no Qt."""

from __future__ import annotations

import os
import sys
import time

from .cli_common import IO_FAILURE, CliError

#: The window a `--view window` export lays out (a figure size only scales it).
WINDOW_SIZE = (1480, 940)


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


def export_view(settings, file, view: str, out: str, size=None, dpi: float = 96.0):
    """Render one view of the main window for `settings` (file: (FileRef, array) of a loaded input)
    to `out`; returns the Scene drawn."""
    app = qt_app()  # noqa: F841 (keeps the application alive while the window exists)
    from .main_window import MainWindow
    from .state import AppState
    state = AppState()
    window = MainWindow(state)
    window.resize(*WINDOW_SIZE)
    window.show()
    try:
        _show(state, settings, file)
        target = _view(window, view)
        window.settle()
        save_widget_file(target, out, size, dpi)
        return state.scene
    finally:
        window.close()
        state.shutdown()


def _show(state, settings, file):
    seen = []
    state.resultChanged.connect(lambda: seen.append(True))
    state.apply(settings, file)
    wait_for(lambda: (seen and not state.computing) or state.error)
    if state.error:
        raise CliError(state.error)


def _view(window, name: str):
    """The widget `--view NAME` draws (explorer.vocabulary), shown and up to date."""
    widget = window.view_widgets()[name]
    if name == "compare":
        window.tabs.setCurrentWidget(window.compare)
        wait_for(window.compare.ready, what="the comparison")
    elif name in ("groups", "values", "modes", "precision"):
        window.view_tabs.setCurrentWidget(widget)
        if name == "modes":
            wait_for(window.modes_view.ready, what="train and eval")
        if name == "precision":
            wait_for(lambda: window.precision_view.ready() or window.precision_view.error, what="the precision study")
    return widget


def export_compare(settings, file, methods, out: str, size=None, dpi: float = 96.0):
    """The Compare figure of `methods` for `settings`, written to `out`."""
    app = qt_app()  # noqa: F841
    from .state import AppState
    from .widgets.compare_view import CompareView
    state = AppState(settings=settings)
    if file is not None:
        state.apply(settings, file)
    view = CompareView(state, methods)
    view.resize(*(size or (1600, 700)))
    view.show()
    try:
        view.sync()
        wait_for(view.ready, what="the comparison")
        errors = [f"{n}: {p.error}" for n, p in view.panels.items() if p.error]
        if errors:
            raise CliError(errors[0])
        save_widget_file(view.figure, out, size, dpi)  # the panels, in the order asked; not the buttons
    finally:
        state.shutdown()
        view.close()


def export_experiment(kind: str, configure, out: str, size=None, dpi: float = 96.0):
    """Run an experiment view (kind: depth, steps or weights) set up by configure(view), and write it."""
    app = qt_app()  # noqa: F841
    if kind == "depth":
        from .experiments.depth_view import DepthView as View
    elif kind == "steps":
        from .experiments.steps_view import StepsView as View
    else:
        from .experiments.weights_view import WeightsView as View
    view = View(autorun=False)
    configure(view)
    view.resize(*(size or (1400, 900)))
    view.show()
    try:
        view.run()
        wait_for(lambda: not view.busy, timeout=600)
        if view.error:
            raise CliError(f"the experiment failed: {view.error}", IO_FAILURE)
        save_widget_file(view, out, size, dpi)
    finally:
        view.shutdown()
        view.close()


def export_steps(scene, out: str, size=None):
    """The step-through of the scene's selected element as an animation (.gif, .apng, .png), frames beside it."""
    app = qt_app()  # noqa: F841
    from .animation import FRAME_SIZE, frames, save_animation
    from .atomic import SaveError
    from .widgets.tensor_view import TensorView
    view = TensorView()
    view.set_scene(scene)
    try:
        return save_animation(frames(view, scene, size or FRAME_SIZE), out)
    except SaveError as exc:
        raise CliError(str(exc), IO_FAILURE) from None
    finally:
        view.close()


def export_lesson(name: str, out: str, size=None, dpi: float = 96.0):
    """The whole window with lesson `name` set up (its text above the tabs), written to `out`."""
    app = qt_app()  # noqa: F841
    from .main_window import MainWindow
    window = MainWindow()
    window.resize(*WINDOW_SIZE)
    window.show()
    try:
        window.start_lesson(name)
        wait_for(lambda: not window.state.computing or window.state.error)
        wait_for(lambda: window.compare.ready() if window.tabs.currentWidget() is window.compare else
                 window.modes_view.ready() if window.view_tabs.currentWidget() is window.modes_view else True,
                 what="the lesson's view")
        window.settle()
        save_widget_file(window, out, size, dpi)
    finally:
        window.close()
        window.state.shutdown()
