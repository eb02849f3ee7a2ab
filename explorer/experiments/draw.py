"""Any experiment view rendered headless for the command line: built offscreen, set up, run to the end
and written by extension (.png, .svg, .pdf). Imported by the commands only when they draw."""

from __future__ import annotations

from ..cli_common import IO_FAILURE, CliError
from ..figures import qt_app, save_widget_file, wait_for

DEFAULT_SIZE = (1400, 900)


def export_experiment(name: str, configure, out: str, size=None, dpi: float = 96.0, timeout: float = 3600.0):
    """Run experiment `name`'s view (explorer.vocabulary.EXPERIMENTS) set up by configure(view) and write
    it to `out`; returns the result it drew. A failed run is CliError (exit 1) with the view's line."""
    app = qt_app()  # noqa: F841 (keeps the application alive while the view exists)
    from .hub import view_class
    view = view_class(name)(autorun=False)
    try:
        configure(view)
        view.resize(*(size or DEFAULT_SIZE))
        view.show()
        view.run()
        wait_for(lambda: not view.busy, timeout=timeout, what=f"the {name} experiment")
        if view.error or view.result is None:
            raise CliError(f"the experiment failed: {view.error or 'no result'}", IO_FAILURE)
        from PySide6.QtCore import QCoreApplication
        for _ in range(3):  # the new texts' layouts (wrapped status lines) settle before the picture
            QCoreApplication.processEvents()
        save_widget_file(view, out, size, dpi)
        return view.result
    finally:
        view.shutdown()
        view.close()
