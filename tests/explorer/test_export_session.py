"""Exports and sessions from the window: PNG sizes, SVG vectors, CSV rows, .npy tensors,
atomic saves, clear refusals of bad session files that leave the session untouched."""

import csv
import json
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage

import explorer.atomic as atomic
from explorer.export import save_widget
from explorer.session import SessionError, read_session

from .conftest import RESULT_TIMEOUT, as_numpy, update_and_wait


@pytest.fixture
def warnings_shown(monkeypatch):
    shown = []
    monkeypatch.setattr("explorer.main_window.QMessageBox.warning", lambda *a: shown.append(a[2]))
    monkeypatch.setattr("explorer.widgets.export_dialog.QMessageBox.warning", lambda *a: shown.append(a[2]))
    return shown


def test_png_has_the_asked_layout_at_the_asked_dpi(tmp_path, window):
    """The size is the layout (in 96-dpi pixels), the DPI its density: 900x600 at 192 dpi is the
    same picture in 1800x1200 pixels, tagged 192 dpi."""
    for name, widget in window.export_targets().items():
        path = tmp_path / f"{name}.png"
        save_widget(widget, path, QSize(900, 600), dpi=192)
        image = QImage(str(path))
        assert (image.width(), image.height()) == (1800, 1200), name
        assert round(image.dotsPerMeterX() * 0.0254) == 192


def test_svg_is_vector(tmp_path, window):
    path = tmp_path / "hist.svg"
    save_widget(window.histograms, path)
    tags = [el.tag.split("}")[-1] for el in ET.parse(path).getroot().iter()]
    assert tags.count("path") > 3 and "image" not in tags


def test_stats_csv_rows_equal_groups(qtbot, tmp_path, window):
    update_and_wait(qtbot, window.state, method="group", params={"groups": 2})
    path = tmp_path / "stats.csv"
    assert window.export_stats(str(path))
    rows = list(csv.DictReader(path.open()))
    res = window.state.result
    assert len(rows) == res.sharing.n_groups
    np.testing.assert_allclose([float(r["mean_before"]) for r in rows], np.ravel(res.mean), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose([float(r["var_after"]) for r in rows], np.ravel(res.var) / (np.ravel(res.var) + 1e-5),
                               rtol=1e-4)


def test_tensors_to_npy(tmp_path, window):
    path = tmp_path / "out.npy"
    assert window.export_tensors(str(path))
    np.testing.assert_array_equal(np.load(path), as_numpy(window.state.result.output))
    np.testing.assert_array_equal(np.load(tmp_path / "out_input.npy"), window.state.scene.x)


def test_session_round_trip(qtbot, tmp_path, window):
    s = window.state
    update_and_wait(qtbot, s, method="lrn", params={"size": 3, "alpha": 0.5}, layout="NHWC", seed=4, bins=40,
                    log_counts=True, training=True)
    path = tmp_path / "session.json"
    assert window.save_session(str(path))
    data = json.loads(path.read_text())
    assert data["format"] == "norm-explorer-session" and data["version"] == 2
    before = as_numpy(s.result.output)
    update_and_wait(qtbot, s, method="batch", params={}, layout="NCHW", seed=0, log_counts=False)
    with qtbot.waitSignal(s.resultChanged, timeout=RESULT_TIMEOUT):
        assert window.open_session(str(path))
    assert (s.method, s.layout, s.seed, s.bins, s.log_counts) == ("lrn", "NHWC", 4, 40, True)
    np.testing.assert_array_equal(as_numpy(s.result.output), before)


@pytest.mark.parametrize("text,needle", [
    ('{"format": "norm-explorer-session", "version": 1, "settings": {"meth', "not valid JSON"),
    ('{"format": "norm-explorer-session", "version": 1, "settings": {"method": "group", "layout": "NCHW", '
     '"shape": "4,8,8,8"}}', "shape should be list"),
    ('{"format": "norm-explorer-session", "version": 1, "settings": {"method": "groupnorm", "layout": "NCHW", '
     '"shape": [4, 8, 8, 8]}}', "unknown method 'groupnorm'"),
    ('{"format": "norm-explorer-session", "version": 7, "settings": {}}', "newer Norm Explorer"),
    ('{"format": "norm-explorer-session", "version": 1, "settings": {"method": "group", "layout": "NCHW", '
     '"shape": [4, 8, 8, 8], "params": {"groups": 3}}}', "C=8 is not divisible by groups=3"),
    ('{"format": "norm-explorer-session", "version": 1, "settings": {"method": "batch", "layout": "NCHW", '
     '"shape": [4, 8, 8, 8], "seed": "zero"}}', "seed should be int"),
    ('[1, 2, 3]', "not a Norm Explorer session"),
    ('{"format": "norm-explorer-session", "version": 1, "settings": {"method": "batch", "layout": "NCHW", '
     '"shape": [4, 8, 8, 8], "colour": 1}}', "unknown setting(s) colour"),
])
def test_bad_sessions_are_refused_and_leave_the_session(qtbot, tmp_path, window, warnings_shown, text, needle):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(SessionError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        read_session(path)
    settings, result = window.state.settings, window.state.result
    assert not window.open_session(str(path))
    assert len(warnings_shown) == 1 and needle in warnings_shown[0] and "\n" not in warnings_shown[0]
    assert window.state.settings == settings and window.state.result is result


def test_unwritable_folder_shows_a_message_and_loses_nothing(tmp_path, window, warnings_shown):
    assert not window.save_session(str(tmp_path / "missing" / "s.json"))
    assert "does not exist" in warnings_shown[-1]
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        assert not window.export_stats(str(locked / "x.csv"))
        assert "cannot save" in warnings_shown[-1]


def test_a_failed_save_keeps_the_old_file(tmp_path, window, monkeypatch, warnings_shown):
    path = tmp_path / "stats.csv"
    path.write_text("precious")
    monkeypatch.setattr(atomic.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left")))
    assert not window.export_stats(str(path))
    assert path.read_text() == "precious"
    assert "No space left" in warnings_shown[-1]
    assert [p.name for p in tmp_path.iterdir()] == ["stats.csv"]  # no temporary file left behind


def test_saved_files_get_normal_permissions(tmp_path, window):
    path = tmp_path / "s.json"
    window.save_session(str(path))
    assert path.stat().st_mode & 0o644 == 0o644


def _action(window, text):
    """The File menu's action whose text starts with `text` (& marks ignored)."""
    actions = [a for a in window.menu_file.actions() if a.text().replace("&", "").startswith(text)]
    assert len(actions) == 1, text
    return actions[0]


def test_file_menu_actions_open_their_dialogs(qtbot, tmp_path, window, monkeypatch, warnings_shown):
    """As a person uses them: each action opens its file dialog (answered here) and does its job.
    QAction.triggered passes checked=False; it must never reach the slots as a path."""
    asked = []

    def answer(path):
        def dialog(parent, title, default="", file_filter=""):
            asked.append(title)
            return str(path), ""
        return dialog

    save = monkeypatch.setattr
    save("explorer.main_window.QFileDialog.getSaveFileName", answer(tmp_path / "session.json"))
    _action(window, "Save session").trigger()
    assert json.loads((tmp_path / "session.json").read_text())["settings"]["method"] == "batch"
    save("explorer.main_window.QFileDialog.getSaveFileName", answer(tmp_path / "stats.csv"))
    _action(window, "Export statistics").trigger()
    assert len(list(csv.DictReader((tmp_path / "stats.csv").open()))) == window.state.result.sharing.n_groups
    save("explorer.main_window.QFileDialog.getSaveFileName", answer(tmp_path / "out.npy"))
    _action(window, "Export tensors").trigger()
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), as_numpy(window.state.result.output))
    update_and_wait(qtbot, window.state, method="layer", seed=9)
    save("explorer.main_window.QFileDialog.getOpenFileName", answer(tmp_path / "session.json"))
    with qtbot.waitSignal(window.state.resultChanged, timeout=RESULT_TIMEOUT):
        _action(window, "Open session").trigger()
    assert window.state.method == "batch" and window.state.seed == 0
    data = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    np.save(tmp_path / "mine.npy", data)
    save("explorer.main_window.QFileDialog.getOpenFileName", answer(tmp_path / "mine.npy"))
    save("explorer.main_window.OpenTensorDialog.exec", lambda dialog: True)  # the layout dialog, accepted
    with qtbot.waitSignal(window.state.resultChanged, timeout=RESULT_TIMEOUT):
        _action(window, "Open tensor").trigger()
    np.testing.assert_array_equal(window.state.scene.x, data)
    assert asked == ["Save session", "Export statistics", "Export tensors", "Open session", "Open tensor or image"]
    assert not warnings_shown
    save("explorer.main_window.QFileDialog.getSaveFileName", lambda *a: ("", ""))  # a cancelled dialog
    _action(window, "Save session").trigger()
    assert not warnings_shown


def _cut_labels(window) -> list:
    """Visible labels outside scroll areas whose text needs more room than they have."""
    from PySide6.QtWidgets import QAbstractScrollArea, QLabel

    def scrolls(widget):
        while widget is not None:
            if isinstance(widget, QAbstractScrollArea):
                return True
            widget = widget.parentWidget()
        return False

    cut = []
    for label in window.findChildren(QLabel):
        if not label.isVisible() or not label.text() or scrolls(label.parentWidget()):
            continue
        need = label.heightForWidth(label.width()) if label.wordWrap() else label.sizeHint().height()
        wide = not label.wordWrap() and label.sizeHint().width() > label.width() + 1
        hidden = label.visibleRegion().boundingRect() != label.rect()  # partly outside its parent or window
        if wide or hidden or need > label.height() + 1:
            cut.append((label.objectName(), label.text()[:60]))
    return cut


@pytest.mark.parametrize("method", ["batch", "group", "lrn", "conditional_batch"])
def test_no_caption_is_cut_in_a_window_export(qtbot, window, method):
    """Exported windows used to cut sidebars and captions mid-sentence: at the export size every
    caption outside a scrolling panel has the room its text needs (the layout is the same at any DPI)."""
    window.resize(1600, 1000)
    update_and_wait(qtbot, window.state, method=method)
    window.settle()
    assert _cut_labels(window) == []
    window.start_lesson("train-vs-eval")
    qtbot.waitUntil(lambda: not window.state.computing, timeout=30000)
    window.settle()
    assert _cut_labels(window) == []
