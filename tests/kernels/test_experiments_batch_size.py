"""Batch-size noise, a sample's dependence on its batch mates (against torch.nn.functional) and
the ((n−1)/n)^k eval-mode shrink (against stacked torch.nn.BatchNorm1d layers)."""

import numpy as np
import pytest

from kernels.experiments import batch_noise, sample_dependence, unbiased_factor, unbiased_shrink

from .references import torch

F = torch.nn.functional


def test_batch_statistics_spread_follows_the_normal_theory():
    res = batch_noise(sizes=(1, 2, 8, 64), draws=400, channels=4, spatial=(2, 2), std=2.0, seed=1)
    np.testing.assert_array_equal(res.values_per_channel, [4, 8, 32, 256])
    np.testing.assert_allclose(res.mean_spread, res.mean_spread_theory, rtol=0.1)
    np.testing.assert_allclose(res.var_spread, res.var_spread_theory, rtol=0.15)
    assert np.all(np.diff(res.mean_spread) < 0)
    # nothing odd but batch size 1's note that one sample's channel statistics are InstanceNorm's
    assert all(w.startswith("batch size 1:") and "the same groups as InstanceNorm" in w for w in res.warnings)


def test_batch_size_one_with_one_value_per_channel_is_reported_not_raised():
    res = batch_noise(sizes=(1, 4), draws=20, channels=3, spatial=())
    assert res.var_spread[0] == 0 and np.all(np.isfinite(res.var_spread_theory))
    assert any(w.startswith("batch size 1: one value per channel") for w in res.warnings)
    dep = sample_dependence(sizes=(1, 2), draws=5, channels=4, spatial=(), groups=2)
    assert any("BatchNorm, batch size 1" in w for w in dep.warnings)
    assert all(np.all(np.isfinite(v)) for v in dep.spread.values())
    np.testing.assert_array_equal(dep.values["batch"][0], 0.0)  # (x − x) / √(0 + eps)


def test_batchnorm_output_depends_on_batch_mates_group_and_layer_norm_do_not():
    res = sample_dependence(sizes=(1, 2, 8, 32), draws=30, channels=4, spatial=(3, 3), groups=2, seed=2)
    np.testing.assert_array_equal(res.draws_used, [1, 30, 30, 30])
    bn = res.spread["batch"]
    assert bn[0] == 0 and np.all(bn[1:] > 0.01) and bn[1] > bn[2] > bn[3]
    assert np.all(res.spread["group"] < 1e-12) and np.all(res.spread["layer"] < 1e-12)
    s = torch.from_numpy(res.sample)
    gn = float(F.group_norm(s, 2)[0, 0, 0, 0])
    ln = float(F.layer_norm(s, s.shape[1:])[0, 0, 0, 0])
    alone = float(F.batch_norm(s, None, None, training=True)[0, 0, 0, 0])
    for i in range(4):
        np.testing.assert_allclose(res.values["group"][i], gn, rtol=1e-12)
        np.testing.assert_allclose(res.values["layer"][i], ln, rtol=1e-12)
    assert res.values["batch"][0][0] == pytest.approx(alone, rel=1e-12)  # batch of one: BN over its positions


def test_unbiased_running_var_shrinks_eval_variance_like_stacked_torch_batchnorm():
    assert unbiased_factor(64, 3) == pytest.approx((63 / 64) ** 3)
    res = unbiased_shrink(n=64, layers=6, channels=3, seed=0)
    np.testing.assert_allclose(res.measured, res.predicted, rtol=1e-12)
    layers = [torch.nn.BatchNorm1d(3, momentum=None, eps=1e-12, affine=False).double() for _ in range(6)]
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 + 1
    h = x
    for bn in layers:  # one training batch: running statistics = that batch's mean and unbiased variance
        h = bn(h)
    h = x
    for j, bn in enumerate(layers):
        h = bn.eval()(h)
        var = float(h.var(dim=0, unbiased=False).mean())
        assert var == pytest.approx(res.predicted[j], rel=1e-9)  # torch 2.13 needs eps > 0
