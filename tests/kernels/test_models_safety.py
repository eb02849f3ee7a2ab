"""Malformed, truncated and hostile model files are refused with one line (a ModelError, a ValueError)
and nothing in them is executed, imported or allocated."""

import io
import json
import pickle
import struct
import sys
import zipfile

import numpy as np
import pytest

from kernels.models import ModelError, open_model, read_npy

from .model_files import need

torch = pytest.importorskip("torch", reason="torch is not installed")


def refused(path, match) -> str:
    with pytest.raises(ModelError, match=match) as info:
        open_model(path)
    text = str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in text and len(text) < 400
    return text


class Payload:
    """Unpickling it would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_pickle_payload_in_a_pt_file_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"bn.weight": torch.ones(3), "evil": Payload(marker)}, tmp_path / "zip.pt")
    (tmp_path / "raw.pth").write_bytes(pickle.dumps(Payload(marker)))
    for name in ("zip.pt", "raw.pth"):
        refused(tmp_path / name, "pickled Python objects")
    assert not marker.exists()


def test_a_file_never_imports_the_module_it_names(tmp_path):
    sys.modules.pop("tests.kernels.model_payload", None)
    # GLOBAL tests.kernels.model_payload boom; EMPTY_TUPLE; REDUCE; STOP: what a hostile checkpoint holds
    data = b"\x80\x02ctests.kernels.model_payload\nboom\n)R."
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("archive/data.pkl", data)
        zf.writestr("archive/version", "3\n")
    (tmp_path / "hostile.pt").write_bytes(buffer.getvalue())
    (tmp_path / "hostile_raw.pt").write_bytes(data)
    for name in ("hostile.pt", "hostile_raw.pt"):
        with pytest.raises(ModelError):
            open_model(tmp_path / name)
    assert "tests.kernels.model_payload" not in sys.modules


def test_a_whole_saved_module_is_refused_with_advice(tmp_path):
    torch.save(torch.nn.BatchNorm2d(3), tmp_path / "module.pt")
    text = refused(tmp_path / "module.pt", "pickled Python objects")
    assert "state_dict()" in text and "import path" in text


def test_truncated_and_garbage_files(tmp_path):
    good = io.BytesIO()
    torch.save(torch.nn.BatchNorm2d(3).state_dict(), good)
    (tmp_path / "half.pt").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    refused(tmp_path / "half.pt", "truncated")
    (tmp_path / "noise.pth").write_bytes(np.random.default_rng(0).bytes(5000))
    refused(tmp_path / "noise.pth", "damaged or holds pickled Python objects")
    (tmp_path / "empty.pt").write_bytes(b"")
    refused(tmp_path / "empty.pt", "empty")
    refused(tmp_path / "missing.pt", "no such file")
    (tmp_path / "model.h5").write_bytes(b"x")
    refused(tmp_path / "model.h5", "unsupported file type")


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({}))
        zf.writestr("archive/data/0", bytes(64 * 1024 ** 2))  # 64 MB of zeros stored in about 64 KB
    (tmp_path / "bomb.pt").write_bytes(buffer.getvalue())
    assert (tmp_path / "bomb.pt").stat().st_size < 1024 ** 2
    refused(tmp_path / "bomb.pt", "zip bomb")


def safetensors_bytes(header: dict, data: bytes = b"", size=None) -> bytes:
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head) if size is None else size) + head + data


def test_malformed_safetensors(tmp_path):
    cases = {
        "huge_header": (safetensors_bytes({}, size=10 ** 12), "header claims"),
        "not_json": (struct.pack("<Q", 4) + b"{{{{", "not JSON"),
        "short": (b"\x01\x02", "truncated"),
        "beyond": (safetensors_bytes({"bn.running_var": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}},
                                     b"\x00" * 8), "truncated or damaged"),
        "mismatch": (safetensors_bytes({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\x00" * 8),
                     "truncated or damaged"),
        "huge_tensor": (safetensors_bytes({"w": {"dtype": "F32", "shape": [1 << 20, 1 << 20],
                                                 "data_offsets": [0, 4]}}, b"\x00" * 4), "declares"),
        "bad_dtype": (safetensors_bytes({"w": {"dtype": "PY_OBJECT", "shape": [1], "data_offsets": [0, 4]}},
                                        b"\x00" * 4), "unsupported dtype"),
    }
    for name, (data, match) in cases.items():
        (tmp_path / f"{name}.safetensors").write_bytes(data)
        refused(tmp_path / f"{name}.safetensors", match)


def test_malformed_and_hostile_onnx(tmp_path):
    need("onnx")
    import onnx
    from onnx import TensorProto, helper

    def model_with(tensor):
        node = helper.make_node("BatchNormalization", ["x", "w", "w", "w", "w"], ["y"])
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 2])], [tensor])
        return helper.make_model(graph)

    def raw(dims, nbytes):
        t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=dims)
        t.raw_data = b"\x00" * nbytes
        return t

    onnx.save(model_with(raw([1 << 40], 4)), tmp_path / "huge.onnx")
    refused(tmp_path / "huge.onnx", "declares")
    onnx.save(model_with(raw([1000], 12)), tmp_path / "short.onnx")
    refused(tmp_path / "short.onnx", "truncated or damaged")
    outside = raw([3], 0)
    outside.ClearField("raw_data")
    outside.data_location = TensorProto.EXTERNAL
    outside.external_data.add(key="location", value="../secret.bin")
    onnx.save(model_with(outside), tmp_path / "outside.onnx")
    (tmp_path.parent / "secret.bin").write_bytes(b"\x00" * 12)
    refused(tmp_path / "outside.onnx", "outside the model's folder")
    good = model_with(raw([3], 12)).SerializeToString()
    (tmp_path / "cut.onnx").write_bytes(good[: len(good) - 30])
    refused(tmp_path / "cut.onnx", "truncated|not an ONNX model")
    (tmp_path / "noise.onnx").write_bytes(np.random.default_rng(1).bytes(3000))
    refused(tmp_path / "noise.onnx", "truncated|not an ONNX model")


def test_a_pickled_npy_input_is_refused(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelError, match="pickled"):
        read_npy(tmp_path / "objects.npy")
    (tmp_path / "fake.npy").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ModelError, match="no NumPy header"):
        read_npy(tmp_path / "fake.npy")
