"""The main window: assembles the panels into docks and tabs, menus, shortcuts and the status
bar. It holds no logic of its own beyond wiring."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from kernels import METHODS

from . import __version__
from .animation import frames, save_animation, step_spans
from .atomic import SaveError
from .data_files import save_npy, save_stats_csv
from .experiments.hub import ExperimentsTab, FitScrollArea
from .export import copy_widget
from .file_loading import FILE_FILTER, LoadError, load, open_file
from .lessons import LESSONS
from .models.model_view import ModelView
from .session import SessionError, open_session, save_session
from .settings_store import load_settings, qsettings, save_settings
from .state import AppState
from .vocabulary import EXPERIMENTS as EXPERIMENT_TITLES
from .vocabulary import VIEWS
from .widgets.arithmetic import ArithmeticPanel
from .widgets.banner import Banner
from .widgets.compare_view import CompareView
from .widgets.controls import ControlPanel
from .widgets.export_dialog import ExportDialog, install_export_menu
from .widgets.framework_panel import FrameworkLine
from .widgets.group_table import GroupStatsPanel
from .widgets.histograms import HistogramPanel
from .widgets.info_panel import InfoPanel
from .widgets.lesson_panel import LessonPanel
from .widgets.modes_view import ModesView
from .widgets.open_dialog import OpenTensorDialog
from .widgets.precision_view import PrecisionView
from .widgets.tensor_view import TensorView
from .widgets.translator import TranslatorDialog
from .widgets.value_view import ValueView


class MainWindow(QMainWindow):
    """MainWindow(state=None) builds the whole window; window.state is the AppState.
    remember=True (the app does this) restores the settings of the last run and saves them on close."""

    def __init__(self, state: AppState | None = None, parent: QWidget | None = None, remember: bool = False):
        super().__init__(parent)
        self._owns_state = state is None
        self._remember = remember
        remembered = load_settings() if remember else None
        if state is None:
            state = AppState(settings=remembered)
        elif remembered is not None:
            state.apply(remembered)
        self.state = state
        self.setWindowTitle("Norm Explorer")
        self.setObjectName("main_window")
        self.resize(1560, 960)

        self.tensor_view = TensorView()
        self.value_view = ValueView()
        self.histograms = HistogramPanel()
        self.view_tabs = QTabWidget(objectName="tabs_views")
        self.modes_view = ModesView(self.state)
        self.precision_view = PrecisionView(self.state)
        for view, name in ((self.tensor_view, "groups"), (self.value_view, "values"), (self.modes_view, "modes"),
                           (self.precision_view, "precision")):
            self.view_tabs.addTab(view, VIEWS[name])
        self.banner = Banner()
        self.framework_line = FrameworkLine()
        self.translator = None  # Tools > Translate between frameworks…, made when first asked for
        views = QWidget()
        column = QVBoxLayout(views)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.banner)
        column.addWidget(self.framework_line)
        column.addWidget(self.view_tabs, 1)
        explore = QSplitter(Qt.Orientation.Vertical, objectName="split_explore")
        explore.addWidget(views)
        explore.addWidget(self.histograms)
        explore.setSizes([430, 380])
        self.compare = CompareView(self.state)
        self.tabs = QTabWidget(objectName="tabs_main")
        self.tabs.addTab(explore, "Explore")
        self.tabs.addTab(self.compare, "Compare")
        self.model_view = ModelView()  # a real network's layers; a layer's input opens in Explore
        self.model_view.base_settings = lambda: self.state.settings
        self.model_view.exploreRequested.connect(self.explore_layer)
        # in a scroll area: the tab's plots must not set the height of every tab (under a lesson's panel
        # they once squeezed the Explore tab's bottom dock to a strip)
        self.model_scroll = FitScrollArea(objectName="scroll_model")
        self.model_scroll.setWidget(self.model_view)
        self.tabs.addTab(self.model_scroll, "Model")
        # every experiment in one tab; each view is built, and run, when it is first shown: a quick start-up
        self.experiments_tab = ExperimentsTab()
        self.experiments = self.experiments_tab.views  # title -> view, for the experiments shown so far
        self.tabs.addTab(self.experiments_tab, "Experiments")
        self.tabs.currentChanged.connect(self._first_run)
        self.tabs.currentChanged.connect(self._docks_for_tab)
        self._explore_docks: dict = {}
        self.lesson_panel = LessonPanel()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.lesson_panel)
        column.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.controls = ControlPanel(self.state)
        computing = lambda: self.state.computing  # noqa: E731 (panels refresh once no computation runs)
        self.info = InfoPanel(computing)
        self.group_stats = GroupStatsPanel(computing)
        self.arithmetic = ArithmeticPanel(computing)
        self.arithmetic.stepChanged.connect(self._light_step)
        self.arithmetic.button_export.clicked.connect(lambda: self.export_steps())
        self.dock_controls = self._dock("Controls", self.controls, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.dock_arithmetic = self._dock("Arithmetic of the selected element", self.arithmetic,
                                          Qt.DockWidgetArea.RightDockWidgetArea)
        self.dock_info = self._dock("About this method", self.info, Qt.DockWidgetArea.RightDockWidgetArea)
        self.dock_groups = self._dock(VIEWS["group-stats"], self.group_stats, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.dock_controls.setMinimumWidth(340)
        self.dock_info.setMinimumWidth(330)
        self.resizeDocks([self.dock_controls, self.dock_info], [350, 360], Qt.Orientation.Horizontal)
        self.resizeDocks([self.dock_groups], [190], Qt.Orientation.Vertical)
        self.resizeDocks([self.dock_arithmetic, self.dock_info], [300, 520], Qt.Orientation.Vertical)

        self._build_status_bar()
        self._build_menus()
        for name, widget in self.view_widgets().items():
            if name != "window":
                install_export_menu(widget, VIEWS[name], widget)
        for plot in self.histograms.plots.values():
            install_export_menu(plot, VIEWS["histograms"], self.histograms)
        self._wire_views()
        self.setWindowIcon(app_icon())
        self.state.settingsChanged.connect(self._show_title)
        self.state.resultChanged.connect(self._show_status)
        self.state.errorChanged.connect(self._show_status)
        self.state.busyChanged.connect(self.busy.setVisible)
        if remember:
            self._restore_geometry()

    def _wire_views(self):
        """The views draw the state's Scene; clicks in them select an element. (Bound methods, not
        closures: a closure held by the state's signals would keep a closed window alive.)"""
        self.state.resultChanged.connect(self._show_scene)
        self.state.errorChanged.connect(self._show_error)
        for view in (self.tensor_view, self.value_view, self.compare):
            view.elementClicked.connect(self._select)
        if self.state.scene is not None:
            self._show_scene()
        self._show_error(self.state.error)

    def _show_scene(self):
        for view in (self.tensor_view, self.value_view, self.histograms, self.group_stats, self.info, self.banner,
                     self.arithmetic, self.framework_line):
            view.set_scene(self.state.scene)

    def _light_step(self, k: int):
        """The step-through's step k lights up the elements it reads in the block and value views."""
        spans = step_spans(self.state.scene, k)
        self.tensor_view.set_lit(spans)
        self.value_view.set_lit(spans)

    def _show_error(self, message):
        for view in (self.tensor_view, self.info, self.banner):
            view.set_error(message)

    def _select(self, index):
        self.state.update(selected=index)

    def settle(self):
        """Bring every panel up to date now: the table and the text otherwise follow a result a
        moment later, and a window not yet drawn has layouts pending. An export needs both."""
        self.info.refresh()
        self.group_stats.refresh()
        self.arithmetic.refresh()
        QApplication.processEvents()

    def _dock(self, title, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName("dock_" + title.split()[0].lower().replace("-", "_"))
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    # -- status bar ------------------------------------------------------------------------------
    def _build_status_bar(self):
        bar = self.statusBar()
        self.status_compute = QLabel(objectName="label_status")
        # a fixed width (changing text must not re-lay out the window), wide enough for the longest text
        self.status_compute.setFixedWidth(self.status_compute.fontMetrics().horizontalAdvance(
            status_text("torch", "cuda:0", 64 * 2**20, 9999.9, 9999.9, True)) + 12)
        self.busy = QProgressBar(objectName="progress_busy")
        self.busy.setRange(0, 0)  # indeterminate: a computation is running
        self.busy.setMaximumWidth(120)
        self.busy.setToolTip("computing…")
        self.busy.hide()
        bar.addPermanentWidget(self.busy)
        bar.addPermanentWidget(self.status_compute)

    def _show_status(self, *_):
        s, c = self.state, self.state.scene
        if s.error:
            self.statusBar().showMessage(f"Not computed: {s.error}")
        else:
            self.statusBar().clearMessage()
        if c is not None:
            r = c.settings
            self.status_compute.setText(status_text(r.backend, r.device, c.x.size, c.normalize_ms, c.total_ms,
                                                    c.hist.sampled))

    # -- menus -------------------------------------------------------------------------------------
    def _build_menus(self):
        menu = self.menuBar()
        self.menu_file = file_menu = menu.addMenu("&File")
        self._action(file_menu, "&Open tensor or image…", QKeySequence.StandardKey.Open, self.open_file)
        self._action(file_menu, "Open &session…", "Ctrl+Shift+O", self.open_session)
        self._action(file_menu, "Open &model…", "Ctrl+M", self.open_model)
        self._action(file_menu, "&Save session…", QKeySequence.StandardKey.Save, self.save_session)
        file_menu.addSeparator()
        self._action(file_menu, "&Export figure…", "Ctrl+E", self.export_figure)
        self._action(file_menu, "Export statistics (&CSV)…", "Ctrl+Shift+E", self.export_stats)
        self._action(file_menu, "Export &tensors (.npy)…", None, self.export_tensors)
        self._action(file_menu, "&Copy current view", "Ctrl+Shift+C", self.copy_view)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)

        edit = menu.addMenu("&Edit")
        self._action(edit, "&Undo", QKeySequence.StandardKey.Undo, self.state.undo)
        self._action(edit, "&Redo", "Ctrl+Shift+Z", self.state.redo)

        view = menu.addMenu("&View")
        for dock in (self.dock_controls, self.dock_info, self.dock_groups):
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        self._action(view, "&Log counts", "Ctrl+L", lambda: self.state.update(log_counts=not self.state.log_counts))
        self._action(view, "&Same bins before and after", "Ctrl+B",
                     lambda: self.state.update(shared_bins=not self.state.shared_bins))
        for name, shortcut in (("groups", "Ctrl+G"), ("values", "Ctrl+Shift+V"), ("modes", "Ctrl+Shift+T"),
                               ("precision", "Ctrl+Shift+P")):
            self._action(view, VIEWS[name], shortcut, lambda name=name: self.show_view(name))

        methods = menu.addMenu("&Method")
        for k, m in enumerate(METHODS.values()):
            shortcut = f"Ctrl+{k + 1}" if k < 9 else None
            self._action(methods, m.label, shortcut, lambda checked=False, n=m.name: self.state.update(method=n))
        methods.addSeparator()
        self._action(methods, "&Train / eval", "Ctrl+T", lambda: self.state.update(training=not self.state.training))
        self._action(methods, "New &seed", "Ctrl+R", lambda: self.state.update(seed=self.state.seed + 1))

        tools = menu.addMenu("&Tools")
        self._action(tools, "&Translate between frameworks…", "Ctrl+Shift+F", self.show_translator)

        lessons = menu.addMenu("&Lessons")
        for lesson in LESSONS.values():
            self._action(lessons, lesson.title, None, lambda name=lesson.name: self.start_lesson(name))

        help_menu = menu.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", "F1", self.show_shortcuts)
        self._action(help_menu, "&About Norm Explorer", None, self.show_about)

    def _action(self, menu, text, shortcut, slot) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda checked=False: slot())  # slots take no `checked` (it would be a path)
        menu.addAction(action)
        return action

    # -- files -----------------------------------------------------------------------------------
    def warn(self, title: str, message: str):
        QMessageBox.warning(self, title, message)

    def open_file(self, path: str | None = None, key: str | None = None, layout: str | None = None) -> bool:
        """Load a tensor or image as the input. With path, key and layout given no dialog opens."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open tensor or image", "", FILE_FILTER)
            if not path:
                return False
        try:
            if key is None or layout is None:
                dialog = OpenTensorDialog(path, self)
                if not dialog.exec():
                    return False
                key, layout = dialog.candidate.key, dialog.layout
            array = load(path, key)
            self.state.set_file(array, layout, path, key)
        except (LoadError, ValueError, OSError) as exc:
            self.warn("Cannot open file", str(exc))
            return False
        return True

    def open_session(self, path: str | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open session", "", "Norm Explorer session (*.json)")
            if not path:
                return False
        try:
            settings, file = open_session(path, open_file)
        except (SessionError, LoadError) as exc:
            self.warn("Cannot open session", str(exc))
            return False
        self.state.apply(settings, file)
        return True

    def save_session(self, path: str | None = None) -> bool:
        return self._save("Save session", "session.json", "Norm Explorer session (*.json)",
                          lambda p: save_session(self.state.settings, p), path)

    def export_stats(self, path: str | None = None) -> bool:
        scene = self.state.scene
        if scene is None:
            return False
        return self._save("Export statistics", "statistics.csv", "CSV (*.csv)",
                          lambda p: save_stats_csv(scene.groups, scene.settings.layout, p), path)

    def export_tensors(self, path: str | None = None) -> bool:
        """The output tensor to path, the input beside it as <name>_input.npy."""
        c = self.state.scene
        if c is None:
            return False

        def write(p):
            save_npy(c.output, p)
            save_npy(c.x, str(p)[:-4] + "_input.npy" if str(p).endswith(".npy") else str(p) + "_input.npy")
        return self._save("Export tensors", "output.npy", "NumPy array (*.npy)", write, path)

    def export_steps(self, path: str | None = None) -> bool:
        """The step-through of the selected element as an animated GIF or APNG, the frames beside it."""
        scene = self.state.scene
        if scene is None or scene.explanation is None:
            return False
        self.arithmetic.stop()
        return self._save("Export the step-through", "steps.gif", "Animated GIF (*.gif);;Animated PNG (*.apng *.png)",
                          lambda p: save_animation(frames(self.tensor_view, scene), p), path)

    def _save(self, title, default, file_filter, write, path) -> bool:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, title, default, file_filter)
            if not path:
                return False
        try:
            write(path)
        except SaveError as exc:
            self.warn(f"{title} failed", str(exc))
            return False
        self.statusBar().showMessage(f"saved {path}", 5000)
        return True

    def view_widgets(self) -> dict:
        """Each view by its name (explorer.vocabulary): what `--view NAME` and the export dialog draw."""
        return {"groups": self.tensor_view, "values": self.value_view, "modes": self.modes_view,
                "precision": self.precision_view,
                "histograms": self.histograms, "group-stats": self.group_stats.plot, "arithmetic": self.arithmetic,
                "compare": self.compare.figure, "window": self}

    def export_targets(self) -> dict:
        """The export dialog's choices: each view by its title, and the experiment tabs opened so far."""
        targets = {VIEWS[name]: widget for name, widget in self.view_widgets().items()}
        window = targets.pop(VIEWS["window"])
        return {**targets, **{f"{title} experiment": view for title, view in self.experiments.items()},
                **self.model_view.export_targets(), VIEWS["window"]: window}

    def current_view(self) -> QWidget:
        """What the current tab shows: an export of "the current view" draws it."""
        tab = self.tabs.currentWidget()
        tab = tab.widget() if isinstance(tab, QScrollArea) else tab
        if tab is self.compare:
            return self.compare.figure
        if tab is self.experiments_tab:
            return self.experiments_tab.current_view() or self.experiments_tab
        if tab is self.model_view:
            return self.model_view.current_figure()
        return self.view_tabs.currentWidget()

    def copy_view(self):
        """Edit › Copy current view: the panels brought up to date first, as an export does."""
        self.settle()
        copy_widget(self.current_view())

    def export_figure(self):
        names = {widget: name for name, widget in self.export_targets().items()}
        ExportDialog(self.export_targets(), self, names.get(self.current_view(), VIEWS["histograms"])).exec()

    def show_view(self, name: str):
        """Show one of the Explore tab's views: groups, values, modes or precision."""
        self.show_tab("explore")
        self.view_tabs.setCurrentWidget(self.view_widgets()[name])

    def show_translator(self) -> TranslatorDialog:
        """Tools > Translate between frameworks… (one dialog, kept while the window lives)."""
        if self.translator is None:
            self.translator = TranslatorDialog(self.state, self)
        self.translator.show()
        self.translator.raise_()
        return self.translator

    def start_lesson(self, name: str):
        """Set up a lesson: its settings, the view that shows its point, and its text above the tabs."""
        lesson = LESSONS[name]
        self.state.apply(lesson.settings())
        if lesson.view == "compare":
            self.compare.set_methods(lesson.methods)
            self.show_tab("compare")
        else:
            self.show_view(lesson.view)
        self.lesson_panel.show_lesson(lesson)

    def show_tab(self, name: str):
        """Switch to a main tab by name (explore, compare, model, experiments), or to the Experiments tab with
        one experiment chosen (depth, steps, weights, train, sync, …: explorer.vocabulary.EXPERIMENTS)."""
        if name in EXPERIMENT_TITLES:
            self.experiments_tab.show_experiment(name)
            name = "experiments"
        tabs = {"explore": self.tabs.widget(0), "compare": self.compare, "model": self.model_scroll,
                "experiments": self.experiments_tab}
        self.tabs.setCurrentWidget(tabs[name])

    def open_model(self):
        """File > Open model: the Model tab and its file dialog."""
        self.show_tab("model")
        self.model_view.open_file()

    def explore_layer(self, handoff):
        """A model layer's captured input in the Explore tab with the layer's settings; the panel above the
        tabs says what it is and what could not be carried over."""
        self.state.apply(handoff.settings, handoff.file)
        self.lesson_panel.lesson = handoff.lesson
        self.lesson_panel.label.setText(handoff.html)
        self.lesson_panel.show()
        self.show_view("groups")

    def _docks_for_tab(self, index: int):
        """The docks belong to the Explore tab: Compare keeps the controls, the experiments (which have
        their own) get the whole window. Returning to Explore restores what the person had open."""
        docks = (self.dock_controls, self.dock_arithmetic, self.dock_info, self.dock_groups)
        if index == 0:
            for dock, visible in self._explore_docks.items():
                dock.setVisible(visible)
            self._explore_docks = {}
            return
        if not self._explore_docks:
            self._explore_docks = {dock: dock.isVisible() for dock in docks}
        for dock in docks:
            dock.setVisible(dock is self.dock_controls and index == 1 and self._explore_docks[dock])

    def _first_run(self, index: int):
        if self.tabs.widget(index) is self.experiments_tab:
            self.experiments_tab.activate()

    def show_shortcuts(self):
        lines = []
        for menu in self.menuBar().findChildren(type(self.menu_file)):
            for a in menu.actions():
                if not a.shortcut().isEmpty():
                    lines.append(f"<tr><td>{a.shortcut().toString()}</td><td>{a.text().replace('&', '')}</td></tr>")
        QMessageBox.information(self, "Keyboard shortcuts", "<table>" + "".join(lines) + "</table>")

    def show_about(self):
        QMessageBox.about(self, "About Norm Explorer", about_html())

    def _show_title(self):
        """The window title names the open file, when the input is one."""
        s = self.state.settings
        title = "Norm Explorer" + (f" — {s.file.label}" if s.input == "file" and s.file is not None else "")
        if self.windowTitle() != title:
            self.setWindowTitle(title)

    # -- lifecycle ---------------------------------------------------------------------------------
    def _restore_geometry(self):
        store = qsettings()
        geometry, window_state = store.value("geometry"), store.value("window_state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(window_state, QByteArray):
            self.restoreState(window_state)

    def closeEvent(self, event):
        if self._remember:
            store = qsettings()
            save_settings(self.state.settings, store)
            store.setValue("geometry", self.saveGeometry())
            store.setValue("window_state", self.saveState())
        if self._owns_state:
            self.state.shutdown()
        self.experiments_tab.shutdown()
        self.model_view.shutdown()
        super().closeEvent(event)


def status_text(backend: str, device: str, elements: int, normalize_ms: float, total_ms: float, sampled: bool) -> str:
    """The status bar's line: where it computed, how much, how long."""
    count = f"{elements / 2**20:.1f}M" if elements >= 2**20 else f"{elements:,}"
    return (f"{backend} on {device} · {count} elements · normalize {normalize_ms:.1f} ms · total {total_ms:.1f} ms"
            + (" · histograms sampled" if sampled else ""))


ICON = Path(__file__).resolve().parent / "icons" / "norm-explorer.svg"


def app_icon() -> QIcon:
    return QIcon(str(ICON))


def about_html() -> str:
    """The About box: what the program is, and the versions it runs on."""
    import platform

    import numpy
    import pyqtgraph
    import PySide6
    from PySide6.QtCore import qVersion
    try:
        import torch
        torch_version = f"{torch.__version__} (cuda {'available' if torch.cuda.is_available() else 'not available'})"
    except Exception as exc:  # a missing or broken torch is worth saying, not a crash
        torch_version = f"not available ({type(exc).__name__})"
    rows = [("Python", platform.python_version()), ("Qt", f"{qVersion()} (PySide6 {PySide6.__version__})"),
            ("NumPy", numpy.__version__), ("pyqtgraph", pyqtgraph.__version__), ("torch", torch_version)]
    table = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return (f"<b>Norm Explorer {__version__}</b><p>See which elements share statistics in BatchNorm, LayerNorm, "
            f"GroupNorm and friends, and what each does to the distribution of values. Numbers match torch.nn.</p>"
            f"<table>{table}</table>")
