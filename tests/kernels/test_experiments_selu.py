"""SELU's mean/variance map: its fixed point (0, 1) with normalized weights, the closed form against
torch.selu / F.dropout / F.alpha_dropout on samples, and what dropout and weights that are not
normalized do to the fixed point."""

import math

import numpy as np
import pytest

from kernels.experiments import SeluConfig, run_selu, selu_map, selu_moments
from kernels.experiments.selu import _log_ndtr, dropout_moments, fixed_point, iterate

from .references import F, torch

pytestmark = pytest.mark.torch


def test_the_fixed_point_of_normalized_weights_is_zero_one():
    m, v = selu_map(0.0, 1.0)
    assert abs(m) < 1e-12 and v == pytest.approx(1.0, abs=1e-12)
    point, jac = fixed_point(start=(0.7, 2.5))
    np.testing.assert_allclose(point, [0.0, 1.0], atol=1e-9)
    assert np.all(np.abs(np.linalg.eigvals(jac)) < 1)  # it attracts
    path = iterate(1.0, 3.0, 40)
    assert abs(path[-1, 0]) < 1e-4 and abs(path[-1, 1] - 1.0) < 1e-3
    assert np.all(np.diff(np.abs(path[:, 1] - 1.0)) <= 1e-12)  # the variance approaches 1 monotonically here


@pytest.mark.parametrize("mean, var", [(0.0, 1.0), (0.4, 2.89), (-1.5, 0.3), (2.0, 9.0), (0.1, 300.0)])
def test_closed_form_moments_match_torch_selu_on_samples(mean, var):
    z = torch.randn(400_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * math.sqrt(var) + mean
    y = torch.selu(z)
    m, v = selu_moments(mean, var)
    se = float(y.std()) / math.sqrt(len(y))
    assert m == pytest.approx(float(y.mean()), abs=6 * se)
    assert v == pytest.approx(float(y.var()), rel=0.03)


def test_log_ndtr_is_continuous_at_its_branch():
    for t in (-3.0, -10.0, -19.0):
        assert _log_ndtr(t) == pytest.approx(math.log(0.5 * math.erfc(-t / math.sqrt(2))), rel=1e-12)
    assert _log_ndtr(-20.0 - 1e-9) == pytest.approx(_log_ndtr(-20.0 + 1e-9), rel=1e-8)
    assert math.isfinite(_log_ndtr(-80.0))


@pytest.mark.parametrize("kind", ["standard", "alpha"])
def test_dropout_moments_match_torch(kind):
    x = torch.randn(400_000, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 1.3 + 0.2
    torch.manual_seed(0)
    y = (F.alpha_dropout if kind == "alpha" else F.dropout)(x, 0.2, training=True)
    m, v = dropout_moments(0.2, 1.69, 0.2, kind)
    assert m == pytest.approx(float(y.mean()), abs=0.01) and v == pytest.approx(float(y.var()), rel=0.01)


def test_dropout_and_weights_that_are_not_normalized_move_the_fixed_point():
    np.testing.assert_allclose(dropout_moments(0.0, 1.0, 0.3, "alpha"), (0.0, 1.0), atol=1e-12)
    alpha, _ = fixed_point(dropout=0.1, dropout_kind="alpha")
    np.testing.assert_allclose(alpha, [0.0, 1.0], atol=1e-8)  # alpha dropout keeps (0, 1)
    standard, _ = fixed_point(dropout=0.1, dropout_kind="standard")
    assert standard[1] > 1.3 and standard[0] > 0.01  # standard dropout inflates the variance
    big, _ = fixed_point(tau=1.5)
    small, _ = fixed_point(tau=0.5)
    assert big[1] > 3.0 and small[1] < 0.01  # weights too large: the variance grows; too small: it collapses
    shifted, jac = fixed_point(omega=0.5)
    np.testing.assert_allclose(shifted, [0.0, 1.0], atol=1e-9)  # ω only acts through μ, which is 0 there
    assert not np.allclose(jac, fixed_point()[1])


def test_run_measures_the_map_on_a_torch_network():
    cfg = SeluConfig(width=256, samples=600, layers=12, grid=4)
    res = run_selu(cfg)
    assert res.simulated.shape == (13, 2) and res.trajectory.shape == (13, 2)
    assert abs(res.simulated[-1, 0]) < 0.1 and abs(res.simulated[-1, 1] - 1.0) < 0.15
    np.testing.assert_array_equal(res.simulated, res.simulated_ideal)  # the config is the ideal network
    assert res.field_dmean.shape == (4, 4) and not res.warnings
    again = run_selu(cfg)
    np.testing.assert_array_equal(again.simulated, res.simulated)
    dropped = run_selu(SeluConfig(width=256, samples=600, layers=12, grid=2, dropout=0.2, dropout_kind="standard"))
    assert dropped.simulated[-1, 1] > 1.3 and dropped.warnings and "moved" in dropped.warnings[0]
    assert dropped.trajectory[-1, 1] == pytest.approx(dropped.simulated[-1, 1], rel=0.25)


@pytest.mark.parametrize("kw, words", [
    (dict(tau=0.0), "tau=0 must be positive"),
    (dict(dropout=0.95), "dropout=0.95"),
    (dict(dropout_kind="gaussian"), "unknown dropout_kind"),
    (dict(weights="orthogonal"), "unknown weights"),
    (dict(field_var=(1.0, 0.5)), "low < high"),
    (dict(omega=2.0, tau=0.01, width=4), "too small for omega"),
])
def test_bad_configs_raise_one_line_value_errors(kw, words):
    with pytest.raises(ValueError) as info:
        run_selu(SeluConfig(**kw))
    assert words in str(info.value) and "\n" not in str(info.value)
