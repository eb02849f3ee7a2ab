"""Training on real data: a small CNN on scikit-learn's bundled digits (1,797 images of 8×8, nothing
downloaded) with each normalization, swept over batch size and learning rate (the shape of the
Group Normalization paper's Figure 1), fine-tuning on a shifted domain with BatchNorm's statistics
updated, frozen or in eval mode, and a batch size changed in the middle of training.

Every run is a pure function of its (frozen, hashable) config: pass a dict as `cache` to
`run_sweep` / `run_finetune` and finished runs are kept in it, also when a sweep is cancelled.
torch is imported when a run starts.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, replace

import numpy as np

from ._common import Cancelled, Loop, check_choice, check_float, check_int
from ._torch import one_thread, require_datasets, require_torch, seeded

#: normalizations after every convolution: 'none'; 'batch' nn.BatchNorm2d; 'batch_renorm' Batch
#: Renormalization (Ioffe 2017); 'group' nn.GroupNorm(groups); 'layer' nn.GroupNorm(1) (statistics
#: of nn.LayerNorm([C, H, W]), one γ, β per channel as in the GroupNorm paper); 'instance'
#: nn.InstanceNorm2d(affine=True); 'rms' RMSNorm over (C, H, W); 'frn' Filter Response Norm + TLU.
NORMS = ("none", "batch", "batch_renorm", "group", "layer", "instance", "rms", "frn")
#: the normalizations with running statistics (what train vs eval mode and fine-tuning modes change)
RUNNING = ("batch", "batch_renorm")
SHIFTS = ("none", "invert", "brightness")
LR_SCALINGS = ("linear", "none")
LR_SCHEDULES = ("cosine", "constant")
#: fine-tuning: 'update' BatchNorm in training mode, running statistics updated; 'frozen' batch
#: statistics used but running statistics kept (momentum 0); 'eval' BatchNorm layers in eval mode
#: (the old running statistics normalize, nothing updates); 'adapt' no training at all, only the
#: running statistics re-estimated on the new domain (AdaBN, Li et al. 2016).
FINETUNE_MODES = ("update", "frozen", "eval", "adapt")
REFERENCE_BATCH = 32  # lr is given for this batch size under linear scaling
VALIDATION = 500      # images held out, the same for every run
SPLIT_SEED = 2018
CLASSES = 10


@dataclass(frozen=True)
class TrainConfig:
    """One training run of the digits CNN.

    norm: one of NORMS, after each of the three 3×3 convolutions (width, 2·width, 2·width
        channels; groups for 'group'; eps; bn_momentum for the running statistics; rmax, dmax for
        'batch_renorm', reached after a warm-up: plain BatchNorm for the first epoch, then r and
        d's limits opened linearly over the second, as Ioffe 2017 does).
    batch_size: 1..256 (the last incomplete batch of an epoch is dropped); lr: SGD's learning rate
        at batch size 32 when lr_scaling='linear' (lr · batch_size / 32, the Group Normalization
        paper's rule), as given when 'none'; lr_schedule 'cosine' decays it to 0 over the run's
        steps (lr · ½(1 + cos(π·step/steps))), 'constant' keeps it. momentum, weight_decay: SGD's.
    epochs: passes over the training split (1,297 images, or the first train_size of them).
    shift: the domain trained and validated on: 'none', 'invert' (1 − x) or 'brightness'
        (x + brightness; pixels are in [0, 1]).
    switch_epoch, switch_batch_size: from that epoch on, train with the other batch size (its
        learning rate scaled by the same rule).
    seed: initialization and shuffling; the train/validation split is the same for every run.
    """

    norm: str = "batch"
    batch_size: int = 32
    lr: float = 0.1
    lr_scaling: str = "linear"
    lr_schedule: str = "cosine"
    epochs: int = 8
    momentum: float = 0.9
    weight_decay: float = 5e-4
    width: int = 16
    groups: int = 4
    eps: float = 1e-5
    bn_momentum: float = 0.1
    rmax: float = 3.0
    dmax: float = 5.0
    train_size: int | None = None
    shift: str = "none"
    brightness: float = 0.5
    switch_epoch: int | None = None
    switch_batch_size: int | None = None
    seed: int = 0


@dataclass
class TrainResult:
    """Curves per evaluation point e = 0 (before training), 1..epochs (after each epoch):

    steps: optimizer steps done; val_loss, val_acc: the validation split in eval mode (running
    statistics); val_loss_train_mode, val_acc_train_mode: in training mode (each validation batch
    of the training batch size normalized with its own statistics; running statistics untouched);
    train_loss, train_acc: averages over the epoch's batches (NaN at e = 0); batch_size, lr: per
    epoch (epochs,), lr at the epoch's first step. step_loss: every step's training loss.
    final_error / final_error_train_mode: 1 − the last validation accuracy (0.9, chance, when the
    run diverged: the loss became non-finite, training stopped, later points NaN). state_dict: the
    trained model's (torch tensors; `save_model` writes it, and `build_model(config)` makes the
    module it loads into). warnings: sentences."""

    config: TrainConfig
    steps: np.ndarray
    val_loss: np.ndarray
    val_acc: np.ndarray
    val_loss_train_mode: np.ndarray
    val_acc_train_mode: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    batch_size: np.ndarray
    lr: np.ndarray
    step_loss: np.ndarray
    final_error: float
    final_error_train_mode: float
    diverged: bool
    state_dict: dict
    seconds: float
    warnings: list = field(default_factory=list)


# -- data ------------------------------------------------------------------------------------------

@functools.cache
def _digits():
    datasets = require_datasets("the digits experiment")
    d = datasets.load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]  # (1797, 1, 8, 8) in [0, 1]
    y = d.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    val, train = order[:VALIDATION], order[VALIDATION:]
    for a in (x, y):
        a.setflags(write=False)
    return x[train], y[train], x[val], y[val]


def digits(shift: str = "none", brightness: float = 0.5, split: str = "train"):
    """(images (n, 1, 8, 8) float32, labels (n,) int64) of the fixed split ('train': 1,297 images,
    'validation': 500), in the domain `shift`."""
    check_choice("shift", shift, SHIFTS)
    check_choice("split", split, ("train", "validation"))
    xt, yt, xv, yv = _digits()
    x, y = (xt, yt) if split == "train" else (xv, yv)
    if shift == "invert":
        x = 1.0 - x
    elif shift == "brightness":
        x = x + np.float32(brightness)
    return np.ascontiguousarray(x, dtype=np.float32), y


# -- the model -------------------------------------------------------------------------------------

@functools.cache
def _modules():
    """Normalization modules torch lacks, defined once torch is imported."""
    torch = require_torch("the digits experiment")
    nn = torch.nn

    class BatchRenorm2d(nn.Module):
        """Batch Renormalization (Ioffe 2017): y = (x − μ_B)/σ_B · r + d with r = clip(σ_B/σ, 1/rmax,
        rmax) and d = clip((μ_B − μ)/σ, ±dmax) treated as constants in the backward pass,
        σ_B = √(var_B + eps), σ = √(running_var + eps); running statistics updated as
        BatchNorm's (unbiased variance). Eval: (x − running_mean)/σ. `limits` = (rmax, dmax) now."""

        def __init__(self, channels, eps=1e-5, momentum=0.1, rmax=3.0, dmax=5.0):
            super().__init__()
            self.eps, self.momentum, self.limits = eps, momentum, (rmax, dmax)
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))
            self.register_buffer("running_mean", torch.zeros(channels))
            self.register_buffer("running_var", torch.ones(channels))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

        def forward(self, x):
            shape = (1, -1, 1, 1)
            sigma = (self.running_var + self.eps).sqrt()
            if self.training:
                var_b, mu_b = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
                sigma_b = (var_b + self.eps).sqrt()
                rmax, dmax = self.limits
                r = (sigma_b / sigma).clamp(1.0 / rmax, rmax).detach()
                d = ((mu_b - self.running_mean) / sigma).clamp(-dmax, dmax).detach()
                y = (x - mu_b.view(shape)) / sigma_b.view(shape) * r.view(shape) + d.view(shape)
                n = x.numel() // x.shape[1]
                with torch.no_grad():
                    self.num_batches_tracked.add_(1)
                    m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                    self.running_mean.mul_(1 - m).add_(m * mu_b)
                    self.running_var.mul_(1 - m).add_(m * var_b * n / max(n - 1, 1))
            else:
                y = (x - self.running_mean.view(shape)) / sigma.view(shape)
            return y * self.weight.view(shape) + self.bias.view(shape)

        def reset_running_stats(self):
            self.running_mean.zero_()
            self.running_var.fill_(1.0)
            self.num_batches_tracked.zero_()

    class RMSNorm2d(nn.Module):
        """y = x / √(mean(x²) over (C, H, W) + eps) · γ_c: RMSNorm per sample, one γ per channel."""

        def __init__(self, channels, eps=1e-5):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(channels))

        def forward(self, x):
            scale = torch.rsqrt(x.pow(2).mean(dim=(1, 2, 3), keepdim=True) + self.eps)
            return x * scale * self.weight.view(1, -1, 1, 1)

    class FRN2d(nn.Module):
        """Filter Response Normalization with TLU (Singh & Krishnan 2020):
        z = max(γ · x / √(mean(x²) over (H, W) + eps) + β, τ)."""

        def __init__(self, channels, eps=1e-6):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(channels))
            self.bias = nn.Parameter(torch.zeros(channels))
            self.tau = nn.Parameter(torch.zeros(channels))

        def forward(self, x):
            shape = (1, -1, 1, 1)
            y = x * torch.rsqrt(x.pow(2).mean(dim=(2, 3), keepdim=True) + self.eps)
            return torch.maximum(y * self.weight.view(shape) + self.bias.view(shape), self.tau.view(shape))

    return dict(BatchRenorm2d=BatchRenorm2d, RMSNorm2d=RMSNorm2d, FRN2d=FRN2d)


def make_norm(norm: str, channels: int, groups: int = 4, eps: float = 1e-5, bn_momentum: float = 0.1,
              rmax: float = 3.0, dmax: float = 5.0):
    """The torch module for normalization `norm` (one of NORMS) on `channels` channels."""
    torch = require_torch("the digits experiment")
    nn = torch.nn
    check_choice("norm", norm, NORMS)
    if norm == "none":
        return nn.Identity()
    if norm == "batch":
        return nn.BatchNorm2d(channels, eps=eps, momentum=bn_momentum)
    if norm == "batch_renorm":
        return _modules()["BatchRenorm2d"](channels, eps=eps, momentum=bn_momentum, rmax=rmax, dmax=dmax)
    if norm == "group":
        return nn.GroupNorm(groups, channels, eps=eps)
    if norm == "layer":
        return nn.GroupNorm(1, channels, eps=eps)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, eps=eps, affine=True)
    if norm == "rms":
        return _modules()["RMSNorm2d"](channels, eps=eps)
    return _modules()["FRN2d"](channels)


def build_model(config: TrainConfig | None = None):
    """The digits CNN of `config` (untrained): conv3×3(1→w) → norm → ReLU → conv3×3(w→2w) → norm →
    ReLU → maxpool 2 → conv3×3(2w→2w) → norm → ReLU → global average pool → linear(2w→10).
    Convolutions have a bias only without normalization. `model.load_state_dict(result.state_dict)`
    restores a trained one."""
    torch = require_torch("the digits experiment")
    nn = torch.nn
    cfg = validate(config or TrainConfig())
    w = cfg.width
    bias = cfg.norm == "none"

    def norm(c):
        return make_norm(cfg.norm, c, cfg.groups, cfg.eps, cfg.bn_momentum, cfg.rmax, cfg.dmax)

    return nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1, bias=bias), norm(w), nn.ReLU(),
        nn.Conv2d(w, 2 * w, 3, padding=1, bias=bias), norm(2 * w), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(2 * w, 2 * w, 3, padding=1, bias=bias), norm(2 * w), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * w, CLASSES))


def _running_layers(model):
    torch = require_torch("the digits experiment")
    kinds = (torch.nn.BatchNorm2d, _modules()["BatchRenorm2d"])
    return [m for m in model.modules() if isinstance(m, kinds)]


def save_model(result: TrainResult, path) -> str:
    """Write result.state_dict with torch.save (a plain state_dict, loadable with
    torch.load(path, weights_only=True) into build_model(result.config)); atomic. Returns the path."""
    torch = require_torch("saving a model")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".norm-explorer-", suffix=".pt", dir=folder)
    os.close(fd)
    try:
        torch.save(result.state_dict, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_model(path, config: TrainConfig):
    """build_model(config) with the state_dict at `path` loaded (weights_only=True), in eval mode."""
    torch = require_torch("loading a model")
    model = build_model(config)
    model.load_state_dict(torch.load(os.fspath(path), weights_only=True))
    return model.eval()


# -- checks ----------------------------------------------------------------------------------------

def validate(cfg: TrainConfig) -> TrainConfig:
    """Check every field; ValueError with a one-line message on the first bad one."""
    if not isinstance(cfg, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, not {type(cfg).__name__}")
    check_choice("norm", cfg.norm, NORMS)
    check_int("batch_size", cfg.batch_size, 1, 256)
    check_float("lr", cfg.lr, positive=True)
    check_choice("lr_scaling", cfg.lr_scaling, LR_SCALINGS)
    check_choice("lr_schedule", cfg.lr_schedule, LR_SCHEDULES)
    check_int("epochs", cfg.epochs, 1, 200)
    check_float("momentum", cfg.momentum, 0.0, 0.999)
    check_float("weight_decay", cfg.weight_decay, lo=0.0)
    check_int("width", cfg.width, 1, 256)
    check_int("groups", cfg.groups, 1, 256)
    check_float("eps", cfg.eps, positive=True)
    check_float("bn_momentum", cfg.bn_momentum, 0.0, 1.0)
    check_float("rmax", cfg.rmax, lo=1.0)
    check_float("dmax", cfg.dmax, lo=0.0)
    check_choice("shift", cfg.shift, SHIFTS)
    check_float("brightness", cfg.brightness, -10.0, 10.0)
    check_int("seed", cfg.seed, 0)
    if cfg.norm == "group" and cfg.width % cfg.groups:
        raise ValueError(f"groups={cfg.groups} must divide width={cfg.width} (GroupNorm needs C divisible by G)")
    train = len(_digits()[1])
    size = train if cfg.train_size is None else check_int("train_size", cfg.train_size, 1, train)
    sizes = [cfg.batch_size]
    if (cfg.switch_epoch is None) != (cfg.switch_batch_size is None):
        raise ValueError("switch_epoch and switch_batch_size go together: give both or neither")
    if cfg.switch_epoch is not None:
        check_int("switch_epoch", cfg.switch_epoch, 1, cfg.epochs - 1 if cfg.epochs > 1 else 1)
        sizes.append(check_int("switch_batch_size", cfg.switch_batch_size, 1, 256))
    for bs in sizes:
        if bs > size:
            raise ValueError(f"batch_size={bs} is larger than the {size} training images")
    return cfg


def lr_for(cfg: TrainConfig, batch_size: int) -> float:
    """The learning rate used with `batch_size`: lr · batch_size / 32 (linear) or lr."""
    return cfg.lr * batch_size / REFERENCE_BATCH if cfg.lr_scaling == "linear" else cfg.lr


def steps_of(cfg: TrainConfig) -> int:
    """Optimizer steps the run takes."""
    size = len(_digits()[1]) if cfg.train_size is None else cfg.train_size
    return sum(size // _batch_size_at(cfg, e) for e in range(cfg.epochs))


def _batch_size_at(cfg, epoch):
    if cfg.switch_epoch is not None and epoch >= cfg.switch_epoch:
        return cfg.switch_batch_size
    return cfg.batch_size


# -- training --------------------------------------------------------------------------------------

def _evaluate(torch, model, x, y, train_mode=False, batch_size=None):
    """(mean loss, accuracy) on x, y: eval mode in one pass, or training mode in batches of
    batch_size (the last one smaller) with the running statistics put back afterwards."""
    F = torch.nn.functional
    with torch.no_grad():
        if not train_mode:
            model.eval()
            logits = model(x)
        else:
            saved = [(b, b.clone()) for b in model.buffers()]
            model.train()
            logits = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(y), batch_size)])
            for b, v in saved:
                b.copy_(v)
        loss = F.cross_entropy(logits, y).item()
        acc = (logits.argmax(1) == y).double().mean().item()
    return loss, acc


def _renorm_limits(cfg, step, steps_per_epoch):
    """Batch Renormalization's (rmax, dmax) at `step`: (1, 0) for the first epoch, then opened
    linearly to (rmax, dmax) over the second."""
    ramp = min(1.0, max(0.0, step / max(1, steps_per_epoch) - 1.0))
    return 1.0 + (cfg.rmax - 1.0) * ramp, cfg.dmax * ramp


def _train(torch, cfg, model, data, loop, record, mode="update", epochs=None, lr=None):
    """Train `model` in place for `epochs` (cfg.epochs) epochs; calls record(epoch, stats) after each.
    mode: FINETUNE_MODES (what BatchNorm does). Returns (step losses, diverged)."""
    F = torch.nn.functional
    x, y = data
    epochs = cfg.epochs if epochs is None else epochs
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr_for(cfg, cfg.batch_size) if lr is None else lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay)
    running = _running_layers(model)
    renorm = [m for m in running if not isinstance(m, torch.nn.BatchNorm2d)]
    total = sum(len(y) // _batch_size_at(cfg, e) for e in range(epochs))
    step_losses, step, diverged = [], 0, False
    for epoch in range(epochs):
        bs = _batch_size_at(cfg, epoch)
        base = lr_for(cfg, bs) if lr is None else lr
        first_lr = None
        order = np.random.default_rng([cfg.seed, 7, epoch]).permutation(len(y))
        n = len(y) - len(y) % bs
        losses, correct = [], 0
        model.train()
        if mode == "eval":
            for m in running:
                m.eval()
        if mode == "frozen":
            for m in running:
                m.momentum = 0.0
        for i in range(0, n, bs):
            if (i // bs) % 32 == 0:
                loop.check()
            idx = torch.from_numpy(order[i:i + bs])
            xb, yb = x[idx], y[idx]
            if mode == "adapt":
                with torch.no_grad():
                    logits = model(xb)
                    loss = F.cross_entropy(logits, yb)
            else:
                if renorm:
                    limits = _renorm_limits(cfg, step, n // bs)
                    for m in renorm:
                        m.limits = limits
                rate = base * (0.5 * (1.0 + math.cos(math.pi * step / total)) if cfg.lr_schedule == "cosine" else 1.0)
                first_lr = rate if first_lr is None else first_lr
                for g in opt.param_groups:
                    g["lr"] = rate
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                if not torch.isfinite(loss):
                    diverged = True
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            step += 1
            losses.append(loss.item())
            correct += int((logits.argmax(1) == yb).sum())
        step_losses.extend(losses)
        if mode == "frozen":
            for m in running:
                m.momentum = cfg.bn_momentum
        loop.tick(max(1, n // bs))
        record(epoch, dict(steps=step, batch_size=bs, lr=base if first_lr is None else first_lr,
                           train_loss=float(np.mean(losses)) if losses else math.nan,
                           train_acc=correct / max(1, len(losses) * bs)), diverged)
        if diverged:
            loop.tick(sum(len(y) // _batch_size_at(cfg, e) for e in range(epoch + 1, epochs)))  # skipped steps
            break
    return np.asarray(step_losses, dtype=np.float64), diverged


def run_training(config: TrainConfig, progress: Callable | None = None, cancelled: Callable | None = None,
                 _loop: Loop | None = None) -> TrainResult:
    """Train the digits CNN of `config`; validation curves in eval and training mode after every
    epoch. progress(done, total) in optimizer steps after each epoch; Cancelled when cancelled()
    returns True (checked every 32 steps). Reproducible for config.seed."""
    cfg = validate(config)
    torch = require_torch("the digits experiment")
    loop = _loop or Loop(steps_of(cfg), progress, cancelled)
    loop.check()
    with one_thread(torch):
        return _run_training(torch, cfg, loop)


def _run_training(torch, cfg, loop):
    began = time.perf_counter()
    xtr, ytr = digits(cfg.shift, cfg.brightness, "train")
    if cfg.train_size is not None:
        keep = np.random.default_rng([SPLIT_SEED, 1]).permutation(len(ytr))[:cfg.train_size]
        xtr, ytr = xtr[np.sort(keep)], ytr[np.sort(keep)]
    xv, yv = (torch.from_numpy(a) for a in digits(cfg.shift, cfg.brightness, "validation"))
    data = (torch.from_numpy(xtr), torch.from_numpy(ytr))
    E = cfg.epochs
    rec = {k: np.full(E + 1, np.nan) for k in ("steps", "val_loss", "val_acc", "val_loss_train_mode",
                                              "val_acc_train_mode", "train_loss", "train_acc")}
    sizes, lrs = np.zeros(E, dtype=int), np.zeros(E)
    with seeded(torch, cfg.seed):
        model = build_model(cfg)

    def evaluate(e, bs):
        rec["val_loss"][e], rec["val_acc"][e] = _evaluate(torch, model, xv, yv)
        rec["val_loss_train_mode"][e], rec["val_acc_train_mode"][e] = _evaluate(torch, model, xv, yv, True, bs)

    def record(epoch, stats, diverged):
        sizes[epoch], lrs[epoch] = stats["batch_size"], stats["lr"]
        rec["steps"][epoch + 1] = stats["steps"]
        rec["train_loss"][epoch + 1], rec["train_acc"][epoch + 1] = stats["train_loss"], stats["train_acc"]
        if not diverged:
            evaluate(epoch + 1, stats["batch_size"])

    rec["steps"][0] = 0
    evaluate(0, cfg.batch_size)
    with seeded(torch, cfg.seed + 1):
        step_loss, diverged = _train(torch, cfg, model, data, loop, record)
    warnings = []
    if diverged:
        warnings.append(f"the training loss became non-finite after {len(step_loss)} steps (learning rate "
                        f"{lr_for(cfg, cfg.batch_size):g} is too high for {cfg.norm}); training stopped")
    last = np.flatnonzero(np.isfinite(rec["val_acc"]))[-1]
    acc, acc_train = rec["val_acc"][last], rec["val_acc_train_mode"][last]
    if diverged:
        acc = acc_train = 1.0 / CLASSES  # chance: the diverged model is unusable
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return TrainResult(config=cfg, batch_size=sizes, lr=lrs, step_loss=step_loss, final_error=1.0 - acc,
                       final_error_train_mode=1.0 - acc_train, diverged=diverged, state_dict=state,
                       seconds=time.perf_counter() - began, warnings=warnings, **rec)


# -- sweeps ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepConfig:
    """Every combination of norms × batch_sizes × lrs × seeds, each a `run_training` of
    replace(base, norm=..., batch_size=..., lr=..., seed=...)."""

    norms: tuple = ("none", "batch", "batch_renorm", "group", "layer", "instance")
    batch_sizes: tuple = (2, 4, 8, 16, 32, 64)
    lrs: tuple = (0.1,)
    seeds: tuple = (0, 1, 2)
    base: TrainConfig = TrainConfig(epochs=6)


def figure1_config(**overrides) -> SweepConfig:
    """The Group Normalization paper's Figure 1 on digits: validation error against batch size
    (2..64) for each normalization, learning rate scaled linearly with the batch size, 3 seeds."""
    return replace(SweepConfig(), **overrides)


def lr_config(**overrides) -> SweepConfig:
    """BatchNorm's tolerance of higher learning rates: batch size 32, learning rates 0.01..3
    (SGD with momentum 0.9), with and without normalization, 3 seeds."""
    lrs = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    return replace(SweepConfig(norms=("none", "batch", "group"), batch_sizes=(32,), lrs=lrs), **overrides)


@dataclass
class SweepResult:
    """Arrays of shape (norms, batch_sizes, lrs, seeds): error and error_train_mode (final
    validation error, eval and training mode), loss (final validation loss), diverged. mean_error,
    std_error and their _train_mode twins: over the seeds, (norms, batch_sizes, lrs).
    runs: {TrainConfig: TrainResult} of every run (for curves; `run(...)` picks one). cached: how
    many came from the cache. seconds: the whole sweep."""

    config: SweepConfig
    error: np.ndarray
    error_train_mode: np.ndarray
    loss: np.ndarray
    diverged: np.ndarray
    runs: dict
    cached: int
    seconds: float

    @property
    def mean_error(self):
        return self.error.mean(axis=-1)

    @property
    def std_error(self):
        return self.error.std(axis=-1)

    @property
    def mean_error_train_mode(self):
        return self.error_train_mode.mean(axis=-1)

    @property
    def std_error_train_mode(self):
        return self.error_train_mode.std(axis=-1)

    def run(self, norm: str, batch_size: int, lr: float | None = None, seed: int | None = None) -> TrainResult:
        c = self.config
        return self.runs[sweep_run_config(c, norm, batch_size, c.lrs[0] if lr is None else lr,
                                          c.seeds[0] if seed is None else seed)]


def sweep_run_config(cfg: SweepConfig, norm, batch_size, lr, seed) -> TrainConfig:
    return replace(cfg.base, norm=norm, batch_size=int(batch_size), lr=float(lr), seed=int(seed))


def validate_sweep(cfg: SweepConfig) -> list:
    """The sweep's run configs (each checked), in sweep order; ValueError on a bad field."""
    if not isinstance(cfg, SweepConfig):
        raise ValueError(f"config must be a SweepConfig, not {type(cfg).__name__}")
    for name in ("norms", "batch_sizes", "lrs", "seeds"):
        value = getattr(cfg, name)
        if not isinstance(value, tuple) or not value:
            raise ValueError(f"{name} must be a non-empty tuple, not {value!r}")
        if len(set(value)) != len(value):
            raise ValueError(f"{name} repeats a value: {value!r}")
    configs = [sweep_run_config(cfg, n, b, lr, s) for n in cfg.norms for b in cfg.batch_sizes for lr in cfg.lrs
               for s in cfg.seeds]
    for c in configs:
        validate(c)
    return configs


def run_sweep(config: SweepConfig, progress: Callable | None = None, cancelled: Callable | None = None,
              cache: MutableMapping | None = None) -> SweepResult:
    """Run every configuration of the sweep (those in `cache` are taken from it; each finished run
    is stored in it at once, so a cancelled sweep keeps them). progress(done, total) in optimizer
    steps over the whole sweep; Cancelled when cancelled() returns True."""
    cfg = config
    configs = validate_sweep(cfg)
    require_torch("the digits experiment")
    cache = {} if cache is None else cache
    loop = Loop(sum(steps_of(c) for c in configs), progress, cancelled)
    loop.check()
    began, cached, runs = time.perf_counter(), 0, {}
    for c in configs:
        if c in cache:
            runs[c] = cache[c]
            cached += 1
            loop.tick(steps_of(c))
            continue
        runs[c] = cache[c] = run_training(c, _loop=loop)
    shape = (len(cfg.norms), len(cfg.batch_sizes), len(cfg.lrs), len(cfg.seeds))

    def table(attr):
        return np.array([getattr(runs[c], attr) for c in configs], dtype=np.float64).reshape(shape)

    loss = np.array([runs[c].val_loss[-1] for c in configs]).reshape(shape)
    return SweepResult(config=cfg, error=table("final_error"), error_train_mode=table("final_error_train_mode"),
                       loss=loss, diverged=table("diverged").astype(bool), runs=runs, cached=cached,
                       seconds=time.perf_counter() - began)


# -- fine-tuning on a shifted domain ---------------------------------------------------------------

@dataclass(frozen=True)
class FinetuneConfig:
    """Pretrain on the original digits (`pretrain`, a TrainConfig whose shift is 'none'), then
    fine-tune a copy for finetune_epochs on the first finetune_size images of the shifted training
    split (shift 'invert' or 'brightness'), once per mode in FINETUNE_MODES, with SGD at
    finetune_lr (no scaling) and the pretraining batch size."""

    pretrain: TrainConfig = TrainConfig(epochs=6)
    shift: str = "invert"
    brightness: float = 0.5
    finetune_epochs: int = 4
    finetune_size: int = 300
    finetune_lr: float = 0.02
    modes: tuple = FINETUNE_MODES


@dataclass
class FinetuneResult:
    """pretrained: the TrainResult of pretraining. before: eval-mode validation accuracy of the
    pretrained model {'original': ..., 'shifted': ...}. For each mode (arrays of finetune_epochs
    + 1 points, point 0 before fine-tuning): shifted_acc (eval mode on the shifted validation
    split), shifted_acc_train_mode (training mode, batches of the batch size), original_acc (eval
    mode on the original split: what fine-tuning costs there), stats_drift (distance
    ‖running_mean − pretrained running_mean‖ of the first BatchNorm layer; zeros without one).
    diverged: {mode: the loss became non-finite} (that curve stops there, NaN after).
    state_dict: the fine-tuned model per mode. warnings: sentences."""

    config: FinetuneConfig
    pretrained: TrainResult
    before: dict
    shifted_acc: dict
    shifted_acc_train_mode: dict
    original_acc: dict
    stats_drift: dict
    diverged: dict
    state_dict: dict
    seconds: float
    warnings: list = field(default_factory=list)


def validate_finetune(cfg: FinetuneConfig) -> FinetuneConfig:
    if not isinstance(cfg, FinetuneConfig):
        raise ValueError(f"config must be a FinetuneConfig, not {type(cfg).__name__}")
    validate(cfg.pretrain)
    if cfg.pretrain.shift != "none":
        raise ValueError("pretrain.shift must be 'none': pretraining is on the original digits")
    check_choice("shift", cfg.shift, SHIFTS[1:])
    check_float("brightness", cfg.brightness, -10.0, 10.0)
    check_int("finetune_epochs", cfg.finetune_epochs, 1, 100)
    check_int("finetune_size", cfg.finetune_size, cfg.pretrain.batch_size, len(_digits()[1]))
    check_float("finetune_lr", cfg.finetune_lr, positive=True)
    if not isinstance(cfg.modes, tuple) or not cfg.modes:
        raise ValueError(f"modes must be a non-empty tuple, not {cfg.modes!r}")
    for m in cfg.modes:
        check_choice("mode", m, FINETUNE_MODES)
    return cfg


def run_finetune(config: FinetuneConfig, progress: Callable | None = None, cancelled: Callable | None = None,
                 cache: MutableMapping | None = None) -> FinetuneResult:
    """Pretrain (or take the pretrained run from `cache`), then fine-tune on the shifted domain in
    every mode. progress(done, total) in optimizer steps; Cancelled when cancelled() returns True."""
    cfg = validate_finetune(config)
    torch = require_torch("the digits experiment")
    with one_thread(torch):
        return _run_finetune(torch, cfg, progress, cancelled, cache)


def _run_finetune(torch, cfg, progress, cancelled, cache):
    pre_cfg = cfg.pretrain
    per_epoch = cfg.finetune_size // pre_cfg.batch_size
    cache = {} if cache is None else cache
    pre_steps = 0 if pre_cfg in cache else steps_of(pre_cfg)
    loop = Loop(pre_steps + per_epoch * cfg.finetune_epochs * len(cfg.modes), progress, cancelled)
    loop.check()
    began = time.perf_counter()
    if pre_cfg in cache:
        pretrained = cache[pre_cfg]
    else:
        pretrained = cache[pre_cfg] = run_training(pre_cfg, _loop=loop)
    xs, ys = digits(cfg.shift, cfg.brightness, "train")
    ft_data = (torch.from_numpy(xs[:cfg.finetune_size]), torch.from_numpy(ys[:cfg.finetune_size]))
    val = {d: tuple(torch.from_numpy(a) for a in digits(s, cfg.brightness, "validation"))
           for d, s in (("original", "none"), ("shifted", cfg.shift))}
    model = build_model(pre_cfg)
    model.load_state_dict(pretrained.state_dict)
    before = {d: _evaluate(torch, model, *val[d])[1] for d in val}
    first = _running_layers(model)
    start_mean = first[0].running_mean.clone() if first else None
    n = cfg.finetune_epochs + 1
    out = {k: {} for k in ("shifted_acc", "shifted_acc_train_mode", "original_acc", "stats_drift")}
    states, diverged, warnings = {}, {}, []
    ft_cfg = replace(pre_cfg, epochs=cfg.finetune_epochs, switch_epoch=None, switch_batch_size=None,
                     seed=pre_cfg.seed + 1000)
    for mode in cfg.modes:
        model = build_model(pre_cfg)
        model.load_state_dict(pretrained.state_dict)
        layers = _running_layers(model)
        curves = {k: np.full(n, np.nan) for k in out}

        def measure(e, model=model, layers=layers, curves=curves):
            curves["shifted_acc"][e] = _evaluate(torch, model, *val["shifted"])[1]
            curves["shifted_acc_train_mode"][e] = _evaluate(torch, model, *val["shifted"], True, pre_cfg.batch_size)[1]
            curves["original_acc"][e] = _evaluate(torch, model, *val["original"])[1]
            curves["stats_drift"][e] = float((layers[0].running_mean - start_mean).norm()) if layers else 0.0

        measure(0)
        if mode == "adapt":
            for m in layers:  # re-estimate from scratch: the cumulative average over the new domain
                m.reset_running_stats()
                m.momentum = None
        def record(epoch, stats, failed, measure=measure):
            if not failed:
                measure(epoch + 1)

        with seeded(torch, ft_cfg.seed):
            steps, failed = _train(torch, ft_cfg, model, ft_data, loop, record, mode=mode, lr=cfg.finetune_lr)
        if failed:
            warnings.append(f"{mode}: the fine-tuning loss became non-finite after {len(steps)} steps; the curve "
                            f"stops there")
        diverged[mode] = failed
        for k in out:
            out[k][mode] = curves[k]
        states[mode] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if pre_cfg.norm not in RUNNING:
        warnings.append(f"{pre_cfg.norm} keeps no running statistics: 'update', 'frozen' and 'eval' fine-tune alike")
    return FinetuneResult(config=cfg, pretrained=pretrained, before=before, state_dict=states, diverged=diverged,
                          seconds=time.perf_counter() - began, warnings=warnings, **out)


__all__ = ["NORMS", "RUNNING", "SHIFTS", "FINETUNE_MODES", "TrainConfig", "TrainResult", "SweepConfig", "SweepResult",
           "FinetuneConfig", "FinetuneResult", "run_training", "run_sweep", "run_finetune", "figure1_config",
           "lr_config", "build_model", "make_norm", "save_model", "load_model", "digits", "validate", "steps_of",
           "lr_for", "Cancelled"]
