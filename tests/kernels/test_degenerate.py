"""Degenerate inputs give a defined, finite result and a warning that says why in words."""

import numpy as np
import pytest

from kernels import METHODS, normalize
from kernels.inputs import generate

from .references import torch

F = torch.nn.functional


def test_batchnorm_with_one_value_per_channel_explains_torchs_error():
    x = generate("normal", (1, 4, 1, 1), seed=0)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        F.batch_norm(torch.from_numpy(x), None, None, training=True)
    res = normalize(x, "batch", bias=0.5)
    assert np.all(res.output == 0.5)
    assert any("Expected more than 1 value per channel when training" in w for w in res.warnings)
    assert any("variance is 0" in w for w in res.warnings)


def test_batchnorm_single_value_keeps_running_var():
    x = generate("normal", (1, 2, 1, 1), seed=0)
    res = normalize(x, "batch", running_mean=np.zeros(2), running_var=np.ones(2))
    assert np.all(res.running_var == 1.0)
    assert any("running_var was not updated" in w for w in res.warnings)


@pytest.mark.parametrize("name", list(METHODS))
def test_constant_input_is_finite_and_explained(name):
    x = generate("constant", (2, 4, 3, 3), seed=0)
    res = normalize(x, name)
    assert np.all(np.isfinite(res.output)), name
    if name not in ("lrn", "rms", "pixel", "frn"):  # the non-centering ones see a nonzero mean square
        assert res.warnings, f"{name} gave no warning for an all-constant input"


@pytest.mark.parametrize("name", ["batch", "layer", "group", "instance", "channel", "custom"])
def test_zero_variance_with_eps_zero_gives_zero_not_nan(name):
    x = generate("constant", (2, 4, 3, 3), seed=0)
    with np.errstate(all="ignore"):
        res = normalize(x, name, eps=0.0)
    assert np.all(res.output == 0)
    assert any("torch gives NaN" in w for w in res.warnings)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name", list(METHODS))
def test_nan_and_inf_inputs_are_left_out_with_a_warning(name, backend):
    x = generate("normal", (3, 4, 3, 3), seed=4)
    x[0, 1, 1, 1], x[2, 3, 0, 0] = np.nan, np.inf
    res = normalize(x, name, backend=backend)
    out = res.output.numpy() if backend == "torch" else res.output
    assert np.all(np.isfinite(out)), name
    assert out[0, 1, 1, 1] == 0 or name in ("frn",), name  # frn's TLU maps 0 to max(0, tau)
    assert any("NaN/Inf" in w for w in res.warnings)
    clean = x.copy()
    clean[0, 1, 1, 1] = clean[2, 3, 0, 0] = 0
    assert np.all(np.isfinite(np.asarray(res.mean))) and np.all(np.isfinite(np.asarray(res.var)))


@pytest.mark.parametrize("name", ["batch", "layer", "group"])
def test_nan_propagation_matches_torch_on_request(name):
    x = generate("normal", (3, 4, 3, 3), seed=4)
    x[0, 1, 1, 1] = np.nan
    res = normalize(x, name, nonfinite="propagate", **({"groups": 2} if name == "group" else {}))
    t = torch.from_numpy(x)
    expected = {"batch": lambda: F.batch_norm(t, None, None, training=True),
                "layer": lambda: F.layer_norm(t, t.shape[1:]), "group": lambda: F.group_norm(t, 2)}[name]()
    np.testing.assert_array_equal(np.isnan(res.output), np.isnan(expected.numpy()))
    assert any("propagate" in w for w in res.warnings)


def test_nan_omission_uses_the_finite_values():
    """With a NaN left out, the group's statistics are those of its finite values."""
    x = generate("normal", (2, 3, 4, 4), seed=1).astype(np.float64)
    x[1, 2, 0, 0] = np.nan
    res = normalize(x, "instance")
    finite = x[1, 2][np.isfinite(x[1, 2])]
    assert res.mean[1, 2, 0, 0] == pytest.approx(finite.mean())
    assert res.var[1, 2, 0, 0] == pytest.approx(finite.var())


def test_variance_below_eps_is_explained():
    x = generate("normal", (2, 4, 3, 3), seed=0) * 1e-4
    res = normalize(x, "layer", eps=1e-5)
    assert any("below eps" in w for w in res.warnings)


def test_instancenorm_single_position_warns():
    res = normalize(generate("normal", (2, 3, 1, 1)), "instance")
    assert np.all(res.output == 0) and any("spatial element" in w for w in res.warnings)


def test_lrn_with_k_zero_and_silent_window():
    x = np.zeros((1, 3, 2, 2), np.float32)
    x[0, 0, 0, 0] = 1.0
    res = normalize(x, "lrn", k=0.0, size=1)
    assert np.all(np.isfinite(res.output)) and res.output[0, 0, 0, 0] > 0
    assert any("0/0" in w for w in res.warnings)


def test_float32_overflow_is_reported():
    x = np.full((2, 2, 2, 2), 3e38, np.float32)
    x[0, 0, 0, 0] = 1e38
    with np.errstate(all="ignore"):
        res = normalize(x, "layer")
    assert any("overflow" in w for w in res.warnings)


def test_batchnorm_eps_zero_in_training_names_torchs_refusal():
    x = generate("normal", (4, 3, 2, 2), seed=0)
    with pytest.raises((RuntimeError, ValueError), match="eps must be positive"):
        F.batch_norm(torch.from_numpy(x), None, None, training=True, eps=0.0)
    res = normalize(x, "batch", eps=0.0)
    assert np.all(np.isfinite(res.output)) and any("torch refuses eps=0" in w for w in res.warnings)


@pytest.mark.parametrize("name", ["layer", "batch", "rms", "group", "instance", "lrn"])
def test_squares_that_overflow_float32_are_computed_in_float64(name):
    x = generate("normal", (4, 3, 4, 4), seed=1) * np.float32(1e20)
    settings = {"alpha": 1.0} if name == "lrn" else {}
    res = normalize(x, name, **settings)
    expected = normalize(x.astype(np.float64), name, **settings).output
    np.testing.assert_allclose(res.output, expected, rtol=1e-5, atol=1e-6)
    assert res.output.dtype == np.float32 and np.any(res.output != 0)  # not silently zeroed
    assert any("too large for float32" in w for w in res.warnings)


def test_large_groups_keep_float32_precision():
    """A float32 running sum of a million squares drifts; the NumPy backend accumulates in float64."""
    x = generate("normal", (2, 16, 256, 256), seed=0)
    for name in ("rms", "layer"):
        res, exact = normalize(x, name), normalize(x.astype(np.float64), name)
        assert np.abs(res.var / exact.var - 1).max() < 1e-6
        t = torch.from_numpy(x)
        ref = F.rms_norm(t, t.shape[1:]) if name == "rms" else F.layer_norm(t, t.shape[1:])
        assert np.abs(res.output - exact.output).max() <= 2 * np.abs(ref.numpy() - exact.output).max() + 1e-6
