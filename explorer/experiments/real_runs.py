"""What the experiments on real data compute for a view or a command, and write (CSV tables, JSON
data), without Qt: the digits training modes (a Figure 1 or learning-rate sweep, curves, fine-tuning,
a batch size switched mid-training) as one `TrainSettings` -> `TrainOutcome`, and each experiment's
numbers (distributed BatchNorm, transformer placement, iris, SELU, padded sequences)."""

from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from kernels.experiments import (
    FinetuneConfig,
    SweepConfig,
    TrainConfig,
    figure1_config,
    lr_config,
    padding,
    run_finetune,
    run_sweep,
    run_training,
    training,
)

from .runs import csv_text

#: how the experiments' requirements are installed
INSTALL = "pip install 'norm-explorer[experiments]'"


def installed(package: str) -> bool:
    """True when `package` can be imported here (a broken or blocked import counts as missing)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def missing_requirements(needs) -> str:
    """One sentence naming what of `needs` ('torch', 'sklearn') is not installed, or ''."""
    names = {"torch": "torch", "sklearn": "scikit-learn (for its bundled data sets)"}
    missing = [names[n] for n in needs if not installed(n)]
    if not missing:
        return ""
    return (f"This experiment needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
            f"installed here: {INSTALL}. The other experiments work without it.")


# -- digits training -----------------------------------------------------------------------------------

#: figure1: error against batch size (the GroupNorm paper's Figure 1); lr: against the learning rate;
#: curves: validation accuracy over the steps of one run per normalization; finetune: pretrain, then
#: fine-tune on shifted digits in every BatchNorm mode; switch: the batch size changed mid-training.
TRAIN_MODES = ("figure1", "lr", "curves", "finetune", "switch")
#: the settings each mode reads besides mode, norms, epochs and the first seed (the view's controls)
MODE_FIELDS = {"figure1": ("seeds", "batch_sizes", "lr"), "lr": ("seeds", "lrs", "batch_size"),
               "curves": ("batch_size", "lr"),
               "finetune": ("batch_size", "lr", "shift"),
               "switch": ("batch_size", "lr", "switch_batch_size", "switch_epoch")}


@dataclass(frozen=True)
class TrainSettings:
    """One request of the digits view or `norm-explorer train`. norms: the normalizations (finetune
    uses the first); batch_sizes: figure1's sweep; lrs: the lr sweep's; seeds: every sweep's (curves,
    finetune and switch use the first); epochs: of every run (finetune: of the pretraining);
    batch_size and lr: the runs that are not swept over them (lr is at batch size 32, scaled
    linearly); shift: finetune's domain; switch: from batch_size to switch_batch_size after
    switch_epoch epochs (None: half the epochs), and back the other way."""

    mode: str = "figure1"
    norms: tuple = ("batch", "group", "layer")
    batch_sizes: tuple = (2, 4, 8, 16, 32, 64)
    lrs: tuple = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
    seeds: tuple = (0, 1)
    epochs: int = 3
    batch_size: int = 32
    lr: float = 0.1
    shift: str = "invert"
    switch_batch_size: int = 2
    switch_epoch: int | None = None


def full_figure1() -> TrainSettings:
    """The settings whose runs are exactly `training.figure1_config()`'s (6 norms × 6 batch sizes × 3 seeds)."""
    c = figure1_config()
    return TrainSettings(mode="figure1", norms=c.norms, batch_sizes=c.batch_sizes, seeds=c.seeds,
                         epochs=c.base.epochs, lr=c.lrs[0])


def full_lr() -> TrainSettings:
    """The settings whose runs are exactly `training.lr_config()`'s."""
    c = lr_config()
    return TrainSettings(mode="lr", norms=c.norms, batch_size=c.batch_sizes[0], lrs=c.lrs, seeds=c.seeds,
                         epochs=c.base.epochs)


@dataclass
class TrainOutcome:
    """settings; sweep (figure1, lr, curves: a kernels SweepResult), finetune (a FinetuneResult) or
    runs ({label: TrainResult}: curves by norm, switch by 'norm A→B'); seconds; cached: runs
    taken from the cache."""

    settings: TrainSettings
    sweep: object = None
    finetune: object = None
    runs: dict = field(default_factory=dict)
    seconds: float = 0.0
    cached: int = 0


def _check(settings: TrainSettings):
    if settings.mode not in TRAIN_MODES:
        raise ValueError(f"unknown mode {settings.mode!r}; choose one of {', '.join(TRAIN_MODES)}")
    for name in ("norms", "batch_sizes", "lrs", "seeds"):
        value = getattr(settings, name)
        if not value:
            raise ValueError(f"{name} is empty: give at least one")
        if len(set(value)) != len(value):
            raise ValueError(f"{name} repeats a value: {', '.join(map(str, value))}")


def switch_epoch(settings: TrainSettings) -> int:
    return settings.switch_epoch if settings.switch_epoch is not None else max(1, settings.epochs // 2)


def switch_configs(settings: TrainSettings) -> dict:
    """{label: TrainConfig} of the switch mode: each norm from batch_size to switch_batch_size and back."""
    a, b = settings.batch_size, settings.switch_batch_size
    if settings.epochs < 2:
        raise ValueError("the batch-size switch needs at least 2 epochs (one before the switch, one after)")
    out = {}
    for norm in settings.norms:
        for first, second in ((a, b), (b, a)):
            out[f"{norm} {first}→{second}"] = TrainConfig(norm=norm, batch_size=first, lr=settings.lr,
                                                         epochs=settings.epochs, switch_epoch=switch_epoch(settings),
                                                         switch_batch_size=second, seed=settings.seeds[0])
    return out


def train_plan(settings: TrainSettings):
    """What the settings run: a SweepConfig (figure1, lr, curves), a FinetuneConfig or {label:
    TrainConfig} (switch); every run config checked (ValueError naming the first bad value)."""
    _check(settings)
    s = settings
    base = TrainConfig(epochs=s.epochs, lr=s.lr)
    if s.mode in ("figure1", "lr", "curves"):
        sizes = s.batch_sizes if s.mode == "figure1" else (s.batch_size,)
        lrs = s.lrs if s.mode == "lr" else (s.lr,)
        seeds = s.seeds[:1] if s.mode == "curves" else s.seeds
        plan = SweepConfig(norms=tuple(s.norms), batch_sizes=tuple(sizes), lrs=tuple(float(v) for v in lrs),
                           seeds=tuple(seeds), base=base)
        for norm in plan.norms:
            for bs in plan.batch_sizes:
                for lr in plan.lrs:
                    training.validate(replace(base, norm=norm, batch_size=bs, lr=lr, seed=plan.seeds[0]))
        return plan
    if s.mode == "finetune":
        pre = replace(base, norm=s.norms[0], batch_size=s.batch_size, seed=s.seeds[0])
        training.validate(pre)
        if s.shift not in ("invert", "brightness"):
            raise ValueError(f"unknown shift {s.shift!r}; choose invert or brightness")
        if s.batch_size > FinetuneConfig().finetune_size:
            raise ValueError(f"batch_size={s.batch_size} is larger than the {FinetuneConfig().finetune_size} "
                             f"fine-tuning images")
        return FinetuneConfig(pretrain=pre, shift=s.shift)
    configs = switch_configs(s)
    for c in configs.values():
        training.validate(c)
    return configs


def run_count(settings: TrainSettings) -> int:
    """How many training runs the settings ask for (fine-tuning: one pretraining, fine-tuned in every mode)."""
    s = settings
    if s.mode == "figure1":
        return len(s.norms) * len(s.batch_sizes) * len(s.seeds)
    if s.mode == "lr":
        return len(s.norms) * len(s.lrs) * len(s.seeds)
    if s.mode == "curves":
        return len(s.norms)
    return 1 if s.mode == "finetune" else 2 * len(s.norms)


def compute_train(settings: TrainSettings, progress=None, cancelled=None, cache=None) -> TrainOutcome:
    """Run the settings' plan; finished runs go into `cache` (a dict) at once, so a cancelled request
    keeps them and a later one with the same runs takes them from there."""
    plan = train_plan(settings)
    cache = {} if cache is None else cache
    began = time.perf_counter()
    out = TrainOutcome(settings=settings)
    if isinstance(plan, SweepConfig):
        out.sweep = run_sweep(plan, progress, cancelled, cache=cache)
        out.cached = out.sweep.cached
        if settings.mode == "curves":
            out.runs = {norm: out.sweep.run(norm, plan.batch_sizes[0]) for norm in plan.norms}
    elif isinstance(plan, FinetuneConfig):
        out.cached = int(plan.pretrain in cache)
        out.finetune = run_finetune(plan, progress, cancelled, cache=cache)
    else:
        total = sum(training.steps_of(c) for c in plan.values())
        done = [0]
        for label, c in plan.items():
            if c in cache:
                out.cached += 1
            else:
                offset = done[0]
                cache[c] = run_training(c, None if progress is None else
                                        (lambda d, _t, offset=offset: progress(offset + d, total)), cancelled)
            out.runs[label] = cache[c]
            done[0] += training.steps_of(c)
            if progress is not None:
                progress(done[0], total)
    out.seconds = time.perf_counter() - began
    return out


def saveable_runs(outcome: TrainOutcome) -> dict:
    """{label: TrainResult} of every trained model in the outcome (what `Save model…` offers)."""
    if outcome.finetune is not None:
        c = outcome.finetune.pretrained.config
        return {f"pretrained {c.norm}, batch {c.batch_size}, seed {c.seed}": outcome.finetune.pretrained}
    if outcome.runs:
        return dict(outcome.runs)
    return {f"{c.norm}, batch {c.batch_size}, lr {c.lr:g}, seed {c.seed}": r for c, r in outcome.sweep.runs.items()}


def _num(v):
    """A float for CSV/JSON, None for NaN or infinity (JSON has neither)."""
    v = float(v)
    return v if math.isfinite(v) else None


def json_safe(obj):
    """obj with every NaN or infinity (JSON has neither) replaced by None, NumPy scalars as Python numbers."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    return obj


def _csv_value(v):
    return "" if v is None else v


def sweep_table(sweep) -> tuple:
    header = ["norm", "batch_size", "lr", "seed", "error", "error_train_mode", "val_loss", "diverged", "steps",
              "seconds"]
    rows = []
    c = sweep.config
    for i, norm in enumerate(c.norms):
        for j, bs in enumerate(c.batch_sizes):
            for k, lr in enumerate(c.lrs):
                for m, seed in enumerate(c.seeds):
                    run = sweep.run(norm, bs, lr, seed)
                    rows.append([norm, int(bs), float(lr), int(seed), float(sweep.error[i, j, k, m]),
                                 float(sweep.error_train_mode[i, j, k, m]), _csv_value(_num(sweep.loss[i, j, k, m])),
                                 int(sweep.diverged[i, j, k, m]), int(run.steps[-1]) if np.isfinite(run.steps[-1])
                                 else "", float(run.seconds)])
    return header, rows


def curves_table(runs: dict) -> tuple:
    header = ["run", "norm", "epoch", "steps", "batch_size", "val_acc", "val_acc_train_mode", "val_loss",
              "val_loss_train_mode", "train_loss", "train_acc"]
    rows = []
    for label, r in runs.items():
        for e in range(len(r.steps)):
            bs = int(r.batch_size[e - 1]) if e > 0 else int(r.config.batch_size)
            rows.append([label, r.config.norm, e, _csv_value(_num(r.steps[e])), bs]
                        + [_csv_value(_num(getattr(r, k)[e])) for k in header[5:]])
    return header, rows


def finetune_table(res) -> tuple:
    header = ["mode", "epoch", "shifted_acc", "shifted_acc_train_mode", "original_acc", "stats_drift"]
    rows = []
    for mode in res.config.modes:
        for e in range(len(res.shifted_acc[mode])):
            rows.append([mode, e] + [_csv_value(_num(getattr(res, k)[mode][e])) for k in header[2:]])
    return header, rows


def train_table(outcome: TrainOutcome) -> tuple:
    if outcome.finetune is not None:
        return finetune_table(outcome.finetune)
    if outcome.settings.mode in ("curves", "switch"):
        return curves_table(outcome.runs)
    return sweep_table(outcome.sweep)


def train_csv(outcome: TrainOutcome) -> str:
    return csv_text(*train_table(outcome))


def _rows_as_dicts(header, rows):
    return [dict(zip(header, [None if v == "" else v for v in row])) for row in rows]


def train_numbers(outcome: TrainOutcome) -> dict:
    """The outcome as JSON-able data: the settings, the table's rows, and per mode its summary."""
    header, rows = train_table(outcome)
    out = {"experiment": "train", "mode": outcome.settings.mode, "settings": asdict(outcome.settings),
           "rows": _rows_as_dicts(header, rows), "seconds": outcome.seconds, "cached_runs": outcome.cached}
    if outcome.sweep is not None and outcome.settings.mode != "curves":
        s, c = outcome.sweep, outcome.sweep.config
        out["summary"] = {norm: {"batch_sizes": list(c.batch_sizes), "lrs": list(c.lrs),
                                 **{k: [[_num(v) for v in row] for row in getattr(s, k)[i]]
                                    for k in ("mean_error", "std_error", "mean_error_train_mode",
                                              "std_error_train_mode")}}
                          for i, norm in enumerate(c.norms)}
    if outcome.finetune is not None:
        f = outcome.finetune
        out["before"] = {k: _num(v) for k, v in f.before.items()}
        out["diverged"] = dict(f.diverged)
        out["warnings"] = list(f.warnings)
    if outcome.runs:
        out["warnings"] = [w for r in outcome.runs.values() for w in r.warnings]
    return out


# -- distributed BatchNorm -------------------------------------------------------------------------------

def sync_table(run) -> tuple:
    """One row per (device, channel): the shard's statistics and every device's running statistics after the
    step, synchronized and per device."""
    header = ["device", "samples", "values_per_channel", "channel", "shard_mean", "shard_var", "sync_mean",
              "sync_var", "sync_running_mean", "sync_running_var", "local_running_mean", "local_running_var"]
    rows = []
    s, loc = run.sync, run.local
    for k, stats in enumerate(s.shard_stats):
        for c in range(len(stats.mean)):
            rows.append([k, int(s.shard_sizes[k]), int(stats.count), c, float(stats.mean[c]), float(stats.var[c]),
                         float(s.mean[k, c]), float(s.var[k, c]), float(s.device_running_mean[k, c]),
                         float(s.device_running_var[k, c]), float(loc.device_running_mean[k, c]),
                         float(loc.device_running_var[k, c])])
    return header, rows


def sync_csv(run) -> str:
    return csv_text(*sync_table(run))


def _seconds(v):
    return None if v is None else float(v)


def sync_numbers(run) -> dict:
    cfg, s = run.config, run.sync
    header, rows = sync_table(run)
    return {"experiment": "sync",
            "config": {"shape": list(cfg.shape), "layout": cfg.layout, "inputs": cfg.inputs, "seed": cfg.seed,
                       "devices": cfg.devices, "shard_sizes": list(s.shard_sizes), "eps": cfg.eps,
                       "momentum": cfg.momentum},
            "backend": s.backend, "rows": _rows_as_dicts(header, rows),
            "global_mean": s.global_mean.tolist(), "global_var": s.global_var.tolist(),
            "sync_error": run.sync_error, "local_error": run.local_error,
            "ranks_agree": {"sync": s.ranks_agree, "local": run.local.ranks_agree},
            "allgather_seconds": _seconds(s.allgather_seconds), "allreduce_seconds": _seconds(s.allreduce_seconds),
            "exchange_seconds": _seconds(s.exchange_seconds), "payload_bytes": s.payload_bytes,
            "startup_seconds": _seconds(s.startup_seconds), "device": run.device.tolist(),
            "warnings": list(dict.fromkeys([*s.warnings, *run.local.warnings]))}


# -- transformer ---------------------------------------------------------------------------------------

def transformer_table(res) -> tuple:
    """Long form: one row per (placement, warm-up mode, quantity, index): stream_norm (index 0 = after the
    embedding), grad_norm and grad_norm_mlp (index = block, from 1), loss and accuracy (index = step),
    final_accuracy; placement 'all' holds the lr schedules."""
    header = ["placement", "mode", "quantity", "index", "value"]
    rows = []
    for p in res.config.placements:
        rows += [[p, "", "stream_norm", i, float(v)] for i, v in enumerate(res.stream_norm[p])]
        for key in ("grad_norm", "grad_norm_mlp"):
            rows += [[p, "", key, i + 1, float(v)] for i, v in enumerate(getattr(res, key)[p])]
        rows.append([p, "", "init_loss", 0, float(res.init_loss[p])])
        for mode in res.config.warmups:
            for key in ("loss", "accuracy"):
                rows += [[p, mode, key, t, _csv_value(_num(v))] for t, v in enumerate(getattr(res, key)[p][mode])]
            rows.append([p, mode, "final_accuracy", 0, _csv_value(_num(res.final_accuracy[p][mode]))])
    for mode, lrs in res.lr.items():
        rows += [["all", mode, "lr", t, float(v)] for t, v in enumerate(lrs)]
    return header, rows


def transformer_csv(res) -> str:
    return csv_text(*transformer_table(res))


def transformer_numbers(res) -> dict:
    cfg = res.config
    return {"experiment": "transformer", "config": asdict(cfg), "task": res.task,
            "stream_norm": {p: v.tolist() for p, v in res.stream_norm.items()},
            "grad_norm": {p: v.tolist() for p, v in res.grad_norm.items()},
            "grad_norm_mlp": {p: v.tolist() for p, v in res.grad_norm_mlp.items()},
            "init_loss": dict(res.init_loss),
            "loss": {p: {m: [_num(v) for v in c] for m, c in d.items()} for p, d in res.loss.items()},
            "accuracy": {p: {m: [_num(v) for v in c] for m, c in d.items()} for p, d in res.accuracy.items()},
            "final_accuracy": {p: {m: _num(v) for m, v in d.items()} for p, d in res.final_accuracy.items()},
            "diverged": {p: dict(d) for p, d in res.diverged.items()},
            "lr": {m: v.tolist() for m, v in res.lr.items()}, "seconds": res.seconds, "warnings": list(res.warnings)}


# -- iris ------------------------------------------------------------------------------------------------

def iris_table(res) -> tuple:
    header = ["scaling", "shift_0", "shift_1", "scale_0", "scale_1", "step", "iterations", "converged",
              "sklearn_iterations", "train_accuracy", "test_accuracy", "test_outside", "test_points",
              "sklearn_max_proba_difference"]
    rows = []
    for kind, f in res.fits.items():
        rows.append([kind, float(f.shift[0]), float(f.shift[1]), float(f.scale[0]), float(f.scale[1]), float(f.step),
                     int(f.iterations), int(f.converged), _csv_value(f.sklearn_iterations), float(f.train_accuracy),
                     float(f.test_accuracy), int(f.outside.sum()), int(len(f.outside)),
                     _csv_value(None if f.sklearn_max_proba_difference is None
                                else float(f.sklearn_max_proba_difference))])
    return header, rows


def iris_csv(res) -> str:
    return csv_text(*iris_table(res))


def iris_numbers(res) -> dict:
    header, rows = iris_table(res)
    return {"experiment": "iris", "config": asdict(res.config), "feature_names": list(res.feature_names),
            "class_names": list(res.class_names), "fits": _rows_as_dicts(header, rows),
            "loss": {k: f.loss.tolist() for k, f in res.fits.items()},
            "outside": {k: f.outside.astype(int).tolist() for k, f in res.fits.items()},
            "warnings": list(res.warnings)}


# -- SELU ------------------------------------------------------------------------------------------------

def selu_table(res) -> tuple:
    header = ["layer", "mean", "var", "ideal_mean", "ideal_var", "simulated_mean", "simulated_var",
              "simulated_ideal_mean", "simulated_ideal_var"]
    rows = []
    for i in range(len(res.trajectory)):
        values = [*res.trajectory[i], *res.ideal[i], *res.simulated[i], *res.simulated_ideal[i]]
        rows.append([i] + [_csv_value(_num(v)) for v in values])
    return header, rows


def selu_csv(res) -> str:
    return csv_text(*selu_table(res))


def selu_numbers(res) -> dict:
    header, rows = selu_table(res)
    return {"experiment": "selu", "config": asdict(res.config), "layers": _rows_as_dicts(header, rows),
            "fixed_point": None if res.fixed_point is None else res.fixed_point.tolist(),
            "eigenvalues": None if res.eigenvalues is None else [abs(complex(v)) for v in res.eigenvalues],
            "jacobian": None if res.jacobian is None else res.jacobian.tolist(),
            "field_mean": res.field_mean.tolist(), "field_var": res.field_var.tolist(),
            "field_dmean": res.field_dmean.tolist(), "field_dvar": res.field_dvar.tolist(),
            "warnings": list(res.warnings)}


# -- padded sequences ------------------------------------------------------------------------------------

def batch_bias(res) -> tuple:
    """(mean, variance) against res.fraction of channel 0 for this batch's own real tokens (its masked
    statistics) diluted by padding: the closed form the batch's unmasked statistics lie on."""
    b = res.batch
    return padding.padding_bias(b.mean_masked[0], b.var_masked[0], res.config.pad_value, res.fraction)


def padding_table(res) -> tuple:
    header = ["channel", "true_mean", "true_std", "bn_mean_masked", "bn_mean_unmasked", "bn_var_masked",
              "bn_var_unmasked", "running_mean_masked", "running_mean_unmasked", "running_var_masked",
              "running_var_unmasked"]
    b = res.batch
    rows = [[c, float(res.true_mean[c]), float(res.true_std[c]), float(b.mean_masked[c]), float(b.mean_unmasked[c]),
             float(b.var_masked[c]), float(b.var_unmasked[c]), float(b.running_mean_masked[c]),
             float(b.running_mean_unmasked[c]), float(b.running_var_masked[c]), float(b.running_var_unmasked[c])]
            for c in range(len(res.true_mean))]
    return header, rows


def padding_csv(res) -> str:
    return csv_text(*padding_table(res))


def padding_numbers(res) -> dict:
    header, rows = padding_table(res)
    return {"experiment": "padding", "config": asdict(res.config), "lengths": res.lengths.tolist(),
            "pad_fraction": res.pad_fraction, "channels": _rows_as_dicts(header, rows),
            "max_change": {k: getattr(res, k).max_change for k in ("batch", "token_layer", "sequence_layer")},
            "fraction": res.fraction.tolist(), "bias_mean": res.bias_mean.tolist(),
            "bias_var": res.bias_var.tolist(), "warnings": list(res.warnings)}
