"""The `norm-explorer` command. With no subcommand it opens the window; `export`, `compare`,
`info` (and the experiments' `depth`, `steps`, `weights`) run headless, on the offscreen
platform. Exit status: 0 success, 2 bad arguments, 1 input/output failure; one line each.
The settings' flags come from their declarations (explorer.flags); warnings the window would
show go to stderr (--quiet silences them). Qt is imported only by the commands that draw."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kernels import METHODS, NormError

from .cli_common import IO_FAILURE, CliError, Parser, check_extension, parse_number, parse_size
from .flags import FlagError, add_setting_flags, changes_from_flags
from .settings import DEFAULTS, SettingError, Settings
from .vocabulary import HEAVY_COMMANDS, VIEWS

EXPORT_EXTENSIONS = (".png", ".svg", ".pdf", ".csv", ".json", ".npy")
DPI_HELP = "a PNG's pixel density, 24 to 1200: it changes the pixels, not the layout (default 96)"

EXAMPLES = """examples:
  norm-explorer                                   open the window
  norm-explorer export --method group --groups 4 --layout NCHW --shape 4,8,8,8 \\
      --input normal --seed 0 --out figure.png --view histograms --stats stats.csv --size 1600x1000
  norm-explorer export --session my.json --out figure.svg
  norm-explorer export --method batch --eval --out output.npy
  norm-explorer export --file activations.npy --layout NHWC --method channel --out out.npy
  norm-explorer compare --methods batch,layer,instance,group --shape 4,8,8,8 --out fig2.png
  norm-explorer info group                        formula, axes in words, torch/Keras code
  norm-explorer lesson                            the lessons; norm-explorer lesson train-vs-eval --out te.png
  norm-explorer explain --method group --selected 1,0,3,4       the arithmetic of x[1, 0, 3, 4], step by step
  norm-explorer explain --method batch --eval --out steps.gif   ... as an animated step-through for slides
  norm-explorer depth --article --norm batch --out depth.png
  norm-explorer steps --steps 200 --drift shift --out steps.svg
"""


def settings_from(args, base: Settings = DEFAULTS, method: str | None = None) -> tuple:
    """(Settings, (FileRef, array) or None) from the flags over `base` (a session, or the defaults),
    checked: CliError names what cannot be used."""
    try:
        changes = changes_from_flags(args, method or getattr(args, "method", None) or base.method)
    except FlagError as exc:
        raise CliError(str(exc)) from None
    file = None
    if "file" in changes:
        from .file_loading import LoadError, open_file
        request = changes.pop("file")
        try:
            file = open_file(request["path"], request["key"], request["layout"])
        except LoadError as exc:
            raise CliError(str(exc), IO_FAILURE if not Path(request["path"]).is_file() else 2) from None
        changes.update(file=file[0], input="file")
        changes.setdefault("layout", file[0].layout)
    try:
        settings = base.replace(**changes)
    except SettingError as exc:
        raise CliError(str(exc)) from None
    problem = settings.problem()
    if problem:
        raise CliError(f"{settings.method}: {problem}")
    return settings, file


def _base(args) -> Settings:
    if not getattr(args, "session", None):
        return DEFAULTS
    from .session import SessionError, read_session
    try:
        changes = read_session(args.session)
    except SessionError as exc:
        raise CliError(str(exc), IO_FAILURE if not Path(args.session).is_file() else 2) from None
    if changes.get("input") == "file":
        raise CliError(f"{args.session}: a session with a file input: give the file with --file")
    changes.pop("file", None)
    return DEFAULTS.replace(**changes)


def warn(scene, args):
    """What the window says in its warnings, said on stderr (the exit status stays 0)."""
    if getattr(args, "quiet", False):
        return
    for text in scene.warnings:
        print(f"norm-explorer: warning: {text}", file=sys.stderr)


# -- export ---------------------------------------------------------------------------------

def cmd_export(args) -> int:
    suffix = check_extension(args.out, EXPORT_EXTENSIONS)
    size = parse_size(args.size) if args.size else None
    if args.stats:
        check_extension(args.stats, (".csv",), "--stats")
    dpi = parse_number(args.dpi, "--dpi", 24, 1200)
    settings, file = settings_from(args, _base(args))
    if suffix == ".json":
        from .session import save_session
        _saved(lambda: save_session(settings, args.out))
        return 0
    if suffix in (".csv", ".npy") or args.stats:
        scene = _compute(settings, file)
        warn(scene, args)
        if args.stats:
            _write_data(scene, args.stats)
        if suffix in (".csv", ".npy"):
            _write_data(scene, args.out)
            return 0
    from .figures import export_view
    scene = export_view(settings, file, args.view, args.out, size, dpi)
    if not args.stats:
        warn(scene, args)
    return 0


def _compute(settings, file):
    from .file_loading import load
    from .pipeline import Pipeline
    pipeline = Pipeline(load_file=load)
    if file is not None:
        pipeline.use_file(*file)
    try:
        return pipeline.run(settings)
    except NormError as exc:
        raise CliError(str(exc)) from None


def _write_data(scene, path):
    from .data_files import save_npy, save_stats_csv
    if path.lower().endswith(".csv"):
        _saved(lambda: save_stats_csv(scene.groups, scene.settings.layout, path))
    else:
        _saved(lambda: save_npy(scene.output, path))


def _saved(write):
    from .atomic import SaveError
    try:
        write()
    except SaveError as exc:
        raise CliError(str(exc), IO_FAILURE) from None


# -- compare -----------------------------------------------------------------------------------

def cmd_compare(args) -> int:
    check_extension(args.out, (".png", ".svg", ".pdf"))
    size = parse_size(args.size) if args.size else None
    dpi = parse_number(args.dpi, "--dpi", 24, 1200)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise CliError(f"--methods: unknown method {unknown[0]!r}" if unknown else "--methods is empty")
    settings, file = settings_from(args, method=methods[0])
    for m in methods:
        problem = settings.replace(method=m).problem()
        if problem:
            raise CliError(f"{m}: {problem}")
    from .figures import export_compare
    export_compare(settings, file, methods, args.out, size, dpi)
    return 0


# -- explain -------------------------------------------------------------------------------------

def cmd_explain(args) -> int:
    """The arithmetic of the selected element: printed, or as an animated step-through."""
    if args.out:
        check_extension(args.out, (".gif", ".apng", ".png"))
    size = parse_size(args.size) if args.size else None
    settings, file = settings_from(args, _base(args))
    scene = _compute(settings, file)
    warn(scene, args)
    if not args.out:
        e = scene.explanation
        names = ", ".join(f"{a}={i}" for a, i in zip(settings.layout, e.index))
        print(f"{settings.spec.label}, x[{names}] ({'train' if e.training else 'eval'} mode)")
        for k, step in enumerate(e.steps, 1):
            print(f"{k}. {step.title} ({step.formula}): {step.text}")
        return 0
    from .figures import export_steps
    export_steps(scene, args.out, size)
    return 0


# -- lesson --------------------------------------------------------------------------------------

def cmd_lesson(args) -> int:
    from .lessons import LESSONS
    if not args.name:
        for lesson in LESSONS.values():
            print(f"{lesson.name:24} {lesson.title}")
        return 0
    if args.name not in LESSONS:
        raise CliError(f"unknown lesson {args.name!r}; choose one of {', '.join(LESSONS)}")
    lesson = LESSONS[args.name]
    if not args.out:
        print(f"{lesson.title}\n\n{lesson.text}")
        return 0
    check_extension(args.out, (".png", ".svg", ".pdf"))
    size = parse_size(args.size) if args.size else None
    from .figures import export_lesson
    export_lesson(args.name, args.out, size, parse_number(args.dpi, "--dpi", 24, 1200))
    return 0


# -- info ----------------------------------------------------------------------------------------

def cmd_info(args) -> int:
    from .conventions import conventions
    if args.name not in METHODS:
        raise CliError(f"unknown method {args.name!r}; choose one of {', '.join(METHODS)}")
    settings, _ = settings_from(args, DEFAULTS.replace(method=args.name))
    spec = settings.spec
    params, sharing = settings.prepared()
    out = [f"{spec.label} ({spec.name})", "", spec.summary, "", spec.formula, "",
           f"Statistics shared ({settings.layout}, shape {settings.shape}): {sharing.describe()}", "",
           "Conventions:"] + [f"  - {c}" for c in conventions(spec, params, settings.training)] + [""]
    from .frameworks import snippets
    for title, (code, _) in snippets(settings).items():  # one per framework, as the window's code tabs
        out += [f"{title}:", *("    " + line for line in code.splitlines()), ""]
    if spec.pitfalls:
        out += ["Pitfalls:"] + [f"  - {t}" for t in spec.pitfalls] + [""]
    if spec.references:
        out += ["References:"] + [f"  - {t}" for t in spec.references]
    print("\n".join(out))
    return 0


# -- entry point ----------------------------------------------------------------------------------

def build_parser(command: str | None = None) -> Parser:
    """The whole command line. The experiments' and the model's commands load their code only when
    `command` is one of them (or None: all of them); otherwise they are listed with their help alone."""
    from . import __version__
    parser = Parser(prog="norm-explorer", formatter_class=argparse.RawDescriptionHelpFormatter,
                    description="See how deep-learning normalizations work. With no command, open the window.",
                    epilog=EXAMPLES)
    parser.add_argument("--version", action="version", version=f"norm-explorer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("gui", help="open the window (the default)")

    export = sub.add_parser("export", help="write a figure, statistics, the output tensor or a session",
                            formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    add_setting_flags(export)
    export.add_argument("--session", help="start from the settings of a session JSON file")
    export.add_argument("--out", required=True, help="output file: .png, .svg, .pdf (figure), .csv (per-group "
                                                    "statistics), .npy (output tensor), .json (session)")
    export.add_argument("--view", choices=list(VIEWS), default="histograms",
                        help="what the figure shows: " + "; ".join(f"{k}: {v}" for k, v in VIEWS.items()))
    export.add_argument("--stats", help="also write the per-group statistics to this .csv")
    export.add_argument("--size", help="the layout size, WIDTHxHEIGHT (a PNG has size × dpi/96 pixels)")
    export.add_argument("--dpi", default="96", help=DPI_HELP)
    export.add_argument("--quiet", action="store_true", help="no warnings on stderr")
    export.set_defaults(func=cmd_export)

    compare = sub.add_parser("compare", help="several methods side by side on the same input",
                             formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    compare.add_argument("--methods", default="batch,layer,instance,group", help="comma-separated method names")
    add_setting_flags(compare, skip=("method",))
    compare.add_argument("--out", required=True, help="output figure: .png, .svg or .pdf")
    compare.add_argument("--size", help="the layout size, WIDTHxHEIGHT (a PNG has size × dpi/96 pixels)")
    compare.add_argument("--dpi", default="96", help="PNG resolution, 24 to 1200 (default 96)")
    compare.set_defaults(func=cmd_compare)

    explain = sub.add_parser("explain", help="the arithmetic of one element, step by step (--selected picks it)",
                             formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    add_setting_flags(explain)
    explain.add_argument("--session", help="start from the settings of a session JSON file")
    explain.add_argument("--out", help="an animated step-through: .gif, .apng or .png (the frames go to NAME-frames/); "
                                       "without --out the steps are printed")
    explain.add_argument("--size", help="frame size in pixels, WIDTHxHEIGHT (default 1280x560)")
    explain.add_argument("--quiet", action="store_true", help="no warnings on stderr")
    explain.set_defaults(func=cmd_explain)

    lesson = sub.add_parser("lesson", help="a guided preset for a classic confusion (no name: the list)")
    lesson.add_argument("name", nargs="?", metavar="NAME", help="the lesson; without it, the list of lessons")
    lesson.add_argument("--out", help="the window with the lesson set up: .png, .svg or .pdf (without --out: its text)")
    lesson.add_argument("--size", help="the layout size, WIDTHxHEIGHT (a PNG has size × dpi/96 pixels)")
    lesson.add_argument("--dpi", default="96", help="PNG resolution, 24 to 1200 (default 96)")
    lesson.set_defaults(func=cmd_lesson)

    info = sub.add_parser("info", help="a method's formula, axes in words, conventions and torch/Keras code")
    info.add_argument("name", metavar="METHOD", help=f"one of: {', '.join(METHODS)}")
    add_setting_flags(info, skip=("method",))
    info.set_defaults(func=cmd_info)

    if command is None or command in HEAVY_COMMANDS:
        from .experiments.cli import add_commands
        from .models.cli import add_commands as add_model_command
        add_commands(sub)
        add_model_command(sub)
    else:
        for name, text in HEAVY_COMMANDS.items():
            sub.add_parser(name, help=text)
    return parser


def _command(argv) -> str:
    """The command a command line names (its first word that is not an option), '' for none."""
    return next((word for word in argv if not word.startswith("-")), "")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] == "gui":
        from .app import run_gui
        return run_gui(argv[1:])
    try:
        args = build_parser(_command(argv)).parse_args(argv)
        if getattr(args, "func", None) is None:
            raise CliError("no command given; see norm-explorer --help")
        return args.func(args)
    except CliError as exc:
        print(f"norm-explorer: error: {exc.message}", file=sys.stderr)
        return exc.code
    except MemoryError:
        print("norm-explorer: error: not enough memory for this computation; try a smaller shape or parameter",
              file=sys.stderr)
        return IO_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
