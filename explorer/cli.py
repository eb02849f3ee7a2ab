"""The `norm-explorer` command. With no subcommand it opens the window; `export`, `compare`,
`info` (and the experiments' `depth`, `steps`, `weights`) run headless, on the offscreen
platform. Exit status: 0 success, 2 bad arguments, 1 input/output failure; one line each."""

from __future__ import annotations

import argparse
import sys
from math import prod
from pathlib import Path

from kernels import METHODS, NormError, available_backends, available_devices, prepare
from kernels.inputs import GENERATORS
from kernels.layouts import COMMON_LAYOUTS
from kernels.methods import code_for

from .cli_common import (IO_FAILURE, CliError, check_extension, parse_ints, parse_number, parse_size, qt_app,
                         save_widget_file, wait_for)
from .pipeline import MAX_ELEMENTS, viewable_layout

#: Method parameters whose flag would clash with a command option.
FLAG_NAMES = {"size": "lrn-size"}
VIEWS = ("histograms", "tensor", "values", "groups", "compare", "window")
EXPORT_EXTENSIONS = (".png", ".svg", ".csv", ".json", ".npy")
DEFAULT_SHAPE = "4,8,8,8"

EXAMPLES = """examples:
  norm-explorer                                   open the window
  norm-explorer export --method group --groups 4 --layout NCHW --shape 4,8,8,8 \\
      --input normal --seed 0 --out figure.png --view histograms --stats stats.csv --size 1600x1000
  norm-explorer export --session my.json --out figure.svg
  norm-explorer export --method batch --eval --out output.npy
  norm-explorer compare --methods batch,layer,instance,group --shape 4,8,8,8 --out fig2.png
  norm-explorer info group                        formula, axes in words, torch/Keras code
  norm-explorer depth --article --norm batch --out depth.png
  norm-explorer steps --steps 200 --drift shift --out steps.svg
"""


class Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as CliError (one line, exit 2) instead of usage + exit."""

    def error(self, message):
        raise CliError(message)


def _param_names() -> dict:
    """Every method parameter name -> the Param (first declaration), for the --NAME flags."""
    out = {}
    for m in METHODS.values():
        for p in m.params:
            out.setdefault(p.name, p)
    return out


def add_setting_args(p: argparse.ArgumentParser, method: bool = True):
    if method:
        p.add_argument("--method", default=None, help=f"one of: {', '.join(METHODS)} (default batch)")
    p.add_argument("--layout", default=None, help=f"axis order, e.g. {', '.join(COMMON_LAYOUTS)} (default NCHW)")
    p.add_argument("--shape", default=None, help=f"sizes in layout order, e.g. {DEFAULT_SHAPE}")
    p.add_argument("--input", default=None, help=f"generated input: {', '.join(GENERATORS)} (default shifted)")
    p.add_argument("--seed", type=int, default=None, help="random seed of the input (default 0)")
    p.add_argument("--backend", default=None, help="numpy or torch (default numpy)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (torch backend)")
    p.add_argument("--eval", action="store_true", help="evaluation mode: running statistics (BatchNorm family)")
    group = p.add_argument_group("method parameters (each applies to the methods that have it)")
    for name, param in _param_names().items():
        group.add_argument(f"--{_flag(name)}", dest=f"param_{name}", default=None, metavar="VALUE",
                           help=param.doc)


def _flag(name: str) -> str:
    return FLAG_NAMES.get(name, name.replace("_", "-"))


def _param_value(param, text: str):
    if param.kind == "range":
        return tuple(v for v in text.split(","))
    if param.kind == "optional_float" and text.lower() == "none":
        return None
    if param.kind == "array":
        try:
            return float(text)
        except ValueError:
            raise CliError(f"--{param.name} {text!r} is not a number") from None
    return text


def settings_from(args, base: dict | None = None) -> dict:
    """AppState.update keywords from the flags (over `base`, e.g. a session), validated."""
    s = dict(base or {})
    s.setdefault("method", "batch")
    s.setdefault("layout", "NCHW")
    if getattr(args, "method", None):
        s["method"] = args.method
    if args.layout:
        s["layout"] = args.layout.upper()
    if args.shape:
        s["shape"] = parse_ints(args.shape, "--shape")
    s.setdefault("shape", parse_ints(DEFAULT_SHAPE, "--shape") if len(s["layout"]) == 4 else (4, 8, 32))
    for key in ("input", "seed", "backend", "device"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    if not 0 <= s.get("seed", 0) < 2**63:
        raise CliError(f"--seed {s['seed']}: must be 0 or more")
    try:
        s["layout"] = viewable_layout(s["layout"])
    except ValueError as exc:
        raise CliError(f"--layout: {exc}") from None
    if args.eval:
        s["training"] = False
    if s["method"] not in METHODS:
        raise CliError(f"--method {s['method']!r} is unknown; choose one of {', '.join(METHODS)}")
    spec = METHODS[s["method"]]
    params = dict(s.get("params", {}))
    for name, param in _param_names().items():
        text = getattr(args, f"param_{name}", None)
        if text is None:
            continue
        if name not in spec.param_names:
            raise CliError(f"--{_flag(name)} does not apply to {s['method']} "
                           f"(its parameters: {', '.join(spec.param_names) or 'none'})")
        params[name] = _param_value(spec.param(name), text)
    try:
        _, resolved, _, _ = prepare(s["method"], s["shape"], s["layout"], **params)
    except NormError as exc:
        raise CliError(str(exc)) from None
    s["params"] = {k: resolved[k] for k in params}
    elements = prod(s["shape"])
    if elements > MAX_ELEMENTS:
        raise CliError(f"--shape {','.join(map(str, s['shape']))}: {elements:,} elements is more than the "
                       f"{MAX_ELEMENTS:,} the explorer holds in memory")
    _check_environment(s)
    return s


def _check_environment(s: dict):
    if s.get("input", "shifted") not in GENERATORS:
        raise CliError(f"--input {s['input']!r} is unknown; choose one of {', '.join(GENERATORS)}")
    backend = s.get("backend", "numpy")
    if backend not in available_backends():
        raise CliError(f"--backend {backend!r} is not available here ({', '.join(available_backends())})")
    device = s.get("device", "cpu")
    if device not in available_devices(backend) and not (device == "cuda" and "cuda:0" in available_devices(backend)):
        raise CliError(f"--device {device!r} is not available with {backend}; devices: "
                       f"{', '.join(available_devices(backend))}")


# -- export ---------------------------------------------------------------------------------

def cmd_export(args) -> int:
    suffix = check_extension(args.out, EXPORT_EXTENSIONS)
    size = parse_size(args.size) if args.size else None
    base = _session_settings(args.session) if args.session else None
    settings = settings_from(args, base)
    if args.stats:
        check_extension(args.stats, (".csv",), "--stats")
    dpi = parse_number(args.dpi, "--dpi", 24, 1200)
    if suffix == ".json":
        return _write_session_json(settings, args.out)
    if suffix in (".csv", ".npy") and not args.stats:
        computed = _compute(settings)
        _write_data(computed, settings, args.out)
        return 0
    app = qt_app()  # noqa: F841 (keeps the application alive while the window exists)
    from .main_window import MainWindow
    from .state import AppState
    state = AppState()
    window = MainWindow(state)
    window.resize(1480, 940)
    window.show()
    try:
        _apply(state, settings)
        if args.stats:
            _write_data(state.computed, settings, args.stats)
        if suffix in (".csv", ".npy"):
            _write_data(state.computed, settings, args.out)
        else:
            target = _view(window, args.view)
            window.settle()
            save_widget_file(target, args.out, size, dpi)
    finally:
        window.close()
        state.shutdown()
    return 0


def _session_settings(path: str) -> dict:
    from .session import SessionError, read_session
    try:
        settings = read_session(path)
    except SessionError as exc:
        code = IO_FAILURE if not Path(path).is_file() else 2
        raise CliError(str(exc), code) from None
    if "_file" in settings:
        raise CliError(f"{path}: sessions with a file input open in the window only")
    return settings


def _compute(settings: dict):
    from .pipeline import Pipeline, Request
    req = Request(method=settings["method"], layout=settings["layout"], shape=tuple(settings["shape"]),
                  params=tuple(sorted(settings.get("params", {}).items())), backend=settings.get("backend", "numpy"),
                  device=settings.get("device", "cpu"), input=settings.get("input", "shifted"),
                  seed=settings.get("seed", 0), training=settings.get("training", True),
                  running=settings.get("running", "warmed"), selected=tuple(0 for _ in settings["layout"]))
    try:
        return Pipeline().run(req)
    except NormError as exc:
        raise CliError(str(exc)) from None


def _write_data(computed, settings, path):
    from .atomic import SaveError
    from .export import save_npy, save_stats_csv
    try:
        if path.lower().endswith(".csv"):
            save_stats_csv(computed.groups, settings["layout"], path)
        else:
            save_npy(computed.output, path)
    except SaveError as exc:
        raise CliError(str(exc), IO_FAILURE) from None


def _write_session_json(settings, path) -> int:
    import json

    from .atomic import SaveError, write_text
    from .session import FORMAT, VERSION
    plain = {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()}
    plain["params"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.get("params", {}).items()}
    try:
        write_text(path, json.dumps({"format": FORMAT, "version": VERSION, "settings": plain}, indent=2) + "\n")
    except SaveError as exc:
        raise CliError(str(exc), IO_FAILURE) from None
    return 0


def _apply(state, settings: dict):
    seen = []
    state.resultChanged.connect(lambda: seen.append(True))
    state.update(**settings)
    wait_for(lambda: (seen and state.computed is not None and not state.busy) or state.error)
    if state.error:
        raise CliError(state.error)


def _view(window, name: str):
    if name == "compare":
        window.tabs.setCurrentWidget(window.compare)
        window.compare.sync()
        wait_for(window.compare.ready, what="the comparison")
        return window.compare
    if name == "values":
        window.view_tabs.setCurrentWidget(window.value_view)
    return {"histograms": window.histograms, "tensor": window.tensor_view, "values": window.value_view,
            "groups": window.group_stats.plot, "window": window}[name]


# -- compare -----------------------------------------------------------------------------------

def cmd_compare(args) -> int:
    check_extension(args.out, (".png", ".svg"))
    size = parse_size(args.size) if args.size else None
    dpi = parse_number(args.dpi, "--dpi", 24, 1200)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise CliError(f"--methods: unknown method {unknown[0]!r}" if unknown else "--methods is empty")
    settings = settings_from(args)
    for m in methods:
        try:
            prepare(m, settings["shape"], settings["layout"])
        except NormError as exc:
            raise CliError(str(exc)) from None
    app = qt_app()  # noqa: F841
    from .state import AppState
    from .widgets.compare_view import CompareView
    state = AppState()
    view = CompareView(state, methods)
    view.resize(*(size or (1600, 700)))
    view.show()
    try:
        state.update(**settings)
        view.sync()
        wait_for(view.ready, what="the comparison")
        errors = [f"{n}: {p.state.error}" for n, p in view.panels.items() if p.state.error]
        if errors:
            raise CliError(errors[0])
        save_widget_file(view, args.out, size, dpi)
    finally:
        view.shutdown()
        state.shutdown()
        view.close()
    return 0


# -- info ----------------------------------------------------------------------------------------

def cmd_info(args) -> int:
    from .conventions import conventions
    if args.name not in METHODS:
        raise CliError(f"unknown method {args.name!r}; choose one of {', '.join(METHODS)}")
    args.method = args.name
    settings = settings_from(args)
    spec = METHODS[args.name]
    _, params, sharing, layout = prepare(args.name, settings["shape"], settings["layout"], **settings["params"])
    out = [f"{spec.label} ({spec.name})", "", spec.summary, "", spec.formula, "",
           f"Statistics shared ({layout}, shape {tuple(settings['shape'])}): {sharing.describe()}", "",
           "Conventions:"] + [f"  - {c}" for c in conventions(spec, params, settings.get("training", True))] + [""]
    training = settings.get("training", True)
    for title, code in code_for(args.name, layout, settings["shape"], params, training).items():
        out += [f"{title}:", *("    " + line for line in code.splitlines()), ""]
    if spec.pitfalls:
        out += ["Pitfalls:"] + [f"  - {t}" for t in spec.pitfalls] + [""]
    if spec.references:
        out += ["References:"] + [f"  - {t}" for t in spec.references]
    print("\n".join(out))
    return 0


# -- entry point ----------------------------------------------------------------------------------

def build_parser() -> Parser:
    from . import __version__
    parser = Parser(prog="norm-explorer", formatter_class=argparse.RawDescriptionHelpFormatter,
                    description="See how deep-learning normalizations work. With no command, open the window.",
                    epilog=EXAMPLES)
    parser.add_argument("--version", action="version", version=f"norm-explorer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("gui", help="open the window (the default)")

    export = sub.add_parser("export", help="write a figure, statistics, the output tensor or a session",
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    add_setting_args(export)
    export.add_argument("--session", help="start from the settings of a session JSON file")
    export.add_argument("--out", required=True, help="output file: .png, .svg (figure), .csv (per-group statistics), "
                                                    ".npy (output tensor), .json (session)")
    export.add_argument("--view", choices=VIEWS, default="histograms", help="what the figure shows")
    export.add_argument("--stats", help="also write the per-group statistics to this .csv")
    export.add_argument("--size", help="figure size in pixels, WIDTHxHEIGHT (PNG)")
    export.add_argument("--dpi", default="96", help="PNG resolution, 24 to 1200; text scales with it (default 96)")
    export.set_defaults(func=cmd_export)

    compare = sub.add_parser("compare", help="several methods side by side on the same input",
                             formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    compare.add_argument("--methods", default="batch,layer,instance,group", help="comma-separated method names")
    add_setting_args(compare, method=False)
    compare.add_argument("--out", required=True, help="output figure: .png or .svg")
    compare.add_argument("--size", help="figure size in pixels, WIDTHxHEIGHT")
    compare.add_argument("--dpi", default="96", help="PNG resolution, 24 to 1200 (default 96)")
    compare.set_defaults(func=cmd_compare)

    info = sub.add_parser("info", help="a method's formula, axes in words, conventions and torch/Keras code")
    info.add_argument("name", metavar="METHOD", help=f"one of: {', '.join(METHODS)}")
    add_setting_args(info, method=False)
    info.set_defaults(func=cmd_info)

    try:
        from .experiments.cli import add_commands
    except ImportError:  # the experiments are optional for the core commands
        pass
    else:
        add_commands(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] == "gui":
        from .app import run_gui
        return run_gui(argv[1:])
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except CliError as exc:
        print(f"norm-explorer: error: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
