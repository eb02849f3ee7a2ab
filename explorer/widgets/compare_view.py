"""Side by side: several methods on the same input (BatchNorm, LayerNorm, InstanceNorm and
GroupNorm by default, as in Figure 2 of the Group Normalization paper), each with its
statistics groups and its output histogram. The panels mirror the main settings but for the
method (see `explorer.settings.mirrored`); all of them are computed in one job on one input,
and only while the tab is visible."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QMenu, QPushButton, QToolButton, QVBoxLayout, QWidget

from kernels import METHODS

from ..palette import AFTER, BEFORE
from ..settings import DEFAULTS, SettingError, Settings, mirrored
from ..words import plural
from .common import blocked
from .tensor_view import TensorView

DEFAULT_METHODS = ("batch", "layer", "instance", "group")


def panel_settings(main: Settings, method: str) -> Settings | str:
    """A panel's settings: the main window's mirrored ones (every setting not declared per_method),
    its own method, and the main parameters that fit it; or why there are none."""
    params = compare_params(method, main.kernel_params())
    try:
        return DEFAULTS.replace(**mirrored(main), method=method, params=params)
    except SettingError as exc:
        return str(exc)


def compare_params(method: str, main_params: dict) -> dict:
    """The main settings' parameters that the method also takes (the others take their defaults,
    the same as in the Explore tab)."""
    return {k: v for k, v in main_params.items() if k in METHODS[method].param_names}


class ComparePanel(QWidget):
    """One method: its block view and histograms of its Scene (or why it cannot be computed)."""

    def __init__(self, method: str, parent=None):
        super().__init__(parent)
        self.method = method
        self.scene, self.error = None, None
        self.title = QLabel(f"<b>{METHODS[method].label}</b>")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.view = TensorView(show_method=False)
        self.view.setMinimumSize(140, 120)
        self.view.setObjectName(f"view_compare_{method}")
        self.plot = pg.PlotWidget()
        self.plot.setObjectName(f"plot_compare_{method}")
        self.plot.setMaximumHeight(150)
        self.plot.setMenuEnabled(False)
        self.plot.hideAxis("left")
        self.label_after = QLabel(objectName=f"label_compare_{method}")
        self.label_after.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label_after.setStyleSheet("font-size: 11px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.plot)
        layout.addWidget(self.label_after)

    def show_outcome(self, outcome):
        """A Scene, or the one-line reason the method cannot be computed with these settings."""
        if isinstance(outcome, str):
            self.error = outcome
            self.view.set_error(outcome)
            self.label_after.setText(outcome)
            return
        self.scene, self.error = outcome, None
        self.view.set_error(None)
        self.view.set_scene(outcome)
        self.plot.clear()
        for edges, counts, color in ((outcome.hist.edges_before, outcome.hist.counts_before, BEFORE),
                                     (outcome.hist.edges_after, outcome.hist.counts_after, AFTER)):
            fill = pg.mkColor(color)
            fill.setAlpha(90)
            self.plot.addItem(pg.PlotCurveItem(edges, counts, stepMode="center", fillLevel=0, brush=fill,
                                               pen=pg.mkPen(color), antialias=False))
        after = outcome.summary_after
        self.label_after.setText(f"after: mean {_tidy(after.mean)}, std {_tidy(after.std)}, "
                                 f"{plural(len(outcome.groups), 'statistics group')}")


def _tidy(value: float) -> str:
    """Two decimals, without '-0.00' for values that are zero up to rounding."""
    return f"{0.0 if abs(value) < 5e-3 else value:.2f}"


class CompareView(QWidget):
    """objectName view_compare. Follows `state` (the main AppState) while visible; a click on a
    panel emits elementClicked(index)."""

    elementClicked = Signal(tuple)

    def __init__(self, state, methods=DEFAULT_METHODS, parent=None):
        super().__init__(parent)
        self.main = state
        self.setObjectName("view_compare")
        self._channel = state.worker.channel("compare")
        self._channel.finished.connect(self._on_finished)
        self._channel.failed.connect(self._on_failed)
        self.computed_for = self._pending = None  # the settings and methods of the panels' scenes, of the job
        self.checks = {}
        self._order = [n for n in methods if n in METHODS]
        self.button_methods = QToolButton(objectName="button_compare_methods")
        self.button_methods.setText("Methods ▾")
        self.button_methods.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.button_methods.setToolTip("Choose the methods to compare")
        menu = QMenu(self.button_methods)
        for name, m in METHODS.items():
            action = menu.addAction(m.label)
            action.setObjectName(f"action_compare_{name}")
            action.setCheckable(True)
            action.setChecked(name in methods)
            action.toggled.connect(lambda on, name=name: self._toggled(name, on))
            self.checks[name] = action
        self.button_methods.setMenu(menu)
        preset = QPushButton("Figure 2 of the GroupNorm paper", objectName="button_compare_paper")
        preset.setToolTip("BatchNorm, LayerNorm, InstanceNorm and GroupNorm")
        preset.clicked.connect(lambda: self.set_methods(DEFAULT_METHODS))
        top = QHBoxLayout()
        top.addWidget(self.button_methods)
        top.addWidget(preset)
        top.addStretch(1)
        holder = QWidget()
        holder.setLayout(top)
        self.figure = QWidget(objectName="figure_compare")  # the panels alone: what an export draws
        self.grid = QGridLayout(self.figure)
        self.grid.setContentsMargins(0, 0, 0, 0)
        outer = QVBoxLayout(self)
        outer.addWidget(holder)
        outer.addWidget(self.figure, 1)
        self.panels: dict = {}
        self.caption = QLabel("Blue: the elements that share statistics with the selected element (click any "
                              "block to move it). Each colour is one statistics group. Histograms: grey before, "
                              "orange after.", objectName="label_compare")
        self.caption.setWordWrap(True)
        outer.addWidget(self.caption)
        self._rebuild()
        state.settingsChanged.connect(self.sync)

    def set_methods(self, names):
        """Compare these methods, in this order."""
        self._order = [n for n in dict.fromkeys(names) if n in self.checks]
        for name, action in self.checks.items():
            with blocked(action):
                action.setChecked(name in self._order)
        self._rebuild()

    def _toggled(self, name: str, on: bool):
        """A method checked in the menu joins the end; unchecked, it leaves."""
        self._order = [n for n in self._order if n != name] + ([name] if on else [])
        self._rebuild()

    @property
    def methods(self) -> list:
        """The methods compared, in their order (as asked, then as checked)."""
        return list(self._order)

    def _rebuild(self, *_):
        for name in list(self.panels):
            if name not in self.methods:
                panel = self.panels.pop(name)
                self.grid.removeWidget(panel)
                panel.hide()  # not drawn while it waits for deletion
                panel.deleteLater()
        for name in self.methods:
            if name not in self.panels:
                self.panels[name] = ComparePanel(name)
                self.panels[name].view.elementClicked.connect(self.elementClicked)
        columns = 4 if len(self.methods) > 3 else max(1, len(self.methods))
        for k, name in enumerate(self.methods):
            self.grid.addWidget(self.panels[name], k // columns, k % columns)
        self.sync()

    def showEvent(self, event):
        super().showEvent(event)
        self.sync()

    def _wanted(self) -> tuple:
        return self.main.settings, tuple(self.methods)

    def sync(self):
        """Compute every panel's scene for the main settings (only while visible: hidden panels cost nothing)."""
        if not self.isVisible() and not self.property("force_sync"):
            return
        if self.computed_for == self._wanted():
            return
        self._pending = self._wanted()
        panels = {name: panel_settings(self.main.settings, name) for name in self.methods}
        self._channel.submit(self.main.pipeline_job(lambda pipeline: pipeline.run_many(panels)))

    def _on_finished(self, outcomes: dict):
        self.computed_for = self._pending
        for name, outcome in outcomes.items():
            if name in self.panels:
                self.panels[name].show_outcome(outcome)

    def _on_failed(self, message: str):
        for panel in self.panels.values():
            panel.show_outcome(message)

    def ready(self) -> bool:
        """Every panel shows the main settings' scene (or why it cannot)."""
        return self.computed_for == self._wanted() and not self._channel.busy
