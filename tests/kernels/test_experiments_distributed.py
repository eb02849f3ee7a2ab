"""BatchNorm on a real gloo process group against torch.nn.BatchNorm2d over the whole batch
(synchronized) and over each shard alone (per device), running statistics included; start-up,
timeouts, cancellation and shutdown. One group of 3 processes serves most tests (spawning costs
seconds)."""

import multiprocessing
import threading

import numpy as np
import pytest

from kernels import normalize
from kernels.experiments import Cancelled, distributed
from kernels.experiments.distributed import DistributedConfig, Group, batch_norm

from .references import torch

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def group():
    with Group(devices=3) as g:
        yield g
    assert not g.alive


def batch(shape=(10, 3, 2, 2), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) * rng.uniform(0.5, 3.0, (1, shape[1]) + (1,) * (len(shape) - 2)) + 1.5


def torch_bn(x, momentum=0.1, running_mean=None, running_var=None, tracked=0):
    """nn.BatchNorm over x (N, C, *spatial) in training mode: (output, running_mean, running_var)."""
    bn = (torch.nn.BatchNorm2d if x.ndim == 4 else torch.nn.BatchNorm1d)(x.shape[1], momentum=momentum,
                                                                          affine=False).double()
    if running_mean is not None:
        bn.running_mean.copy_(torch.from_numpy(running_mean))
        bn.running_var.copy_(torch.from_numpy(running_var))
    bn.num_batches_tracked.fill_(tracked)
    y = bn(torch.from_numpy(x))
    return y.detach().numpy(), bn.running_mean.numpy(), bn.running_var.numpy()


@pytest.mark.parametrize("momentum", [0.3, None])
def test_synchronized_equals_batchnorm_over_the_whole_batch(group, momentum):
    x = batch()
    rm, rv = np.array([0.5, -1.0, 2.0]), np.array([2.0, 0.5, 1.5])
    res = group.batch_norm(x, sync=True, shard_sizes=(5, 2, 3), running_mean=rm, running_var=rv, momentum=momentum,
                           num_batches_tracked=3)
    y, trm, trv = torch_bn(x, momentum, rm, rv, tracked=3)
    np.testing.assert_allclose(res.output, y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.running_mean, trm, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.running_var, trv, rtol=1e-12, atol=1e-14)  # unbiased over all 40 values
    assert res.ranks_agree and res.num_batches_tracked == 4 and res.shard_sizes == (5, 2, 3)
    var, mean = torch.var_mean(torch.from_numpy(x), dim=(0, 2, 3), unbiased=False)
    np.testing.assert_allclose(res.global_mean, mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(res.global_var, var.numpy(), rtol=1e-12)
    for (count, m, v), part in zip(res.shard_stats, np.split(x, [5, 7])):
        assert count == len(part) * 4
        np.testing.assert_allclose(m, part.mean(axis=(0, 2, 3)), rtol=1e-12)
        np.testing.assert_allclose(v, part.var(axis=(0, 2, 3)), rtol=1e-12)
    assert res.allgather_seconds > 0 and res.allreduce_seconds > 0 and res.payload_bytes == (2 * 3 + 1) * 8


def test_per_device_equals_each_shard_alone_and_ghost_batchnorm(group):
    x = batch((9, 2, 3))  # NCL
    res = group.batch_norm(x, sync=False, layout="NCL", momentum=0.2)
    assert res.shard_sizes == (3, 3, 3) and res.global_mean is None and res.allgather_seconds is None
    ghost = normalize(x, "ghost_batch", "NCL", virtual_batch=3).output
    np.testing.assert_allclose(res.output, ghost, rtol=1e-10, atol=1e-12)
    for k, part in enumerate(np.split(x, 3)):
        y, rm, rv = torch_bn(part, 0.2)
        np.testing.assert_allclose(res.output[3 * k:3 * k + 3], y, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res.device_running_mean[k], rm, rtol=1e-12)
        np.testing.assert_allclose(res.device_running_var[k], rv, rtol=1e-12)
    assert not res.ranks_agree and "rank 0" in res.warnings[0]
    np.testing.assert_array_equal(res.running_mean, res.device_running_mean[0])
    # the shards' statistics differ from the whole batch's, so the outputs do too
    assert np.max(np.abs(res.output - torch_bn(x)[0])) > 0.05


def test_unequal_and_empty_shards_channels_last(group):
    x = batch((7, 2, 3, 2)).transpose(0, 2, 3, 1).copy()  # NHWC
    res = group.batch_norm(x, sync=True, shard_sizes=(0, 6, 1), layout="NHWC")
    y = torch_bn(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))[0].transpose(0, 2, 3, 1)
    np.testing.assert_allclose(res.output, y, rtol=1e-12, atol=1e-12)
    assert res.shard_stats[0].count == 0 and "empty shard" in res.warnings[0]
    local = group.batch_norm(x, sync=False, shard_sizes=(3, 3, 1), layout="NHWC")
    one = normalize(x[6:], "batch", "NHWC").output  # 6 values per channel on the last device
    np.testing.assert_allclose(local.output[6:], one, rtol=1e-10, atol=1e-12)


def test_configured_run_reports_both_modes(group):
    run = distributed.run(DistributedConfig(shape=(6, 3, 2, 2), devices=3, shard_sizes=(1, 2, 3), seed=2), group=group)
    assert run.sync_error < 1e-10 and run.local_error < 1e-10
    np.testing.assert_array_equal(run.device, [0, 1, 1, 2, 2, 2])
    assert run.sync.startup_seconds is None  # the group was running already
    with pytest.raises(ValueError, match="devices=2 but the group has 3"):
        distributed.run(DistributedConfig(devices=2), group=group)


def test_the_issue_api_from_a_thread_starts_and_stops_its_own_group():
    x = batch((4, 2, 3, 3), seed=5)
    out, seen = {}, []
    before = set(multiprocessing.active_children())

    def work():
        out["res"] = batch_norm(x, devices=2, sync=True, progress=lambda d, t: seen.append((d, t)))

    thread = threading.Thread(target=work)  # as the explorer's worker thread calls it
    thread.start()
    thread.join(120)
    res = out["res"]
    np.testing.assert_allclose(res.output, torch_bn(x)[0], rtol=1e-12, atol=1e-12)
    assert res.startup_seconds > 0 and seen[-1] == (2, 2)
    assert set(multiprocessing.active_children()) <= before  # its processes are gone


def test_a_start_that_times_out_or_is_cancelled_stops_the_processes():
    g = Group(devices=2, start_timeout=0.2)
    with pytest.raises(RuntimeError, match="did not start within its timeout"):
        g.start()
    assert not g.alive and g._context is None
    calls = []
    g = Group(devices=2)
    with pytest.raises(Cancelled):
        g.start(cancelled=lambda: calls.append(1) or len(calls) > 2)
    assert not g.alive
    with pytest.raises(Cancelled):
        batch_norm(batch(), devices=2, cancelled=lambda: True)  # before anything starts


BAD = [
    (dict(devices=1), "devices=1 must be between 2 and 8"),
    (dict(devices=9), "devices=9"),
    (dict(shard_sizes=(5, 5)), "shard_sizes has 2 entries for devices=4"),
    (dict(shard_sizes=(5, 5, 5, 5)), "add up to 20, not to the batch size N=10"),
    (dict(sync=False, shard_sizes=(7, 1, 1, 1), layout="NC"), "device 1 would get 1 value(s)"),
    (dict(layout="NHWC", x=np.ones((10, 3, 2))), "x has 3 axes but layout NHWC names 4"),
    (dict(x=np.full((10, 3, 2, 2), np.nan)), "NaN or Inf"),
    (dict(running_var=[1.0, -1.0, 1.0]), "running_var must not be negative"),
    (dict(running_mean=[0.0]), "running_mean needs 3 finite values"),
    (dict(momentum=2.0), "momentum=2 must be between 0.0 and 1.0"),
    (dict(sync="yes"), "sync must be True or False"),
    (dict(x=np.ones((3, 3, 2, 2))), "devices=4 needs at least 4 samples"),
]


@pytest.mark.parametrize("kw, words", BAD)
def test_bad_arguments_raise_one_line_value_errors(kw, words):
    kw = dict(kw)
    x = kw.pop("x", batch())
    if kw.get("layout") == "NC":
        x = batch((10, 3))
    with pytest.raises(ValueError) as info:
        batch_norm(x, **kw)
    assert words in str(info.value) and "\n" not in str(info.value)
