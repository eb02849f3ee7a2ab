"""`norm-explorer model PATH`: a real network's normalization layers, headless. By --out's extension:
.csv the layer table with its flags (with --fold: the fold report), .json the layers, gaps and fold
report, .png/.svg/.pdf the health strip and the gap plot (with --fold: and the folding report), .npy
(with --layer) that layer's captured input; --explore S.json (with --layer) writes a session for the
Explore tab with the input beside it. An import path runs code, so it needs --allow-import. Exit
status 0 success, 2 bad arguments or a model that cannot be used, 1 input/output failure; one line each.
No Qt and no torch until a command needs them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..cli_common import IO_FAILURE, CliError, check_extension, parse_number, parse_size
from ..vocabulary import HEAVY_COMMANDS

OUT_EXTENSIONS = (".csv", ".json", ".png", ".svg", ".pdf", ".npy")
FIGURES = (".png", ".svg", ".pdf")
EXAMPLES = """examples:
  norm-explorer model net.onnx --out layers.csv                      the layer table with every flag
  norm-explorer model tiny.pth --architecture crepe_tiny --out crepe.json --fold
  norm-explorer model resnet50.pth --architecture resnet50 --input digits --batch 8 --out gaps.png
  norm-explorer model net.onnx --layer bn1 --input x.npy --out bn1_input.npy
  norm-explorer model net.onnx --layer bn1 --eval --explore bn1.json --out layers.csv
      then: norm-explorer gui --session bn1.json      (the layer's input in the Explore tab)
  norm-explorer model "torchvision.models:resnet18()" --allow-import --weights r18.pth --out r18.csv
"""


def _parse_int(text, flag: str, lo: int, hi: int) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise CliError(f"{flag} {text!r} is not an integer") from None
    if not lo <= value <= hi:
        raise CliError(f"{flag} {value}: must be between {lo} and {hi}")
    return value


def _is_import_path(source: str) -> bool:
    from kernels.models import SUFFIXES
    path = Path(source)
    return ":" in source and not path.exists() and path.suffix.lower() not in SUFFIXES


def open_for_cli(args):
    """The model, or CliError: exit 1 when the file is missing, 2 when it cannot be used."""
    from kernels.models import ModelError, open_model
    source = args.source
    if _is_import_path(source) and not args.allow_import:
        raise CliError(f"{source!r} is an import path: opening it imports and runs that code; add --allow-import if "
                       f"you trust it")
    try:
        return open_model(source, architecture=args.architecture or None, weights=args.weights or None,
                          allow_import=bool(args.allow_import))
    except ModelError as exc:
        missing = not _is_import_path(source) and not Path(source).exists()
        missing = missing or bool(args.weights and not Path(args.weights).exists())
        raise CliError(str(exc).splitlines()[0], IO_FAILURE if missing else 2) from None
    except OSError as exc:
        raise CliError(f"cannot read {source}: {exc.strerror or exc}", IO_FAILURE) from None


def _run_numbers(args) -> tuple:
    """(batch, seed, budget in MB, shape or None), checked before anything is opened."""
    shape = None
    if args.shape:
        try:
            shape = tuple(int(v) for v in args.shape.split(","))
        except ValueError:
            raise CliError(f"--shape {args.shape!r} is not a comma-separated list of sizes, e.g. 8,3,32,32") from None
    return (_parse_int(args.batch, "--batch", 1, 4096), _parse_int(args.seed, "--seed", 0, 2 ** 31 - 1),
            _parse_int(args.budget, "--budget", 1, 1 << 20), shape)


def _request(args):
    from .jobs import CaptureRequest
    kind = (args.input or "").strip()
    batch, seed, budget, shape = _run_numbers(args)
    if kind.lower().endswith(".npy"):
        if not Path(kind).is_file():
            raise CliError(f"--input {kind}: no such file", IO_FAILURE)
        return CaptureRequest("file", kind, batch, seed, budget, shape)
    if kind not in ("image", "digits", "random"):
        raise CliError(f"--input {kind!r}: choose image, digits, random, none or a .npy file")
    return CaptureRequest(kind, "", batch, seed, budget, shape)


def cmd_model(args) -> int:
    suffix = check_extension(args.out, OUT_EXTENSIONS)
    for target in [args.out] + ([args.explore] if args.explore else []):
        folder = Path(target).parent
        if not folder.is_dir():
            raise CliError(f"cannot save {target}: the folder {folder} does not exist", IO_FAILURE)
    if args.explore:
        check_extension(args.explore, (".json",), "--explore")
    size = parse_size(args.size) if args.size else None
    dpi = parse_number(args.dpi, "--dpi", 24, 1200)
    if (suffix == ".npy" or args.explore) and not args.layer:
        raise CliError(("--out .npy" if suffix == ".npy" else "--explore") + " needs --layer NAME: whose input")
    _run_numbers(args)
    capture_wanted = (args.input or "").strip().lower() != "none"
    if not capture_wanted and (suffix == ".npy" or args.explore):
        raise CliError("--input none captures nothing, so there is no layer input to write")
    model = open_for_cli(args)
    from kernels.models import ModelError
    if args.layer:
        try:
            model.layer(args.layer)
        except ModelError:
            names = ", ".join(layer.name for layer in model.layers[:12])
            raise CliError(f"{model.name} has no normalization layer {args.layer!r}; its layers: {names or 'none'}"
                           + (" …" if len(model.layers) > 12 else "")) from None
    if args.input is None:
        from .report import default_input
        args.input = default_input(model)
    if not model.can_run and (suffix == ".npy" or args.explore):
        raise CliError(f"{model.name} is a bare {model.format}: weights without the network's code, so it cannot run "
                       f"and has no layer input to write; give --architecture, or open its ONNX export or an import "
                       f"path")
    cap, request = None, None
    if capture_wanted and model.can_run:
        request = _request(args)
        cap = _capture(model, request, args.layer)
    fold = _fold(model, cap) if args.fold else None
    _write(model, args, suffix, cap, request, fold, size, dpi)
    if args.explore:
        _write_session(model, args, cap, request)
    if not args.quiet:
        for note in (cap.notes if cap is not None else []):
            print(f"norm-explorer: warning: {note}", file=sys.stderr)
        if not model.can_run and capture_wanted:
            print(f"norm-explorer: note: {model.name} holds weights only, so nothing ran (no gaps); give "
                  f"--architecture or open an ONNX export or an import path", file=sys.stderr)
    return 0


def _capture(model, request, layer):
    from kernels.models import ModelError

    from .jobs import make_input
    try:
        x = make_input(model, request)
        return model.capture(x, layers=[layer] if layer else [], budget=request.budget_mb * 1024 ** 2)
    except ModelError as exc:
        raise CliError(str(exc).splitlines()[0]) from None


def _fold(model, cap):
    from kernels.models import ModelError

    from .jobs import fold_input
    try:
        return model.fold_batchnorm(fold_input(model, None if cap is None else cap.input))
    except ModelError as exc:
        raise CliError(f"folding: {str(exc).splitlines()[0]}") from None


def _saved(write):
    from ..atomic import SaveError
    try:
        write()
    except SaveError as exc:
        raise CliError(str(exc), IO_FAILURE) from None


def _write(model, args, suffix, cap, request, fold, size, dpi):
    from ..atomic import write_text
    from .report import fold_csv, layers_csv, numbers
    label = request.label if request is not None else ""
    if suffix == ".csv":
        text = fold_csv(fold) if fold is not None else layers_csv(model)
        _saved(lambda: write_text(args.out, text))
    elif suffix == ".json":
        text = json.dumps(numbers(model, cap, fold, label), indent=1)
        _saved(lambda: write_text(args.out, text + "\n"))
    elif suffix == ".npy":
        from ..data_files import save_npy
        if args.layer not in cap:
            raise CliError(f"{args.layer} did not run on this input")
        _saved(lambda: save_npy(cap[args.layer], args.out))
    else:
        from .figure import export_figure
        export_figure(model, args.out, fold, label, size, dpi)


def _write_session(model, args, cap, request):
    from ..session import save_session
    from .explore import handoff
    if args.layer not in cap:
        raise CliError(f"{args.layer} did not run on this input")
    data = Path(args.explore).with_suffix(".npz")
    try:
        h = handoff(model, model.layer(args.layer), cap[args.layer], not args.eval_mode, input_label=request.label,
                    path=data)
    except OSError as exc:
        raise CliError(str(exc), IO_FAILURE) from None
    except ValueError as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    _saved(lambda: save_session(h.settings, args.explore))
    if not args.quiet:
        for text in h.unexpressed:
            print(f"norm-explorer: warning: not carried over to the Explore tab: {text}", file=sys.stderr)


def add_commands(subparsers):
    """Add `model` to an argparse subparsers object (sets func(args) -> int)."""
    from kernels.models import ARCHITECTURES
    p = subparsers.add_parser("model", help=HEAVY_COMMANDS["model"],
                              formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
                              description="Open a real network offline and write its normalization layers (kind, "
                                          "eps, momentum, affine, running statistics, health flags), the train-vs-"
                                          "eval gaps on a real input, the BatchNorm folding report, or one layer's "
                                          "captured input.")
    p.add_argument("source", metavar="PATH", help="a .pt/.pth/.bin state_dict, .safetensors, .onnx, or an import path "
                                                  "package.module:factory(args) (with --allow-import)")
    p.add_argument("--out", required=True, metavar="FILE",
                   help=".csv (layer table with flags; with --fold the fold report), .json (layers, gaps, fold "
                        "report), .png/.svg/.pdf (health strip and gaps; with --fold the folding report too), .npy "
                        "(with --layer: its captured input)")
    p.add_argument("--layer", metavar="NAME", help="the layer whose input --out .npy or --explore writes")
    p.add_argument("--input", metavar="KIND", help="what the model runs on: image (the bundled sample image), digits "
                                                   "(scikit-learn's), random, a .npy file of the input shape, or none "
                                                   "(no run); default image for image models, else random")
    p.add_argument("--batch", default="8", help="samples in a generated input (default 8)")
    p.add_argument("--seed", default="0", help="seed of a generated input (default 0)")
    p.add_argument("--shape", help="the full input shape when the model does not say it, e.g. 8,3,32,32")
    p.add_argument("--budget", default="512", help="MB the kept layer inputs may take (default 512)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--eval", dest="eval_mode", action="store_true", default=True,
                      help="--explore opens the layer in eval mode, with its running statistics (default)")
    mode.add_argument("--training", dest="eval_mode", action="store_false",
                      help="--explore opens the layer in train mode, with the batch's statistics")
    p.add_argument("--explore", metavar="SESSION.json",
                   help="with --layer: a session for the Explore tab (norm-explorer gui --session S.json), its input "
                        "saved as S.npz")
    p.add_argument("--fold", action="store_true", help="fold BatchNorm into the layer before it and measure the "
                                                       "difference in float32, float16 and bfloat16")
    p.add_argument("--architecture", choices=list(ARCHITECTURES),
                   help="the built-in architecture whose weights PATH holds (a bare state_dict cannot run): "
                        + "; ".join(f"{k}: {a.doc}" for k, a in ARCHITECTURES.items()))
    p.add_argument("--weights", metavar="W", help="weights (.pt/.pth/.safetensors) for an import path")
    p.add_argument("--allow-import", action="store_true",
                   help="allow PATH to be an import path: that imports and runs its code")
    p.add_argument("--size", metavar="WxH", help="a figure's layout size (default 1200x760, 1200x1180 with --fold)")
    p.add_argument("--dpi", default="96", help="a PNG's pixel density, 24 to 1200 (default 96)")
    p.add_argument("--quiet", action="store_true", help="no warnings on stderr")
    p.set_defaults(func=cmd_model)
