"""The experiments' contract without torch: one-line ValueErrors, progress and cancellation,
reproducibility, finite numbers with warnings on degenerate input, and no Qt or torch on import."""

import numpy as np
import pytest

import kernels.experiments as ex
from kernels import METHODS
from kernels.experiments import (
    Cancelled,
    DepthConfig,
    StepsConfig,
    batch_noise,
    layer_effect,
    run_depth,
    run_freeze,
    run_steps,
    sample_dependence,
    spectral_norm,
    unbiased_factor,
    weight_norm,
    weight_shared_mask,
    weight_standardization,
)

from ..fresh import run_fresh

BAD = [
    (lambda: run_depth(DepthConfig(layers=0)), "layers=0 must be between 1 and 50"),
    (lambda: run_depth(DepthConfig(layers=51)), "layers=51"),
    (lambda: run_depth(DepthConfig(activation="swish")), "unknown activation 'swish'"),
    (lambda: run_depth(DepthConfig(init="orthogonal")), "unknown init"),
    (lambda: run_depth(DepthConfig(norm="bogus")), "unknown norm"),
    (lambda: run_depth(DepthConfig(kind="conv", norm="group", norm_params={"groups": 5}, width=8)), "divisible"),
    (lambda: run_depth(DepthConfig(norm_params={"eps": 1})), "norm is None"),
    (lambda: run_depth(DepthConfig(samples=10000, width=1024)), "the limit is"),
    (lambda: run_steps(StepsConfig(steps=0)), "steps=0"),
    (lambda: run_steps(StepsConfig(drift="sideways")), "unknown drift"),
    (lambda: run_steps(StepsConfig(momentum=None, momentum_convention="keras")), "no Keras counterpart"),
    (lambda: run_steps(StepsConfig(mean=(1, 2))), "mean needs 3 finite values"),
    (lambda: run_freeze(StepsConfig(drift="none")), "freezing needs drift"),
    (lambda: batch_noise(sizes=()), "sizes is empty"),
    (lambda: sample_dependence(methods=("nope",)), "unknown method"),
    (lambda: unbiased_factor(1), "n=1"),
    (lambda: weight_norm(np.ones((2, 3)), dim=2), "dim=2 is out of range"),
    (lambda: spectral_norm(np.ones((2, 3)), n_power_iterations=-1), "n_power_iterations=-1"),
    (lambda: weight_standardization(np.ones((2, 3)), convention="tf"), "unknown convention"),
    (lambda: weight_shared_mask("batch", (2, 3), (0, 0)), "unknown weight normalization"),
    (lambda: layer_effect("weight_norm", weight_shape=(4, 2, 2, 2)), "odd size"),
]


@pytest.mark.parametrize("call, words", BAD)
def test_bad_arguments_raise_one_line_value_errors(call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert words in str(info.value) and "\n" not in str(info.value)


def test_progress_and_cancellation():
    seen = []
    res = run_depth(DepthConfig(layers=3, backend="numpy"), progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)] and len(res.layers) == 3
    calls = []
    with pytest.raises(Cancelled):
        run_steps(StepsConfig(steps=50), cancelled=lambda: calls.append(1) or len(calls) > 3)
    assert len(calls) == 4
    for run in (lambda c: run_depth(DepthConfig(), cancelled=c), lambda c: run_freeze(
            StepsConfig(drift="domain", steps=10, drift_step=5), cancelled=c),
            lambda c: batch_noise(cancelled=c), lambda c: sample_dependence(cancelled=c)):
        with pytest.raises(Cancelled):
            run(lambda: True)


def test_runs_are_reproducible_for_a_seed():
    a, b = run_depth(DepthConfig(seed=3, backend="numpy")), run_depth(DepthConfig(seed=3, backend="numpy"))
    c = run_depth(DepthConfig(seed=4, backend="numpy"))
    assert [r.grad_norm for r in a.layers] == [r.grad_norm for r in b.layers] != [r.grad_norm for r in c.layers]
    np.testing.assert_array_equal(a.layers[-1].act.values, b.layers[-1].act.values)
    s1, s2 = run_steps(StepsConfig(steps=10, seed=1)), run_steps(StepsConfig(steps=10, seed=1))
    np.testing.assert_array_equal(s1.running_var, s2.running_var)
    np.testing.assert_array_equal(s1.held_eval.values, s2.held_eval.values)


def test_values_are_sampled_reproducibly_when_large():
    res = run_depth(DepthConfig(kind="conv", samples=40, width=16, features=3, spatial=(8, 8), layers=2,
                                backend="numpy", max_values=1000))
    rec = res.layers[0]
    assert rec.pre.size == 40 * 16 * 64 and len(rec.pre.values) == 1000
    assert rec.pre.min <= rec.pre.values.min() and rec.pre.values.max() <= rec.pre.max


@pytest.mark.parametrize("method", list(METHODS))
def test_constant_input_gives_finite_numbers_and_warnings(method):
    params = {"groups": 2} if method == "group" else {}
    res = run_depth(DepthConfig(layers=2, width=4, samples=3, features=2, inputs="constant", init="xavier",
                                activation="relu", norm=method, norm_params=params, backend="numpy"))
    for rec in res.layers:
        for v in (rec.pre, rec.normed, rec.act):
            assert np.all(np.isfinite(v.values)) and np.isfinite([v.mean, v.std]).all()
    assert all(r.grad_norm is None or np.isfinite(r.grad_norm) for r in res.layers)
    assert res.gradients == "numpy" or res.gradient_reason


def test_overflow_stops_the_stack_with_a_warning(monkeypatch):
    from kernels.experiments import _nn
    real = _nn.activate
    monkeypatch.setattr(_nn, "activate", lambda name, z: real(name, z) * (np.inf if z.shape[1] == 7 else 1.0))
    seen = []
    res = run_depth(DepthConfig(layers=4, width=7, backend="numpy"), progress=lambda d, t: seen.append(d))
    assert len(res.layers) == 0 and res.gradients == "" and "overflowed" in res.gradient_reason
    assert res.warnings[0].startswith("layer 1: the values overflowed float64") and seen[-1] == 5


def test_degenerate_weights_warn_instead_of_nan():
    for res in (weight_norm(np.zeros((2, 3))), spectral_norm(np.zeros((2, 3))),
                weight_standardization(np.ones((2, 3)), eps=0.0)):
        assert res.warnings and np.all(np.isfinite(res.weight))


def test_all_names_are_exported():
    assert set(ex.__all__) <= set(dir(ex))
    assert ex.unbiased_factor(64, 1) == pytest.approx(63 / 64)


def test_import_loads_no_qt_or_torch_and_numpy_gradients_work_without_torch():
    out = run_fresh("""
        import sys
        import kernels.experiments
        print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'torch')))
        class BlockTorch:
            def find_spec(self, name, path=None, target=None):
                if name == 'torch' or name.startswith('torch.'):
                    raise ImportError('torch blocked for this test')
        sys.meta_path.insert(0, BlockTorch())
        from kernels.experiments import DepthConfig, run_depth
        res = run_depth(DepthConfig(norm='batch'))
        print(res.gradients, all(r.grad_norm > 0 for r in res.layers))
        try:
            run_depth(DepthConfig(backend='torch'))
        except ValueError as exc:
            print('error:', exc)
    """)
    assert out.splitlines()[0] == "[]"
    assert "numpy True" in out and "error: backend 'torch' is unavailable" in out
