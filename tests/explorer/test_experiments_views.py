"""The experiment views: each builds, runs, shows the kernels' numbers, cancels, reruns on a
control change, and exports PNG, SVG and CSV."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import csv
import xml.etree.ElementTree as ET

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage

from explorer.experiments import view_parts
from explorer.experiments.depth_view import DepthView
from explorer.experiments.runs import draw_weight
from explorer.experiments.steps_view import StepsView
from explorer.experiments.weights_view import WeightsView
from explorer.export import save_widget
from kernels.experiments import (
    article_config,
    layer_effect,
    run_depth,
    run_steps,
    spectral_norm,
    weight_norm,
    weight_shared_mask,
)

TIMEOUT = 30000


def _make(qtbot, cls, **config):
    view = cls(autorun=not config)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    if config:
        view.set_config(**config)
        view.run()
    qtbot.waitUntil(lambda: view.result is not None and not view.busy, timeout=TIMEOUT)
    return view


@pytest.fixture
def depth(qtbot):
    view = _make(qtbot, DepthView)
    yield view
    view.shutdown()


@pytest.fixture
def steps(qtbot):
    view = _make(qtbot, StepsView, steps=40, drift_step=20)
    yield view
    view.shutdown()


@pytest.fixture
def weights(qtbot):
    view = _make(qtbot, WeightsView)
    yield view
    view.shutdown()


def _curves(plot):
    return [i for i in plot.getPlotItem().items if isinstance(i, pg.PlotCurveItem)]


def _csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _check_png_svg(view, tmp_path):
    png, svg = tmp_path / "view.png", tmp_path / "view.svg"
    save_widget(view, png)
    image = QImage(str(png))
    assert not image.isNull() and (image.width(), image.height()) == (view.width(), view.height())
    save_widget(view, svg)
    root = ET.parse(svg).getroot()
    assert any(el.tag.endswith("path") for el in root.iter())


# -- depth -----------------------------------------------------------------------------------------

def test_depth_default_shows_kernels_numbers(depth):
    assert depth.objectName() == "view_depth"
    expected = run_depth(depth.config())
    assert [r.saturated for r in depth.result.layers] == [r.saturated for r in expected.layers]
    assert np.allclose([r.grad_norm for r in depth.result.layers], [r.grad_norm for r in expected.layers])
    assert len(_curves(depth.findChild(pg.PlotWidget, "plot_depth_hist_act"))) == depth.config().layers
    assert "loss" in depth.label_status.text()


def test_depth_article_presets(qtbot, depth):
    with qtbot.waitSignal(depth.runner.finished, timeout=TIMEOUT):
        qtbot.mouseClick(depth.button_article_bn, Qt.MouseButton.LeftButton)
    assert depth.config() == article_config(batchnorm=True)
    assert max(r.saturated for r in depth.result.layers) == 0.0  # BN keeps the sigmoid out of saturation
    with qtbot.waitSignal(depth.runner.finished, timeout=TIMEOUT):
        qtbot.mouseClick(depth.button_article, Qt.MouseButton.LeftButton)
    assert depth.config() == article_config(batchnorm=False)
    assert max(r.saturated for r in depth.result.layers) > 0.3


def test_depth_recomputes_on_control_change(qtbot, depth):
    depth.spin_layers.setValue(3)
    depth.combo_activation.setCurrentIndex(depth.combo_activation.findData("tanh"))
    qtbot.waitUntil(lambda: depth.result.config.layers == 3 and depth.result.config.activation == "tanh",
                    timeout=TIMEOUT)
    assert len(depth.result.layers) == 3


def test_depth_cancel_keeps_previous_result(qtbot, depth):
    before = depth.result
    depth.set_config(layers=50, kind="conv", width=64)
    with qtbot.waitSignal(depth.runner.progress, timeout=TIMEOUT):
        depth.run()
    with qtbot.waitSignal(depth.runner.cancelled, timeout=TIMEOUT):
        qtbot.mouseClick(depth.run_bar.button_cancel, Qt.MouseButton.LeftButton)
    assert depth.result is before and not depth.busy
    assert "cancelled" in depth.label_status.text()


def test_depth_exports(depth, tmp_path):
    _check_png_svg(depth, tmp_path)
    depth.export_csv(tmp_path / "depth.csv")
    rows = _csv_rows(tmp_path / "depth.csv")
    assert len(rows) == len(depth.result.layers)
    for row, rec in zip(rows, depth.result.layers):
        assert int(row["layer"]) == rec.index + 1
        assert float(row["saturated"]) == rec.saturated and float(row["grad_norm"]) == rec.grad_norm
        assert float(row["act_std"]) == rec.act.std


def test_context_menu_exports_and_one_line_warning(depth, tmp_path, monkeypatch):
    warnings, answers = [], iter([str(tmp_path / "menu.svg"), str(tmp_path / "missing" / "depth.csv")])
    monkeypatch.setattr(view_parts, "ask_save_path", lambda *args: next(answers))
    monkeypatch.setattr(view_parts, "warn", lambda parent, text: warnings.append(text))
    assert depth.contextMenuPolicy() == Qt.ContextMenuPolicy.CustomContextMenu
    menu = view_parts.view_menu(depth, "depth experiment")
    actions = {a.objectName(): a for a in menu.actions()}
    assert [a.text() for a in menu.actions()] == ["Export view as PNG/SVG/PDF…", "Export numbers as CSV…",
                                                  "Copy to clipboard"]
    actions["action_export_image"].trigger()
    assert (tmp_path / "menu.svg").stat().st_size > 0 and not warnings
    actions["action_export_csv"].trigger()  # into a folder that does not exist
    assert len(warnings) == 1 and "\n" not in warnings[0] and "does not exist" in warnings[0]
    assert not (tmp_path / "missing").exists()
    actions["action_copy"].trigger()
    assert not QGuiApplication.clipboard().image().isNull()


def test_depth_shutdown_joins_thread(qtbot):
    view = DepthView(autorun=False)
    qtbot.addWidget(view)
    view.shutdown()
    assert not view.worker.is_alive()


# -- steps -----------------------------------------------------------------------------------------

def test_steps_shows_kernels_numbers(steps):
    assert steps.objectName() == "view_steps"
    expected = run_steps(steps.config())
    assert np.array_equal(steps.result.running_mean, expected.running_mean)
    assert np.array_equal(steps.result.mismatch["batch"], expected.mismatch["batch"])
    b = steps.bundle
    assert b.freeze is not None and len(b.freeze.steps) == 20
    assert np.allclose(b.shrink.measured, b.shrink.predicted)
    assert b.dependence.spread["group"].max() < 1e-9 < b.dependence.spread["batch"].max()
    assert len(steps.findChild(pg.PlotWidget, "plot_steps_mean").getPlotItem().listDataItems()) == 3


def test_steps_controls(qtbot, steps):
    steps.spin_steps.setValue(30)
    steps.combo_drift.setCurrentIndex(steps.combo_drift.findData("none"))
    qtbot.waitUntil(lambda: steps.result.config.steps == 30 and steps.result.config.drift == "none",
                    timeout=TIMEOUT)
    assert steps.bundle.freeze is None and "needs a drift" in steps.tab_freeze.label_freeze.text()
    steps.combo_convention.setCurrentText("keras")
    assert steps.spin_momentum.value() == pytest.approx(0.9) and not steps.check_cumulative.isEnabled()
    qtbot.waitUntil(lambda: steps.result.config.momentum_convention == "keras", timeout=TIMEOUT)


def test_steps_cancel_and_exports(qtbot, steps, tmp_path):
    _check_png_svg(steps, tmp_path)
    steps.export_csv(tmp_path / "steps.csv")
    rows = _csv_rows(tmp_path / "steps.csv")
    res = steps.result
    assert len(rows) == res.config.steps
    assert [float(r["running_var_c1"]) for r in rows] == list(res.running_var[:, 1])
    assert [float(r["mismatch_batch_renorm"]) for r in rows] == list(res.mismatch["batch_renorm"])
    steps.set_config(steps=5000)
    with qtbot.waitSignal(steps.runner.progress, timeout=TIMEOUT):
        steps.run()
    with qtbot.waitSignal(steps.runner.cancelled, timeout=TIMEOUT):
        steps.runner.cancel()
    assert steps.result is res


# -- weights ---------------------------------------------------------------------------------------

def test_weights_default_and_layer_effect(weights):
    assert weights.objectName() == "view_weights"
    c = weights.computed
    assert c.shape == (8, 4, 3, 3) and c.kind == "weight_norm"
    assert np.array_equal(weights.result.weight, weight_norm(draw_weight(c.shape, 0), g=1.0, dim=0).weight)
    effect = layer_effect("weight_norm", weight_shape=c.shape, seed=0, dim=0)
    assert np.array_equal(effect.weight_before.values, draw_weight(c.shape, 0).ravel())  # tiles = layer weight
    assert np.array_equal(c.effect.channel_std_after, effect.channel_std_after)


def test_weights_click_selects_norm_group(qtbot, weights):
    tiles = weights.tiles_before
    cell, x0, y0 = tiles._geometry()
    rect = tiles._cell_rect(2, 1, 1, 1, cell, x0, y0)
    qtbot.mouseClick(tiles, Qt.MouseButton.LeftButton, pos=rect.center().toPoint())
    assert weights.selected == (2, 1, 1, 1)
    expected = weight_shared_mask("weight_norm", (8, 4, 3, 3), (2, 1, 1, 1), dim=0)
    assert np.array_equal(weights.tiles_after.mask, expected) and expected.sum() == 36
    assert "35 other" in weights.label_selected.text()


def test_weights_spectral_and_exports(qtbot, weights, tmp_path):
    weights.set_config(kind="spectral_norm", iterations=6, shape=(4, 3, 3, 3))
    with qtbot.waitSignal(weights.runner.finished, timeout=TIMEOUT):
        weights.run()
    res = weights.result
    expected = spectral_norm(draw_weight((4, 3, 3, 3), 0), n_power_iterations=6, seed=0)
    assert np.array_equal(res.sigmas, expected.sigmas) and res.true_sigma == expected.true_sigma
    assert weights.plot_sigma.isVisible() and len(weights.plot_sigma.getPlotItem().listDataItems()) >= 1
    _check_png_svg(weights, tmp_path)
    weights.export_csv(tmp_path / "weights.csv")
    rows = _csv_rows(tmp_path / "weights.csv")
    assert len(rows) == 4 * 3 * 3 * 3
    assert all(r["shares_norm_with_selected"] == "1" for r in rows)  # one σ for the whole weight
    assert [float(r["after"]) for r in rows] == list(res.weight.ravel())


def test_weights_non_square_kernel_explains(qtbot, weights):
    weights.spin_kw.setValue(2)
    qtbot.waitUntil(lambda: weights.computed.shape == (8, 4, 3, 2), timeout=TIMEOUT)
    assert weights.computed.effect is None and "square" in weights.label_status.text()
    assert not weights.label_no_effect.isHidden()
