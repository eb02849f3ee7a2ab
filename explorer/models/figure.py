"""The command line's model figure, drawn headless: the model in one line, its health strip, the
train-vs-eval gap plot after a capture and, with --fold, the folding report. Qt is imported here only."""

from __future__ import annotations

from ..figures import qt_app, save_widget_file

DEFAULT_SIZE = (1200, 760)
FOLD_SIZE = (1200, 1180)


def export_figure(model, out: str, fold=None, input_label: str = "", size=None, dpi: float = 96.0):
    app = qt_app()  # noqa: F841 (keeps the application alive while the widgets exist)
    from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

    from .fold_report import FoldReportView
    from .gap_plot import GapPlot
    from .health_strip import HealthStrip
    from .report import describe

    figure = QWidget()
    figure.setStyleSheet("background: white; color: black;")
    column = QVBoxLayout(figure)
    title = QLabel(describe(model))
    title.setStyleSheet("font-weight: 600;")
    column.addWidget(title)
    strip = HealthStrip()
    strip.set_model(model)
    column.addWidget(strip)
    gaps = GapPlot()
    gaps.set_model(model, input_label)
    column.addWidget(gaps, 2)
    if fold is not None:
        view = FoldReportView()
        view.set_report(fold)
        column.addWidget(view, 3)
    figure.resize(*(size or (FOLD_SIZE if fold is not None else DEFAULT_SIZE)))
    figure.show()
    try:
        QApplication.processEvents()
        save_widget_file(figure, out, size, dpi)
    finally:
        figure.close()
        figure.deleteLater()
