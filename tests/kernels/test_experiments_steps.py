"""Running statistics over training steps against torch.nn.BatchNorm2d / BatchNorm1d, train vs
eval, Batch Renormalization's mismatch and freezing BatchNorm while fine-tuning."""

import numpy as np
import pytest

from kernels.experiments import FREEZE_MODES, StepsConfig, batch_at, distribution_at, run_freeze, run_steps

from .references import REFERENCES, torch


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("drift", ["shift", "domain"])
def test_running_statistics_follow_batchnorm2d(momentum, drift):
    cfg = StepsConfig(steps=60, batch_size=8, channels=3, spatial=(3, 3), drift=drift, drift_step=30,
                      momentum=momentum, seed=4)
    res = run_steps(cfg)
    bn = torch.nn.BatchNorm2d(3, momentum=momentum, affine=False).double()
    for t in range(cfg.steps):
        x = torch.from_numpy(batch_at(cfg, t))
        bn.train()
        train_out = bn(x)
        np.testing.assert_allclose(res.running_mean[t], bn.running_mean.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(res.running_var[t], bn.running_var.numpy(), rtol=1e-10, atol=1e-12)
        var, mean = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
        np.testing.assert_allclose(res.batch_mean[t], mean.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(res.batch_var[t], var.numpy(), rtol=1e-10, atol=1e-12)
        bn.eval()
        mismatch = float((train_out - bn(x)).abs().mean())
        assert res.mismatch["batch"][t] == pytest.approx(mismatch, rel=1e-9)
        # Batch Renormalization's running statistics are updated exactly like BatchNorm's
        np.testing.assert_allclose(res.renorm_running_mean[t], res.running_mean[t], rtol=1e-12, atol=1e-12)
    mean, std = distribution_at(cfg, cfg.steps - 1)
    np.testing.assert_allclose(res.true_mean[-1], mean)
    np.testing.assert_allclose(res.true_var[-1], std ** 2)


def test_running_statistics_on_n_c_batches_follow_batchnorm1d():
    cfg = StepsConfig(steps=25, batch_size=16, channels=5, spatial=(), momentum=0.3, seed=1)
    res = run_steps(cfg)
    bn = torch.nn.BatchNorm1d(5, momentum=0.3, affine=False).double()
    for t in range(cfg.steps):
        bn(torch.from_numpy(batch_at(cfg, t)))
    np.testing.assert_allclose(res.running_mean[-1], bn.running_mean.numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.running_var[-1], bn.running_var.numpy(), rtol=1e-10)


def test_keras_convention_tracks_the_mean_like_torch_with_one_minus_momentum():
    common = dict(steps=20, batch_size=8, channels=2, spatial=(2, 2), seed=2)
    keras = run_steps(StepsConfig(momentum=0.9, momentum_convention="keras", **common))
    bn = torch.nn.BatchNorm2d(2, momentum=0.1, affine=False).double()
    for t in range(20):
        bn(torch.from_numpy(batch_at(StepsConfig(**common), t)))
    np.testing.assert_allclose(keras.running_mean[-1], bn.running_mean.numpy(), rtol=1e-10)
    assert np.all(keras.running_var[-1] < bn.running_var.numpy())  # biased against unbiased variance


def test_train_and_eval_agree_without_drift_and_disagree_after_it():
    steady = run_steps(StepsConfig(steps=150, batch_size=32, seed=0))
    assert steady.held_train.std == pytest.approx(1.0, abs=1e-4)
    assert abs(steady.held_eval.mean) < 0.15 and abs(steady.held_eval.std - 1) < 0.15
    late = run_steps(StepsConfig(steps=150, batch_size=32, drift="shift", drift_step=148, shift_mean=3.0, seed=0))
    assert late.held_eval.mean > 1.0  # the running statistics still describe the old distribution
    assert late.mismatch["batch"][-1] > 5 * steady.mismatch["batch"][-1]


def test_batch_renorm_output_follows_its_formula_and_shrinks_the_mismatch():
    cfg = StepsConfig(steps=80, batch_size=4, channels=3, spatial=(2, 2), seed=3, rmax=3.0, dmax=5.0)
    res = run_steps(cfg)
    assert np.mean(res.mismatch["batch_renorm"][20:]) < 0.5 * np.mean(res.mismatch["batch"][20:])
    # r and d at step t come from the running statistics before that step (torch-built reference)
    t = 40
    x = torch.from_numpy(batch_at(cfg, t))
    p = dict(eps=cfg.eps, rmax=cfg.rmax, dmax=cfg.dmax, running_mean=torch.from_numpy(res.renorm_running_mean[t - 1]),
             running_var=torch.from_numpy(res.renorm_running_var[t - 1]))
    var_b, mu_b = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
    sigma = (p["running_var"] + cfg.eps).sqrt()
    np.testing.assert_allclose(res.renorm_r[t], ((var_b + cfg.eps).sqrt() / sigma).clamp(1 / 3, 3).numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.renorm_d[t], ((mu_b - p["running_mean"]) / sigma).clamp(-5, 5).numpy(), rtol=1e-9,
                               atol=1e-12)
    assert REFERENCES["batch_renorm"](x, p, "NCHW").shape == x.shape


def test_freezing_batchnorm_while_fine_tuning():
    cfg = StepsConfig(steps=90, batch_size=16, channels=3, spatial=(3, 3), drift="domain", drift_step=40, seed=6)
    res = run_freeze(cfg)
    assert set(res.train_mean) == set(FREEZE_MODES) and len(res.steps) == 50
    # the frozen layer is torch's BatchNorm2d in eval mode with the old domain's running statistics
    bn = torch.nn.BatchNorm2d(3, affine=False).double()
    for t in range(cfg.drift_step):
        bn(torch.from_numpy(batch_at(cfg, t)))
    np.testing.assert_allclose(res.pretrained_mean, bn.running_mean.numpy(), rtol=1e-10)
    bn.eval()
    y = bn(torch.from_numpy(batch_at(cfg, cfg.drift_step))).numpy()
    np.testing.assert_allclose(res.train_mean["frozen"][0], y.mean(axis=(0, 2, 3)), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.train_std["frozen"][0], y.std(axis=(0, 2, 3)), rtol=1e-10)
    # updating adapts: eval output on the new domain ends near mean 0, std 1; frozen ones do not
    assert np.all(np.abs(res.eval_mean["update"][-1]) < 0.3) and np.all(np.abs(res.eval_std["update"][-1] - 1) < 0.3)
    off = np.abs(res.eval_mean["frozen"][-1]) + np.abs(res.eval_std["frozen"][-1] - 1)
    assert np.max(off) > 1.0  # the old domain's statistics do not fit the new one
    np.testing.assert_allclose(res.eval_mean["batch_only"][-1], res.eval_mean["frozen"][-1])  # never updated
    np.testing.assert_allclose(res.train_std["batch_only"][-1], 1.0, atol=1e-3)  # but trains with batch stats
    np.testing.assert_allclose(res.running_mean["frozen"][-1], res.pretrained_mean)
    assert res.held_eval["update"].std == pytest.approx(1.0, abs=0.2)


def test_batch_size_one_warns_and_stays_finite():
    res = run_steps(StepsConfig(steps=5, batch_size=1, channels=2, spatial=()))
    assert any("one value per channel" in w for w in res.warnings)
    assert all(np.all(np.isfinite(a)) for a in (res.running_mean, res.running_var, res.mismatch["batch"]))
    np.testing.assert_array_equal(res.running_var, 1.0)  # no unbiased variance from one value: kept, as torch
