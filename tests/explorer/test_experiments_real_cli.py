"""The commands of the experiments on real data on small configurations: `train`, `sync`, `transformer`,
`iris`, `selu` and `padding` write CSV/JSON that parse and equal the kernels' numbers and figures of
the views; bad arguments are one line (exit 2), unwritable outputs exit 1; --help needs no Qt or torch."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import csv
import json

import numpy as np
import pytest
from PySide6.QtGui import QImage

from explorer.cli import main
from kernels.experiments import (
    IrisConfig,
    PaddingConfig,
    SeluConfig,
    TrainConfig,
    TransformerConfig,
    load_model,
    run_iris,
    run_padding,
    run_selu,
    run_training,
    run_transformer,
)
from kernels.inputs import generate
from tests.fresh import PRINT_HEAVY, run_fresh

from .test_experiments_cli import run_cli

torch_mark = pytest.mark.torch


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@torch_mark
def test_train_figure1_csv_equals_the_kernels_runs(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "f1.csv"
    assert run_cli("train", "--mode", "sweep", "--norms", "batch,group", "--batch-sizes", "32,64", "--seeds", "0",
                   "--epochs", 1, "--out", out) == (0, "")
    rows = _rows(out)
    assert [(r["norm"], int(r["batch_size"])) for r in rows] == [("batch", 32), ("batch", 64), ("group", 32),
                                                                  ("group", 64)]
    run = run_training(TrainConfig(norm="group", batch_size=64, epochs=1, seed=0))
    assert float(rows[3]["error"]) == run.final_error
    assert float(rows[3]["error_train_mode"]) == run.final_error_train_mode
    assert int(rows[3]["steps"]) == 20  # 1,297 images // 64


@torch_mark
def test_train_curves_json_and_saved_model(tmp_path):
    pytest.importorskip("torch")
    out, model = tmp_path / "curves.json", tmp_path / "bn.pt"
    assert run_cli("train", "--mode", "curves", "--norms", "batch", "--epochs", 1, "--batch-size", 64, "--seeds", 2,
                   "--out", out, "--save-model", model) == (0, "")
    data = json.loads(out.read_text())
    cfg = TrainConfig(norm="batch", batch_size=64, epochs=1, seed=2)
    run = run_training(cfg)
    assert data["mode"] == "curves" and [r["val_acc"] for r in data["rows"]] == list(run.val_acc)
    loaded = load_model(model, cfg)
    for k, v in run.state_dict.items():
        assert np.array_equal(loaded.state_dict()[k].numpy(), v.numpy()), k


@torch_mark
def test_train_figure_png(qapp, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "switch.png"
    assert run_cli("train", "--mode", "switch", "--norms", "batch", "--epochs", 2, "--batch-size", 64,
                   "--switch-batch-size", 32, "--out", out, "--size", "1200x800") == (0, "")
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 800)


@torch_mark
def test_sync_json_equals_batchnorm_over_the_batch(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "sync.json"
    assert run_cli("sync", "--devices", 2, "--shape", "5,2,2,2", "--shards", "3,2", "--seed", 4, "--out", out) == \
        (0, "")
    data = json.loads(out.read_text())
    x = generate("shifted", (5, 2, 2, 2), "NCHW", seed=4, dtype=np.float64)
    assert data["config"]["shard_sizes"] == [3, 2] and data["device"] == [0, 0, 0, 1, 1]
    assert data["sync_error"] < 1e-12 and data["local_error"] < 1e-12
    np.testing.assert_allclose(data["global_mean"], x.mean(axis=(0, 2, 3)), rtol=1e-12)
    dev1 = [r["shard_mean"] for r in data["rows"] if r["device"] == 1]
    np.testing.assert_allclose(dev1, x[3:].mean(axis=(0, 2, 3)), rtol=1e-12)
    assert data["allgather_seconds"] > 0 and data["payload_bytes"] == (2 * 2 + 1) * 8


@torch_mark
def test_transformer_csv_equals_the_kernels(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "t.csv"
    assert run_cli("transformer", "--placements", "post,pre", "--layers", 2, "--width", 8, "--heads", 2, "--steps", 6,
                   "--warmup", 3, "--inits", 1, "--out", out) == (0, "")
    rows = _rows(out)
    res = run_transformer(TransformerConfig(placements=("post", "pre"), layers=2, width=8, heads=2, train_steps=6,
                                            warmup_steps=3, inits=1))
    grads = [float(r["value"]) for r in rows if r["placement"] == "pre" and r["quantity"] == "grad_norm"]
    np.testing.assert_allclose(grads, res.grad_norm["pre"], rtol=1e-6)
    lr = [float(r["value"]) for r in rows if r["quantity"] == "lr" and r["mode"] == "warmup"]
    np.testing.assert_array_equal(lr, res.lr["warmup"])


def test_iris_json_and_padding_csv_equal_the_kernels(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "iris.json"
    assert run_cli("iris", "--features", "2,3", "--max-iter", 2000, "--seed", 1, "--out", out) == (0, "")
    data = json.loads(out.read_text())
    res = run_iris(IrisConfig(features=(2, 3), max_iter=2000, seed=1))
    assert [f["iterations"] for f in data["fits"]] == [f.iterations for f in res.fits.values()]
    assert [f["sklearn_iterations"] for f in data["fits"]] == [f.sklearn_iterations for f in res.fits.values()]
    assert data["outside"]["minmax"] == res.fits["minmax"].outside.astype(int).tolist()
    out = tmp_path / "pad.csv"
    assert run_cli("padding", "--samples", 5, "--length", 12, "--channels", 3, "--pad", -1, "--out", out) == (0, "")
    rows = _rows(out)
    pad = run_padding(PaddingConfig(samples=5, max_length=12, channels=3, pad_value=-1.0))
    assert [float(r["bn_mean_unmasked"]) for r in rows] == list(pad.batch.mean_unmasked)
    assert [float(r["running_var_masked"]) for r in rows] == list(pad.batch.running_var_masked)


@torch_mark
def test_selu_csv_and_padding_png(qapp, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "selu.csv"
    assert run_cli("selu", "--layers", 5, "--width", 32, "--dropout", 0.1, "--dropout-kind", "alpha", "--out", out) \
        == (0, "")
    rows = _rows(out)
    res = run_selu(SeluConfig(layers=5, width=32, dropout=0.1, dropout_kind="alpha"))
    assert [float(r["var"]) for r in rows] == list(res.trajectory[:, 1])
    assert [float(r["simulated_mean"]) for r in rows] == list(res.simulated[:, 0])
    png = tmp_path / "padding.png"
    assert run_cli("padding", "--out", png, "--size", "1100x760") == (0, "")
    assert (QImage(str(png)).width(), QImage(str(png)).height()) == (1100, 760)


@pytest.mark.parametrize("argv, message", [
    (("train", "--mode", "magic"), "--mode 'magic' is unknown"),
    (("train", "--norms", "batch,magic"), "--norms 'magic' is unknown"),
    (("train", "--batch-sizes", "2,512"), "--batch-sizes 512: must be between 1 and 256"),
    (("train", "--seeds", "0,0"), "repeats a value"),
    (("train", "--mode", "curves", "--full"), "--full is the paper-sized sweep"),
    (("train", "--mode", "switch", "--epochs", 1), "at least 2 epochs"),
    (("train", "--mode", "curves", "--batch-size", 2000), "--batch-size 2000: must be between 1 and 256"),
    (("sync", "--devices", 9), "--devices 9: must be between 2 and 8"),
    (("sync", "--devices", 2, "--shards", "1,2"), "add up to 3, not to the batch size N=16"),
    (("sync", "--shape", "1,2,2,2"), "needs at least 4 samples"),
    (("transformer", "--placements", "post,middle"), "--placements 'middle' is unknown"),
    (("transformer", "--width", 10, "--heads", 4), "heads=4 must divide width=10"),
    (("iris", "--features", "1,1"), "two different indices"),
    (("selu", "--dropout", 0.2), "--dropout needs --dropout-kind"),
    (("padding", "--min-length", 40), "--min-length 40: must be between 1 and 16"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, argv, message):
    code, text = run_cli(*argv, "--out", tmp_path / "x.csv")
    assert code == 2 and message in text and "\n" not in text, text
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("argv, message", [
    (("transformer", "--width", 512), "width = 512 cannot be drawn: the window's control for it holds 256"),
    (("padding", "--mean", 2.345), "mean = 2.345 cannot be drawn: the window's control for it holds 2.35"),
    (("selu", "--tau", 1.2345), "tau = 1.2345 cannot be drawn"),
    (("train", "--mode", "figure1", "--seeds", "0,5"), "seeds = (0, 5) cannot be drawn"),
])
def test_a_figure_never_shows_another_run_than_asked(qapp, tmp_path, argv, message):
    """A figure is the view's controls: a value they would round or clamp is refused (its .csv/.json are fine)."""
    code, text = run_cli(*argv, "--out", tmp_path / "x.png")
    assert code == 2 and message in text and "\n" not in text, text
    assert not (tmp_path / "x.png").exists()


def test_train_needs_an_output_and_unwritable_folders_exit_1(tmp_path):
    code, text = run_cli("train")
    assert code == 2 and "--out" in text and "--save-model" in text
    for command in ("train", "sync", "transformer", "iris", "selu", "padding"):
        code, text = run_cli(command, "--out", tmp_path / "missing" / "x.json")
        assert code == 1 and "does not exist" in text and "\n" not in text, command
    code, text = run_cli("train", "--save-model", tmp_path / "m.txt")
    assert code == 2 and "unknown extension '.txt'" in text


def test_help_of_every_command_loads_neither_qt_nor_torch():
    out = run_fresh(f"""
    from explorer.cli import main
    for command in ("train", "sync", "transformer", "iris", "selu", "padding"):
        try:
            main([command, "--help"])
        except SystemExit as exc:
            print(command, exc.code)
    {PRINT_HEAVY}
    """, env={k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"})
    lines = out.strip().splitlines()
    assert lines[-1] == "[]"
    for command in ("train", "sync", "transformer", "iris", "selu", "padding"):
        assert f"{command} 0" in lines
    assert "norm-explorer train" in out and "--save-model" in out and "--shards" in out and "examples:" in out


def test_main_reports_a_bad_mode_in_one_line(capsys):
    assert main(["train", "--mode", "nope", "--out", "x.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("norm-explorer: error: --mode 'nope' is unknown") and err.count("\n") == 1
