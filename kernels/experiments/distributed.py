"""BatchNorm on a real process group: K worker processes (torch.multiprocessing, spawn) joined by
torch.distributed with the gloo backend over the loopback interface, each holding one shard of the
batch.

- sync=True is synchronized BatchNorm with nn.SyncBatchNorm's semantics: every process computes
  its shard's count, mean and biased variance, the group exchanges them with `all_gather` (what
  SyncBatchNorm does on gloo, because counts may differ), every process combines them into the
  whole batch's mean and variance and normalizes its shard with them; the running variance gets
  the unbiased variance over the global count. It equals BatchNorm over the whole batch.
- sync=False is what nn.BatchNorm2d does under DistributedDataParallel: every process normalizes
  with its own shard's statistics and keeps its own running statistics (DDP's default
  broadcast_buffers=True copies rank 0's buffers to the others at the next forward). It equals
  ghost BatchNorm with the shard as the virtual batch.

torch's nn.SyncBatchNorm refuses CPU tensors ("expected input tensor to be on GPU"), so the
workers run its algorithm with torch's own pieces (torch.var_mean, dist.all_gather,
F.batch_norm with the combined statistics, as batch_norm_elemt does on GPU).

Starting processes costs seconds (each imports torch): a `Group` keeps its processes for many
calls; `batch_norm` without one starts and closes a group of its own. Every wait has a timeout,
the processes are spawned (never forked, so a Qt app may call this from any thread) and are
terminated when the group closes, times out, is cancelled or is garbage-collected.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import queue
import socket
import tempfile
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..inputs import GENERATORS, generate
from ..layouts import canonical_order, check_layout, permutation
from ._common import Cancelled, Loop, check_choice, check_float, check_int
from ._torch import require_torch

MIN_DEVICES, MAX_DEVICES = 2, 8
BACKEND = "gloo"
#: seconds a group may take to start (K interpreters importing torch on a busy 2-core machine)
START_TIMEOUT = 180.0
#: seconds one job may take, and gloo's timeout for each collective
JOB_TIMEOUT = 60.0
#: collectives timed per job for the cost of the exchange
REPEATS = 20
_POLL = 0.05
#: seconds a process gets to leave the group before it is terminated
GRACE = 1.0


class ShardStats(NamedTuple):
    """One device's shard: count = values per channel (samples × positions), mean and biased
    var per channel (C,). Unpacks as (count, mean, var)."""

    count: int
    mean: np.ndarray
    var: np.ndarray


@dataclass
class DistributedResult:
    """One training-mode BatchNorm step on the group.

    output: the whole batch normalized, shards put back in order, in the input's layout (float64).
    running_mean, running_var: (C,) after the step, as the group's processes agree on them; with
        sync=False each process has its own (device_running_*) and these are rank 0's, the values
        DistributedDataParallel broadcasts to the others at the next forward.
    num_batches_tracked: the counter after the step.
    shard_stats: per device, ShardStats(count, mean, var) of its own shard.
    mean, var: (K, C) the statistics each device normalized with (all rows the global statistics
        with sync=True; the shard's own with sync=False). global_mean, global_var: (C,) over the
        whole batch (biased var), as computed on the group (sync) or None.
    device_running_mean, device_running_var: (K, C) every process's running statistics.
    ranks_agree: every process ended with the same running statistics.
    allgather_seconds, allreduce_seconds: median time (rank 0) of one all_gather of the (2C + 1)
        numbers SyncBatchNorm exchanges, and of one all_reduce of the same amount, over `repeats`
        calls after the step; exchange_seconds: the step's own all_gather; payload_bytes: what
        each process contributes. None with sync=False (nothing is exchanged).
    startup_seconds: spawning the processes and joining the group (None when a running Group was
        reused); seconds: the whole call.
    """

    output: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    num_batches_tracked: int
    shard_stats: list
    mean: np.ndarray
    var: np.ndarray
    global_mean: np.ndarray | None
    global_var: np.ndarray | None
    device_running_mean: np.ndarray
    device_running_var: np.ndarray
    ranks_agree: bool
    devices: int
    sync: bool
    shard_sizes: tuple
    layout: str
    eps: float
    momentum: float | None
    allgather_seconds: float | None = None
    allreduce_seconds: float | None = None
    exchange_seconds: float | None = None
    payload_bytes: int = 0
    startup_seconds: float | None = None
    seconds: float = 0.0
    backend: str = BACKEND
    warnings: list = field(default_factory=list)


# -- checks ----------------------------------------------------------------------------------------

def _as_array(x) -> np.ndarray:
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().numpy()
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"x must be an array of numbers, not {type(x).__name__}") from None
    if not np.all(np.isfinite(a)):
        raise ValueError("x has NaN or Inf values; distributed BatchNorm needs finite input")
    return a


def split_sizes(n: int, devices: int) -> tuple:
    """Shard sizes for n samples over `devices` (as equal as possible, the larger ones first, as
    np.array_split makes them)."""
    return tuple(len(s) for s in np.array_split(np.arange(n), devices))


def _check_stats(name, value, channels, nonnegative=False):
    if value is None:
        return None
    v = np.asarray(value, dtype=np.float64).ravel()
    if v.size != channels or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} needs {channels} finite values (one per channel), got shape {np.shape(value)}")
    if nonnegative and np.any(v < 0):
        raise ValueError(f"{name} must not be negative")
    return v


def _prepare(x, devices, sync, shard_sizes, layout, eps, momentum, running_mean, running_var,
             num_batches_tracked):
    """(canonical array, sizes, layout, eps, momentum, running mean, running var, count): every
    argument checked, ValueError naming the first bad one."""
    devices = check_int("devices", devices, MIN_DEVICES, MAX_DEVICES)
    if not isinstance(sync, (bool, np.bool_)):
        raise ValueError(f"sync must be True or False, not {sync!r}")
    layout = check_layout(layout)
    a = _as_array(x)
    if a.ndim != len(layout):
        raise ValueError(f"x has {a.ndim} axes but layout {layout} names {len(layout)}")
    if a.size == 0:
        raise ValueError(f"x has shape {a.shape}; every axis needs at least one element")
    canon = canonical_order(layout)
    a = np.ascontiguousarray(a.transpose(permutation(layout, canon)))
    n, per_sample = a.shape[0], int(np.prod(a.shape[2:]))
    if shard_sizes is None:
        if n < devices:
            raise ValueError(f"devices={devices} needs at least {devices} samples; x has N={n}")
        sizes = split_sizes(n, devices)
    else:
        sizes = tuple(shard_sizes)
        if len(sizes) != devices:
            raise ValueError(f"shard_sizes has {len(sizes)} entries for devices={devices}")
        for s in sizes:
            check_int("shard size", s, 0)
        if sum(sizes) != n:
            raise ValueError(f"shard_sizes add up to {sum(sizes)}, not to the batch size N={n}")
    if sync:
        if n * per_sample < 2:
            raise ValueError("synchronized BatchNorm needs more than 1 value per channel in the whole batch")
    else:
        for k, s in enumerate(sizes):
            if s * per_sample < 2:
                raise ValueError(f"device {k} would get {s * per_sample} value(s) per channel; per-device BatchNorm "
                                 f"needs more than 1 (torch: 'Expected more than 1 value per channel when training')")
    eps = check_float("eps", eps, lo=0.0)
    if momentum is not None:
        momentum = check_float("momentum", momentum, 0.0, 1.0)
    count = check_int("num_batches_tracked", num_batches_tracked, 0)
    rm = _check_stats("running_mean", running_mean, a.shape[1])
    rv = _check_stats("running_var", running_var, a.shape[1], nonnegative=True)
    rm = np.zeros(a.shape[1]) if rm is None else rm
    rv = np.ones(a.shape[1]) if rv is None else rv
    return a, sizes, layout, eps, momentum, rm, rv, count


# -- the worker processes ----------------------------------------------------------------------------

def _loopback_interface() -> str | None:
    """The name of the loopback interface ('lo' on Linux, 'lo0' on macOS), for gloo."""
    try:
        names = [name for _, name in socket.if_nameindex()]
    except (AttributeError, OSError):
        return None
    for name in names:
        if name.startswith("lo"):
            return name
    return None


def _serve(rank, world, store_path, jobs, results, timeout):
    """A worker process: join the group, then answer the jobs on its queue (jobs[rank]) until a
    None arrives."""
    jobs = jobs[rank]
    interface = _loopback_interface()
    if interface:
        os.environ["GLOO_SOCKET_IFNAME"] = interface  # gloo's connections stay on the loopback interface
    import torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        dist.init_process_group(BACKEND, init_method=f"file://{store_path}", rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=timeout))
        dist.barrier()
    except Exception as exc:
        results.put(("error", None, rank, f"joining the group failed: {type(exc).__name__}: {exc}"))
        return
    results.put(("ready", None, rank, time.perf_counter() - start))
    try:
        while True:
            job = jobs.get()
            if job is None:
                break
            try:
                results.put(("done", job["id"], rank, _step(torch, dist, rank, world, job)))
            except Exception as exc:
                last = traceback.format_exc().strip().splitlines()[-1]
                results.put(("error", job["id"], rank, f"{type(exc).__name__}: {exc} ({last})"))
    finally:
        dist.destroy_process_group()


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _step(torch, dist, rank, world, job):
    """One training-mode BatchNorm step on this process's shard (N_k, C, *spatial)."""
    F = torch.nn.functional
    x = torch.from_numpy(job["shard"])
    channels = x.shape[1]
    dims = [0] + list(range(2, x.dim()))
    count = x.numel() // channels
    rm, rv = torch.from_numpy(job["running_mean"]).clone(), torch.from_numpy(job["running_var"]).clone()
    tracked = job["num_batches_tracked"] + 1
    momentum = job["momentum"]
    factor = 1.0 / tracked if momentum is None else momentum
    if count > 0:
        var, mean = torch.var_mean(x, dim=dims, unbiased=False)
    else:
        var = mean = torch.zeros(channels, dtype=x.dtype)
    local = (count, mean.numpy().copy(), var.numpy().copy())
    out = dict(local=local, exchange=None, allgather=None, allreduce=None)
    if job["sync"]:
        combined = torch.cat([mean, var, torch.tensor([float(count)], dtype=x.dtype)])
        gathered = [torch.empty_like(combined) for _ in range(world)]
        dist.barrier()
        t = time.perf_counter()
        dist.all_gather(gathered, combined)
        out["exchange"] = time.perf_counter() - t
        table = torch.stack(gathered)
        mean_all, var_all, count_all = torch.split(table, channels, dim=1)
        keep = count_all.squeeze(-1) >= 1  # shards without values take no part, as in SyncBatchNorm
        mean_all, var_all, count_all = mean_all[keep], var_all[keep], count_all[keep]
        total = count_all.sum()
        g_mean = (count_all * mean_all).sum(0) / total
        g_var = (count_all * (var_all + (mean_all - g_mean) ** 2)).sum(0) / total
        y = F.batch_norm(x, g_mean, g_var, training=False, eps=job["eps"]) if count > 0 else x.clone()
        rm.mul_(1 - factor).add_(factor * g_mean)
        rv.mul_(1 - factor).add_(factor * g_var * total / (total - 1))
        out["used"] = (g_mean.numpy().copy(), g_var.numpy().copy())
        payload = combined.clone()
        dist.barrier()
        out["allgather"] = _median_time(lambda: dist.all_gather(gathered, combined), job["repeats"])
        dist.barrier()
        out["allreduce"] = _median_time(lambda: dist.all_reduce(payload), job["repeats"])
    else:
        # nn.BatchNorm2d's own step on the shard: statistics and running-average update by torch
        y = F.batch_norm(x, rm, rv, training=True, momentum=factor, eps=job["eps"])
        out["used"] = local[1:]
    out.update(output=y.numpy(), running_mean=rm.numpy(), running_var=rv.numpy())
    return out


# -- the group -------------------------------------------------------------------------------------

def _shutdown(processes, jobs, results, tmpdir, state):
    """Ask every process to stop (when the group is up: a process still starting or stuck in a
    collective cannot read the request), then terminate and kill the ones that do not stop within
    a second. Used by close and by the finalizer, so it takes no reference to the Group."""
    if state.get("ready"):
        for q in jobs:
            with contextlib.suppress(Exception):  # a broken pipe: the process is gone already
                q.put_nowait(None)
        deadline = time.monotonic() + GRACE
        for p in processes:
            p.join(max(0.0, deadline - time.monotonic()))
    for p in processes:
        if p.is_alive():
            p.terminate()
            p.join(2.0)
        if p.is_alive():
            p.kill()
            p.join(2.0)
    for q in (*jobs, results):
        q.close()
        q.cancel_join_thread()
    tmpdir.cleanup()


class Group:
    """K worker processes in one gloo process group on the loopback interface, kept for many calls.

        with Group(devices=4) as group:             # spawns 4 processes (seconds)
            r = group.batch_norm(x, sync=True)      # milliseconds per call from here on
            r = group.batch_norm(x, sync=False, shard_sizes=(5, 1, 1, 1))

    The processes start on the first call (or `start()`); a group whose processes died is
    started again on the next call. `close()` (or leaving the `with` block, or garbage
    collection) stops them. One call at a time: calls from several threads take turns.
    """

    def __init__(self, devices: int = 4, start_timeout: float = START_TIMEOUT, job_timeout: float = JOB_TIMEOUT):
        self.devices = check_int("devices", devices, MIN_DEVICES, MAX_DEVICES)
        self.start_timeout = check_float("start_timeout", start_timeout, positive=True)
        self.job_timeout = check_float("job_timeout", job_timeout, positive=True)
        self._lock = threading.RLock()
        self._context = None
        self._finalizer = None
        self._state = {}
        self._jobs = self._results = None
        self._next_job = 0
        self.startup_seconds = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def alive(self) -> bool:
        """True while every worker process is running."""
        return self._context is not None and all(p.is_alive() for p in self._context.processes)

    def start(self, progress: Callable | None = None, cancelled: Callable | None = None) -> float | None:
        """Spawn the processes and join the group, unless they run already. Returns the seconds it
        took (None when nothing had to start). Raises Cancelled, or RuntimeError on a timeout or a
        failed start (the processes are stopped)."""
        with self._lock:
            if self.alive:
                return None
            self.close()
            torch = require_torch("distributed BatchNorm")
            mp = torch.multiprocessing
            started = time.perf_counter()
            ctx = mp.get_context("spawn")
            tmpdir = tempfile.TemporaryDirectory(prefix="norm-explorer-gloo-")
            store = os.path.join(tmpdir.name, "store")
            jobs = [ctx.Queue() for _ in range(self.devices)]
            results = ctx.Queue()
            try:
                context = mp.start_processes(_serve, args=(self.devices, store, jobs, results, self.job_timeout),
                                             nprocs=self.devices, join=False, daemon=True, start_method="spawn")
            except BaseException:
                _shutdown([], jobs, results, tmpdir, {})
                raise
            self._context = context
            self._jobs, self._results = jobs, results
            self._state = {"ready": False}
            self._finalizer = weakref.finalize(self, _shutdown, context.processes, jobs, results, tmpdir, self._state)
            try:
                self._collect("ready", None, set(), started + self.start_timeout, progress, cancelled)
            except BaseException:
                self.close()
                raise
            self._state["ready"] = True
            self.startup_seconds = time.perf_counter() - started
            return self.startup_seconds

    def close(self):
        """Stop the processes (a no-op when none run)."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._finalizer = self._context = self._jobs = self._results = None

    def _collect(self, kind, job_id, into, deadline, progress=None, cancelled=None):
        """Wait for one `kind` message from every rank (stored in `into`: a set of ranks for
        'ready', a dict rank -> payload for 'done'); RuntimeError on an error, a dead process or
        the deadline, Cancelled when cancelled() says so."""
        while len(into) < self.devices:
            if cancelled is not None and cancelled():
                raise Cancelled("cancelled while the process group " +
                                ("started" if kind == "ready" else "computed"))
            try:
                what, jid, rank, payload = self._results.get(timeout=_POLL)
            except queue.Empty:
                dead = [p for p in self._context.processes if not p.is_alive()]
                if dead:
                    hint = "" if kind != "ready" else (
                        " while starting; a script that starts processes needs its code under "
                        "`if __name__ == '__main__':` (spawn imports the main module again)")
                    raise RuntimeError(f"worker process {dead[0].name} stopped (exit code {dead[0].exitcode}){hint}") \
                        from None
                if time.perf_counter() > deadline:
                    what = "start" if kind == "ready" else "finish"
                    raise RuntimeError(f"the process group did not {what} within its timeout; stopped it") from None
                continue
            if what == "error":
                raise RuntimeError(f"worker {rank}: {payload}")
            if what != kind or jid != job_id:
                continue  # an answer to an earlier, abandoned job
            if kind == "ready":
                into.add(rank)
                if progress is not None:
                    progress(len(into), self.devices)
            else:
                into[rank] = payload

    def batch_norm(self, x, sync: bool = True, shard_sizes=None, layout: str = "NCHW", eps: float = 1e-5,
                   running_mean=None, running_var=None, momentum: float | None = 0.1, *, num_batches_tracked: int = 0,
                   repeats: int = REPEATS, progress: Callable | None = None,
                   cancelled: Callable | None = None) -> DistributedResult:
        """One training step of (synchronized) BatchNorm on this group; see `batch_norm`."""
        began = time.perf_counter()
        a, sizes, layout, eps, momentum, rm, rv, tracked = _prepare(
            x, self.devices, sync, shard_sizes, layout, eps, momentum, running_mean, running_var, num_batches_tracked)
        repeats = check_int("repeats", repeats, 1, 1000)
        loop = Loop(2, progress, cancelled)
        loop.check()
        with self._lock:
            startup = self.start(cancelled=cancelled)
            loop.tick()
            self._next_job += 1
            job_id = self._next_job
            bounds = np.cumsum((0,) + sizes)
            for rank in range(self.devices):
                self._jobs[rank].put(dict(id=job_id, shard=a[bounds[rank]:bounds[rank + 1]], sync=bool(sync), eps=eps,
                                          momentum=momentum, running_mean=rm, running_var=rv,
                                          num_batches_tracked=tracked, repeats=repeats))
            answers = {}
            try:
                self._collect("done", job_id, answers, time.perf_counter() + self.job_timeout, cancelled=cancelled)
            except BaseException:
                self.close()  # a collective may be stuck half-way: start afresh next time
                raise
        result = _assemble(answers, a.shape, sizes, layout, eps, momentum, bool(sync), tracked + 1, self.devices)
        result.startup_seconds = startup
        result.seconds = time.perf_counter() - began
        loop.tick()
        return result


def _assemble(answers, canon_shape, sizes, layout, eps, momentum, sync, tracked, devices):
    order = [answers[r] for r in range(devices)]
    out = np.concatenate([o["output"] for o in order], axis=0).reshape(canon_shape)
    canon = canonical_order(layout)
    out = np.ascontiguousarray(out.transpose(permutation(canon, layout)))
    dev_rm = np.stack([o["running_mean"] for o in order])
    dev_rv = np.stack([o["running_var"] for o in order])
    agree = bool(np.array_equal(dev_rm, np.broadcast_to(dev_rm[0], dev_rm.shape))
                 and np.array_equal(dev_rv, np.broadcast_to(dev_rv[0], dev_rv.shape)))
    shard_stats = [ShardStats(int(o["local"][0]), o["local"][1], o["local"][2]) for o in order]
    used_mean = np.stack([o["used"][0] for o in order])
    used_var = np.stack([o["used"][1] for o in order])
    channels = canon_shape[1]
    warnings = []
    if not sync and not agree:
        warnings.append("each device keeps its own running statistics; DistributedDataParallel "
                        "(broadcast_buffers=True) copies rank 0's to the others at the next forward")
    if sync and any(s.count == 0 for s in shard_stats):
        warnings.append("devices with an empty shard take no part in the statistics (as in nn.SyncBatchNorm)")
    first = order[0]
    return DistributedResult(
        output=out, running_mean=dev_rm[0].copy(), running_var=dev_rv[0].copy(), num_batches_tracked=tracked,
        shard_stats=shard_stats, mean=used_mean, var=used_var,
        global_mean=used_mean[0].copy() if sync else None, global_var=used_var[0].copy() if sync else None,
        device_running_mean=dev_rm, device_running_var=dev_rv, ranks_agree=agree, devices=devices, sync=sync,
        shard_sizes=tuple(int(s) for s in sizes), layout=layout, eps=eps, momentum=momentum,
        allgather_seconds=first["allgather"], allreduce_seconds=first["allreduce"],
        exchange_seconds=first["exchange"], payload_bytes=(2 * channels + 1) * 8 if sync else 0, warnings=warnings)


def batch_norm(x, devices: int = 4, sync: bool = True, shard_sizes=None, layout: str = "NCHW", eps: float = 1e-5,
               running_mean=None, running_var=None, momentum: float | None = 0.1, *, num_batches_tracked: int = 0,
               group: Group | None = None, repeats: int = REPEATS, start_timeout: float = START_TIMEOUT,
               job_timeout: float = JOB_TIMEOUT, progress: Callable | None = None,
               cancelled: Callable | None = None) -> DistributedResult:
    """One training step of BatchNorm on `devices` processes, each holding one shard of x.

    x: (N, C, *spatial) in `layout` (numpy array or torch tensor; computed in float64).
    sync: True for synchronized BatchNorm (nn.SyncBatchNorm: statistics over the whole batch,
        exchanged with all_gather); False for per-device BatchNorm (each shard alone).
    shard_sizes: samples per device, in order (None: as equal as possible). Empty shards are
        allowed with sync=True (they take no part, as in SyncBatchNorm).
    running_mean, running_var: (C,) before the step (None: a fresh module's zeros and ones);
        momentum: torch's convention, None for the cumulative average over num_batches_tracked + 1
        steps. Returns a `DistributedResult`.
    group: a running `Group` with the same number of devices to use (fast); without one a group is
        started and closed for this call (seconds). progress(done, 2); Cancelled when
        cancelled() returns True (the processes are stopped). RuntimeError when the group fails or
        times out; ValueError (one line) for bad arguments or a missing torch.
    """
    if group is not None:
        if group.devices != devices:
            raise ValueError(f"devices={devices} but the group has {group.devices} processes")
        return group.batch_norm(x, sync, shard_sizes, layout, eps, running_mean, running_var, momentum,
                                num_batches_tracked=num_batches_tracked, repeats=repeats, progress=progress,
                                cancelled=cancelled)
    _prepare(x, devices, sync, shard_sizes, layout, eps, momentum, running_mean, running_var, num_batches_tracked)
    require_torch("distributed BatchNorm")
    with Group(devices, start_timeout=start_timeout, job_timeout=job_timeout) as own:
        return own.batch_norm(x, sync, shard_sizes, layout, eps, running_mean, running_var, momentum,
                              num_batches_tracked=num_batches_tracked, repeats=repeats, progress=progress,
                              cancelled=cancelled)


# -- a configured run for the tab ------------------------------------------------------------------

@dataclass
class DistributedConfig:
    """Both modes on one generated batch.

    shape: x's shape in `layout`; inputs: a kernels.inputs generator name, seed its seed.
    devices: 2..8 processes; shard_sizes: samples per device (None: as equal as possible).
    eps, momentum: BatchNorm's; running statistics start fresh (zeros, ones).
    repeats: collectives timed for the cost of the exchange.
    """

    shape: tuple = (16, 4, 4, 4)
    layout: str = "NCHW"
    inputs: str = "shifted"
    seed: int = 0
    devices: int = 4
    shard_sizes: tuple | None = None
    eps: float = 1e-5
    momentum: float | None = 0.1
    repeats: int = REPEATS


@dataclass
class DistributedRun:
    """input: the generated batch (layout order, float64). sync, local: `DistributedResult`s of
    synchronized and per-device BatchNorm on the same group. reference: BatchNorm over the whole
    batch by kernels.normalize (numpy), and ghost: each shard normalized alone by kernels.normalize;
    sync_error, local_error: max |difference| from them. device: (N,) which device holds each
    sample (for colouring the block view)."""

    config: DistributedConfig
    input: np.ndarray
    sync: DistributedResult
    local: DistributedResult
    reference: np.ndarray
    ghost: np.ndarray
    sync_error: float
    local_error: float
    device: np.ndarray


def validate(cfg: DistributedConfig) -> DistributedConfig:
    check_choice("inputs", cfg.inputs, tuple(GENERATORS))
    check_int("seed", cfg.seed, 0)
    check_int("repeats", cfg.repeats, 1, 1000)
    layout = check_layout(cfg.layout)
    if len(tuple(cfg.shape)) != len(layout):
        raise ValueError(f"shape {tuple(cfg.shape)} does not fit layout {layout}")
    for s in cfg.shape:
        check_int("shape size", s, 1, 4096)
    if math.prod(cfg.shape) > 2_000_000:
        raise ValueError("a batch would hold more than 2,000,000 values: use a smaller shape")
    return cfg


def run(config: DistributedConfig, progress: Callable | None = None, cancelled: Callable | None = None,
        group: Group | None = None) -> DistributedRun:
    """Synchronized and per-device BatchNorm on one generated batch, on `group` when given (it must
    have config.devices processes) or on a group started for this run. progress(done, 3)."""
    from ..core import normalize

    cfg = validate(config)
    x = generate(cfg.inputs, cfg.shape, cfg.layout, seed=cfg.seed, dtype=np.float64)
    layout = check_layout(cfg.layout)
    _prepare(x, cfg.devices, True, cfg.shard_sizes, layout, cfg.eps, cfg.momentum, None, None, 0)
    _prepare(x, cfg.devices, False, cfg.shard_sizes, layout, cfg.eps, cfg.momentum, None, None, 0)
    loop = Loop(3, progress, cancelled)
    loop.check()
    own = group is None
    if own:
        require_torch("distributed BatchNorm")
        group = Group(cfg.devices)
    elif group.devices != cfg.devices:
        raise ValueError(f"devices={cfg.devices} but the group has {group.devices} processes")
    try:
        startup = group.start(cancelled=cancelled)
        loop.tick()
        kw = dict(shard_sizes=cfg.shard_sizes, layout=layout, eps=cfg.eps, momentum=cfg.momentum,
                  repeats=cfg.repeats, cancelled=cancelled)
        sync = group.batch_norm(x, sync=True, **kw)
        loop.tick()
        local = group.batch_norm(x, sync=False, **kw)
    finally:
        if own:
            group.close()
    sync.startup_seconds = startup
    n_axis = layout.index("N")
    reference = np.asarray(normalize(x, "batch", layout, eps=cfg.eps).output)
    parts = np.split(x, np.cumsum(sync.shard_sizes)[:-1], axis=n_axis)
    ghost = np.concatenate([np.asarray(normalize(p, "batch", layout, eps=cfg.eps).output) for p in parts],
                           axis=n_axis)
    device = np.repeat(np.arange(cfg.devices), sync.shard_sizes)
    loop.tick()
    return DistributedRun(config=cfg, input=x, sync=sync, local=local, reference=reference, ghost=ghost,
                          sync_error=float(np.max(np.abs(sync.output - reference))),
                          local_error=float(np.max(np.abs(local.output - ghost))), device=device)
