"""Opening a person's own files: npy, npz, pt state dicts, images; pickled, truncated and
unsupported files are refused with one message and the session stays as it was."""

import pickle

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from explorer.file_loading import LoadError, candidates, load

from .conftest import RESULT_TIMEOUT

torch = pytest.importorskip("torch")


@pytest.fixture
def warnings_shown(monkeypatch):
    shown = []
    monkeypatch.setattr("explorer.main_window.QMessageBox.warning", lambda *a: shown.append(a[2]))
    return shown


def test_npy_npz_pt_and_image(tmp_path):
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "b.npz", first=a, second=a[:, :, 0])
    torch.save({"layer1": {"weight": torch.ones(4, 3, 3, 3), "bias": torch.zeros(4)}, "act": torch.from_numpy(a)},
               tmp_path / "c.pt")
    image = QImage(6, 4, QImage.Format.Format_RGB888)
    image.fill(QColor(255, 0, 51))
    image.save(str(tmp_path / "d.png"))
    np.testing.assert_array_equal(load(tmp_path / "a.npy"), a)
    assert [c.key for c in candidates(tmp_path / "b.npz")] == ["first", "second"]
    np.testing.assert_array_equal(load(tmp_path / "b.npz", "second"), a[:, :, 0])
    keys = [c.key for c in candidates(tmp_path / "c.pt")]
    assert keys == ["layer1.weight", "act"]  # the 1-D bias has too few axes
    np.testing.assert_array_equal(load(tmp_path / "c.pt", "act"), a)
    img = load(tmp_path / "d.png")
    assert img.shape == (1, 3, 4, 6)
    np.testing.assert_allclose(img[0, :, 0, 0], [1.0, 0.0, 0.2], atol=1e-6)


@pytest.mark.parametrize("make,needle", [
    (lambda p: np.save(p / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True), "pickled"),
    (lambda p: (p / "x.npy").write_bytes(open_bytes_truncated()), "truncated"),
    (lambda p: (p / "x.npz").write_bytes(b"PK\x03\x04garbage"), "not a .npz"),
    (lambda p: (p / "x.pt").write_bytes(pickle.dumps({"evil": object()})), "beyond tensors"),
    (lambda p: (p / "x.png").write_bytes(b"\x89PNG\r\n\x1a\nnope"), "not a readable image"),
    (lambda p: (p / "x.txt").write_text("1 2 3"), "unsupported file type"),
    (lambda p: np.save(p / "x.npy", np.zeros(5)), "2 to 4 are needed"),
    (lambda p: np.save(p / "x.npy", np.array([["a", "b"]])), "not a real number type"),
])
def test_bad_files_are_refused(tmp_path, make, needle):
    make(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(LoadError) as info:
        candidates(path)
        load(path)
    assert needle in str(info.value) and "\n" not in str(info.value)


def open_bytes_truncated():
    import io
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((4, 4, 4, 4)))
    return buffer.getvalue()[:200]


def test_window_opens_a_file_and_refuses_a_bad_one(qtbot, tmp_path, window, warnings_shown):
    a = np.random.default_rng(1).standard_normal((2, 5, 6, 3)).astype(np.float32)
    np.save(tmp_path / "good.npy", a)
    with qtbot.waitSignal(window.state.resultChanged, timeout=RESULT_TIMEOUT):
        assert window.open_file(str(tmp_path / "good.npy"), key="", layout="NHWC")
    s = window.state
    assert s.input == "file" and s.layout == "NHWC" and s.shape == (2, 5, 6, 3)
    np.testing.assert_array_equal(s.scene.x, a)
    settings, result = s.settings, s.result
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    assert not window.open_file(str(tmp_path / "bad.npy"), key="", layout="NCHW")
    assert len(warnings_shown) == 1 and "bad.npy" in warnings_shown[0]
    assert s.settings == settings and s.result is result


def test_open_dialog_offers_tensors_and_layouts(qtbot, tmp_path):
    from explorer.widgets.open_dialog import OpenTensorDialog
    np.savez(tmp_path / "m.npz", seq=np.zeros((2, 3, 7), np.float32), img=np.zeros((1, 3, 4, 4), np.float32))
    dialog = OpenTensorDialog(tmp_path / "m.npz")
    qtbot.addWidget(dialog)
    assert dialog.combo_tensor.count() == 2
    dialog.combo_tensor.setCurrentIndex(0)
    assert dialog.layout in ("NCL", "NCHW")
    layouts = [dialog.combo_file_layout.itemText(i) for i in range(dialog.combo_file_layout.count())]
    assert len(layouts) == len(set(layouts)) and all(len(lay) == len(dialog.candidate.shape) for lay in layouts)


def test_big_endian_sparse_and_mixed_files(tmp_path):
    a = np.arange(2 * 3 * 4 * 4, dtype=">f8").reshape(2, 3, 4, 4)
    np.save(tmp_path / "be.npy", a)
    np.testing.assert_array_equal(load(tmp_path / "be.npy"), a.astype(np.float64))
    torch.save({"sparse": torch.eye(16).reshape(1, 1, 16, 16).to_sparse(),
                "dense": torch.ones(2, 3, 4)}, tmp_path / "s.pt")
    assert [c.key for c in candidates(tmp_path / "s.pt")] == ["dense"]
    with pytest.raises(LoadError, match="sparse"):
        load(tmp_path / "s.pt", "sparse")
    np.savez(tmp_path / "mixed.npz", good=np.ones((2, 3, 4)), bad=np.array([{"a": 1}], dtype=object))
    assert [c.key for c in candidates(tmp_path / "mixed.npz")] == ["good"]
    with pytest.raises(LoadError, match="pickled"):
        load(tmp_path / "mixed.npz", "bad")
    (tmp_path / "garbage.npy").write_bytes(b"not numpy at all")
    with pytest.raises(LoadError, match="not a .npy file"):
        candidates(tmp_path / "garbage.npy")


def test_session_reopens_a_file_input_from_its_path_and_key(qtbot, tmp_path, window):
    folder = tmp_path / "run#3"
    folder.mkdir()
    data = np.random.default_rng(2).standard_normal((2, 4, 5, 3)).astype(np.float32)
    np.savez(folder / "acts.npz", layer1=data, other=np.zeros((2, 2)))
    with qtbot.waitSignal(window.state.resultChanged, timeout=RESULT_TIMEOUT):
        assert window.open_file(str(folder / "acts.npz"), key="layer1", layout="NCHW")
    assert window.state.file.label == "acts.npz [layer1]"
    session = tmp_path / "s.json"
    assert window.save_session(str(session))
    with qtbot.waitSignal(window.state.resultChanged, timeout=RESULT_TIMEOUT):
        window.state.update(input="normal", shape=(2, 3, 4, 4))
    with qtbot.waitSignal(window.state.resultChanged, timeout=RESULT_TIMEOUT):
        assert window.open_session(str(session))
    assert window.state.input == "file" and window.state.file.key == "layer1"
    np.testing.assert_array_equal(window.state.scene.x, data)
