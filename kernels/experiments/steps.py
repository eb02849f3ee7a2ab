"""Training steps: BatchNorm's running statistics over a stream of batches whose distribution may
drift, train vs eval output, Batch Renormalization's train/eval mismatch, and freezing BatchNorm
while fine-tuning on a new domain. Every update goes through `kernels.normalize`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..core import normalize, prepare
from ._common import MAX_VALUES, Loop, Values, add_warnings, check_choice, check_float, check_int, summarize

DRIFTS = ("none", "shift", "domain")
FREEZE_MODES = ("update", "frozen", "batch_only")


@dataclass
class StepsConfig:
    """A stream of `steps` batches of shape (batch_size, channels, *spatial).

    Each channel c is normal with mean[c] and std[c] (None: seeded draws, means in [−2, 2),
    stds in [e^−0.5, e^1)). drift from step `drift_step` on: 'none'; 'shift' (every mean
    + shift_mean, every std × shift_scale); 'domain' (a second, independently drawn set of
    means and stds: a new data set, as when fine-tuning). BatchNorm (and Batch Renormalization
    alongside it, with rmax, dmax) run in training mode with momentum (None: cumulative
    average, torch only) in momentum_convention 'torch' or 'keras', and eps. held_out: samples
    in the batch drawn from the final distribution for the train-vs-eval comparison.
    """

    steps: int = 200
    batch_size: int = 32
    channels: int = 3
    spatial: tuple = (4, 4)
    mean: tuple | None = None
    std: tuple | None = None
    drift: str = "none"
    drift_step: int = 100
    shift_mean: float = 1.0
    shift_scale: float = 2.0
    momentum: float | None = 0.1
    momentum_convention: str = "torch"
    eps: float = 1e-5
    rmax: float = 3.0
    dmax: float = 5.0
    held_out: int = 256
    seed: int = 0
    max_values: int = MAX_VALUES


def layout_for(spatial) -> str:
    """'NC', 'NCL', 'NCHW' or 'NCDHW' for 0 to 3 spatial axes."""
    return {0: "NC", 1: "NCL", 2: "NCHW", 3: "NCDHW"}[len(tuple(spatial))]


def _per_channel(name, values, channels):
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 1:
        v = np.full(channels, float(v[0]))
    if v.size != channels or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} needs {channels} finite values (one per channel), got {values!r}")
    return v


def validate(cfg: StepsConfig) -> StepsConfig:
    """Check every field; ValueError with a one-line message on the first bad one."""
    check_int("steps", cfg.steps, 1, 5000)
    check_int("batch_size", cfg.batch_size, 1, 4096)
    check_int("channels", cfg.channels, 1, 256)
    check_int("held_out", cfg.held_out, 1, 4096)
    check_int("max_values", cfg.max_values, 1)
    check_int("seed", cfg.seed, 0)
    if len(tuple(cfg.spatial)) > 3:
        raise ValueError(f"spatial has {len(tuple(cfg.spatial))} axes; at most 3 (D, H, W)")
    for s in cfg.spatial:
        check_int("spatial size", s, 1, 256)
    if cfg.batch_size * cfg.channels * int(np.prod(cfg.spatial)) > 2_000_000:
        raise ValueError("a batch would hold more than 2,000,000 values: use fewer samples, channels or positions")
    check_choice("drift", cfg.drift, DRIFTS)
    check_int("drift_step", cfg.drift_step, 0)
    check_float("shift_mean", cfg.shift_mean)
    check_float("shift_scale", cfg.shift_scale, positive=True)
    if cfg.mean is not None:
        _per_channel("mean", cfg.mean, cfg.channels)
    if cfg.std is not None and np.any(_per_channel("std", cfg.std, cfg.channels) < 0):
        raise ValueError("std must not be negative")
    shape = (cfg.batch_size, cfg.channels) + tuple(cfg.spatial)
    for method in ("batch", "batch_renorm"):
        extra = dict(rmax=cfg.rmax, dmax=cfg.dmax) if method == "batch_renorm" else {}
        prepare(method, shape, layout_for(cfg.spatial), momentum=cfg.momentum,
                momentum_convention=cfg.momentum_convention, eps=cfg.eps, **extra)
    return cfg


def distribution_at(cfg: StepsConfig, step: int):
    """(mean, std) per channel of the distribution batch `step` is drawn from."""
    rng = np.random.default_rng([cfg.seed, 0])
    mean = _per_channel("mean", cfg.mean, cfg.channels) if cfg.mean is not None \
        else rng.uniform(-2.0, 2.0, cfg.channels)
    std = _per_channel("std", cfg.std, cfg.channels) if cfg.std is not None \
        else np.exp(rng.uniform(-0.5, 1.0, cfg.channels))
    if cfg.drift == "none" or step < cfg.drift_step:
        return mean, std
    if cfg.drift == "shift":
        return mean + cfg.shift_mean, std * cfg.shift_scale
    other = np.random.default_rng([cfg.seed, 1])
    return other.uniform(-4.0, 4.0, cfg.channels), np.exp(other.uniform(-1.0, 1.5, cfg.channels))


def batch_at(cfg: StepsConfig, step: int, size: int | None = None, stream: int = 2) -> np.ndarray:
    """Batch `step` (float64, (size or batch_size, C, *spatial)), reproducible for (seed, stream, step);
    stream 2 is the training stream, others give independent batches from the same distribution."""
    mean, std = distribution_at(cfg, step)
    shape = (size or cfg.batch_size, cfg.channels) + tuple(cfg.spatial)
    z = np.random.default_rng([cfg.seed, stream, step]).standard_normal(shape)
    cshape = (1, cfg.channels) + (1,) * len(tuple(cfg.spatial))
    return z * std.reshape(cshape) + mean.reshape(cshape)


@dataclass
class StepsResult:
    """Per step t (arrays of shape (steps, C)): batch_mean, batch_var (biased, as used to
    normalize), running_mean and running_var after step t's update (torch convention: running_var
    unbiased; keras: biased), true_mean and true_var of the distribution, and renorm_running_mean /
    renorm_running_var for the Batch Renormalization layer fed the same batches.
    mismatch: {'batch': (steps,), 'batch_renorm': (steps,)}: mean |train-mode output − eval-mode
    output| on batch t, eval using the running statistics after step t's update (what model.eval()
    would give right after that step). renorm_r, renorm_d: (steps, C), the corrections used.
    held_input, held_train, held_eval: `Values` of a held-out batch from the final distribution and
    BatchNorm's output for it in training mode (its own batch statistics) and in eval mode
    (the final running statistics). warnings: sentences (each once)."""

    config: StepsConfig
    batch_mean: np.ndarray
    batch_var: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    true_mean: np.ndarray
    true_var: np.ndarray
    renorm_running_mean: np.ndarray
    renorm_running_var: np.ndarray
    renorm_r: np.ndarray
    renorm_d: np.ndarray
    mismatch: dict
    held_input: Values
    held_train: Values
    held_eval: Values
    warnings: list = field(default_factory=list)


class _Tracker:
    """One BatchNorm-family layer with running statistics, stepped by `kernels.normalize`."""

    def __init__(self, cfg, method="batch", momentum="config"):
        self.method, self.layout = method, layout_for(cfg.spatial)
        self.params = dict(eps=cfg.eps, momentum=cfg.momentum if momentum == "config" else momentum,
                           momentum_convention=cfg.momentum_convention)
        if method == "batch_renorm":
            self.params.update(rmax=cfg.rmax, dmax=cfg.dmax)
        self.mean, self.var, self.count = np.zeros(cfg.channels), np.ones(cfg.channels), 0
        self.warnings = []

    def train(self, x, update=True):
        res = normalize(x, self.method, self.layout, training=True, running_mean=self.mean, running_var=self.var,
                        num_batches_tracked=self.count, **self.params)
        add_warnings(self.warnings, res.warnings)
        if update:
            self.mean, self.var = np.asarray(res.running_mean), np.asarray(res.running_var)
            self.count = int(res.num_batches_tracked)
        return res

    def eval(self, x):
        res = normalize(x, self.method, self.layout, training=False, running_mean=self.mean, running_var=self.var,
                        eps=self.params["eps"])
        add_warnings(self.warnings, res.warnings)
        return res


def run_steps(config: StepsConfig, progress: Callable | None = None,
              cancelled: Callable | None = None) -> StepsResult:
    """Feed `steps` batches to a BatchNorm and a Batch Renormalization layer (training mode),
    recording statistics and train/eval mismatch per step; then compare train and eval output on
    a held-out batch. progress(done, steps) after every step; `Cancelled` when cancelled()."""
    cfg = validate(config)
    loop = Loop(cfg.steps, progress, cancelled)
    loop.check()
    T, C = cfg.steps, cfg.channels
    rec = {k: np.zeros((T, C)) for k in ("batch_mean", "batch_var", "running_mean", "running_var", "true_mean",
                                        "true_var", "renorm_running_mean", "renorm_running_var", "renorm_r",
                                        "renorm_d")}
    mismatch = {"batch": np.zeros(T), "batch_renorm": np.zeros(T)}
    bn, rn = _Tracker(cfg), _Tracker(cfg, "batch_renorm")
    for t in range(T):
        x = batch_at(cfg, t)
        mean, std = distribution_at(cfg, t)
        res = bn.train(x)
        rec["batch_mean"][t], rec["batch_var"][t] = np.ravel(res.mean), np.ravel(res.var)
        rec["running_mean"][t], rec["running_var"][t] = bn.mean, bn.var
        rec["true_mean"][t], rec["true_var"][t] = mean, std ** 2
        mismatch["batch"][t] = float(np.mean(np.abs(res.output - bn.eval(x).output)))
        rres = rn.train(x)
        rec["renorm_running_mean"][t], rec["renorm_running_var"][t] = rn.mean, rn.var
        rec["renorm_r"][t], rec["renorm_d"][t] = np.ravel(rres.stats["r"]), np.ravel(rres.stats["d"])
        mismatch["batch_renorm"][t] = float(np.mean(np.abs(rres.output - rn.eval(x).output)))
        loop.tick()
    held = batch_at(cfg, T, size=cfg.held_out, stream=3)
    seed = cfg.seed * 1000
    held_train = summarize(bn.train(held, update=False).output, seed + 1, cfg.max_values)
    held_eval = summarize(bn.eval(held).output, seed + 2, cfg.max_values)
    warnings = []
    add_warnings(warnings, bn.warnings, "BatchNorm: ")
    add_warnings(warnings, rn.warnings, "Batch Renormalization: ")
    return StepsResult(config=cfg, mismatch=mismatch, held_input=summarize(held, seed, cfg.max_values),
                       held_train=held_train, held_eval=held_eval, warnings=warnings, **rec)


@dataclass
class FreezeResult:
    """Fine-tuning on the new distribution from config.drift_step on, three ways (FREEZE_MODES):
    'update': BatchNorm in training mode (batch statistics, running statistics updated);
    'frozen': BatchNorm in eval mode during fine-tuning (the old domain's running statistics used
        and kept; model.eval() on the BN layers);
    'batch_only': batch statistics used but running statistics not updated (torch momentum 0, Keras
        momentum 1), so eval
        later uses the old domain's statistics.
    steps: the fine-tuning step numbers (drift_step .. steps-1). For each mode, arrays (len(steps), C):
    train_mean / train_std: per-channel mean and std of the output the layer gives during
    fine-tuning on that step's batch; eval_mean / eval_std: the same for a fixed held-out batch of
    the new distribution in eval mode with that mode's running statistics; running_mean.
    held_train, held_eval: {mode: Values} of that held-out batch after the last step.
    pretrained_mean, pretrained_var: the running statistics after the old-domain steps."""

    config: StepsConfig
    steps: np.ndarray
    train_mean: dict
    train_std: dict
    eval_mean: dict
    eval_std: dict
    running_mean: dict
    held_train: dict
    held_eval: dict
    pretrained_mean: np.ndarray
    pretrained_var: np.ndarray
    warnings: list = field(default_factory=list)


def _channel_stats(y):
    axes = (0,) + tuple(range(2, y.ndim))
    return y.mean(axis=axes), y.std(axis=axes)


def run_freeze(config: StepsConfig, progress: Callable | None = None,
               cancelled: Callable | None = None) -> FreezeResult:
    """Pretrain BatchNorm's running statistics on steps 0 .. drift_step−1 (old distribution), then
    fine-tune on the drifted distribution under each of FREEZE_MODES. config.drift must be 'shift'
    or 'domain' with 1 <= drift_step < steps. progress(done, steps); `Cancelled` when cancelled()."""
    cfg = validate(config)
    if cfg.drift == "none" or not 1 <= cfg.drift_step < cfg.steps:
        raise ValueError("freezing needs drift 'shift' or 'domain' and 1 <= drift_step < steps")
    loop = Loop(cfg.steps, progress, cancelled)
    loop.check()
    base = _Tracker(cfg)
    for t in range(cfg.drift_step):
        base.train(batch_at(cfg, t))
        loop.tick()
    keep = 0.0 if cfg.momentum_convention == "torch" else 1.0  # the momentum that never updates
    trackers = {m: _Tracker(cfg, momentum=keep if m == "batch_only" else "config") for m in FREEZE_MODES}
    for tr in trackers.values():
        tr.mean, tr.var, tr.count = base.mean.copy(), base.var.copy(), base.count
    held = batch_at(cfg, cfg.steps, size=cfg.held_out, stream=3)
    n = cfg.steps - cfg.drift_step
    out = {k: {m: np.zeros((n, cfg.channels)) for m in FREEZE_MODES}
           for k in ("train_mean", "train_std", "eval_mean", "eval_std", "running_mean")}
    for i, t in enumerate(range(cfg.drift_step, cfg.steps)):
        x = batch_at(cfg, t)
        for m, tr in trackers.items():
            y = tr.eval(x).output if m == "frozen" else tr.train(x).output
            out["train_mean"][m][i], out["train_std"][m][i] = _channel_stats(y)
            out["eval_mean"][m][i], out["eval_std"][m][i] = _channel_stats(tr.eval(held).output)
            out["running_mean"][m][i] = tr.mean
        loop.tick()
    seed = cfg.seed * 1000
    held_train = {m: summarize(tr.eval(held).output if m == "frozen" else tr.train(held, update=False).output,
                               seed + k, cfg.max_values) for k, (m, tr) in enumerate(trackers.items())}
    held_eval = {m: summarize(tr.eval(held).output, seed + 10 + k, cfg.max_values)
                 for k, (m, tr) in enumerate(trackers.items())}
    warnings = []
    add_warnings(warnings, base.warnings)
    for tr in trackers.values():
        add_warnings(warnings, tr.warnings)
    return FreezeResult(config=cfg, steps=np.arange(cfg.drift_step, cfg.steps), held_train=held_train,
                        held_eval=held_eval, pretrained_mean=base.mean, pretrained_var=base.var,
                        warnings=warnings, **out)
