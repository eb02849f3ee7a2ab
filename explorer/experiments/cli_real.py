"""The commands of the experiments on real data: `train` (digits: figure1, lr, curves, finetune, switch),
`sync` (distributed BatchNorm on a gloo process group), `transformer`, `iris`, `selu` and `padding`.
Each writes the view (.png/.svg/.pdf) or its numbers (.csv/.json); mistakes are one line (exit 2),
failures to write or to run exit 1. No Qt and no torch until a command runs."""

from __future__ import annotations

import argparse
import json
import math

from kernels.experiments import (
    PLACEMENTS,
    TRAIN_NORMS,
    DistributedConfig,
    IrisConfig,
    PaddingConfig,
    SeluConfig,
    TransformerConfig,
)

from ..cli_common import IO_FAILURE, CliError
from ..vocabulary import HEAVY_COMMANDS
from .cli import (
    MAX_SEED,
    _add_output_flags,
    _common_output,
    _kernel_checked,
    _wrap,
    _write,
    parse_choice,
    parse_float,
    parse_int,
)
from .real_runs import (
    MODE_FIELDS,
    TRAIN_MODES,
    TrainSettings,
    full_figure1,
    full_lr,
    iris_csv,
    iris_numbers,
    json_safe,
    missing_requirements,
    padding_csv,
    padding_numbers,
    saveable_runs,
    selu_csv,
    selu_numbers,
    sync_csv,
    sync_numbers,
    train_csv,
    train_numbers,
    train_plan,
    transformer_csv,
    transformer_numbers,
)

TRAIN_EXAMPLES = """examples:
  norm-explorer train --mode figure1 --norms batch,group,layer --batch-sizes 2,8,32 --seeds 0,1 --epochs 3 --out f1.png
  norm-explorer train --mode figure1 --full --out figure1.csv     the paper-sized sweep (minutes)
  norm-explorer train --mode lr --norms none,batch --lrs 0.01,0.1,1 --out lr.json
  norm-explorer train --mode curves --norms batch,group --epochs 8 --out curves.svg --save-model bn.pt
  norm-explorer train --mode finetune --norms batch --shift invert --out finetune.pdf
  norm-explorer train --mode switch --norms batch --batch-size 64 --switch-batch-size 2 --epochs 6 --out s.csv
"""
SYNC_EXAMPLES = """examples:
  norm-explorer sync --devices 4 --shape 16,4,4,4 --seed 0 --out sync.png
  norm-explorer sync --devices 4 --shards 10,2,2,2 --out unequal.json     unequal shards
  norm-explorer sync --devices 2 --shape 8,3,2,2 --out sync.csv
"""
TRANSFORMER_EXAMPLES = """examples:
  norm-explorer transformer --out placement.png                  6 placements, 150 steps each way (~20 s)
  norm-explorer transformer --placements post,pre --layers 12 --steps 0 --out init.csv
  norm-explorer transformer --placements post,pre,deepnorm --warmup 100 --out warmup.json
"""
IRIS_EXAMPLES = """examples:
  norm-explorer iris --out iris.png
  norm-explorer iris --features 2,3 --test-fraction 0.4 --seed 1 --out petals.csv
"""
SELU_EXAMPLES = """examples:
  norm-explorer selu --out selu.png
  norm-explorer selu --dropout 0.1 --dropout-kind alpha --out alpha.json
  norm-explorer selu --tau 1.5 --layers 30 --out tau.csv
"""
PADDING_EXAMPLES = """examples:
  norm-explorer padding --out padding.png
  norm-explorer padding --samples 16 --length 32 --pad 0 --mean 3 --out padding.csv
"""
TRAIN_MODE_ALIASES = {"sweep": "figure1"}


def _needs(command: str, *packages):
    missing = missing_requirements(packages)
    if missing:
        raise CliError(f"{command}: {missing.split('. The other')[0]}", IO_FAILURE)


def _list(text, flag: str, kind, lo, hi) -> tuple:
    parts = [p for p in str(text).replace(" ", "").split(",") if p]
    if not parts:
        raise CliError(f"{flag} is empty: give at least one value")
    parse = parse_int if kind is int else parse_float
    values = tuple(parse(p, flag, lo, hi) for p in parts)
    if len(set(values)) != len(values):
        raise CliError(f"{flag} {text!r} repeats a value")
    return values


def _names(text, flag: str, choices) -> tuple:
    names = tuple(parse_choice(p, flag, choices) for p in str(text).split(",") if p.strip())
    if not names:
        raise CliError(f"{flag} is empty: give at least one of {', '.join(choices)}")
    if len(set(names)) != len(names):
        raise CliError(f"{flag} {text!r} repeats a name")
    return names


def _draw(name: str, configure, args, size):
    from .draw import export_experiment
    return export_experiment(name, configure, args.out, size, args.dpi)


def _set_exactly(wanted: dict):
    """configure(view) for _draw: the view's controls set to `wanted`. A figure is drawn from those
    controls: a value they would round or clamp is refused (the figure would show another run than its
    .csv/.json), naming the setting."""
    def configure(view):
        view.set_config(**wanted)
        shown = view.config()
        _refuse_differences({key: getattr(shown, key) for key in wanted}, wanted)
    return configure


def _refuse_differences(shown: dict, wanted: dict):
    for key, value in wanted.items():
        if not _same(shown[key], value):
            raise CliError(f"{key} = {value} cannot be drawn: the window's control for it holds {shown[key]} (its "
                           f"range or decimals); write .csv or .json for this value, or give one the window accepts")


def used_settings(settings) -> dict:
    """What a train request's runs read (MODE_FIELDS), so the figure is checked on those alone."""
    used = dict(mode=settings.mode, norms=settings.norms, epochs=settings.epochs)
    used.update({key: getattr(settings, key) for key in MODE_FIELDS[settings.mode]})
    if "seeds" not in used:
        used["seed"] = settings.seeds[0]
    return used


def _same(a, b) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _checked_run(fn, *a, **kw):
    """A kernels run: a ValueError is a bad setting (exit 2); a process group that fails is exit 1."""
    try:
        return _kernel_checked(fn, *a, **kw)
    except RuntimeError as exc:
        raise CliError(str(exc).splitlines()[0], IO_FAILURE) from None


def _data(args, suffix, compute, csv, numbers):
    result = _checked_run(compute)
    _write(args.out, csv(result) if suffix == ".csv" else json.dumps(json_safe(numbers(result)), indent=1,
                                                                      allow_nan=False))
    return result


# -- train ------------------------------------------------------------------------------------------

def train_settings(args) -> TrainSettings:
    mode = parse_choice(TRAIN_MODE_ALIASES.get(str(args.mode).lower(), args.mode), "--mode", TRAIN_MODES)
    if args.full:
        if mode not in ("figure1", "lr"):
            raise CliError("--full is the paper-sized sweep of --mode figure1 or lr")
        return full_figure1() if mode == "figure1" else full_lr()
    d = TrainSettings()
    settings = TrainSettings(
        mode=mode, norms=_names(args.norms, "--norms", TRAIN_NORMS) if args.norms else d.norms,
        batch_sizes=_list(args.batch_sizes, "--batch-sizes", int, 1, 256) if args.batch_sizes else d.batch_sizes,
        lrs=_list(args.lrs, "--lrs", float, 1e-6, 100.0) if args.lrs else d.lrs,
        seeds=_list(args.seeds, "--seeds", int, 0, MAX_SEED) if args.seeds else d.seeds,
        epochs=parse_int(args.epochs, "--epochs", 1, 200) if args.epochs else d.epochs,
        batch_size=parse_int(args.batch_size, "--batch-size", 1, 256) if args.batch_size else d.batch_size,
        lr=parse_float(args.lr, "--lr", 1e-6, 100.0) if args.lr else d.lr,
        shift=parse_choice(args.shift, "--shift", ("invert", "brightness")),
        switch_batch_size=parse_int(args.switch_batch_size, "--switch-batch-size", 1, 256),
        switch_epoch=parse_int(args.switch_epoch, "--switch-epoch", 1, 199) if args.switch_epoch else None)
    _kernel_checked(train_plan, settings)
    return settings


def cmd_train(args) -> int:
    if not args.out and not args.save_model:
        raise CliError("give --out (the figure or the numbers) or --save-model (the trained state_dict), or both")
    suffix, size = _common_output(args) if args.out else (None, None)
    if args.save_model:
        from ..cli_common import check_extension
        check_extension(args.save_model, (".pt", ".pth"), "--save-model")
    settings = train_settings(args)
    _needs("train", "torch", "sklearn")
    if suffix in (".csv", ".json"):
        from .real_runs import compute_train
        outcome = _data(args, suffix, lambda: compute_train(settings), train_csv, train_numbers)
    elif suffix is not None:
        def configure(view):
            view.set_config(settings)
            _refuse_differences(used_settings(view.config()), used_settings(settings))
            view.check_train_mode.setChecked(args.train_mode)
            view.check_log.setChecked(args.log_error)
        outcome = _draw("train", configure, args, size)
    else:
        from .real_runs import compute_train
        outcome = _checked_run(compute_train, settings)
    if args.save_model:
        from kernels.experiments import save_model
        label, run = next(iter(saveable_runs(outcome).items()))
        try:
            save_model(run, args.save_model)
        except (OSError, RuntimeError) as exc:
            raise CliError(f"cannot save {args.save_model}: {str(exc).splitlines()[0]}", IO_FAILURE) from None
    return 0


# -- sync ---------------------------------------------------------------------------------------------

def sync_config(args) -> DistributedConfig:
    from kernels import GENERATORS
    devices = parse_int(args.devices, "--devices", 2, 8)
    parts = str(args.shape).split(",")
    if len(parts) != 4:
        raise CliError(f"--shape {args.shape!r}: give four sizes N,C,H,W, e.g. 16,4,4,4")
    shape = tuple(parse_int(p, f"--shape {axis}", 1, 4096) for p, axis in zip(parts, "NCHW"))
    shards = None
    if args.shards:
        shards = tuple(parse_int(p, "--shards", 0, 4096) for p in str(args.shards).split(","))
        if len(shards) != devices:
            raise CliError(f"--shards {args.shards!r}: give one size per device ({devices})")
        if sum(shards) != shape[0]:
            raise CliError(f"--shards {args.shards!r} add up to {sum(shards)}, not to the batch size N={shape[0]}")
        small = [k for k, n in enumerate(shards) if n * shape[2] * shape[3] < 2]
        if small:
            raise CliError(f"--shards: device {small[0]} would hold fewer than 2 values per channel; per-device "
                           f"BatchNorm needs more than 1")
    elif shape[0] < devices:
        raise CliError(f"--devices {devices} needs at least {devices} samples; --shape has N={shape[0]}")
    cfg = DistributedConfig(shape=shape, inputs=parse_choice(args.input, "--input", tuple(GENERATORS)),
                            seed=parse_int(args.seed, "--seed", 0, MAX_SEED), devices=devices, shard_sizes=shards)
    from kernels.experiments import distributed
    _kernel_checked(distributed.validate, cfg)
    return cfg


def cmd_sync(args) -> int:
    suffix, size = _common_output(args)
    cfg = sync_config(args)
    _needs("sync", "torch")
    if suffix in (".csv", ".json"):
        from kernels.experiments import run_distributed
        _data(args, suffix, lambda: run_distributed(cfg), sync_csv, sync_numbers)
        return 0
    _draw("sync", _set_exactly(dict(devices=cfg.devices, shape=cfg.shape, shard_sizes=cfg.shard_sizes,
                                    inputs=cfg.inputs, seed=cfg.seed)), args, size)
    return 0


# -- transformer ----------------------------------------------------------------------------------------

def transformer_config(args) -> TransformerConfig:
    from kernels.experiments import transformer
    cfg = TransformerConfig(
        placements=_names(args.placements, "--placements", PLACEMENTS),
        layers=parse_int(args.layers, "--layers", 1, 48),
        width=parse_int(args.width, "--width", 2, 512), heads=parse_int(args.heads, "--heads", 1, 64),
        block=parse_choice(args.block, "--block", ("attention", "mlp")),
        train_steps=parse_int(args.steps, "--steps", 0, 5000), lr=parse_float(args.lr, "--lr", 1e-6, 10.0),
        warmup_steps=parse_int(args.warmup, "--warmup", 1, 5000), inits=parse_int(args.inits, "--inits", 1, 20),
        seed=parse_int(args.seed, "--seed", 0, MAX_SEED))
    return _kernel_checked(transformer.validate, cfg)


def cmd_transformer(args) -> int:
    suffix, size = _common_output(args)
    return _run_or_draw(args, suffix, size, "transformer", transformer_config(args), "run_transformer",
                        transformer_csv, transformer_numbers, needs="torch",
                        shown=("placements", "layers", "width", "heads", "block", "train_steps", "lr",
                               "warmup_steps", "inits", "seed"))


def _run_or_draw(args, suffix, size, name, cfg, run_name, csv, numbers, shown, needs=None) -> int:
    """An experiment's command: its CSV/JSON from kernels.experiments.<run_name>(cfg), or its view's
    figure with the controls named in `shown` set from cfg."""
    if needs:
        _needs(name, needs)
    if suffix in (".csv", ".json"):
        import kernels.experiments as experiments
        run = getattr(experiments, run_name)
        _data(args, suffix, lambda: run(cfg), csv, numbers)
        return 0
    _draw(name, _set_exactly({key: getattr(cfg, key) for key in shown}), args, size)
    return 0


# -- iris, selu, padding ----------------------------------------------------------------------------------

def iris_config(args) -> IrisConfig:
    from kernels.experiments import scaling
    parts = str(args.features).split(",")
    if len(parts) != 2:
        raise CliError(f"--features {args.features!r}: give two of 0 (sepal length), 1 (sepal width), 2 (petal "
                       f"length), 3 (petal width), e.g. 0,1")
    cfg = IrisConfig(features=tuple(parse_int(p, "--features", 0, 3) for p in parts),
                     test_fraction=parse_float(args.test_fraction, "--test-fraction", 0.1, 0.9),
                     l2=parse_float(args.l2, "--l2", 0.0, 100.0),
                     max_iter=parse_int(args.max_iter, "--max-iter", 1, 1_000_000),
                     seed=parse_int(args.seed, "--seed", 0, MAX_SEED))
    return _kernel_checked(scaling.validate, cfg)


def cmd_iris(args) -> int:
    suffix, size = _common_output(args)
    return _run_or_draw(args, suffix, size, "iris", iris_config(args), "run_iris", iris_csv, iris_numbers,
                        needs="sklearn", shown=("features", "test_fraction", "l2", "max_iter", "seed"))


def selu_config(args) -> SeluConfig:
    from kernels.experiments import selu
    cfg = SeluConfig(start_mean=parse_float(args.start_mean, "--start-mean", -10.0, 10.0),
                     start_var=parse_float(args.start_var, "--start-var", 0.0, 100.0),
                     layers=parse_int(args.layers, "--layers", 1, 200),
                     omega=parse_float(args.omega, "--omega", -3.0, 3.0),
                     tau=parse_float(args.tau, "--tau", 0.01, 10.0),
                     dropout=parse_float(args.dropout, "--dropout", 0.0, 0.9),
                     dropout_kind=parse_choice(args.dropout_kind, "--dropout-kind", ("none", "standard", "alpha")),
                     weights=parse_choice(args.weights, "--weights", ("normal", "uniform")),
                     width=parse_int(args.width, "--width", 16, 2048), seed=parse_int(args.seed, "--seed", 0, MAX_SEED))
    if cfg.dropout > 0 and cfg.dropout_kind == "none":
        raise CliError("--dropout needs --dropout-kind standard or alpha")
    return _kernel_checked(selu.validate, cfg)


def cmd_selu(args) -> int:
    suffix, size = _common_output(args)
    return _run_or_draw(args, suffix, size, "selu", selu_config(args), "run_selu", selu_csv, selu_numbers,
                        needs="torch", shown=("start_mean", "start_var", "layers", "omega", "tau", "dropout",
                                              "dropout_kind", "weights", "width", "seed"))


def padding_config(args) -> PaddingConfig:
    from kernels.experiments import padding
    length = parse_int(args.length, "--length", 2, 256)
    cfg = PaddingConfig(samples=parse_int(args.samples, "--samples", 1, 256), max_length=length,
                        channels=parse_int(args.channels, "--channels", 1, 64),
                        min_length=parse_int(args.min_length, "--min-length", 1, length),
                        pad_value=parse_float(args.pad, "--pad", -100.0, 100.0),
                        mean=parse_float(args.mean, "--mean", -100.0, 100.0),
                        std=parse_float(args.std, "--std", 0.01, 100.0),
                        seed=parse_int(args.seed, "--seed", 0, MAX_SEED))
    return _kernel_checked(padding.validate, cfg)


def cmd_padding(args) -> int:
    suffix, size = _common_output(args)
    return _run_or_draw(args, suffix, size, "padding", padding_config(args), "run_padding", padding_csv,
                        padding_numbers, shown=("samples", "max_length", "channels", "min_length", "pad_value",
                                                "mean", "std", "seed"))


# -- registration -------------------------------------------------------------------------------------

def add_real_commands(subparsers):
    """Add `train`, `sync`, `transformer`, `iris`, `selu` and `padding`; each sets func(args) -> int."""
    fmt = argparse.RawDescriptionHelpFormatter
    d = TrainSettings()
    p = subparsers.add_parser("train", help=HEAVY_COMMANDS["train"],
                              formatter_class=fmt, epilog=TRAIN_EXAMPLES,
                              description=_wrap("A small CNN on scikit-learn's bundled 8×8 digits with each "
                                                "normalization: the GroupNorm paper's Figure 1 (error against "
                                                "batch size), learning rates, curves, fine-tuning on shifted "
                                                "digits, and a batch size switched mid-training."))
    p.add_argument("--mode", default="figure1", help=f"{', '.join(TRAIN_MODES)} (sweep is figure1; default figure1)")
    p.add_argument("--full", action="store_true", help="the paper-sized sweep: figure1_config() or lr_config()")
    p.add_argument("--norms", help=f"comma-separated, of {', '.join(TRAIN_NORMS)} (default "
                                   f"{','.join(d.norms)}; finetune uses the first)")
    p.add_argument("--batch-sizes", help=f"figure1's batch sizes (default {','.join(map(str, d.batch_sizes))})")
    p.add_argument("--lrs", help=f"lr's learning rates at batch 32 (default {','.join(f'{v:g}' for v in d.lrs)})")
    p.add_argument("--seeds", help=f"seeds, comma-separated (default {','.join(map(str, d.seeds))}; curves, "
                                   f"finetune and switch use the first)")
    p.add_argument("--epochs", help=f"epochs of every run, 1 to 200 (default {d.epochs})")
    p.add_argument("--batch-size", help=f"batch size of the modes that do not sweep it (default {d.batch_size})")
    p.add_argument("--lr", help=f"learning rate at batch 32, scaled linearly (default {d.lr:g})")
    p.add_argument("--shift", default="invert", help="finetune's new domain: invert or brightness (default invert)")
    p.add_argument("--switch-batch-size", default=str(d.switch_batch_size),
                   help=f"switch: the other batch size (default {d.switch_batch_size})")
    p.add_argument("--switch-epoch", help="switch: epochs before the switch (default half of them)")
    p.add_argument("--train-mode", action="store_true", help="figure of a sweep: the error evaluated in training "
                                                             "mode (each batch's own statistics)")
    p.add_argument("--log-error", action="store_true", help="figure of a sweep: the error on a log axis")
    p.add_argument("--save-model", metavar="PATH.pt", help="also write a trained state_dict: curves' first norm, "
                                                           "the pretrained network of finetune, the first run "
                                                           "otherwise")
    p.add_argument("--out", metavar="PATH", help="output: .png, .svg or .pdf (the view), .csv (one row per run, "
                                                 "or per run and epoch) or .json (all the numbers)")
    p.add_argument("--size", metavar="WxH", help="the layout size, e.g. 1600x1000 (default 1400x900)")
    p.add_argument("--dpi", default="96", help="a PNG's pixel density (default 96)")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("sync", help=HEAVY_COMMANDS["sync"],
                              formatter_class=fmt, epilog=SYNC_EXAMPLES,
                              description=_wrap("K worker processes joined by torch.distributed (gloo, loopback "
                                                "only), each holding a shard of the batch: synchronized BatchNorm "
                                                "against per-device BatchNorm, their statistics and the measured "
                                                "cost of the exchange."))
    p.add_argument("--devices", default="4", help="worker processes, 2 to 8 (default 4)")
    p.add_argument("--shape", default="16,4,4,4", help="N,C,H,W of the batch (default 16,4,4,4)")
    p.add_argument("--shards", help="samples per device, e.g. 10,2,2,2 (default: as equal as possible)")
    p.add_argument("--input", default="shifted", help="the batch's generator (default shifted)")
    p.add_argument("--seed", default="0", help="seed of the batch (default 0)")
    _add_output_flags(p, "one row per device and channel")
    p.set_defaults(func=cmd_sync)

    c = TransformerConfig()
    p = subparsers.add_parser("transformer", help=HEAVY_COMMANDS["transformer"],
                              formatter_class=fmt, epilog=TRANSFORMER_EXAMPLES,
                              description=_wrap("Residual blocks with each norm placement: the stream's norm and "
                                                "every block's gradient norm at initialization, and training with "
                                                "and without a learning-rate warm-up."))
    p.add_argument("--placements", default=",".join(PLACEMENTS), help=f"comma-separated, of {', '.join(PLACEMENTS)}")
    p.add_argument("--layers", default=str(c.layers), help=f"residual blocks, 1 to 48 (default {c.layers})")
    p.add_argument("--width", default=str(c.width), help=f"C, the stream's width (default {c.width})")
    p.add_argument("--heads", default=str(c.heads), help=f"attention heads, dividing the width (default {c.heads})")
    p.add_argument("--block", default=c.block, help="attention (attention + MLP) or mlp (default attention)")
    p.add_argument("--steps", default=str(c.train_steps), help=f"Adam steps per schedule, 0 for none (default "
                                                               f"{c.train_steps})")
    p.add_argument("--lr", default=f"{c.lr:g}", help=f"Adam's learning rate (default {c.lr:g})")
    p.add_argument("--warmup", default=str(c.warmup_steps), help=f"warm-up steps (default {c.warmup_steps})")
    p.add_argument("--inits", default=str(c.inits), help=f"initializations averaged (default {c.inits})")
    p.add_argument("--seed", default="0", help="seed of the weights and data (default 0)")
    _add_output_flags(p, "one row per placement, quantity and layer or step")
    p.set_defaults(func=cmd_transformer)

    p = subparsers.add_parser("iris", help=HEAVY_COMMANDS["iris"],
                              formatter_class=fmt, epilog=IRIS_EXAMPLES,
                              description=_wrap("Gradient descent on two iris features raw, standardized and "
                                                "min-max scaled (scalers fitted on the training split): decision "
                                                "regions, steps to converge beside scikit-learn's, test points "
                                                "outside [0, 1]."))
    p.add_argument("--features", default="0,1", help="two feature indices, 0 to 3 (default 0,1: the sepals)")
    p.add_argument("--test-fraction", default="0.3", help="share of each class held out (default 0.3)")
    p.add_argument("--l2", default="0.01", help="L2 penalty (default 0.01)")
    p.add_argument("--max-iter", default="20000", help="gradient-descent steps at most (default 20000)")
    p.add_argument("--seed", default="0", help="seed of the split (default 0)")
    _add_output_flags(p, "one row per scaling")
    p.set_defaults(func=cmd_iris)

    s = SeluConfig()
    p = subparsers.add_parser("selu", help=HEAVY_COMMANDS["selu"],
                              formatter_class=fmt, epilog=SELU_EXAMPLES,
                              description=_wrap("The map from a SELU layer's input mean and variance to its "
                                                "output's, iterated to its fixed point, beside a torch network; "
                                                "dropout and unnormalized weights."))
    for flag, value, text in (("--start-mean", s.start_mean, "the first layer's input mean"),
                              ("--start-var", s.start_var, "the first layer's input variance"),
                              ("--layers", s.layers, "SELU layers"), ("--omega", s.omega, "Σw per unit"),
                              ("--tau", s.tau, "Σw² per unit"), ("--dropout", s.dropout, "dropout rate"),
                              ("--width", s.width, "units per layer of the torch network")):
        p.add_argument(flag, default=f"{value:g}", help=f"{text} (default {value:g})")
    p.add_argument("--dropout-kind", default="none", help="none, standard or alpha (default none)")
    p.add_argument("--weights", default="normal", help="the network's weights: normal or uniform (default normal)")
    p.add_argument("--seed", default="0", help="seed of the network (default 0)")
    _add_output_flags(p, "one row per layer")
    p.set_defaults(func=cmd_selu)

    c = PaddingConfig()
    p = subparsers.add_parser("padding", help=HEAVY_COMMANDS["padding"],
                              formatter_class=fmt, epilog=PADDING_EXAMPLES,
                              description=_wrap("Sequences of different lengths padded to the longest: the "
                                                "statistics of BatchNorm and LayerNorm with and without a padding "
                                                "mask, and the bias the padded fraction causes."))
    for flag, value, text in (("--samples", c.samples, "sequences N"), ("--length", c.max_length, "the longest, L"),
                              ("--channels", c.channels, "channels C"), ("--min-length", c.min_length,
                                                                          "the shortest a sequence may be"),
                              ("--pad", c.pad_value, "the pad value"), ("--mean", c.mean, "the tokens' mean"),
                              ("--std", c.std, "the tokens' std"), ("--seed", c.seed, "seed of lengths and tokens")):
        p.add_argument(flag, default=f"{value:g}", help=f"{text} (default {value:g})")
    _add_output_flags(p, "one row per channel")
    p.set_defaults(func=cmd_padding)
