"""dtypes and array types: float32/float64 keep theirs, half precision computes in float32 and
returns its own dtype; numpy in, torch out and the other way round."""

import numpy as np
import pytest

from kernels import METHODS, normalize
from kernels.inputs import generate

from .references import torch

F = torch.nn.functional


@pytest.mark.parametrize("name", list(METHODS))
def test_float16_numpy_returns_float16_computed_in_float32(name):
    x = generate("shifted", (4, 6, 3, 3), seed=2)
    half = normalize(x.astype(np.float16), name)
    full = normalize(x.astype(np.float16).astype(np.float32), name)
    assert half.output.dtype == np.float16
    assert np.asarray(half.mean).dtype == np.float32
    np.testing.assert_array_equal(half.output, full.output.astype(np.float16))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_torch_tensors_match_torch_group_norm(dtype):
    t = torch.from_numpy(generate("shifted", (4, 6, 3, 3), seed=2)).to(getattr(torch, dtype))
    res = normalize(t, "group", backend="torch", groups=3)
    assert res.output.dtype == getattr(torch, dtype)
    expected = F.group_norm(t.float(), 3).to(t.dtype)
    torch.testing.assert_close(res.output, expected)


def test_integer_input_computes_in_float32():
    x = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4)
    res = normalize(x, "layer")
    assert res.output.dtype == np.float32
    np.testing.assert_allclose(res.output, F.layer_norm(torch.from_numpy(x).float(), (3, 4, 4)).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_torch_in_numpy_out_and_numpy_in_torch_out():
    x = generate("normal", (2, 4, 3, 3), seed=0)
    a = normalize(torch.from_numpy(x), "batch", backend="numpy")
    b = normalize(x, "batch", backend="torch")
    assert isinstance(a.output, np.ndarray) and isinstance(b.output, torch.Tensor)
    assert b.output.device.type == "cpu" and b.device == "cpu"
    np.testing.assert_allclose(a.output, b.output.numpy(), rtol=1e-6, atol=1e-6)


def test_lists_are_accepted():
    res = normalize([[[1.0, 2.0, 3.0]], [[2.0, 4.0, 9.0]]], "layer", layout="NCL")
    np.testing.assert_allclose(res.output, F.layer_norm(torch.tensor([[[1.0, 2.0, 3.0]], [[2.0, 4.0, 9.0]]]),
                                                        (1, 3)).numpy(), rtol=1e-6)


def test_rms_eps_none_on_half_is_float32_eps_as_in_torch():
    """torch takes eps=None from the computation dtype: float32's eps for float16 inputs."""
    t = (torch.from_numpy(generate("normal", (2, 3, 4, 4), seed=0)) * 0.03).half()
    res = normalize(t, "rms", backend="torch")
    torch.testing.assert_close(res.output, F.rms_norm(t, (3, 4, 4)))
