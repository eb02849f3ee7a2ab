"""Trying to break it: hostile files, sessions and command lines are refused with one line, nothing
is executed or lost, the process neither crashes nor hangs nor swallows memory; saves killed
mid-write leave no litter for good; long sessions hold memory and widgets flat."""

import json
import os
import signal
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

from explorer.atomic import TEMP_MARK, write_bytes
from explorer.file_loading import LoadError, candidates, load
from explorer.session import SessionError, open_session, read_session
from explorer.settings import DEFAULTS, SettingError
from explorer.theme import all_widgets

from .conftest import update_and_wait


def _npy_bytes(header: str, data: bytes = b"") -> bytes:
    """A .npy file with a hand-written header (padded as version 1.0 wants)."""
    body = header.encode("latin1")
    pad = 64 - (10 + len(body) + 1) % 64
    body += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body + data


@pytest.mark.parametrize("header,needle", [
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4, 4), 'x': 'unclosed}", "bad header"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", "declares 1,000,000,000,000"),
    ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4, 4), }", "truncated"),
    ("{'descr': '|O', 'fortran_order': False, 'shape': (2, 2), }", "pickled"),
])
def test_malformed_or_lying_npy_files_are_refused_in_one_line(tmp_path, header, needle):
    path = tmp_path / "x.npy"
    path.write_bytes(_npy_bytes(header, b"\0" * 16))
    for read in (candidates, load):
        with pytest.raises(LoadError, match=needle) as info:
            read(path)
        assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_a_tiny_npz_declaring_a_trillion_elements_is_refused_unread(tmp_path):
    path = tmp_path / "claim.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", _npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, "
                                             "1000000), }", b"\0" * 64))
    assert path.stat().st_size < 600
    with pytest.raises(LoadError, match="declares 1,000,000,000,000 elements"):
        load(path, "x")


def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path):
    """A 300 MB member (75M float32 zeros, over the budget) compressed to about 300 KB: refused from its
    header, without the 300 MB ever being inflated."""
    path = tmp_path / "bomb.npz"
    elements = 75 * 2**20
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive, \
            archive.open("x.npy", "w", force_zip64=True) as member:
        member.write(_npy_bytes(f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({elements},), }}"))
        chunk = bytes(1 << 22)
        for _ in range(elements * 4 // len(chunk)):
            member.write(chunk)
    assert path.stat().st_size < 2 * 2**20
    tracemalloc.start()
    with pytest.raises(LoadError, match="declares"):
        load(path, "x")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20  # nothing like the 300 MB it would inflate to


def test_a_fifo_named_like_a_tensor_does_not_hang(tmp_path):
    fifo = tmp_path / "x.npy"
    os.mkfifo(fifo)
    with pytest.raises(LoadError, match="not a regular file"):
        candidates(fifo)
    with pytest.raises(LoadError, match="not a regular file"):
        load(fifo)


def _session(tmp_path, settings: dict, name="s.json", version=2, extra=None) -> str:
    path = tmp_path / name
    path.write_text(json.dumps({"format": "norm-explorer-session", "version": version, "settings": settings,
                                **(extra or {})}))
    return str(path)


BASE = {"method": "batch", "layout": "NCHW", "shape": [4, 8, 6, 6]}


@pytest.mark.parametrize("changes,needle", [
    ({"shape": [10**30, 8, 6, 6]}, "more than"), ({"shape": [2e9, 8, 6, 6]}, "shape should be a list of integers"),
    ({"shape": [4, 8, 2**63, 6]}, "more than"), ({"seed": 2**40}, "seed=1099511627776 must be between 0 and"),
    ({"layout": "N" * 2 * 10**6}, "too large"), ({"layout": "N" * 1000}, "is not a short non-empty text"),
    ({"method": "x" * 300}, "unknown method"),
])
def test_hostile_sessions_are_refused_in_one_short_line(tmp_path, changes, needle):
    path = _session(tmp_path, {**BASE, **changes})
    with pytest.raises(SessionError, match=needle) as info:
        open_session(path, None)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_deeply_nested_json_and_special_files_are_refused(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 10000 + "]" * 10000)
    with pytest.raises(SessionError, match="nested too deeply|not a Norm Explorer session"):
        read_session(deep)
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(SessionError, match="not a regular file"):
        read_session(link)
    with pytest.raises(SessionError, match="not a regular file"):
        read_session(tmp_path)


@pytest.mark.parametrize("file,needle", [
    ({"path": "/nonexistent/missing.npy", "key": "", "layout": "NCHW"}, "No such file"),
    ({"path": "FOLDER", "key": "", "layout": "NCHW"}, "not a regular file"),
    ({"path": "DATA", "key": "", "layout": "NCL"}, "axes but layout NCL"),
])
def test_a_session_naming_a_bad_file_is_refused_and_changes_nothing(qtbot, window, tmp_path, monkeypatch, file,
                                                                   needle):
    np.save(tmp_path / "data.npy", np.zeros((2, 3, 4, 4), np.float32))
    (tmp_path / "folder.npy").mkdir()
    file = dict(file, path=file["path"].replace("FOLDER", str(tmp_path / "folder.npy")).replace(
        "DATA", str(tmp_path / "data.npy")))
    path = _session(tmp_path, {**BASE, "input": "file", "file": file})
    shown = []
    monkeypatch.setattr("explorer.main_window.QMessageBox.warning", lambda *a: shown.append(a[2]))
    before, result = window.state.settings, window.state.result
    assert not window.open_session(path)
    assert len(shown) == 1 and needle in shown[0] and "\n" not in shown[0]
    assert window.state.settings == before and window.state.result is result


def test_the_command_line_refuses_a_session_that_is_a_device(tmp_path, capsys):
    from explorer.cli import main
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    code = main(["export", "--session", str(link), "--out", str(tmp_path / "x.csv")])
    err = capsys.readouterr().err.strip()
    assert code in (1, 2) and "not a regular file" in err and len(err.splitlines()) == 1


def test_seeds_beyond_a_spin_box_are_refused_and_the_controls_stay_true(qtbot, window):
    state = window.state
    update_and_wait(qtbot, state, seed=7, bins=40)
    state.update(seed=2**31)
    assert "seed=2147483648 must be between 0 and 2147483647" in state.error
    assert window.controls.spin_seed.value() == 7 and window.controls.spin_bins.value() == 40
    with pytest.raises(SettingError):
        DEFAULTS.replace(seed=2**63)


@pytest.mark.parametrize("argv,needle", [
    (["export", "--weight", "nan", "--out", "x.npy"], "--weight 'nan': every value must be a finite number"),
    (["export", "--bias", "inf", "--out", "x.npy"], "--bias 'inf'"),
    (["export", "--shape=", "--out", "x.npy"], "--shape ''"),
    (["gui", "--tab", "nope"], "invalid choice: 'nope'"),
    (["export", "--bias", "-1,0", "--out", "x.npy"], "bias of shape (2,) fits neither"),
])
def test_bad_command_lines_are_one_line(argv, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = subprocess.run([sys.executable, "-m", "explorer", *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    err = done.stderr.strip()
    assert done.returncode == 2, err
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not (tmp_path / "x.npy").exists()


def test_weight_and_bias_as_a_list_or_a_npy_file_match_torch(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from explorer.cli import main
    from kernels import generate
    np.save(tmp_path / "w.npy", np.linspace(0.5, 2.0, 8))
    out = tmp_path / "y.npy"
    bias = ",".join(str(v) for v in np.linspace(-1, 1, 8))
    assert main(["export", "--method", "group", "--groups", "2", "--weight", str(tmp_path / "w.npy"), "--bias", bias,
                 "--out", str(out)]) == 0
    x = torch.from_numpy(generate("shifted", (4, 8, 8, 8), seed=0))
    expected = torch.nn.functional.group_norm(x, 2, torch.linspace(0.5, 2.0, 8), torch.linspace(-1, 1, 8))
    np.testing.assert_allclose(np.load(out), expected.numpy(), rtol=1e-5, atol=1e-5)
    assert main(["export", "--weight", "1,2", "--out", str(tmp_path / "z.npy")]) == 2
    assert "weight of shape (2,) fits neither one value per channel (C=8)" in capsys.readouterr().err


def test_a_save_killed_mid_write_leaves_no_litter_for_good(tmp_path):
    """A child process killed inside an atomic save leaves its temporary file; the next save to the
    folder removes it (and leaves a live writer's alone)."""
    target = tmp_path / "big.npy"
    code = ("import os, sys\nfrom explorer.atomic import atomic_path\n"
            f"with atomic_path({str(target)!r}) as tmp:\n    open(tmp, 'wb').write(b'x' * 1000)\n"
            "    print(tmp, flush=True)\n    sys.stdin.read()\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    temp = child.stdout.readline().strip()
    assert TEMP_MARK in temp and os.path.exists(temp)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert os.path.exists(temp) and not target.exists()  # the old file (none) untouched, the litter there
    write_bytes(tmp_path / "other.csv", b"a,b\n")
    assert not os.path.exists(temp) and (tmp_path / "other.csv").read_bytes() == b"a,b\n"


def test_a_long_session_holds_widgets_and_memory_flat(qtbot, window, tmp_path, monkeypatch):
    """A hundred steps through the window's own actions and menus: the widget count and the
    process's memory stay flat (each export dialog and right-click menu used to stay alive)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QDialog

    monkeypatch.setattr(QDialog, "exec", lambda self: (QTimer.singleShot(0, self.reject), 0)[1])

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def steps(k):
        for i in range(k):
            update_and_wait(qtbot, window.state, method=("batch", "group", "layer", "instance")[i % 4], seed=i % 5)
            window.export_figure()
            # The right-click menu runs its own loop; close it as soon as it is up.
            QTimer.singleShot(0, lambda: QApplication.activePopupWidget() and QApplication.activePopupWidget().close())
            window.tensor_view.customContextMenuRequested.emit(window.tensor_view.rect().center())
            qtbot.wait(1)

    steps(20)
    qtbot.wait(20)
    widgets, memory = len(all_widgets(QApplication.instance())), rss()
    steps(80)  # a dialog or menu kept alive per step shows as 80 widgets; a leaked scene as hundreds of MB
    qtbot.wait(20)
    assert len(all_widgets(QApplication.instance())) <= widgets + 5
    assert rss() - memory < 40 * 2**20


def test_nothing_in_a_session_is_executed(tmp_path):
    """A session is data: a value that looks like code is a bad value, never run."""
    path = _session(tmp_path, {**BASE, "method": "__import__('os').system('touch pwned')"})
    with pytest.raises(SessionError, match="unknown method"):
        open_session(path, None)
    assert not (tmp_path / "pwned").exists() and not os.path.exists("pwned")


def test_a_huge_lrn_window_computes_at_once_and_equals_torch(tmp_path):
    """--lrn-size 1000000000 used to print a 27-line MemoryError traceback: a window wider than 2C − 1
    covers every channel, so it costs what 2C − 1 does."""
    torch = pytest.importorskip("torch")
    from explorer.cli import main
    from kernels import generate
    out = tmp_path / "y.npy"
    assert main(["export", "--method", "lrn", "--lrn-size", "1000000000", "--out", str(out)]) == 0
    x = torch.from_numpy(generate("shifted", (4, 8, 8, 8), seed=0))
    expected = torch.nn.functional.local_response_norm(x, 15, alpha=1e-4 * 15 / 10**9)
    np.testing.assert_allclose(np.load(out), expected.numpy(), rtol=1e-6, atol=1e-6)
