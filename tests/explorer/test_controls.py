"""Every control writes to AppState (UI -> state), and follows it (state -> UI)."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QSpinBox

from kernels import METHODS

from .conftest import RESULT_TIMEOUT, update_and_wait


def find(window, kind, name):
    widget = window.findChild(kind, name)
    assert widget is not None, f"no {kind.__name__} named {name}"
    return widget


def test_objectnames_exist(window):
    for name in ("combo_method", "combo_layout", "combo_backend", "combo_device"):
        find(window, QComboBox, name)
    for name in ("spin_N", "spin_C", "spin_H", "spin_W", "spin_L"):
        find(window, QSpinBox, name)
    for name in ("view_tensor", "plot_hist_before", "plot_hist_after"):
        assert window.findChild(object, name) is not None, name


def test_method_combo_lists_every_method_under_family_headers(qtbot, window):
    combo = find(window, QComboBox, "combo_method")
    names = [combo.itemData(i, Qt.ItemDataRole.UserRole) for i in range(combo.count())]
    assert [n for n in names if n] == list(METHODS)
    for name in list(METHODS)[1:] + ["batch"]:  # batch is the current method at start
        with qtbot.waitSignal(window.state.resultChanged, timeout=RESULT_TIMEOUT):
            combo.setCurrentIndex(combo.findData(name, Qt.ItemDataRole.UserRole))
        assert window.state.method == name and window.state.error is None
    header = names.index(None)
    combo.setCurrentIndex(header)  # a family header is not a method: the combo returns to the current one
    assert combo.currentData(Qt.ItemDataRole.UserRole) == window.state.method


def test_state_to_method_combo(qtbot, window):
    update_and_wait(qtbot, window.state, method="lrn")
    combo = find(window, QComboBox, "combo_method")
    assert combo.currentData(Qt.ItemDataRole.UserRole) == "lrn"


def test_layout_and_shape_spins(qtbot, window):
    s = window.state
    layout = find(window, QComboBox, "combo_layout")
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        layout.setCurrentText("NHWC")
    assert s.layout == "NHWC"
    spin_c = find(window, QSpinBox, "spin_C")
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        spin_c.setValue(6)
    assert s.shape == (4, 8, 8, 6)
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        layout.setCurrentText("NCL")
    assert find(window, QSpinBox, "spin_L").isVisibleTo(window)
    assert not find(window, QSpinBox, "spin_H").isVisibleTo(window)
    spin_l = find(window, QSpinBox, "spin_L")
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        spin_l.setValue(20)
    assert s.shape == (4, 6, 20)
    update_and_wait(qtbot, s, layout="NCHW", shape=(2, 4, 3, 5))
    assert [find(window, QSpinBox, f"spin_{a}").value() for a in "NCHW"] == [2, 4, 3, 5]
    assert layout.currentText() == "NCHW"


def test_groups_spin_and_inline_error(qtbot, window):
    s = window.state
    update_and_wait(qtbot, s, method="group", params={"groups": 4})
    spin = find(window, QSpinBox, "spin_groups")
    assert spin.value() == 4
    good = s.result
    spin.setValue(3)
    assert s.error == "C=8 is not divisible by groups=3"
    label = window.findChild(object, "label_error")
    assert label.isVisibleTo(window) and "divisible" in label.text()
    assert spin.property("invalid") is True
    assert s.result is good  # the last good result stays on screen
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        spin.setValue(2)
    assert s.error is None and not label.isVisibleTo(window) and not spin.property("invalid")
    update_and_wait(qtbot, s, params={"groups": 8})
    assert spin.value() == 8


@pytest.mark.parametrize("method,name,value,expected", [
    ("lrn", "spin_size", 3, 3), ("lrn", "spin_alpha", 0.5, 0.5), ("lrn", "spin_beta", 0.5, 0.5),
    ("batch", "spin_eps", 1e-3, 1e-3), ("batch", "spin_momentum", 0.3, 0.3),
    ("ghost_batch", "spin_virtual_batch", 1, 1),
    ("frn", "spin_tau", -0.5, -0.5), ("batch_renorm", "spin_rmax", 2.0, 2.0), ("layer", "spin_weight", 2.0, 2.0),
    ("layer", "spin_bias", 0.5, 0.5),
])
def test_numeric_parameter_controls(qtbot, window, method, name, value, expected):
    s = window.state
    update_and_wait(qtbot, s, method=method, params={})
    spin = window.findChild(object, name)
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        spin.setValue(value)
    key = name[len("spin_"):]
    assert s.params[key] == pytest.approx(expected)
    assert s.result.params[key] == pytest.approx(expected)
    update_and_wait(qtbot, s, params={key: value * 2})
    assert spin.value() == pytest.approx(value * 2)


def test_bool_choice_axes_and_optional_controls(qtbot, window):
    s = window.state
    update_and_wait(qtbot, s, method="custom", params={})
    for letter, expected in zip("NCHW", (True, False, True, True)):
        assert find(window, QCheckBox, f"check_axis_{letter}").isChecked() is expected
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        find(window, QCheckBox, "check_axis_N").setChecked(False)
    assert s.result.params["axes"] == "HW"
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        find(window, QCheckBox, "check_center").setChecked(False)
    assert s.params["center"] is False
    update_and_wait(qtbot, s, method="batch", params={})
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        find(window, QComboBox, "combo_momentum_convention").setCurrentText("keras")
    assert s.params["momentum_convention"] == "keras"
    find(window, QCheckBox, "check_momentum_none").setChecked(True)
    assert s.error and "Keras" in s.error  # cumulative average has no Keras counterpart
    update_and_wait(qtbot, s, params={"momentum": None})  # back to torch's convention
    assert find(window, QCheckBox, "check_momentum_none").isChecked()
    update_and_wait(qtbot, s, method="minmax", params={})
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        window.findChild(object, "spin_feature_range_low").setValue(-1.0)
    assert s.result.params["feature_range"] == (-1.0, 1.0)


def test_mode_input_seed_backend_and_histogram_controls(qtbot, window):
    s = window.state
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        find(window, QComboBox, "combo_mode").setCurrentText("eval")
    assert s.training is False and s.result.training is False
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        combo = find(window, QComboBox, "combo_input")
        combo.setCurrentIndex(combo.findData("bimodal"))
    assert s.input == "bimodal"
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        find(window, QSpinBox, "spin_seed").setValue(7)
    assert s.seed == 7
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        find(window, QSpinBox, "spin_bins").setValue(20)
    assert len(s.scene.hist.counts_before) == 20
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        find(window, QCheckBox, "check_shared_bins").setChecked(False)
    assert s.shared_bins is False
    find(window, QCheckBox, "check_log_counts").setChecked(True)
    assert s.log_counts is True
    update_and_wait(qtbot, s, training=True, input="normal", seed=1, bins=30, shared_bins=True)
    assert find(window, QComboBox, "combo_mode").currentText() == "train"
    assert find(window, QSpinBox, "spin_seed").value() == 1 and find(window, QSpinBox, "spin_bins").value() == 30


def test_backend_and_device_combos(qtbot, window):
    pytest.importorskip("torch")
    s = window.state
    backend = find(window, QComboBox, "combo_backend")
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        backend.setCurrentText("torch")
    assert s.backend == "torch" and s.result.backend == "torch"
    device = find(window, QComboBox, "combo_device")
    assert device.itemText(0) == "cpu"
    update_and_wait(qtbot, s, backend="numpy")
    assert backend.currentText() == "numpy" and [device.itemText(i) for i in range(device.count())] == ["cpu"]
