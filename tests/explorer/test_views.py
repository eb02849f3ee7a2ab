"""Views render every method without exceptions or Qt warnings; the tensor view's hover and click
map to the right element and its highlight is kernels.shared_mask."""

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from explorer.geometry import canonical_index, layout_index
from kernels import METHODS, shared_mask

from .conftest import update_and_wait


@pytest.fixture(scope="module")
def one_window(qapp):
    """One window for the method × layout sweep (each test sets every setting it depends on): a window
    per case cost about 15 s of the suite."""
    import time

    from explorer.main_window import MainWindow
    w = MainWindow()
    w.show()
    deadline = time.monotonic() + 60
    while w.state.result is None and time.monotonic() < deadline:
        qapp.processEvents()
    yield w
    w.close()  # stops its worker
    w.deleteLater()


@pytest.mark.parametrize("layout,shape", [("NCHW", (3, 6, 5, 4)), ("NHWC", (3, 5, 4, 6)), ("NLC", (3, 9, 6))])
@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_renders(qtbot, one_window, name, layout, shape):
    window = one_window
    params = {"groups": 3} if name == "group" else {}
    if name == "custom" and "L" in layout:
        params = {"axes": "NL"}
    update_and_wait(qtbot, window.state, method=name, layout=layout, shape=shape, params=params)
    for widget in (window.tensor_view, window.value_view, window.histograms, window.group_stats, window.info):
        image = widget.grab()
        assert not image.isNull() and image.width() > 50
    window.view_tabs.setCurrentWidget(window.value_view)
    window.value_view.grab()
    window.view_tabs.setCurrentWidget(window.tensor_view)


def _center_of_cell(view, index):
    """Widget coordinates of element `index` on a visible face of the block view."""
    g = view._geometry
    n, c, h, w = canonical_index(index, view.scene.settings.layout)
    k = view._blocks.index(n)
    return g.point(k, c + 0.01, h + 0.5, w + 0.5)


@pytest.mark.parametrize("name", ["batch", "layer", "instance", "group", "channel", "lrn"])
def test_click_selects_the_element_and_highlight_is_shared_mask(qtbot, window, name):
    s = window.state
    update_and_wait(qtbot, s, method=name, shape=(4, 6, 5, 4), params={"groups": 3} if name == "group" else {})
    view = window.tensor_view
    window.view_tabs.setCurrentWidget(view)
    view.grab()  # lays out the geometry
    target = (2, 0, 3, 1)  # channel 0 is the visible front face
    pos = _center_of_cell(view, target)
    assert view.element_at(pos) == target
    with qtbot.waitSignal(s.resultChanged, timeout=20000):
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(round(pos.x()), round(pos.y())))
    assert s.selected == target
    np.testing.assert_array_equal(s.highlight, shared_mask(name, s.shape, target, layout=s.layout, **s.params))
    tip = view.describe_element(target)
    assert "x[N=2, C=0, H=3, W=1]" in tip and "mean" in tip or name == "lrn"


def test_top_and_side_faces_map_to_channels(qtbot, window):
    s = window.state
    update_and_wait(qtbot, s, shape=(2, 5, 4, 3))
    view = window.tensor_view
    view.grab()
    g = view._geometry
    k = 0
    top = g.point(k, 3.5, 0.0, 1.5) + QPointF(0, -0.5)
    assert view.element_at(top) == layout_index((view._blocks[0], 3, 0, 1), s.layout)
    side = g.point(k, 2.5, 2.5, g.W) + QPointF(0.5, 0)
    assert view.element_at(side) == layout_index((view._blocks[0], 2, 2, g.W - 1), s.layout)


def test_value_view_click_and_histograms_show_numbers(qtbot, window):
    s = window.state
    window.view_tabs.setCurrentWidget(window.value_view)
    view = window.value_view
    view.grab()
    rect, tw, th, _ = view._panels[0]
    pos = QPointF(round(rect.left() + tw * 0.55), round(rect.top() + th * 0.55))  # inside a cell, not on an edge
    index, key = view.element_at(pos)
    assert key == "before" and index is not None
    with qtbot.waitSignal(s.resultChanged, timeout=20000):
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(round(pos.x()), round(pos.y())))
    assert s.selected == index
    before = window.findChild(object, "label_summary_before").text()
    after = window.findChild(object, "label_summary_after").text()
    assert before.startswith("mean") and "std 1" in after


def test_huge_tensor_draws_groups_as_regions(qtbot, window):
    update_and_wait(qtbot, window.state, method="channel", shape=(2, 512, 64, 64))
    image = window.tensor_view.grab()  # 4M elements, 262K groups: must not draw them one by one
    assert not image.isNull()
    assert window.state.scene.hist.sampled


def test_compare_view_mirrors_the_main_state(qtbot, window):
    s = window.state
    window.tabs.setCurrentWidget(window.compare)
    compare = window.compare
    assert compare.methods == ["batch", "layer", "instance", "group"]
    qtbot.waitUntil(lambda: compare.ready() and all(p.scene for p in compare.panels.values()), timeout=20000)
    update_and_wait(qtbot, s, selected=(2, 5, 1, 6), seed=3)
    qtbot.waitUntil(compare.ready, timeout=20000)
    for name, panel in compare.panels.items():
        shown = panel.scene.settings
        assert shown.selected == (2, 5, 1, 6) and shown.seed == 3 and shown.method == name
        np.testing.assert_array_equal(panel.scene.highlight, shared_mask(name, s.shape, (2, 5, 1, 6),
                                                                         **shown.kernel_params()))
        np.testing.assert_array_equal(panel.scene.x, s.scene.x)  # one input for every panel
    assert compare.panels["group"].scene.result.params["groups"] == 2  # the same default as in Explore (C=8)
    compare.checks["rms"].setChecked(True)
    assert "rms" in compare.panels and compare.methods[-1] == "rms"
    qtbot.waitUntil(compare.ready, timeout=20000)
    view = compare.panels["layer"].view
    view.grab()
    pos = _center_of_cell(view, (1, 0, 2, 3))
    with qtbot.waitSignal(s.resultChanged, timeout=20000):
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(round(pos.x()), round(pos.y())))
    assert s.selected == (1, 0, 2, 3)


def test_histogram_plots_hold_the_counts_and_overlays(qtbot, window):
    """plot_hist_before/after: one data item with the displayed counts; the overlay lines and the
    selected value's line drawn with them; log counts switch the heights."""
    import pyqtgraph as pg
    s = window.state
    update_and_wait(qtbot, s, method="group", shape=(4, 8, 6, 6), params={"groups": 4}, selected=(1, 5, 2, 3))
    c = s.scene
    for key, edges, counts in (("before", c.hist.edges_before, c.hist.counts_before),
                               ("after", c.hist.edges_after, c.hist.counts_after)):
        plot = window.findChild(pg.PlotWidget, f"plot_hist_{key}")
        (item,), = [plot.getPlotItem().listDataItems()]
        x, y = item.getData()
        np.testing.assert_array_equal(x, edges)
        np.testing.assert_array_equal(y, counts)
        assert len(item._lines) == len(c.overlays) > 1
        assert window.histograms.items[key]["line"].value() == pytest.approx(float((c.x if key == "before"
                                                                                      else c.output)[1, 5, 2, 3]))
    s.update(log_counts=True)
    x, y = window.histograms.items["after"]["bars"].getData()
    np.testing.assert_allclose(y, np.log10(1 + c.hist.counts_after))


def test_histogram_axes_stay_put_while_the_data_fills_them(qtbot, window):
    from explorer.widgets.histograms import STEADY_FILL
    s = window.state
    update_and_wait(qtbot, s, method="batch", shape=(8, 4, 16, 16), params={"eps": 1e-5})
    view = window.histograms.plots["after"].getViewBox()
    steady = view.viewRange()
    update_and_wait(qtbot, s, params={"eps": 2e-5})  # the output range moves by a hair: the axes stay
    assert view.viewRange() == steady
    update_and_wait(qtbot, s, params={"eps": 3.0})  # the output shrinks to half: the axes follow
    lo, hi = s.scene.hist.edges_after[[0, -1]]
    (x0, x1), _ = view.viewRange()
    assert x0 <= lo and hi <= x1 and (hi - lo) >= STEADY_FILL * (x1 - x0)


def test_panels_refresh_once_no_computation_runs(qtbot, window):
    table = window.group_stats
    calls = []
    table.refresh = lambda: calls.append(window.state.computing)  # what the timer calls, recorded
    from explorer.widgets.common import refresh_after
    timer = refresh_after(table, table.refresh, lambda: window.state.computing, delay_ms=1)
    window.state.update(params={"eps": 0.5})
    timer.start()  # fires while the computation runs: waits
    qtbot.waitUntil(lambda: bool(calls), timeout=20000)
    assert calls == [False] and window.state.scene.settings.params["eps"] == 0.5


def test_the_first_paint_after_a_change_draws_the_blocks(qtbot, window):
    """The block view caches its drawing; the paint that rebuilds the cache must draw it too (an
    export renders exactly one paint)."""
    from PySide6.QtCore import QSize

    from explorer.export import render_image
    update_and_wait(qtbot, window.state, method="group", shape=(2, 8, 6, 6), params={"groups": 2})
    image = render_image(window.tensor_view, QSize(530, 310))  # a size never drawn: a new drawing
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 5  # blocks in group colours, not a white rectangle


def test_settle_brings_the_panels_up_to_the_result(qtbot, window):
    update_and_wait(qtbot, window.state, method="instance", shape=(3, 5, 4, 4))
    window.settle()  # at once, not a moment later
    assert window.info.text.toPlainText().startswith("InstanceNorm")
    assert window.group_stats.model.rowCount() == 15
