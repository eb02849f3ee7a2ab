"""The window as a whole: opens and closes without leaking, remembers settings, has menus
and shortcuts, and survives hundreds of repaints (PySide6 6.12's none_dealloc abort)."""

import gc

import pytest
from PySide6.QtWidgets import QApplication

from explorer.main_window import MainWindow
from explorer.theme import all_widgets

from .conftest import RESULT_TIMEOUT, update_and_wait


def _open_and_close(qtbot):
    w = MainWindow()
    w.show()
    qtbot.waitUntil(lambda: w.state.result is not None, timeout=RESULT_TIMEOUT)
    w.close()
    w.deleteLater()
    qtbot.wait(1)  # let deleteLater run


def test_open_and_close_ten_times_without_leaking_widgets(qtbot):
    _open_and_close(qtbot)
    gc.collect()
    baseline = len(all_widgets(QApplication.instance()))
    for _ in range(10):  # one widget kept per window shows as ten
        _open_and_close(qtbot)
    gc.collect()
    qtbot.wait(10)
    assert len(all_widgets(QApplication.instance())) <= baseline


def test_hundreds_of_repaints(qtbot, window):
    """PySide6-Essentials 6.12.0 on CPython 3.11 aborted after a few hundred repaints; 6.11.3 works."""
    s = window.state
    for k in range(300):
        if k % 60 == 0:
            update_and_wait(qtbot, s, seed=k)
        window.tensor_view.repaint()
        window.histograms.plots["before"].repaint()
        window.value_view.repaint()
    window.repaint()
    assert s.error is None


def test_settings_are_remembered_between_runs(qtbot):
    first = MainWindow(remember=True)
    qtbot.addWidget(first)
    qtbot.waitUntil(lambda: first.state.result is not None, timeout=RESULT_TIMEOUT)
    update_and_wait(qtbot, first.state, method="group", params={"groups": 2}, layout="NHWC", seed=5, log_counts=True)
    first.close()
    second = MainWindow(remember=True)
    qtbot.addWidget(second)
    qtbot.waitUntil(lambda: second.state.result is not None, timeout=RESULT_TIMEOUT)
    s = second.state
    assert (s.method, s.params, s.layout, s.seed, s.log_counts) == ("group", {"groups": 2}, "NHWC", 5, True)


def test_a_window_built_in_code_starts_from_the_defaults(qtbot):
    from explorer.settings_store import qsettings
    qsettings().setValue("session", '{"method": "group", "shape": [4, 8, 8, 8]}')
    w = MainWindow()
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.state.result is not None, timeout=RESULT_TIMEOUT)
    assert w.state.method == "batch"
    w.close()
    assert qsettings().value("session") == '{"method": "group", "shape": [4, 8, 8, 8]}'  # nothing saved


def test_bad_remembered_settings_fall_back_to_defaults(qtbot):
    from explorer.settings_store import qsettings
    qsettings().setValue("session", '{"method": "group", "params": {"groups": 3}, "shape": [4, 8, 8, 8]}')
    w = MainWindow(remember=True)
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.state.result is not None, timeout=RESULT_TIMEOUT)
    assert w.state.error is None and w.state.method == "batch"
    qsettings().setValue("session", "{not json")
    w2 = MainWindow(remember=True)
    qtbot.addWidget(w2)
    qtbot.waitUntil(lambda: w2.state.result is not None, timeout=RESULT_TIMEOUT)
    assert w2.state.error is None


def test_menus_and_shortcuts(window):
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["&File", "&Edit", "&View", "&Method", "&Tools", "&Lessons", "&Help"]
    shortcuts = {a.shortcut().toString() for m in window.menuBar().actions() for a in m.menu().actions()}
    for key in ("Ctrl+O", "Ctrl+S", "Ctrl+E", "Ctrl+L", "Ctrl+1", "Ctrl+T", "F1", "Ctrl+Z", "Ctrl+Shift+Z"):
        assert key in shortcuts, key


def test_shortcut_switches_method(qtbot, window):
    actions = [a for m in window.menuBar().actions() for a in m.menu().actions()]
    action = next(a for a in actions if a.shortcut().toString() == "Ctrl+4")
    with qtbot.waitSignal(window.state.resultChanged, timeout=RESULT_TIMEOUT):
        action.trigger()
    assert window.state.method == "group"


def test_status_bar_reports_backend_and_time(qtbot, window):
    update_and_wait(qtbot, window.state, seed=3)
    text = window.status_compute.text()
    assert text.startswith("numpy on cpu") and "ms" in text and "2,048 elements" in text


@pytest.mark.parametrize("size", [(700, 500), (1900, 1200)])
def test_window_resizes(qtbot, window, size):
    window.resize(*size)
    qtbot.wait(10)
    assert window.grab().width() >= min(size[0], window.minimumSizeHint().width())


def test_no_main_tab_sets_the_height_of_the_others(qtbot, window):
    """A tab page's minimum height is every tab's (QStackedWidget): the Model tab's plots once made it
    793 px, and under a lesson's panel at 1000 px the Explore tab's bottom dock was left a 50-px strip."""
    explore = window.tabs.widget(0).minimumSizeHint().height()
    for i in range(1, window.tabs.count()):
        assert window.tabs.widget(i).minimumSizeHint().height() <= explore, window.tabs.tabText(i)
    window.resize(1600, 1000)
    window.start_lesson("train-vs-eval")
    qtbot.waitUntil(lambda: not window.state.computing, timeout=RESULT_TIMEOUT)
    qtbot.wait(50)
    assert window.group_stats.height() >= 120 and window.group_stats.plot.height() >= 100


def test_experiment_tabs_run_when_first_opened(qtbot, window):
    assert window.experiments == {}  # nothing built, nothing computed at start-up
    for name in ("depth", "steps", "weights"):  # the old tab names choose their experiment in the Experiments tab
        window.show_tab(name)
        assert window.tabs.currentWidget() is window.experiments_tab
        view = window.experiments_tab.view(name)
        qtbot.waitUntil(lambda view=view: view.result is not None and not view.busy, timeout=60000)
        assert window.current_view() is view
    assert "Depth experiment" in window.export_targets()


def test_docks_follow_the_tab(qtbot, window):
    window.dock_info.hide()  # a person's own choice, kept when returning to Explore
    window.show_tab("depth")
    assert not any(d.isVisible() for d in (window.dock_controls, window.dock_info, window.dock_groups))
    window.show_tab("compare")
    assert window.dock_controls.isVisible() and not window.dock_groups.isVisible()
    window.show_tab("explore")
    assert window.dock_controls.isVisible() and window.dock_groups.isVisible() and not window.dock_info.isVisible()
