"""The experiments' headless commands `depth`, `steps` and `weights`: run one experiment and write
the view (.png/.svg) or its numbers (.csv/.json). Mistakes are one line (exit 2), I/O failures exit 1."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from kernels import METHODS
from kernels.experiments import DepthConfig, StepsConfig, article_config, run_depth, validate_depth, validate_steps

from ..cli_common import IO_FAILURE, CliError, check_extension, parse_size
from ..vocabulary import HEAVY_COMMANDS
from .runs import (
    compute_bundle,
    compute_weights,
    depth_csv,
    depth_numbers,
    steps_csv,
    steps_numbers,
    weights_csv,
    weights_numbers,
)

OUT_EXTENSIONS = (".png", ".svg", ".pdf", ".csv", ".json")
DEFAULT_SIZE = (1400, 900)
MAX_SEED = 2 ** 31 - 1
ACTIVATIONS = ("sigmoid", "tanh", "relu", "gelu", "selu")
INITS = ("normal", "xavier", "he", "lecun")
WEIGHT_KINDS = ("weight_norm", "spectral_norm", "weight_standardization")
STEPS_TABS = ("running", "batch", "freeze")

DEPTH_EXAMPLES = """examples:
  norm-explorer depth --layers 5 --activation sigmoid --norm batch --init normal --seed 0 --out depth.png
  norm-explorer depth --article --out article.png               the seed article, no normalization
  norm-explorer depth --article --norm batch --out article_bn.csv   ... with BatchNorm, per-layer numbers
  norm-explorer depth --layers 20 --activation relu --init he --kind conv --out relu.svg --size 1600x1000
"""
STEPS_EXAMPLES = """examples:
  norm-explorer steps --steps 200 --batch-size 32 --drift shift --out steps.svg
  norm-explorer steps --drift domain --drift-step 150 --tab freeze --out freeze.png
  norm-explorer steps --momentum none --out cumulative.csv      torch's cumulative average (momentum=None)
  norm-explorer steps --convention keras --momentum 0.99 --tab batch --out batch.json
"""
WEIGHTS_EXAMPLES = """examples:
  norm-explorer weights --kind weight_norm --shape 8,4,3,3 --dim 0 --select 2,1,1,1 --out wn.png
  norm-explorer weights --kind spectral_norm --iterations 10 --out sn.svg
  norm-explorer weights --kind weight_standardization --shape 16,8,3,3 --out ws.csv
"""


# -- parsing flags (strings, so every mistake is one line naming the flag) ----------------------------

def parse_int(text, flag: str, lo: int, hi: int) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise CliError(f"{flag} {text!r}: not an integer") from None
    if not lo <= value <= hi:
        raise CliError(f"{flag} {value}: must be between {lo} and {hi}")
    return value


def parse_float(text, flag: str, lo: float, hi: float) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise CliError(f"{flag} {text!r}: not a number") from None
    if not lo <= value <= hi:  # also rejects nan
        raise CliError(f"{flag} {text}: must be between {lo:g} and {hi:g}")
    return value


def parse_choice(text, flag: str, choices) -> str:
    value = str(text).strip().lower().replace("-", "_")
    if value not in choices:
        raise CliError(f"{flag} {text!r} is unknown; choose one of {', '.join(choices)}")
    return value


def _common_output(args):
    """(suffix, size) with them, the folder and --dpi checked before any work."""
    suffix = check_extension(args.out, OUT_EXTENSIONS)
    args.dpi = parse_float(args.dpi, "--dpi", 10, 1200)
    folder = Path(args.out).parent
    if not folder.is_dir():  # say so before a long run, not after it
        raise CliError(f"cannot save {args.out}: the folder {folder} does not exist", IO_FAILURE)
    return suffix, (parse_size(args.size) if args.size else None)


def _add_output_flags(p: argparse.ArgumentParser, what: str):
    p.add_argument("--out", required=True, metavar="PATH",
                   help=f"output file: .png, .svg or .pdf (the view), .csv ({what}) or .json (all the numbers)")
    p.add_argument("--size", metavar="WxH",
                   help="the layout size, e.g. 1600x1000 (default 1400x900; a PNG has size × dpi/96 pixels)")
    p.add_argument("--dpi", default="96",
                   help="a PNG's pixel density: it changes the pixels, not the layout (default 96)")


def _write(path: str, text: str):
    from ..atomic import SaveError, write_text
    try:
        write_text(path, text)
    except SaveError as exc:
        raise CliError(str(exc), IO_FAILURE) from None


def _run_view(kind: str, configure, args, size):
    """Run the experiment's view on the offscreen platform and save it by extension."""
    from ..figures import export_experiment
    export_experiment(kind, configure, args.out, size or DEFAULT_SIZE, args.dpi)


def _kernel_checked(fn, *a, **kw):
    """A kernels call whose ValueError is a bad setting: one line, exit 2."""
    try:
        return fn(*a, **kw)
    except ValueError as exc:
        raise CliError(str(exc).splitlines()[0]) from None


# -- depth --------------------------------------------------------------------------------------------

def depth_config(args) -> DepthConfig:
    norm = None if args.norm is None or args.norm.lower() == "none" else args.norm
    if norm is not None and norm not in METHODS:
        raise CliError(f"--norm {args.norm!r} is unknown; choose none or one of {', '.join(METHODS)}")
    base = article_config(batchnorm=norm == "batch") if args.article else DepthConfig()
    values = dict(layers=parse_int(args.layers, "--layers", 1, 50) if args.layers is not None else base.layers,
                  width=parse_int(args.width, "--width", 1, 1024) if args.width is not None else base.width,
                  kind=parse_choice(args.kind, "--kind", ("dense", "conv")) if args.kind else base.kind,
                  activation=parse_choice(args.activation, "--activation", ACTIVATIONS) if args.activation
                  else base.activation,
                  init=parse_choice(args.init, "--init", INITS) if args.init else base.init,
                  seed=parse_int(args.seed, "--seed", 0, MAX_SEED))
    params = dict(base.norm_params) if args.article and norm == "batch" else {}
    cfg = DepthConfig(samples=100, features=20, inputs="uniform", norm=norm, norm_params=params, **values)
    return _kernel_checked(validate_depth, cfg)


def cmd_depth(args) -> int:
    suffix, size = _common_output(args)
    cfg = depth_config(args)
    if suffix in (".csv", ".json"):
        result = _kernel_checked(run_depth, cfg)
        _write(args.out, depth_csv(result) if suffix == ".csv" else json.dumps(depth_numbers(result), indent=1))
        return 0
    _run_view("depth", lambda view: view.set_config(
        layers=cfg.layers, width=cfg.width, kind=cfg.kind, activation=cfg.activation, init=cfg.init, norm=cfg.norm,
        seed=cfg.seed, norm_params=cfg.norm_params), args, size)
    return 0


# -- steps --------------------------------------------------------------------------------------------

def steps_config(args) -> StepsConfig:
    convention = parse_choice(args.convention, "--convention", ("torch", "keras"))
    if args.momentum is not None and args.momentum.strip().lower() in ("none", "cumulative"):
        if convention != "torch":
            raise CliError("--momentum none (cumulative average) exists in the torch convention only")
        momentum = None
    elif args.momentum is not None:
        momentum = parse_float(args.momentum, "--momentum", 0.0, 1.0)
    else:
        momentum = 0.1 if convention == "torch" else 0.9
    cfg = StepsConfig(steps=parse_int(args.steps, "--steps", 1, 5000),
                      batch_size=parse_int(args.batch_size, "--batch-size", 1, 4096),
                      channels=parse_int(args.channels, "--channels", 1, 64),
                      drift=parse_choice(args.drift, "--drift", ("none", "shift", "domain")),
                      drift_step=parse_int(args.drift_step, "--drift-step", 0, 5000), momentum=momentum,
                      momentum_convention=convention, seed=parse_int(args.seed, "--seed", 0, MAX_SEED))
    return _kernel_checked(validate_steps, cfg)


def cmd_steps(args) -> int:
    suffix, size = _common_output(args)
    cfg = steps_config(args)
    tab = parse_choice(args.tab, "--tab", STEPS_TABS)
    channel = parse_int(args.channel, "--channel", 0, cfg.channels - 1)
    if suffix in (".csv", ".json"):
        bundle = _kernel_checked(compute_bundle, cfg)
        _write(args.out, steps_csv(bundle.steps) if suffix == ".csv" else json.dumps(steps_numbers(bundle), indent=1))
        return 0

    def configure(view):
        view.set_config(steps=cfg.steps, batch_size=cfg.batch_size, channels=cfg.channels, drift=cfg.drift,
                        drift_step=cfg.drift_step, momentum=cfg.momentum, convention=cfg.momentum_convention,
                        seed=cfg.seed)
        view.spin_channel.setMaximum(cfg.channels - 1)
        view.spin_channel.setValue(channel)
        view.tabs.setCurrentIndex(STEPS_TABS.index(tab))
    _run_view("steps", configure, args, size)
    return 0


# -- weights ------------------------------------------------------------------------------------------

def weights_settings(args) -> dict:
    kind = parse_choice(args.kind, "--kind", WEIGHT_KINDS)
    parts = str(args.shape).split(",")
    if len(parts) != 4:
        raise CliError(f"--shape {args.shape!r}: give four sizes O,I,kH,kW, e.g. 8,4,3,3")
    shape = tuple(parse_int(p, f"--shape {axis}", 1, hi) for p, axis, hi in zip(parts, ["O", "I", "kH", "kW"],
                                                                                 (32, 32, 7, 7)))
    dim = None if str(args.dim).strip().lower() in ("none", "-1") else parse_int(args.dim, "--dim", 0, 3)
    select = args.select.split(",")
    if len(select) != 4:
        raise CliError(f"--select {args.select!r}: give four indices o,i,h,w, e.g. 0,0,1,1")
    selected = tuple(parse_int(v, f"--select {axis}", 0, n - 1) for v, axis, n in zip(select, "oihw", shape))
    return dict(kind=kind, shape=shape, dim=dim, iterations=parse_int(args.iterations, "--iterations", 0, 100),
                seed=parse_int(args.seed, "--seed", 0, MAX_SEED), selected=selected)


def cmd_weights(args) -> int:
    suffix, size = _common_output(args)
    s = weights_settings(args)
    selected = s.pop("selected")
    if suffix in (".csv", ".json"):
        result = _kernel_checked(compute_weights, **s)
        _write(args.out, weights_csv(result, selected) if suffix == ".csv"
               else json.dumps(weights_numbers(result, selected), indent=1))
        return 0

    def configure(view):
        view.set_config(**s)
        view.select(selected)
    _run_view("weights", configure, args, size)
    return 0


# -- registration -------------------------------------------------------------------------------------

def _wrap(text: str) -> str:
    return textwrap.fill(text, 79)


def add_commands(subparsers):
    """Add `depth`, `steps`, `weights` and the experiments on real data (`train`, `sync`, `transformer`, `iris`,
    `selu`, `padding`: explorer.experiments.cli_real) to an argparse subparsers object; each sets func(args) -> int."""
    fmt = argparse.RawDescriptionHelpFormatter  # keeps the examples' lines; descriptions are wrapped here
    p = subparsers.add_parser("depth", help=HEAVY_COMMANDS["depth"], formatter_class=fmt,
                              description=_wrap("L layers of linear → normalization → activation on 100 samples "
                                                "of 20 uniform features: per-layer histograms, mean/std, "
                                                "saturation and gradient norms."), epilog=DEPTH_EXAMPLES)
    p.add_argument("--article", action="store_true", help="start from the seed article: 5 dense sigmoid layers of "
                                                          "64, standard-normal init (with --norm batch: eps 1e-8)")
    p.add_argument("--layers", help="number of layers, 1 to 50 (default 5)")
    p.add_argument("--kind", help="dense or conv (3×3 on 8×8 maps; default dense)")
    p.add_argument("--width", help="units (dense) or channels (conv) per layer, 1 to 1024 (default 64)")
    p.add_argument("--activation", help=f"one of {', '.join(ACTIVATIONS)} (default sigmoid)")
    p.add_argument("--init", help=f"weight init: {', '.join(INITS)} (default normal)")
    p.add_argument("--norm", help=f"none (default) or one of {', '.join(METHODS)}")
    p.add_argument("--seed", default="0", help="seed of the inputs and weights (default 0)")
    _add_output_flags(p, "one row per layer")
    p.set_defaults(func=cmd_depth)

    p = subparsers.add_parser("steps", help=HEAVY_COMMANDS["steps"], formatter_class=fmt,
                              description=_wrap("Running vs batch vs true statistics over a stream of batches that "
                                                "may drift, train vs eval output, Batch Renormalization, batch-size "
                                                "noise, the unbiased-variance shrink and freezing BatchNorm while "
                                                "fine-tuning."),
                              epilog=STEPS_EXAMPLES)
    p.add_argument("--steps", default="200", help="training steps, 1 to 5000 (default 200)")
    p.add_argument("--batch-size", default="32", help="samples per batch, 1 to 4096 (default 32)")
    p.add_argument("--channels", default="3", help="channels, 1 to 64 (default 3)")
    p.add_argument("--drift", default="shift", help="none, shift (means + 1, stds × 2) or domain (default shift)")
    p.add_argument("--drift-step", default="100", help="first step of the drifted data (default 100)")
    p.add_argument("--momentum", help="0 to 1 (default 0.1 torch, 0.9 keras), or none: cumulative average (torch)")
    p.add_argument("--convention", default="torch", help="momentum convention: torch or keras (default torch)")
    p.add_argument("--seed", default="0", help="seed of the data (default 0)")
    p.add_argument("--tab", default="running", help=f"which sub-tab the figure shows: {', '.join(STEPS_TABS)}")
    p.add_argument("--channel", default="0", help="the channel the running-statistics plots show (default 0)")
    _add_output_flags(p, "one row per step")
    p.set_defaults(func=cmd_steps)

    p = subparsers.add_parser("weights", help=HEAVY_COMMANDS["weights"],
                              formatter_class=fmt,
                              description=_wrap("A seeded conv weight before and after normalizing it, the weights "
                                                "that share a norm, and the effect on a conv layer's output."),
                              epilog=WEIGHTS_EXAMPLES)
    p.add_argument("--kind", default="weight_norm", help=f"one of {', '.join(WEIGHT_KINDS)} (default weight_norm)")
    p.add_argument("--shape", default="8,4,3,3", help="O,I,kH,kW: O and I 1 to 32, kH and kW 1 to 7 "
                                                      "(default 8,4,3,3)")
    p.add_argument("--dim", default="0", help="weight norm's dim: 0 to 3, or none for one norm (default 0)")
    p.add_argument("--iterations", default="1", help="spectral norm's power iterations, 0 to 100 (default 1)")
    p.add_argument("--seed", default="0", help="seed of the weight, inputs and start vectors (default 0)")
    p.add_argument("--select", default="0,0,0,0", help="o,i,h,w of the element whose norm group is outlined")
    _add_output_flags(p, "one row per weight element")
    p.set_defaults(func=cmd_weights)

    from .cli_real import add_real_commands  # the experiments on real data (they import this module's helpers)
    add_real_commands(subparsers)
