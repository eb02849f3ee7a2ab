"""The window teaches on its own: colours that never lie about groups, defaults that show each
method, eval said in the picture, warnings in the main view, legends, whole group numbers, named
axes, readable text, the arithmetic of any element and its step-through, lessons, undo, keys."""

import html

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from explorer.colors import SELECTED_RGB, TEXT_AFTER, TEXT_BEFORE, TEXT_HINT, contrast, distance
from explorer.geometry import canonical_index, canonical_spans
from explorer.pipeline import Pipeline
from explorer.settings import DEFAULTS
from explorer.vocabulary import VIEWS
from kernels import explain

from .conftest import RESULT_TIMEOUT, update_and_wait

COLOUR_CASES = [("batch", (4, 8, 4, 4), {}), ("layer", (4, 8, 4, 4), {}), ("instance", (4, 8, 4, 4), {}),
                ("instance", (6, 16, 3, 3), {}), ("group", (4, 32, 3, 3), {"groups": 16}),
                ("group", (4, 64, 2, 2), {"groups": 32}), ("channel", (4, 8, 5, 5), {}),
                ("ghost_batch", (8, 4, 3, 3), {"virtual_batch": 2}), ("custom", (3, 8, 4, 4), {"axes": "H"}),
                ("standardize", (16, 3, 2, 2), {})]


def _hex(value) -> tuple:
    value = value.lstrip("#")
    return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))


@pytest.mark.parametrize("name,shape,params", COLOUR_CASES)
def test_no_two_groups_in_a_picture_look_alike_and_blue_is_the_selection(name, shape, params):
    selected = tuple(min(1, s - 1) for s in shape)
    scene = Pipeline().run(DEFAULTS.replace(method=name, shape=shape, params=params, selected=selected))
    b = scene.blocks
    n, c, h, w = b.sizes
    colours = {}
    for index in np.ndindex(min(n, 6), c, h, w):  # every element of the samples the view can draw
        label = int(sum(axis[i] for axis, i in zip(b.labels, index)))
        rgb = b.rgb(*index)
        colours.setdefault(label, set()).add(rgb)
        if label == b.selected_label:
            assert rgb == SELECTED_RGB
        else:
            assert distance(rgb, SELECTED_RGB) > 150, (name, label, rgb)  # nothing looks like the selection
    assert all(len(v) == 1 for v in colours.values())  # a group has one colour
    others = [next(iter(v)) for k, v in colours.items() if k != b.selected_label]
    if b.colors.distinct:
        assert len(set(others)) == len(others)  # every group its own colour
    else:  # colours are reused, and the legend says how
        assert "hue" in b.colors.legend and ("shade" in b.colors.legend or b.colors.samples == 1)
        per_sample = b.colors.per_sample
        for k in range(min(per_sample, 11) - 1):  # neighbouring groups of a sample differ
            assert b.colors.rgb(0, k) != b.colors.rgb(0, k + 1)
        if b.colors.samples > 1:
            assert b.colors.rgb(0, 0) != b.colors.rgb(1, 0)  # the same group of two samples differs


def test_default_selection_shows_batchnorms_group_on_the_front_face():
    assert canonical_index(DEFAULTS.selected, DEFAULTS.layout)[1] == 0  # channel 0: the visible face
    scene = Pipeline().run(DEFAULTS)
    assert scene.settings.method == "batch" and scene.blocks.selected_spans[2:4] == (0, 1)


def test_groupnorm_default_is_the_same_in_explore_compare_and_info(capsys):
    from explorer.cli import main
    from explorer.widgets.compare_view import panel_settings
    assert main(["info", "group"]) == 0
    assert "nn.GroupNorm(2, 8" in capsys.readouterr().out
    scene = Pipeline().run(DEFAULTS.replace(method="group"))
    assert scene.result.params["groups"] == 2
    assert panel_settings(DEFAULTS, "group").prepared()[0]["groups"] == 2


def test_eval_mode_is_said_in_the_picture_and_the_tooltip():
    scene = Pipeline().run(DEFAULTS.replace(training=False))
    assert scene.blocks.words.startswith("eval mode: no statistics come from the batch")
    from explorer.widgets.value_view import element_tooltip
    tip = element_tooltip(scene, scene.settings.selected)
    rm = float(np.asarray(scene.running_used[0]).reshape(-1)[0])
    assert "running_mean[0]" in tip and f"{rm:.4g}".replace("-", "−") in tip


def test_train_vs_eval_side_by_side_shows_the_difference():
    modes = Pipeline().run_modes(DEFAULTS.replace(method="batch"))
    diff = modes.eval.output.astype(np.float64) - modes.train.output
    assert modes.diff_max == pytest.approx(float(np.max(np.abs(diff))))
    assert modes.diff_counts.sum() == diff.size
    assert modes.train.settings.training and not modes.eval.settings.training
    with pytest.raises(ValueError, match="the same in train and eval"):
        Pipeline().run_modes(DEFAULTS.replace(method="layer"))


def test_the_modes_tab_computes_when_shown(qtbot, window):
    window.view_tabs.setCurrentWidget(window.modes_view)
    qtbot.waitUntil(window.modes_view.ready, timeout=RESULT_TIMEOUT)
    assert "running statistics" in window.modes_view.caption.text()
    update_and_wait(qtbot, window.state, method="layer")
    qtbot.waitUntil(window.modes_view.ready, timeout=RESULT_TIMEOUT)
    assert "the same in train and eval" in window.modes_view.caption.text()


@pytest.mark.parametrize("changes,needle", [
    (dict(method="batch", shape=(1, 8, 1, 1), selected=(0, 0, 0, 0)), "Expected more than 1 value per channel"),
    (dict(method="batch", shape=(1, 8, 4, 4), selected=(0, 0, 0, 0)), "the same groups as InstanceNorm"),
    (dict(method="layer", input="constant"), "variance 0"),
    (dict(method="batch", params={"eps": 0.0}), "eps=0")])
def test_degenerate_cases_get_a_banner_in_the_main_view(qtbot, window, changes, needle):
    update_and_wait(qtbot, window.state, **changes)
    banner = window.banner
    assert banner.isVisibleTo(window) and needle in banner.text()
    update_and_wait(qtbot, window.state, method="layer", shape=(4, 8, 8, 8), input="normal", params={})
    assert not banner.isVisibleTo(window)


@pytest.mark.parametrize("suffix", [".npy", ".png"])
def test_the_command_line_says_the_warnings_on_stderr(tmp_path, capsys, suffix, qapp):
    from explorer.cli import main
    out = tmp_path / f"x{suffix}"
    assert main(["export", "--method", "batch", "--shape", "1,8,1,1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: one value per channel" in err and out.exists()
    assert main(["export", "--method", "batch", "--shape", "1,8,1,1", "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_histogram_lines_have_a_legend_in_their_groups_colours(qtbot, window):
    update_and_wait(qtbot, window.state, method="group", params={"groups": 4})
    scene = window.state.scene
    assert scene.overlays[0].rgb == SELECTED_RGB
    table = scene.sharing.table
    for overlay in scene.overlays[1:]:
        coords = np.unravel_index(overlay.row, table.stat_shape)
        assert overlay.rgb == scene.blocks.colors.overlay_rgb(int(coords[0]), int(coords[1]))
    legend = window.histograms.legend.text()
    assert "the selected element's group" in legend and "dashed: the selected element's value" in legend


def test_per_group_plot_and_table_speak_in_whole_named_groups(qtbot, window):
    update_and_wait(qtbot, window.state, method="group", params={"groups": 2})
    window.settle()
    ticks = window.group_stats.plot.getAxis("bottom")._tickLevels[0]
    assert ticks and all(float(v) == int(v) for v, _ in ticks)
    model = window.group_stats.model
    assert model.headerData(0, Qt.Orientation.Horizontal) == "group (n, g)"
    assert model.data(model.index(3, 0)) == "n=1, g=1"
    update_and_wait(qtbot, window.state, method="layer", shape=(1, 8, 1, 1), selected=(0, 0, 0, 0))
    window.settle()
    assert window.group_stats.plot.getPlotItem().titleLabel.text.startswith("1 group,")
    assert "1 group of 8 elements" in window.info.text.toPlainText()


def test_text_is_readable_and_never_cut(window):
    for colour, background in ((TEXT_HINT, (239, 239, 239)), (TEXT_BEFORE, (255, 255, 255)),
                               (TEXT_AFTER, (255, 255, 255))):
        assert contrast(_hex(colour), background) >= 4.5, colour
    label = window.controls.label_method
    palette = label.palette()
    fg = _hex(label.styleSheet().split("color:")[1].split(";")[0].strip())
    bg = palette.color(QPalette.ColorRole.Window)
    assert contrast(fg, (bg.red(), bg.green(), bg.blue())) >= 4.5
    from explorer.main_window import status_text
    longest = status_text("torch", "cuda:0", 64 * 2**20, 9999.9, 9999.9, True)
    assert window.status_compute.fontMetrics().horizontalAdvance(longest) <= window.status_compute.width()


def test_experiment_tabs_fit_a_1600x1000_window(qtbot, window):
    window.resize(1600, 1000)
    for name in ("depth", "steps", "iris", "padding", "train", "sync", "transformer"):
        window.show_tab(name)
        scroll = window.experiments_tab.scrolls[name]
        view = scroll.widget()
        if getattr(view, "AUTORUN", True):  # the quick ones run when shown; the long ones wait for Run
            qtbot.waitUntil(lambda view=view: view.result is not None and not view.busy, timeout=60000)
        qtbot.wait(20)
        assert view.height() <= scroll.viewport().height(), name
        assert view.width() <= scroll.viewport().width(), name


def test_values_view_has_one_colour_scale_or_one_each(qtbot, window):
    tiles = window.state.scene.tiles
    both = max(tiles.limit_before, tiles.limit_after)
    assert tiles.limits(True) == (both, both) and tiles.limits(False) == (tiles.limit_before, tiles.limit_after)
    result = window.state.result
    window.state.update(shared_colors=False)  # drawing only: no computation, the same result at once
    assert window.state.result is result and window.state.scene.settings.shared_colors is False
    assert not window.state.computing


def test_hovering_outlines_the_hovered_group(qtbot, window):
    view = window.tensor_view
    view.grab()
    g = view._geometry
    target = (2, 0, 3, 1)
    point = g.point(view._blocks.index(2), 0.01, 3.5, 1.5)
    qtbot.mouseMove(view, QPoint(round(point.x()), round(point.y())))
    s = window.state.scene
    assert view.hovered == canonical_spans(s.sharing.box_of(target), s.settings.layout, s.settings.shape)


def test_one_vocabulary_for_the_views(window):
    titles = [window.view_tabs.tabText(i) for i in range(window.view_tabs.count())]
    assert titles == [VIEWS["groups"], VIEWS["values"], VIEWS["modes"], VIEWS["precision"]]
    assert set(window.view_widgets()) == set(VIEWS)
    assert set(VIEWS.values()) <= set(window.export_targets())
    assert window.dock_groups.windowTitle() == VIEWS["group-stats"]


def test_the_arithmetic_panel_and_its_step_through(qtbot, window):
    update_and_wait(qtbot, window.state, method="group", params={"groups": 2}, selected=(1, 3, 2, 2))
    panel = window.arithmetic
    e = explain(window.state.scene.x, "group", (1, 3, 2, 2), groups=2)
    # the text follows the result once the histograms have painted
    qtbot.waitUntil(lambda: e.step("mean").text in panel.text.toPlainText(), timeout=RESULT_TIMEOUT)
    assert e.step("output").text in panel.text.toPlainText()
    panel.show_step(0)  # gather: the group lights up in the block and value views
    s = window.state.scene
    group = canonical_spans(s.sharing.box_of((1, 3, 2, 2)), "NCHW", s.settings.shape)
    assert window.tensor_view.lit == group and window.value_view.lit == group
    panel.show_step(2)  # the deviation reads the element itself
    assert window.tensor_view.lit == canonical_spans(tuple(slice(i, i + 1) for i in (1, 3, 2, 2)), "NCHW",
                                                     s.settings.shape)
    panel.timer.setInterval(5)
    panel.toggle_play()
    qtbot.waitUntil(lambda: not panel.timer.isActive(), timeout=5000)
    assert panel.current == panel.count - 1
    update_and_wait(qtbot, window.state, selected=(0, 0, 0, 0))  # another element: the step-through starts over
    assert panel.current == -1 and window.tensor_view.lit is None


def test_the_step_through_exports_as_an_animation_with_frames(qtbot, window, tmp_path):
    from PIL import Image
    path = tmp_path / "steps.gif"
    assert window.export_steps(str(path))
    steps = len(window.state.scene.explanation.steps)
    with Image.open(path) as image:
        assert image.n_frames == steps
    frames = sorted((tmp_path / "steps-frames").iterdir())
    assert len(frames) == steps and frames[0].name == "step_01.png"
    assert window.export_steps(str(tmp_path / "steps.apng"))
    with Image.open(tmp_path / "steps.apng") as image:
        assert getattr(image, "n_frames", 1) == steps


def test_explain_on_the_command_line(capsys, tmp_path, qapp):
    from explorer.cli import main
    from kernels import generate
    assert main(["explain", "--method", "layer", "--shape", "2,3,4,4", "--selected", "1,2,0,3"]) == 0
    out = capsys.readouterr().out
    e = explain(generate("shifted", (2, 3, 4, 4), seed=0), "layer", (1, 2, 0, 3))
    for step in e.steps:
        assert step.text in out
    assert main(["explain", "--method", "layer", "--out", str(tmp_path / "s.gif")]) == 0
    assert (tmp_path / "s.gif").stat().st_size > 0 and len(list((tmp_path / "s-frames").iterdir())) >= 5


@pytest.mark.parametrize("name", ["layernorm-nchw", "batch-size-one", "train-vs-eval", "groupnorm-g", "numpy-axis0",
                                  "rmsnorm-llm", "lrn-alexnet", "pixelnorm", "standardize-vs-minmax"])
def test_each_lesson_sets_its_state_and_says_why(qtbot, window, name):
    from explorer.lessons import LESSONS
    lesson = LESSONS[name]
    with qtbot.waitSignal(window.state.resultChanged, timeout=RESULT_TIMEOUT):
        window.start_lesson(name)
    assert window.state.settings == lesson.settings() and window.state.error is None
    assert window.lesson_panel.isVisibleTo(window) and html.escape(lesson.title) in window.lesson_panel.label.text()
    if lesson.view == "compare":
        assert window.tabs.currentWidget() is window.compare and window.compare.methods == list(lesson.methods)
        qtbot.waitUntil(window.compare.ready, timeout=RESULT_TIMEOUT)
        assert not any(p.error for p in window.compare.panels.values())
    else:
        assert window.view_tabs.currentWidget() is window.view_widgets()[lesson.view]
    window.lesson_panel.button_close.click()
    assert not window.lesson_panel.isVisibleTo(window)


def test_lessons_on_the_command_line(capsys, tmp_path, qapp):
    from explorer.cli import main
    assert main(["lesson"]) == 0
    assert "train-vs-eval" in capsys.readouterr().out
    assert main(["lesson", "train-vs-eval", "--out", str(tmp_path / "l.png")]) == 0
    assert (tmp_path / "l.png").stat().st_size > 10000
    assert main(["lesson", "nope"]) == 2


def test_undo_and_redo_settings(qtbot, state):
    first = state.settings
    update_and_wait(qtbot, state, method="group")
    update_and_wait(qtbot, state, seed=5)
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        assert state.undo()
    assert state.method == "group" and state.seed == 0
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        assert state.undo()
    assert state.settings == first and not state.undo()
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        assert state.redo()
    assert state.method == "group"
    update_and_wait(qtbot, state, bins=20)  # a new change forgets what could be redone
    assert not state.redo()


def test_undo_through_the_menu_shortcut(qtbot, window):
    update_and_wait(qtbot, window.state, method="rms")
    undo = next(a for m in window.menuBar().actions() for a in m.menu().actions() if a.text() == "&Undo")
    assert undo.shortcut().toString() == "Ctrl+Z"
    with qtbot.waitSignal(window.state.resultChanged, timeout=RESULT_TIMEOUT):
        undo.trigger()
    assert window.state.method == "batch"


@pytest.mark.parametrize("key,expected", [(Qt.Key.Key_Right, (1, 0, 3, 5)), (Qt.Key.Key_Up, (1, 0, 2, 4)),
                                          (Qt.Key.Key_PageDown, (1, 1, 3, 4)), (Qt.Key.Key_End, (2, 0, 3, 4))])
def test_keys_move_the_selected_element(qtbot, window, key, expected):
    assert window.state.selected == (1, 0, 3, 4)
    view = window.tensor_view
    view.setFocus()
    with qtbot.waitSignal(window.state.resultChanged, timeout=RESULT_TIMEOUT):
        qtbot.keyClick(view, key)
    assert window.state.selected == expected


def test_the_dark_palette_follows_the_system(qtbot, monkeypatch):
    from explorer import theme
    from explorer.main_window import MainWindow
    app = QApplication.instance()
    monkeypatch.setenv("NORM_EXPLORER_THEME", "dark")
    try:
        theme.apply(app)
        assert app.palette().color(QPalette.ColorRole.Base).lightness() < 60
        w = MainWindow()
        qtbot.addWidget(w)
        w.show()
        qtbot.waitUntil(lambda: w.state.result is not None, timeout=RESULT_TIMEOUT)
        image = w.tensor_view.grab().toImage()
        assert image.pixelColor(3, image.height() // 2).lightness() < 60  # the view's paper is dark
        assert contrast(_hex(theme.muted()), (31, 32, 35)) >= 4.5
    finally:
        monkeypatch.setenv("NORM_EXPLORER_THEME", "light")
        theme.apply(app)
    assert app.palette().color(QPalette.ColorRole.Base).lightness() > 200
