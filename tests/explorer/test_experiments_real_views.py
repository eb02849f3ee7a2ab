"""The views of the experiments on real data (digits training, transformer placement, iris, SELU, padded
sequences) on small configurations: each runs, draws what its result says (the plotted data against
the kernels' result), keeps finished runs, keeps the previous result when cancelled, exports PNG, SVG
and CSV, and saves the trained model."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


import numpy as np
import pyqtgraph as pg
import pytest

from explorer.experiments import view_parts
from explorer.experiments.iris_view import IrisView
from explorer.experiments.padding_view import PaddingView
from explorer.experiments.real_parts import data_items
from explorer.experiments.real_runs import TrainSettings, compute_train
from explorer.experiments.selu_view import SeluView
from explorer.experiments.train_view import TrainView
from explorer.experiments.transformer_view import TransformerView
from kernels.experiments import (
    IrisConfig,
    PaddingConfig,
    SeluConfig,
    TransformerConfig,
    load_model,
    run_iris,
    run_padding,
    run_selu,
    run_training,
    run_transformer,
)

from .test_experiments_views import _check_png_svg, _csv_rows

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

TIMEOUT = 60000
SMALL_TRANSFORMER = dict(placements=("post", "pre"), layers=2, width=8, heads=2, train_steps=12, warmup_steps=5,
                         inits=1, seed=0)
SMALL_SELU = dict(layers=6, width=64, seed=1)


def _view(qtbot, cls):
    view = cls(autorun=False)
    qtbot.addWidget(view)
    view.resize(1300, 850)
    view.show()
    return view


def _run(qtbot, view):
    with qtbot.waitSignal(view.runner.finished, timeout=TIMEOUT):
        view.run()
    assert view.error is None and not view.busy



def _curve(item):
    x, y = item.getData()
    return np.asarray(x, float), np.asarray(y, float)


# -- padding ----------------------------------------------------------------------------------------

def test_padding_draws_the_kernels_statistics_and_exports(qtbot, tmp_path):
    view = _view(qtbot, PaddingView)
    view.set_config(samples=6, max_length=10, channels=3, seed=4)
    view.first_show()  # quick: runs at once
    qtbot.waitUntil(lambda: view.result is not None, timeout=TIMEOUT)
    res = view.result
    expected = run_padding(PaddingConfig(samples=6, max_length=10, channels=3, seed=4))
    np.testing.assert_array_equal(res.x, expected.x)
    np.testing.assert_array_equal(res.batch.mean_unmasked, expected.batch.mean_unmasked)
    # the picture: the channel's values, the padding grey
    image = view.image.image
    assert image.shape[:2] == (6, 10)
    assert np.all(image[~res.mask] == (200, 200, 200, 255)) and not np.any(np.all(image[res.mask] ==
                                                                                  (200, 200, 200, 255), axis=-1))
    bias = data_items(view.plot_bias_mean)
    x, y = _curve(bias[0])
    np.testing.assert_array_equal(x, res.fraction)
    np.testing.assert_array_equal(y, res.bias_mean)
    assert _curve(bias[2])[1][0] == res.batch.mean_unmasked[0]  # this batch's dot
    # ... which lies on this batch's own curve: its real tokens' statistics diluted by its padded fraction
    b, f, pad = res.batch, res.pad_fraction, res.config.pad_value
    np.testing.assert_allclose(_curve(bias[1])[1], (1 - res.fraction) * b.mean_masked[0] + res.fraction * pad)
    np.testing.assert_allclose((1 - f) * b.mean_masked[0] + f * pad, b.mean_unmasked[0], rtol=1e-12)
    np.testing.assert_allclose((1 - f) * b.var_masked[0] + f * (1 - f) * (b.mean_masked[0] - pad) ** 2,
                               b.var_unmasked[0], rtol=1e-12)
    bars = [i for i in view.plot_mean.getPlotItem().items if isinstance(i, pg.BarGraphItem)]
    np.testing.assert_array_equal(bars[0].opts["height"], res.batch.mean_masked)
    np.testing.assert_array_equal(bars[1].opts["height"], res.batch.mean_unmasked)
    assert f"{res.batch.max_change:.3g}" in view.label_change.text()
    _check_png_svg(view, tmp_path)
    view.export_csv(tmp_path / "padding.csv")
    rows = _csv_rows(tmp_path / "padding.csv")
    assert [float(r["bn_var_unmasked"]) for r in rows] == list(res.batch.var_unmasked)
    # a control change reruns (quick), and a config run before comes back from the cache, the same object
    view.spin_seed.setValue(5)
    qtbot.waitUntil(lambda: view.result.config.seed == 5, timeout=TIMEOUT)
    view.spin_seed.setValue(4)
    qtbot.waitUntil(lambda: view.result.config.seed == 4, timeout=TIMEOUT)
    assert view.result is res and "kept" in view.label_status.text()
    view.shutdown()


# -- iris ---------------------------------------------------------------------------------------------

def test_iris_regions_outside_points_and_table(qtbot, tmp_path):
    view = _view(qtbot, IrisView)
    view.set_config(max_iter=3000)
    _run(qtbot, view)
    res = view.result
    expected = run_iris(IrisConfig(max_iter=3000))
    for kind, f in res.fits.items():
        e = expected.fits[kind]
        assert f.iterations == e.iterations and f.sklearn_iterations == e.sklearn_iterations
        plot, image = view.plots[kind]
        colors = image.image
        assert colors.shape[:2] == f.grid_class.shape
        # one colour per predicted class: pixels of the same class share it, different classes differ
        for c in np.unique(f.grid_class):
            pixels = colors[f.grid_class == c]
            assert np.all(pixels == pixels[0])
        rings = data_items(plot)[-1]
        np.testing.assert_array_equal(_curve(rings)[0], res.x_test[f.outside, 0])
    title = view.plots["minmax"][0].getPlotItem().titleLabel.text
    assert title.startswith("min-max") and f"{res.fits['minmax'].iterations:,} steps" in title
    losses = data_items(view.plot_loss)
    np.testing.assert_array_equal(_curve(losses[0])[1], res.fits["raw"].loss)
    assert view.table.rowCount() == 3 and view.table.item(2, 2).text() == str(res.fits["minmax"].iterations)
    assert view.table.item(2, 7).text() == f"{int(res.fits['minmax'].outside.sum())} of {len(res.y_test)}"
    view.export_csv(tmp_path / "iris.csv")
    rows = _csv_rows(tmp_path / "iris.csv")
    assert [int(r["iterations"]) for r in rows] == [f.iterations for f in res.fits.values()]
    assert [int(r["test_outside"]) for r in rows] == [int(f.outside.sum()) for f in res.fits.values()]
    view.shutdown()


# -- SELU -----------------------------------------------------------------------------------------------

def test_selu_field_trajectory_and_fixed_point(qtbot, tmp_path):
    view = _view(qtbot, SeluView)
    view.set_config(**SMALL_SELU)
    _run(qtbot, view)
    res = view.result
    expected = run_selu(SeluConfig(**SMALL_SELU))
    np.testing.assert_array_equal(res.trajectory, expected.trajectory)
    np.testing.assert_allclose(res.fixed_point, (0.0, 1.0), atol=1e-6)
    items = data_items(view.plot_field)
    x, y = _curve(items[1])  # the map iterated (items[0]: the arrows)
    np.testing.assert_array_equal(np.stack([x, y], axis=1), res.trajectory)
    np.testing.assert_allclose(_curve(items[-1])[0], [res.fixed_point[0]])
    arrows = [i for i in view.plot_field.getPlotItem().items if isinstance(i, pg.PlotCurveItem)
              and i.opts.get("connect") == "pairs"]
    moving = np.count_nonzero(np.hypot(res.field_dmean, res.field_dvar) > 0)
    assert len(arrows) == 1 and len(arrows[0].getData()[0]) == 6 * moving > 6 * 200  # an arrow per grid point
    mean_items = data_items(view.plot_mean)
    np.testing.assert_array_equal(_curve(mean_items[2])[1], res.simulated[:, 0])
    assert "fixed point (μ*, ν*) = (" in view.label_status.text()
    # dropout moves the fixed point: said in the warnings
    view.set_config(dropout=0.1, dropout_kind="standard")
    _run(qtbot, view)
    assert view.result.fixed_point[1] > 1.2 and "moved" in view.label_warnings.text()
    view.export_csv(tmp_path / "selu.csv")
    rows = _csv_rows(tmp_path / "selu.csv")
    assert [float(r["var"]) for r in rows] == list(view.result.trajectory[:, 1])
    view.shutdown()


# -- transformer -------------------------------------------------------------------------------------------

def test_transformer_waits_for_run_draws_and_cancel_keeps_the_result(qtbot, tmp_path):
    view = _view(qtbot, TransformerView)
    view.first_show()  # long: nothing runs until Run
    assert not view.busy and view.result is None and "press Run" in view.label_placeholder.text()
    view.set_config(**SMALL_TRANSFORMER)
    _run(qtbot, view)
    res = view.result
    expected = run_transformer(TransformerConfig(**SMALL_TRANSFORMER))
    for p in ("post", "pre"):
        np.testing.assert_allclose(res.grad_norm[p], expected.grad_norm[p], rtol=1e-6)
    stream = data_items(view.plot_stream)
    np.testing.assert_allclose(10 ** _curve(stream[1])[1], res.stream_norm["pre"], rtol=1e-12)  # log axis
    assert "post-LN" in view.label_legend.text() and "sandwich" not in view.label_legend.text()
    grads = data_items(view.plot_grad)
    np.testing.assert_allclose(10 ** _curve(grads[0])[1], res.grad_norm["post"], rtol=1e-12)  # log axis
    warm = data_items(view.plot_loss["warmup"])
    np.testing.assert_allclose(10 ** _curve(warm[1])[1], res.loss["pre"]["warmup"], rtol=1e-12)
    assert view.table.rowCount() == 2 and view.table.item(0, 0).text() == "post-LN"
    assert view.table.item(1, 2).text().startswith(f"{100 * res.final_accuracy['pre']['warmup']:.3g}")
    g = res.grad_norm["post"]
    assert view.table.item(0, 3).text() == f"{g[-1] / g[0]:.4g}"  # Xiong et al.'s last / first block
    _check_png_svg(view, tmp_path)
    view.export_csv(tmp_path / "t.csv")
    rows = _csv_rows(tmp_path / "t.csv")
    grad = [float(r["value"]) for r in rows if r["placement"] == "post" and r["quantity"] == "grad_norm"]
    assert grad == list(res.grad_norm["post"])
    # a long run, cancelled: the previous result stays
    view.set_config(train_steps=2000, layers=6, width=32, heads=4)
    with qtbot.waitSignal(view.runner.progress, timeout=TIMEOUT):
        view.run()
    with qtbot.waitSignal(view.runner.cancelled, timeout=TIMEOUT):
        view.run_bar.button_cancel.click()
    assert view.result is res and "cancelled" in view.label_status.text()
    view.shutdown()


# -- digits training -----------------------------------------------------------------------------------------

TINY = TrainSettings(mode="figure1", norms=("batch", "group"), batch_sizes=(16, 64), seeds=(0,), epochs=1)


def test_figure1_sweep_draws_mean_error_and_toggles_train_mode(qtbot, tmp_path):
    view = _view(qtbot, TrainView)
    view.first_show()
    assert not view.busy and view.result is None
    view.set_config(TINY)
    assert view.config() == TINY
    _run(qtbot, view)
    sweep = view.result.sweep
    assert sweep.error.shape == (2, 2, 1, 1) and len(view.runs_cache) == 4
    run = sweep.run("batch", 16)
    expected = run_training(run.config)
    assert run.final_error == expected.final_error and run.final_error_train_mode == expected.final_error_train_mode
    lines = data_items(view.tab_figure1.plot)
    np.testing.assert_array_equal(_curve(lines[0])[0], np.log2([16, 64]))
    np.testing.assert_allclose(_curve(lines[0])[1], 100 * sweep.mean_error[0, :, 0])
    view.check_train_mode.setChecked(True)
    lines = data_items(view.tab_figure1.plot)
    np.testing.assert_allclose(_curve(lines[1])[1], 100 * sweep.mean_error_train_mode[1, :, 0])
    view.check_log.setChecked(True)  # a log error axis: the same numbers, log10 of them drawn
    lines = data_items(view.tab_figure1.plot)
    np.testing.assert_allclose(_curve(lines[1])[1], np.log10(np.clip(100 * sweep.mean_error_train_mode[1, :, 0],
                                                                         0.2, 100)))
    assert "BatchNorm" in view.tab_figure1.key.text() and "GroupNorm" in view.tab_figure1.key.text()
    view.export_csv(tmp_path / "f1.csv")
    rows = _csv_rows(tmp_path / "f1.csv")
    assert len(rows) == 4 and float(rows[0]["error"]) == sweep.error[0, 0, 0, 0]
    # a bigger sweep reuses the finished runs; cancelled, it keeps the new ones and the previous result
    before = view.result
    view.set_config(TrainSettings(mode="figure1", norms=("batch", "group", "layer"), batch_sizes=(2, 16, 64),
                                  seeds=(0,), epochs=1))
    with qtbot.waitSignal(view.runner.progress, timeout=TIMEOUT):
        view.run()
    with qtbot.waitSignal(view.runner.cancelled, timeout=TIMEOUT):
        view.run_bar.button_cancel.click()
    assert view.result is before and "finished runs are kept" in view.label_status.text()
    assert set(before.sweep.runs) <= set(view.runs_cache)
    view.shutdown()


def test_curves_switch_and_finetune_modes_and_save_model(qtbot, tmp_path, monkeypatch):
    view = _view(qtbot, TrainView)
    curves = TrainSettings(mode="curves", norms=("batch", "layer"), seeds=(3,), epochs=2, batch_size=64)
    view.set_config(curves)
    assert view.tabs.currentWidget() is view.tab_curves and view.config() == curves
    _run(qtbot, view)
    runs = view.result.runs
    assert list(runs) == ["batch", "layer"]
    acc = data_items(view.tab_curves.plot_acc)
    np.testing.assert_array_equal(_curve(acc[0])[0], runs["batch"].steps)
    np.testing.assert_array_equal(_curve(acc[0])[1], 100 * runs["batch"].val_acc)
    np.testing.assert_array_equal(_curve(acc[1])[1], 100 * runs["batch"].val_acc_train_mode)
    # Save model…: the chosen run's state_dict, loadable with weights_only
    assert view.combo_model.count() == 2
    path = tmp_path / "bn.pt"
    monkeypatch.setattr(view_parts, "ask_save_path", lambda *a: str(path))
    view.button_save.click()
    model = load_model(path, runs["batch"].config)
    for k, v in runs["batch"].state_dict.items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=0, atol=0)
    warnings = []
    monkeypatch.setattr(view_parts, "warn", lambda parent, text: warnings.append(text))
    assert not view.save_model(str(tmp_path / "missing" / "m.pt"))
    assert len(warnings) == 1 and "\n" not in warnings[0]

    switch = TrainSettings(mode="switch", norms=("batch",), seeds=(0,), epochs=2, batch_size=64,
                           switch_batch_size=32)
    view.set_config(switch)
    _run(qtbot, view)
    assert list(view.result.runs) == ["batch 64→32", "batch 32→64"]
    run = view.result.runs["batch 64→32"]
    assert list(run.batch_size) == [64, 32]
    lines = data_items(view.tab_switch.plot_train)
    np.testing.assert_array_equal(_curve(lines[0])[1], 100 * run.val_acc_train_mode)

    finetune = TrainSettings(mode="finetune", norms=("batch",), seeds=(0,), epochs=1, batch_size=64)
    view.set_config(finetune)
    _run(qtbot, view)
    res = view.result.finetune
    expected = compute_train(finetune).finetune
    assert res.shifted_acc["update"].tolist() == expected.shifted_acc["update"].tolist()
    lines = data_items(view.tab_finetune.plot_shifted)
    np.testing.assert_array_equal(_curve(lines[0])[1], 100 * res.shifted_acc["update"])
    np.testing.assert_array_equal(_curve(lines[1])[1], 100 * res.shifted_acc_train_mode["update"])
    view.export_csv(tmp_path / "ft.csv")
    rows = _csv_rows(tmp_path / "ft.csv")
    assert [float(r["original_acc"]) for r in rows if r["mode"] == "frozen"] == list(res.original_acc["frozen"])
    # each mode keeps its own result: back on the curves tab, its runs are drawn again
    view.set_mode("curves")
    assert view.result.runs == runs
    view.shutdown()


def test_bad_settings_are_one_line_in_the_status(qtbot):
    view = _view(qtbot, TrainView)
    view.edit_batch_sizes.setText("2,x")
    view.run()
    assert not view.busy and "batch sizes '2,x'" in view.label_status.text()
    view.edit_batch_sizes.setText("2,512")
    view.run()
    assert "batch_size=512" in view.label_status.text() and "\n" not in view.label_status.text()
    for check in view.check_norms.values():
        check.setChecked(False)
    view.run()
    assert "at least one normalization" in view.label_status.text()
    view.shutdown()
