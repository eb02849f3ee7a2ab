"""The Experiments tab: every experiment in one list, each view built when first shown (the quick ones
run then, the long ones wait for Run), the old tab names choosing their experiment, a main tab bar that
fits, and without torch a clear sentence while the other experiments still run."""

import os

from PySide6.QtCore import Qt

from explorer.app import run_gui
from explorer.vocabulary import EXPERIMENTS
from tests.fresh import run_fresh

from .conftest import RESULT_TIMEOUT


def test_one_experiments_tab_lists_every_experiment_and_builds_lazily(qtbot, window):
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == ["Explore", "Compare", "Model", "Experiments"]
    tab = window.experiments_tab
    assert tab.names() == list(EXPERIMENTS) and window.experiments == {}
    listed = [tab.list.item(i).text().strip() for i in range(tab.list.count())]
    assert [t for t in listed if t in EXPERIMENTS.values()] == list(EXPERIMENTS.values())
    window.show_tab("experiments")  # the current experiment (Depth) is built and run; nothing else
    assert list(window.experiments) == ["Depth"]
    depth = tab.view("depth")
    qtbot.waitUntil(lambda: depth.result is not None, timeout=RESULT_TIMEOUT)
    window.show_tab("padding")  # quick: runs when shown
    padding = tab.view("padding")
    qtbot.waitUntil(lambda: padding.result is not None, timeout=RESULT_TIMEOUT)
    assert window.current_view() is padding and "Padded sequences experiment" in window.export_targets()
    for name in ("train", "transformer", "sync"):  # long: built, shown, not run
        window.show_tab(name)
        view = tab.view(name)
        assert window.current_view() is view and view.result is None and not view.busy
        assert "press Run" in view.label_placeholder.text() or view.missing
    assert set(window.experiments) == {"Depth", "Padded sequences", "Digits training", "Transformer placement",
                                       "Distributed BatchNorm"}
    iris = tab.list.findItems("  Iris scaling", Qt.MatchFlag.MatchExactly)[0]
    tab.list.setCurrentItem(iris)  # as a click in the list does
    assert tab.current_name() == "iris" and tab.view("iris") is not None
    tab.list.setCurrentRow(0)  # a heading: nothing changes, the list points at the experiment shown
    assert tab.current_name() == "iris" and tab.list.currentItem() is iris
    assert tab.stack.currentWidget() is tab.scrolls["iris"]


def test_the_main_tab_bar_fits_a_1560_window_with_a_fourth_tab(qtbot, window):
    from PySide6.QtWidgets import QWidget
    window.resize(1560, 960)
    window.tabs.insertTab(2, QWidget(), "Model")  # another engineer's tab goes after Compare
    qtbot.wait(10)
    bar = window.tabs.tabBar()
    assert sum(bar.tabRect(i).width() for i in range(bar.count())) <= window.tabs.width()
    assert bar.tabRect(bar.count() - 1).right() <= bar.width()  # every tab visible: no scroll arrows needed
    window.show_tab("iris")
    assert window.tabs.currentWidget() is window.experiments_tab
    window.tabs.removeTab(2)


def test_gui_tab_choices_name_every_experiment(capsys):
    assert run_gui(["--tab", "nope"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err and all(name in err for name in ("experiments", "train", "sync", "padding"))


BLOCK_TORCH = """
    import os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] == 'torch':
                raise ImportError(name + ' blocked for this test')
    sys.meta_path.insert(0, Block())
"""


def test_without_torch_the_experiments_that_need_it_say_so_and_the_others_run():
    out = run_fresh(BLOCK_TORCH + """
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from explorer.experiments.hub import ExperimentsTab
    tab = ExperimentsTab()
    tab.resize(1400, 900)
    tab.show()
    tab.activate()
    for name in ("train", "sync", "transformer", "selu"):
        tab.show_experiment(name)
        view = tab.current_view()
        print(name, "|", view.run_bar.button_run.isEnabled(), "|", view.label_status.text())
        view.run()  # refused in the same line, nothing submitted
        print(name, "busy", view.busy)
    for name in ("padding", "depth"):
        tab.show_experiment(name)
        view = tab.current_view()
        deadline = time.monotonic() + 60
        while (view.result is None or view.busy) and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            time.sleep(0.01)
        print(name, "ran", view.result is not None)
    tab.shutdown()
    print("torch loaded", any(m.split('.')[0] == 'torch' for m in sys.modules))
    """, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    lines = out.splitlines()
    for name in ("train", "sync", "transformer", "selu"):
        line = next(s for s in lines if s.startswith(name + " |"))
        assert "| False |" in line and "needs torch" in line and "pip install" in line, line
        assert f"{name} busy False" in lines
    assert "padding ran True" in lines and "depth ran True" in lines and "torch loaded False" in lines
