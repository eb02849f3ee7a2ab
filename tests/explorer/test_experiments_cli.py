"""The `depth`, `steps` and `weights` commands: exit 0 with the file written, 2 with one line for
each kind of bad argument, 1 when the output folder cannot be written; --help works."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import argparse
import csv
import json
import xml.etree.ElementTree as ET

import pytest
from PySide6.QtGui import QImage

from explorer.cli_common import CliError
from explorer.experiments.cli import add_commands
from kernels.experiments import article_config, run_depth


def run_cli(*argv) -> tuple:
    """(exit code, error message) the way explorer/cli.py runs a command."""
    parser = argparse.ArgumentParser(prog="norm-explorer")
    sub = parser.add_subparsers(dest="command")
    add_commands(sub)
    args = parser.parse_args([str(a) for a in argv])
    try:
        return args.func(args), ""
    except CliError as exc:
        return exc.code, exc.message


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_depth_png(qapp, tmp_path):
    out = tmp_path / "depth.png"
    assert run_cli("depth", "--layers", 4, "--activation", "sigmoid", "--norm", "batch", "--init", "normal",
                   "--seed", 0, "--out", out, "--size", "900x600") == (0, "")
    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)


def test_depth_csv_equals_kernels(tmp_path):
    out = tmp_path / "depth.csv"
    code, _ = run_cli("depth", "--layers", 6, "--activation", "tanh", "--init", "xavier", "--seed", 3, "--out", out)
    assert code == 0
    rows = _rows(out)
    cfg = article_config(layers=6, activation="tanh", init="xavier", seed=3)
    expected = run_depth(cfg)
    assert len(rows) == 6
    assert [float(r["saturated"]) for r in rows] == [rec.saturated for rec in expected.layers]
    assert [float(r["grad_norm"]) for r in rows] == [rec.grad_norm for rec in expected.layers]


def test_depth_article_json(tmp_path):
    out = tmp_path / "article.json"
    assert run_cli("depth", "--article", "--norm", "batch", "--out", out)[0] == 0
    data = json.loads(out.read_text())
    assert data["config"]["norm"] == "batch" and data["config"]["norm_params"]["eps"] == 1e-8
    assert max(layer["saturated"] for layer in data["layers"]) == 0.0


def test_steps_svg_and_csv(qapp, tmp_path):
    svg = tmp_path / "steps.svg"
    assert run_cli("steps", "--steps", 30, "--batch-size", 16, "--drift", "shift", "--drift-step", 15,
                   "--tab", "freeze", "--out", svg, "--size", "1000x700") == (0, "")
    assert any(el.tag.endswith("path") for el in ET.parse(svg).getroot().iter())
    out = tmp_path / "steps.csv"
    assert run_cli("steps", "--steps", 25, "--channels", 2, "--momentum", "none", "--out", out)[0] == 0
    rows = _rows(out)
    assert len(rows) == 25 and "running_mean_c1" in rows[0]
    # the cumulative average: after step t the running mean is the mean of the t + 1 batch means
    batch = [float(r["batch_mean_c0"]) for r in rows]
    assert float(rows[-1]["running_mean_c0"]) == pytest.approx(sum(batch) / len(batch))


def test_weights_png_and_csv(qapp, tmp_path):
    png = tmp_path / "w.png"
    assert run_cli("weights", "--kind", "spectral_norm", "--iterations", 5, "--shape", "6,3,3,3", "--out", png,
                   "--size", "800x600") == (0, "")
    assert not QImage(str(png)).isNull()
    out = tmp_path / "w.csv"
    assert run_cli("weights", "--kind", "weight_norm", "--dim", 1, "--select", "0,2,0,0", "--out", out)[0] == 0
    rows = _rows(out)
    assert len(rows) == 8 * 4 * 3 * 3
    assert {r["i"] for r in rows if r["shares_norm_with_selected"] == "1"} == {"2"}


@pytest.mark.parametrize("argv, message", [
    (("depth", "--layers", 80), "--layers 80: must be between 1 and 50"),
    (("depth", "--layers", "five"), "--layers 'five': not an integer"),
    (("depth", "--activation", "swish"), "--activation 'swish' is unknown"),
    (("depth", "--norm", "magic"), "--norm 'magic' is unknown"),
    (("depth", "--kind", "conv", "--width", 1024), "the limit is 4000000"),
    (("depth", "--size", "10x10"), "--size '10x10'"),
    (("steps", "--momentum", 2), "--momentum 2: must be between 0 and 1"),
    (("steps", "--drift", "sideways"), "--drift 'sideways' is unknown"),
    (("steps", "--convention", "keras", "--momentum", "none"), "torch convention only"),
    (("steps", "--channel", 5), "--channel 5: must be between 0 and 2"),
    (("weights", "--kind", "batch"), "--kind 'batch' is unknown"),
    (("weights", "--shape", "8,4,3"), "--shape '8,4,3'"),
    (("weights", "--select", "9,0,0,0"), "--select o 9: must be between 0 and 7"),
    (("weights", "--dim", 7), "--dim 7: must be between 0 and 3"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, argv, message):
    code, text = run_cli(*argv, "--out", tmp_path / "x.png")
    assert code == 2 and message in text and "\n" not in text
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("command", ["depth", "steps", "weights"])
def test_unknown_extension_exits_2(tmp_path, command):
    code, text = run_cli(command, "--out", tmp_path / "x.txt")
    assert code == 2 and "unknown extension '.txt'" in text


@pytest.mark.parametrize("name", ["x.png", "x.csv", "x.json"])
def test_unwritable_folder_exits_1(tmp_path, name):
    code, text = run_cli("depth", "--out", tmp_path / "missing" / name)
    assert code == 1 and "does not exist" in text and "\n" not in text


@pytest.mark.parametrize("command, flag", [("depth", "--layers"), ("steps", "--batch-size"), ("weights", "--shape")])
def test_help(capsys, command, flag):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(command, "--help")
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert flag in text and "examples:" in text and f"norm-explorer {command}" in text
