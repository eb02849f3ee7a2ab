"""The headless command line: files by extension, exit codes 0/1/2, one-line messages."""

import csv
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from explorer.cli import main
from explorer.vocabulary import VIEWS
from kernels import normalize
from kernels.inputs import generate
from tests.fresh import PRINT_HEAVY, run_fresh


def run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def png_size(path):
    from PySide6.QtGui import QImage
    image = QImage(str(path))
    assert not image.isNull(), f"{path} does not decode"
    return image.width(), image.height()


def test_export_png_with_size_and_stats(tmp_path, capsys, qapp):
    out, stats = tmp_path / "figure.png", tmp_path / "stats.csv"
    code, err = run(["export", "--method", "group", "--groups", "4", "--layout", "NCHW", "--shape", "4,8,8,8",
                     "--input", "normal", "--seed", "0", "--out", str(out), "--stats", str(stats),
                     "--size", "1600x1000"], capsys)
    assert code == 0, err
    assert png_size(out) == (1600, 1000)
    rows = list(csv.DictReader(stats.open()))
    x = generate("normal", (4, 8, 8, 8), seed=0)
    res = normalize(x, "group", groups=4)
    assert len(rows) == res.sharing.n_groups == 16
    np.testing.assert_allclose([float(r["mean_before"]) for r in rows], np.ravel(res.mean), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([float(r["var_before"]) for r in rows], np.ravel(res.var), rtol=1e-5)
    assert [int(r["count"]) for r in rows] == [128] * 16


@pytest.mark.parametrize("view", list(VIEWS))
def test_export_every_view_as_svg(tmp_path, capsys, qapp, view):
    out = tmp_path / f"{view}.svg"
    code, err = run(["export", "--method", "layer", "--shape", "2,4,5,5", "--view", view, "--out", str(out)], capsys)
    assert code == 0, err
    root = ET.parse(out).getroot()
    tags = [el.tag.split("}")[-1] for el in root.iter()]
    if view == "values":  # heatmap tiles are pictures of the numbers; the group outlines are vector
        assert "image" in tags and "rect" in tags
    else:
        assert sum(t in ("path", "polygon", "polyline") for t in tags) > 5
    if view == "histograms":
        assert any(el.tag.endswith("path") for el in root.iter())


def test_export_npy_and_session_round_trip(tmp_path, capsys):
    session, out, again = tmp_path / "s.json", tmp_path / "out.npy", tmp_path / "again.npy"
    assert run(["export", "--method", "rms", "--layout", "NHWC", "--shape", "2,5,5,6", "--seed", "3",
                "--out", str(session)], capsys)[0] == 0
    data = json.loads(session.read_text())
    assert data["format"] == "norm-explorer-session" and data["version"] == 2
    assert data["settings"]["method"] == "rms" and data["settings"]["shape"] == [2, 5, 5, 6]
    assert run(["export", "--session", str(session), "--out", str(out)], capsys)[0] == 0
    expected = normalize(generate("shifted", (2, 5, 5, 6), "NHWC", seed=3), "rms", layout="NHWC").output
    np.testing.assert_array_equal(np.load(out), expected)
    assert run(["export", "--session", str(session), "--method", "layer", "--out", str(again)], capsys)[0] == 0
    assert not np.array_equal(np.load(again), expected)  # a flag overrides the session


def test_compare_four_panels(tmp_path, capsys, qapp):
    out = tmp_path / "fig2.png"
    code, err = run(["compare", "--methods", "batch,layer,instance,group", "--shape", "4,8,8,8", "--out", str(out),
                     "--size", "1400x600"], capsys)
    assert code == 0, err
    assert png_size(out) == (1400, 600)


def test_info_prints_formula_axes_and_code(capsys):
    assert main(["info", "group", "--groups", "2"]) == 0
    text = capsys.readouterr().out
    assert "GroupNorm" in text and "per sample, over channels in groups of 4 (2 groups)" in text
    assert "nn.GroupNorm(2, 8" in text and "layers.GroupNormalization(groups=2, axis=1" in text


@pytest.mark.parametrize("argv,needle", [
    (["export", "--method", "nope", "--out", "x.png"], "'nope'"),
    (["export", "--method", "group", "--groups", "3", "--out", "x.png"], "C=8 is not divisible by groups=3"),
    (["export", "--shape", "4,8,8", "--out", "x.png"], "has 3 axes but layout NCHW names 4"),
    (["export", "--out", "x.gif"], "'.gif'"),
    (["export", "--shape", "4,x,8,8", "--out", "x.png"], "4,x,8,8"),
    (["export", "--layout", "NCHQ", "--out", "x.png"], "Q"),
    (["export", "--method", "layer", "--groups", "2", "--out", "x.png"], "--groups does not apply to layer"),
    (["export", "--input", "gauss", "--out", "x.png"], "'gauss'"),
    (["export", "--eps", "-1", "--out", "x.png"], "eps=-1 must be at least 0"),
    (["export", "--size", "big", "--out", "x.png"], "--size 'big'"),
    (["export", "--device", "cuda:5", "--backend", "torch", "--out", "x.png"], "cuda:5"),
    (["export"], "--out"),
    (["export", "--dpi", "0", "--out", "x.png"], "--dpi 0: must be between"),
    (["export", "--dpi", "nan", "--out", "x.png"], "--dpi nan"),
    (["compare", "--dpi", "-3", "--out", "x.png"], "--dpi -3"),
    (["export", "--method", "group", "--groups", "inf", "--out", "x.npy"], "groups='inf' must be a finite number"),
    (["export", "--seed", "-1", "--out", "x.npy"], "--seed: seed=-1 must be between 0 and"),
    (["export", "--shape", "100000,100000,10,10", "--out", "x.csv"], "more than"),
    (["export", "--stats", "s.txt", "--out", "x.png"], "--stats 's.txt'"),
    (["export", "--method", "minmax", "--feature-range", "0,1,2", "--out", "x.npy"], "feature_range"),
    (["export", "--layout", "NCDHW", "--shape", "2,3,4,4,4", "--out", "x.npy"], "3 spatial axes"),
    (["compare", "--methods", "batch,foo", "--out", "x.png"], "'foo'"),
    (["info", "nope"], "'nope'"),
    (["frobnicate"], "frobnicate"),
])
def test_bad_arguments_exit_2_with_one_line(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = run(argv, capsys)
    assert code == 2
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_io_failures_exit_1(tmp_path, capsys):
    code, err = run(["export", "--out", str(tmp_path / "missing" / "x.csv")], capsys)
    assert code == 1 and "does not exist" in err and len(err.splitlines()) == 1
    assert err.count("cannot save") == 1
    code, err = run(["export", "--session", str(tmp_path / "none.json"), "--out", str(tmp_path / "x.csv")], capsys)
    assert code == 1 and "cannot read" in err


def test_malformed_session_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "norm-explorer-session", "version": 1, "settings": {"method": "group"')
    code, err = run(["export", "--session", str(bad), "--out", str(tmp_path / "x.csv")], capsys)
    assert code == 2 and "not valid JSON" in err


def test_help_lists_commands_with_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for word in ("export", "compare", "info", "examples:", "norm-explorer compare --methods"):
        assert word in text


@pytest.mark.parametrize("command", ["export", "compare", "explain", "info", "lesson", "gui"])
def test_every_command_prints_its_help(command, capsys):
    """argparse formats help with %: a parameter's doc with a literal % once made --help a traceback."""
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "usage: norm-explorer" in capsys.readouterr().out


def test_installed_script_runs_headless_without_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    out = tmp_path / "f.png"
    done = subprocess.run([sys.executable, "-m", "explorer", "export", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert out.exists() and "Traceback" not in done.stderr


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["info", "group"],
                                  ["export", "--method", "layer", "--shape", "2,3,4,4", "--out", "OUT.npy"]])
def test_commands_that_draw_nothing_import_neither_qt_nor_torch(argv, tmp_path):
    """--version, --help, info and data exports answer at once: no Qt, no pyqtgraph, no torch."""
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in argv]
    code = f"from explorer.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n{PRINT_HEAVY}"
    out = run_fresh(code + "\nprint(sorted(m for m in ('kernels.experiments', 'kernels.models') if m in sys.modules))",
                    env={k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"})
    heavy, experiments_or_models = out.strip().splitlines()[-2:]
    assert heavy == "[]"
    # the experiments' and the models' commands are listed from explorer.vocabulary, built only when run
    assert experiments_or_models == "[]"
