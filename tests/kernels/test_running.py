"""Training vs evaluation and running statistics against torch.nn.BatchNorm2d over many steps."""

import numpy as np
import pytest

from kernels import normalize, shared_mask
from kernels.inputs import generate

from .references import torch


def _batches(steps, shape=(8, 3, 4, 4)):
    return [generate("shifted", shape, seed=s, dtype=np.float64) for s in range(steps)]


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_running_statistics_follow_batchnorm2d(momentum):
    bn = torch.nn.BatchNorm2d(3, momentum=momentum).double()
    rm, rv, nbt = np.zeros(3), np.ones(3), 0
    for x in _batches(12):
        expected = bn(torch.from_numpy(x)).detach().numpy()
        res = normalize(x, "batch", running_mean=rm, running_var=rv, num_batches_tracked=nbt, momentum=momentum)
        np.testing.assert_allclose(res.output, expected, rtol=1e-10, atol=1e-10)
        rm, rv, nbt = res.running_mean, res.running_var, res.num_batches_tracked
        np.testing.assert_allclose(rm, bn.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(rv, bn.running_var.numpy(), rtol=1e-12)
        assert nbt == int(bn.num_batches_tracked)
    bn.eval()
    held_out = generate("shifted", (8, 3, 4, 4), seed=99, dtype=np.float64)
    res = normalize(held_out, "batch", training=False, running_mean=rm, running_var=rv)
    np.testing.assert_allclose(res.output, bn(torch.from_numpy(held_out)).detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.ravel(res.mean), rm)  # eval reports the running statistics it used


def test_inputs_are_not_mutated():
    x = generate("normal", (4, 3, 2, 2), seed=0)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    before = x.copy()
    normalize(x, "batch", running_mean=rm, running_var=rv)
    assert np.array_equal(x, before) and not rm.any() and np.all(rv == 1)


def test_running_statistics_on_torch_backend_and_nhwc():
    bn = torch.nn.BatchNorm2d(3).double()
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for x in _batches(3):
        bn(torch.from_numpy(x))
        res = normalize(x.transpose(0, 2, 3, 1), "batch", layout="NHWC", backend="torch", running_mean=rm,
                        running_var=rv)
        rm, rv = res.running_mean, res.running_var
    assert isinstance(rm, torch.Tensor)
    np.testing.assert_allclose(rm.numpy(), bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), bn.running_var.numpy(), rtol=1e-12)


def test_keras_convention_is_the_opposite_weighting_with_biased_variance():
    x = _batches(1)[0]
    old_m, old_v = np.full(3, 0.5), np.full(3, 2.0)
    res = normalize(x, "batch", running_mean=old_m, running_var=old_v, momentum=0.9, momentum_convention="keras")
    var, mean = torch.var_mean(torch.from_numpy(x), dim=(0, 2, 3), unbiased=False)
    np.testing.assert_allclose(res.running_mean, 0.9 * old_m + 0.1 * mean.numpy())
    np.testing.assert_allclose(res.running_var, 0.9 * old_v + 0.1 * var.numpy())
    torch_like = normalize(x, "batch", running_mean=old_m, running_var=old_v, momentum=0.1)
    np.testing.assert_allclose(res.running_mean, torch_like.running_mean)  # same mean update
    assert np.all(res.running_var < torch_like.running_var)  # keras: biased, torch: unbiased


def test_ghost_batch_updates_once_per_virtual_batch():
    bn = torch.nn.BatchNorm2d(3).double()
    x = _batches(1, shape=(8, 3, 2, 2))[0]
    expected = torch.cat([bn(chunk) for chunk in torch.from_numpy(x).split(2)]).detach().numpy()
    res = normalize(x, "ghost_batch", virtual_batch=2, running_mean=np.zeros(3), running_var=np.ones(3))
    np.testing.assert_allclose(res.output, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(res.running_mean, bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(res.running_var, bn.running_var.numpy(), rtol=1e-12)
    assert res.num_batches_tracked == 4


def test_eval_without_running_statistics_warns_and_barely_changes_x():
    x = generate("shifted", (4, 3, 5, 5), seed=1)
    res = normalize(x, "batch", training=False)
    np.testing.assert_allclose(res.output, x / np.sqrt(1 + 1e-5), rtol=1e-6)
    assert any("eval mode without running_mean and running_var" in w for w in res.warnings)


def test_batch_renorm_corrects_toward_running_statistics():
    x = _batches(1)[0]
    rm, rv = np.array([1.0, -1.0, 0.0]), np.array([4.0, 0.25, 1.0])
    res = normalize(x, "batch_renorm", running_mean=rm, running_var=rv, rmax=2.0, dmax=1.0)
    r, d = np.ravel(res.stats["r"]), np.ravel(res.stats["d"])
    assert np.all((r >= 0.5) & (r <= 2.0)) and np.all(np.abs(d) <= 1.0)
    bn = normalize(x, "batch")
    np.testing.assert_allclose(res.output, bn.output * res.stats["r"] + res.stats["d"], rtol=1e-10)
    assert res.running_mean is not None and not np.allclose(res.running_mean, rm)


def test_ghost_batch_in_eval_shares_one_running_statistic_per_channel():
    x = _batches(1, shape=(8, 3, 2, 2))[0]
    res = normalize(x, "ghost_batch", training=False, virtual_batch=2, running_mean=np.ones(3), running_var=np.ones(3))
    assert res.sharing.stat_shape == (1, 3, 1, 1) == np.shape(res.mean)
    mask = shared_mask("ghost_batch", x.shape, (0, 1, 0, 0), training=False, virtual_batch=2)
    assert mask[:, 1].all() and not mask[:, 0].any()
    assert shared_mask("ghost_batch", x.shape, (0, 1, 0, 0), virtual_batch=2)[2:, 1].sum() == 0


@pytest.mark.parametrize("convention,momentum", [("torch", 0.1), ("keras", 0.9)])
def test_a_channel_with_no_finite_values_keeps_its_running_statistics(convention, momentum):
    x = _batches(1)[0]
    x[:, 1] = np.nan
    res = normalize(x, "batch", running_mean=np.full(3, 5.0), running_var=np.full(3, 2.0), momentum=momentum,
                    momentum_convention=convention)
    assert res.running_mean[1] == 5.0 and res.running_var[1] == 2.0
    assert res.running_mean[0] != 5.0 and np.all(np.isfinite(res.output))


def test_eval_warning_names_the_missing_statistic():
    x = _batches(1)[0]
    res = normalize(x, "batch", training=False, running_mean=np.ones(3))
    assert any("without running_var" in w and "running_var=1" in w and "running_mean=0" not in w
               for w in res.warnings)
