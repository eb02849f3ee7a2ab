"""What every experiment view shares: the Run/Cancel/progress bar wired to its worker channel,
status lines, the export menu, and the plot helpers (histogram ridges, legends, captions)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QMenu, QMessageBox, QProgressBar, QPushButton, QWidget

from .. import theme
from ..atomic import SaveError
from ..export import copy_widget, save_widget
from ..messages import one_line
from ..widgets.export_dialog import IMAGE_FILTER


def caption_style() -> str:
    return f"color: {theme.muted()}; font-size: 11px;"



class RunBar(QWidget):
    """Run and Cancel buttons and a progress bar, wired to a worker channel (explorer.worker)."""

    def __init__(self, runner, run, parent=None):
        super().__init__(parent)
        self.runner = runner
        self.button_run = QPushButton("Run", objectName="button_run")
        self.button_run.setToolTip("Run the experiment now (it also reruns by itself when a setting changes)")
        self.button_run.clicked.connect(run)
        self.button_cancel = QPushButton("Cancel", objectName="button_cancel")
        self.button_cancel.setToolTip("Stop the run in progress; the previous result stays on screen")
        self.button_cancel.setEnabled(False)
        self.button_cancel.clicked.connect(runner.cancel)
        self.progress = QProgressBar(objectName="progress_run")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p%")
        self.progress.setToolTip("Layers or steps done in the current run")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.button_run)
        layout.addWidget(self.button_cancel)
        layout.addWidget(self.progress, 1)
        runner.progress.connect(self._on_progress)
        runner.busyChanged.connect(self._on_busy)
        runner.finished.connect(lambda _: self._on_progress(1, 1))  # full, even for jobs that report no progress

    def _on_progress(self, done: int, total: int):
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _on_busy(self, busy: bool):
        self.button_cancel.setEnabled(busy)
        if busy:
            self.progress.setValue(0)


def status_label(name: str) -> QLabel:
    label = QLabel(objectName=name)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def show_outcome(label: QLabel, text: str, kind: str = "info"):
    """One status line: grey info, amber warnings, red errors."""
    color = {"info": "#555", "warning": "#a15c00", "error": "#c62828"}[kind]
    label.setStyleSheet(f"color: {color};")
    label.setText(text)


def ask_save_path(parent: QWidget, title: str, default: str, file_filter: str) -> str:
    """The file dialog (a module function, so tests can answer it)."""
    return QFileDialog.getSaveFileName(parent, title, default, file_filter)[0]


def warn(parent: QWidget, text: str):
    """One warning line (a module function, so tests can see it)."""
    QMessageBox.warning(parent, "Export failed", text)


def view_menu(view: QWidget, title: str) -> QMenu:
    """Export the view as PNG/SVG, its numbers as CSV (`view.export_csv(path)`), or copy it;
    failures are one warning line and nothing is lost."""
    stem = title.lower().replace(" ", "_")

    def export_image():
        path = ask_save_path(view, f"Export {title}", f"{stem}.png", IMAGE_FILTER)
        if path:
            guarded(view, lambda: save_widget(view, path))

    def export_numbers():
        path = ask_save_path(view, f"Export {title} numbers", f"{stem}.csv", "CSV table (*.csv)")
        if path:
            guarded(view, lambda: view.export_csv(path))

    menu = QMenu(view)
    menu.addAction("Export view as PNG/SVG/PDF…", export_image).setObjectName("action_export_image")
    action = menu.addAction("Export numbers as CSV…", export_numbers)
    action.setObjectName("action_export_csv")
    action.setEnabled(view.result is not None)
    menu.addAction("Copy to clipboard", lambda: copy_widget(view)).setObjectName("action_copy")
    return menu


def namespace_children(view: QWidget, prefix: str):
    """Put the view's name into its controls' objectNames (spin_seed -> spin_depth_seed), so they stay
    unique next to the main window's own controls; plots and tiles are named per view already."""
    for child in view.findChildren(QWidget):
        kind, _, field = child.objectName().partition("_")
        if kind in ("spin", "combo", "button", "check", "label", "progress", "tabs") and field \
                and not field.startswith(prefix):
            child.setObjectName(f"{kind}_{prefix}_{field}")


def install_view_menu(view: QWidget, title: str):
    """Right-click on `view` opens `view_menu`."""
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
    def show(pos):
        menu = view_menu(view, title)
        menu.exec(view.mapToGlobal(pos))
        menu.deleteLater()  # one menu per right-click, not kept alive by the view
    view.customContextMenuRequested.connect(show)


def guarded(parent: QWidget, action) -> bool:
    """Run a save; a failure (unwritable folder, bad extension) becomes one warning line."""
    try:
        action()
    except (SaveError, ValueError, OSError) as exc:
        warn(parent, one_line(exc))
        return False
    return True


def make_plot(name: str, title: str, x_label: str, y_label: str, tooltip: str = "") -> pg.PlotWidget:
    """A white pyqtgraph plot with a stable objectName, a small title and light grid."""
    plot = pg.PlotWidget()
    plot.setObjectName(name)
    plot.setTitle(title, size="10pt")
    plot.setLabel("bottom", x_label)
    plot.setLabel("left", y_label)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setMenuEnabled(False)
    plot.setMinimumSize(180, 140)
    for axis in ("left", "bottom"):
        plot.getAxis(axis).enableAutoSIPrefix(False)  # "(x0.001)" next to a label confuses more than it helps
    if tooltip:
        plot.setToolTip(tooltip)
    return plot


def common_edges(arrays, bins: int = 50, clip: float = 0.5):
    """Shared histogram edges for several value arrays: from the `clip` to the 100 − `clip`
    percentile of all of them, so one outlier does not squash every histogram into a spike."""
    finite = [a[np.isfinite(a)] for a in arrays if a is not None and np.size(a)]
    allv = np.concatenate(finite) if finite else np.zeros(1)
    if allv.size == 0:
        allv = np.zeros(1)
    lo, hi = np.percentile(allv, [clip, 100 - clip]) if allv.size > 20 else (allv.min(), allv.max())
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


def hist_item(values, edges, color, width: float = 1.5, fill_alpha: int = 70, name=None, scale=None,
              offset: float = 0.0) -> pg.PlotCurveItem:
    """A step histogram of `values` on `edges`: a density, or with `scale` a ridge of height
    `scale` at the second-highest bin (one spike, like ReLU's zeros, is clipped, not the rest
    flattened), filled down to `offset`."""
    counts, _ = np.histogram(np.asarray(values, dtype=float), bins=edges)
    if scale is None:
        widths = np.diff(edges)
        y = counts / max(1, counts.sum()) / widths
    else:
        top = np.sort(counts)[-2] if counts.size > 1 else counts.max()
        y = scale * np.minimum(1.0, counts / max(1, top))
    fill = pg.mkColor(color)
    fill.setAlpha(fill_alpha)
    return pg.PlotCurveItem(edges, y + offset, stepMode="center", fillLevel=offset, brush=fill if fill_alpha else None,
                            pen=pg.mkPen(color, width=width), name=name)


def add_legend(plot: pg.PlotWidget, offset=(-5, 5)):
    """A small legend on a translucent white box, so it stays readable over the data."""
    return plot.addLegend(offset=offset, labelTextSize="8pt", brush=pg.mkBrush(255, 255, 255, 210),
                          pen=pg.mkPen(200, 200, 200))


def colored(text: str, color) -> str:
    """`text` as an HTML span in `color` (for plot titles that double as legends)."""
    return f"<span style='color:{pg.mkColor(color).name()}'>{text}</span>"


def two_line_title(title: str, *parts) -> str:
    """A plot title whose second, smaller line names coloured series: parts are (text, colour)."""
    return f"{title}<br><span style='font-size:8pt'>{' · '.join(colored(t, c) for t, c in parts)}</span>"


def caption(text: str, name: str = "") -> QLabel:
    """A one-sentence caption under a plot: what to notice."""
    label = QLabel(text)
    if name:
        label.setObjectName(name)
    label.setWordWrap(True)
    label.setStyleSheet(caption_style())
    return label
