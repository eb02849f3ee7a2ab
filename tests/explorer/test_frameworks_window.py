"""The framework setting in the window: the selector next to the method (its numbers are
kernels.normalize(..., framework=...)'s), the line that says how far they are from torch's (kernels.compare),
methods a framework does not offer, the parameter editor in the framework's meaning, a code tab per
framework (kernels.framework_code), the pitfalls, the translator and the --framework flag."""

import html
import os

import numpy as np
import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QPlainTextEdit, QTabWidget

from explorer.cli import main
from explorer.frameworks import params_in, torch_params
from explorer.limits import WARMUP_STEPS
from explorer.widgets.common import SciSpinBox
from kernels import FRAMEWORKS, compare, framework_code, generate, normalize, translate

from .conftest import RESULT_TIMEOUT, as_numpy, update_and_wait, wait_until_computed


def find(window, kind, name):
    widget = window.findChild(kind, name)
    assert widget is not None, f"no {kind.__name__} named {name}"
    return widget


def choose(qtbot, combo, data, state):
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        combo.setCurrentIndex(combo.findData(data))
    wait_until_computed(qtbot, state)


def framework_result(state):
    c = state.scene
    s = c.settings
    return normalize(c.x, s.method, layout=s.layout, training=s.training, framework=s.framework, **s.kernel_params())


def test_selecting_keras_computes_keras_numbers_and_says_how_far_from_torch(qtbot, window):
    state = window.state
    update_and_wait(qtbot, state, method="layer")
    combo = find(window, QComboBox, "combo_framework")
    line = find(window, QLabel, "label_framework_delta")
    assert not line.isVisible()  # torch against itself: nothing to say
    choose(qtbot, combo, "keras", state)
    assert state.framework == "keras" and state.error is None
    np.testing.assert_array_equal(as_numpy(state.result.output), framework_result(state).output)
    torch_out = normalize(state.scene.x, "layer").output
    assert np.max(np.abs(as_numpy(state.result.output) - torch_out)) > 1e-4  # Keras' eps 1e-3 shows
    d = compare(state.scene.x, "layer", "keras", "NCHW", training=True)
    delta = state.scene.framework_delta
    assert delta.max_abs == d.max_abs and delta.sentence == d.sentence
    np.testing.assert_allclose(delta.max_abs, np.max(np.abs(framework_result(state).output - torch_out)))
    assert line.isVisible() and html.escape(d.sentence) in line.text()
    assert "eps 0.001 vs 1e-05" in line.text()
    assert "LayerNormalization" in find(window, QLabel, "label_framework").text()


def test_a_method_a_framework_does_not_offer_says_why(qtbot, window):
    state = window.state
    combo = find(window, QComboBox, "combo_framework")
    update_and_wait(qtbot, state, method="lrn")
    keras_item = combo.model().item(combo.findData("keras"))
    assert not keras_item.isEnabled() and "no local response normalization" in keras_item.toolTip()
    assert combo.model().item(combo.findData("tensorflow")).isEnabled()
    state.update(framework="keras")  # as a session or the command line could ask
    qtbot.waitUntil(lambda: state.error is not None, timeout=RESULT_TIMEOUT)
    assert "does not offer lrn" in state.error and "\n" not in state.error
    assert find(window, QLabel, "label_error").isVisible()
    assert "does not offer" in find(window, QLabel, "label_framework").text()
    update_and_wait(qtbot, state, framework="tensorflow")  # TensorFlow has it: a radius, alpha on the sum
    assert state.params["depth_radius"] == 2  # torch's size 5 carried as its radius
    np.testing.assert_array_equal(as_numpy(state.result.output), framework_result(state).output)


def test_the_parameter_editor_follows_the_framework(qtbot, window):
    state = window.state
    update_and_wait(qtbot, state, method="batch", framework="keras")
    eps, momentum = find(window, SciSpinBox, "spin_eps"), find(window, SciSpinBox, "spin_momentum")
    assert eps.value() == pytest.approx(1e-3) and momentum.value() == pytest.approx(0.99)
    assert "Keras' momentum" in momentum.parentWidget().toolTip() or "Keras' momentum" in momentum.toolTip()
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        momentum.setValue(0.9)
    wait_until_computed(qtbot, state)
    assert state.params["momentum"] == pytest.approx(0.9)
    update_and_wait(qtbot, state, training=False)  # eval: running statistics warmed up the Keras way
    s = state.settings
    rm, rv = np.zeros(8, np.float32), np.ones(8, np.float32)
    for step in range(WARMUP_STEPS):
        r = normalize(generate(s.input, s.shape, s.layout, seed=s.seed + 1 + step), "batch", s.layout,
                      framework="keras", running_mean=rm, running_var=rv, momentum=0.9, eps=1e-3)
        rm, rv = r.running_mean, r.running_var
    np.testing.assert_allclose(state.scene.running_used[0], rm, rtol=1e-6)
    np.testing.assert_allclose(state.scene.running_used[1], rv, rtol=1e-6)  # biased, Keras-style
    sentence = state.scene.framework_delta.sentence
    assert "eval with each framework's running statistics" in sentence
    assert "momentum" not in sentence  # Keras' 0.9 is torch's 0.1: only eps and the biased variance differ
    update_and_wait(qtbot, state, training=True, method="layer", framework="flax")
    check = find(window, QCheckBox, "check_use_fast_variance")
    assert check.isChecked()  # Flax's default: one pass
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        check.setChecked(False)
    wait_until_computed(qtbot, state)
    assert state.params["use_fast_variance"] is False
    update_and_wait(qtbot, state, method="group", params={"groups": 2}, framework="onnx")
    opset = find(window, QComboBox, "combo_opset")
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        opset.setCurrentText("18")
    wait_until_computed(qtbot, state)
    assert state.params["opset"] == 18 and state.result.framework_params["opset"] == 18


def test_a_code_tab_per_framework_equals_framework_code(qtbot, window):
    state = window.state
    update_and_wait(qtbot, state, method="group", params={"groups": 2})
    update_and_wait(qtbot, state, framework="mlx")
    window.info.refresh()
    tabs = find(window, QTabWidget, "tabs_code")
    titles = [tabs.tabText(i) for i in range(tabs.count())]
    assert titles == [fw.label for fw in FRAMEWORKS.values()]
    assert tabs.tabText(tabs.currentIndex()) == "MLX"  # the chosen framework's tab comes forward
    s = state.settings
    for name in FRAMEWORKS:
        edit = find(window, QPlainTextEdit, f"code_{name}")
        expected = framework_code(s.method, name, s.layout, s.shape, s.training, **params_in(s, name))
        assert edit.toPlainText() == expected, name
    assert "pytorch_compatible=False" in find(window, QPlainTextEdit, "code_mlx").toPlainText()
    assert "groups=2" in find(window, QPlainTextEdit, "code_keras").toPlainText()
    find(window, object, "button_copy_code").click()
    assert QGuiApplication.clipboard().text() == find(window, QPlainTextEdit, "code_mlx").toPlainText()
    update_and_wait(qtbot, state, framework="torch")
    update_and_wait(qtbot, state, method="ghost_batch")
    window.info.refresh()
    assert find(window, QPlainTextEdit, "code_keras").toPlainText().startswith("# Keras 3 does not offer")


def test_mlx_strided_groups_are_said_and_the_step_through_left_out(qtbot, window):
    state = window.state
    update_and_wait(qtbot, state, method="group", params={"groups": 2})
    update_and_wait(qtbot, state, framework="mlx")
    assert any("c % G" in w for w in state.scene.warnings) and state.scene.explanation is None
    assert "strided" in state.scene.framework_delta.sentence
    update_and_wait(qtbot, state, params={"groups": 2, "pytorch_compatible": True})
    assert state.scene.explanation is not None and state.scene.framework_delta.max_abs < 1e-5


def test_pitfalls_from_the_seed_articles(qtbot, window):
    state = window.state
    for framework, method, needle in (("keras", "layer", "LayerNormalization() after a Conv2D"),
                                      ("torch", "layer", "LayerNorm((32, 28, 28))"),
                                      ("keras", "instance", "InstanceNormalization does not exist")):
        update_and_wait(qtbot, state, method=method)
        update_and_wait(qtbot, state, framework=framework)
        window.info.refresh()
        assert needle in window.info.text.toPlainText(), (framework, method)


def _torch_steps(torch, x, momentum, eps, steps=3):
    bn = torch.nn.BatchNorm2d(x.shape[1], momentum=momentum, eps=eps, affine=False)
    for step in range(steps):
        bn(torch.from_numpy(x * (1 + 0.1 * step) + step))
    return bn.running_mean.numpy().astype(np.float64), bn.running_var.numpy().astype(np.float64)


def _keras_steps(keras, x, eps, momentum, steps=3):
    bn = keras.layers.BatchNormalization(axis=1, epsilon=eps, momentum=momentum, center=False, scale=False)
    for step in range(steps):
        bn(x * (1 + 0.1 * step) + step, training=True)
    return np.asarray(bn.moving_mean, np.float64), np.asarray(bn.moving_variance, np.float64)


def test_the_translator_against_torch_and_keras_themselves(qtbot, window):
    torch = pytest.importorskip("torch")
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras", reason="keras is not installed (pip install '.[frameworks]')")
    state = window.state
    update_and_wait(qtbot, state, method="batch")
    dialog = window.show_translator()
    qtbot.addWidget(dialog)
    find(dialog, QComboBox, "combo_translate_source").setCurrentIndex(0)  # torch
    target = find(dialog, QComboBox, "combo_translate_target")
    target.setCurrentIndex(target.findData("keras"))
    qtbot.waitUntil(dialog.ready, timeout=RESULT_TIMEOUT)
    t = dialog.result
    assert t.translation.params == {"eps": 1e-5, "momentum": 0.9}
    expected = translate("batch", "torch", "keras", layout="NCHW", shape=state.shape, eps=1e-5, momentum=0.1)
    assert find(dialog, QPlainTextEdit, "code_translated").toPlainText() == expected.call
    x = state.scene.x
    rm_t, rv_t = _torch_steps(torch, x, 0.1, 1e-5)
    rm_k, rv_k = _keras_steps(keras, x, 1e-5, 0.9)  # translated: only the biased running variance differs
    np.testing.assert_allclose(t.translated.running, max(np.abs(rm_k - rm_t).max(), np.abs(rv_k - rv_t).max()),
                               rtol=1e-3)
    rm_p, rv_p = _keras_steps(keras, x, 1e-5, 0.1)  # torch's numbers pasted: Keras' 0.1 follows the batch
    pasted = max(np.abs(rm_p - rm_t).max(), np.abs(rv_p - rv_t).max())
    np.testing.assert_allclose(t.pasted.running, pasted, rtol=1e-3)
    assert t.pasted.running > 100 * t.translated.running
    y_t = torch.nn.functional.batch_norm(torch.from_numpy(x), None, None, training=True, eps=1e-5).numpy()
    y_k = np.asarray(keras.layers.BatchNormalization(axis=1, epsilon=1e-5)(x, training=True))
    assert t.translated.output == pytest.approx(np.abs(y_k - y_t).max(), abs=2e-5)
    text = find(dialog, QLabel, "label_translate_numbers").text()
    assert "pasted unchanged" in text and f"{t.pasted.running:.3g}" in text
    assert "momentum 0.1 becomes 0.9" in text


def test_the_translator_without_running_statistics_and_an_unoffered_target(qtbot, window):
    state = window.state
    update_and_wait(qtbot, state, method="layer")
    dialog = window.show_translator()
    qtbot.addWidget(dialog)
    source = find(dialog, QComboBox, "combo_translate_source")
    target = find(dialog, QComboBox, "combo_translate_target")
    source.setCurrentIndex(source.findData("keras"))
    target.setCurrentIndex(target.findData("flax"))
    qtbot.waitUntil(dialog.ready, timeout=RESULT_TIMEOUT)
    t = dialog.result
    x = state.scene.x
    keras_out = normalize(x, "layer", framework="keras").output
    flax_out = normalize(x, "layer", framework="flax", **t.translation.params).output
    assert t.translated.output == pytest.approx(float(np.max(np.abs(flax_out - keras_out))))
    assert t.translated.running is None and t.translation.params["eps"] == 1e-3
    pasted = normalize(x, "layer", framework="flax", eps=1e-3).output
    assert t.pasted.output == pytest.approx(float(np.max(np.abs(pasted - keras_out))))
    update_and_wait(qtbot, state, method="lrn")
    qtbot.waitUntil(lambda: dialog.error is not None, timeout=RESULT_TIMEOUT)
    assert "does not offer" in find(dialog, QLabel, "label_translate_numbers").text()
    dialog.close()  # closed, it translates nothing while the settings change
    update_and_wait(qtbot, state, method="batch")
    assert not dialog._channel.busy and dialog.computed_for[0].method == "lrn"


def test_the_framework_flag(tmp_path, capsys):
    out = tmp_path / "out.npy"
    code = main(["export", "--method", "batch", "--framework", "keras", "--momentum", "0.9", "--shape", "4,6,5,5",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    x = generate("shifted", (4, 6, 5, 5), "NCHW", seed=0)
    np.testing.assert_array_equal(np.load(out), normalize(x, "batch", framework="keras", momentum=0.9).output)
    code = main(["export", "--method", "layer", "--framework", "flax", "--use-fast-variance", "false",
                 "--shape", "4,6,5,5", "--out", str(out)])
    assert code == 0
    np.testing.assert_array_equal(np.load(out), normalize(x, "layer", framework="flax",
                                                          use_fast_variance=False).output)
    for argv, needle in ((["--framework", "caffe"], "unknown framework 'caffe'"),
                         (["--method", "lrn", "--framework", "keras"], "does not offer lrn"),
                         (["--method", "layer", "--use-fast-variance", "false"], "does not apply to layer")):
        capsys.readouterr()
        assert main(["export", *argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, err


def test_torch_params_keep_the_grouping_and_drop_the_frameworks_defaults():
    assert torch_params("group", "keras", {"groups": 4, "eps": 1e-3, "weight": 2.0}) == {"groups": 4, "weight": 2.0}
    assert torch_params("lrn", "tensorflow", {"depth_radius": 2, "alpha": 1.0}) == {"size": 5}
