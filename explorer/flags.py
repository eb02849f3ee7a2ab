"""The command line's setting flags, derived from the declarations in `explorer.settings` (one
flag per setting) and from the registry (one flag per method parameter). No Qt, no torch."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from kernels import METHODS

from .frameworks import EXTRA, param_specs
from .settings import FIELDS, SettingError, Settings, coerce

#: Method parameters whose flag would clash with a command option (--size is a figure's size).
PARAM_FLAGS = {"size": "lrn-size"}
#: Other spellings of a setting's flag: flag -> (setting, value).
ALIASES = {"--eval": ("training", False)}
#: Array parameters read from a .npy file hold at most this many values.
MAX_ARRAY_VALUES = 1 << 20


class FlagError(ValueError):
    """A flag's value cannot be used; str() is one line naming the flag."""


def param_declarations() -> dict:
    """Every method parameter name -> its Param (the first method that declares it), and the parameters
    only some frameworks have (use_fast_variance, depth_radius, ...)."""
    out = {}
    for m in METHODS.values():
        for p in m.params:
            out.setdefault(p.name, p)
    for name, p in EXTRA.items():
        out.setdefault(name, p)
    return out


def param_flag(name: str) -> str:
    return "--" + PARAM_FLAGS.get(name, name.replace("_", "-"))


def add_setting_flags(parser: argparse.ArgumentParser, skip=()):
    """One option per declared setting (and per method parameter), each defaulting to None: only
    what a person types changes anything."""
    for name, d in FIELDS.items():
        if not d.flag or name in skip:
            continue
        default = getattr(Settings(), name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        text = _help(f"{d.doc} (default {shown})" if d.kind not in ("params", "file") else d.doc)
        if d.kind == "bool":
            parser.add_argument(d.flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif d.kind == "file":
            parser.add_argument(d.flag, dest=name, metavar="PATH", help=text)
            parser.add_argument("--file-key", dest="file_key", default="", metavar="KEY",
                                help="the tensor's name inside a .npz file or a state dict")
            parser.add_argument("--file-layout", dest="file_layout", metavar="LAYOUT",
                                help="the layout of the file's axes (default: --layout, else NCHW)")
        else:
            choices = d.options()
            metavar = "{" + ",".join(choices) + "}" if choices and len(choices) <= 8 else name.upper()
            parser.add_argument(d.flag, dest=name, metavar=metavar, help=text)
    for flag, (name, value) in ALIASES.items():
        if name not in skip:
            parser.add_argument(flag, dest=name, action="store_const", const=value,
                                help=f"the same as {FIELDS[name].flag.replace('--', '--no-')}")
    if "params" not in skip:
        group = parser.add_argument_group("method parameters (each applies to the methods that have it)")
        for pname, param in param_declarations().items():
            group.add_argument(param_flag(pname), dest=f"param_{pname}", metavar="VALUE", help=_help(param.doc))


def _help(text: str) -> str:
    """argparse formats help with %: a declared doc's own % ("c % G") must be written %%."""
    return text.replace("%", "%%")


def _ints(text: str, flag: str) -> tuple:
    try:
        return tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise FlagError(f"{flag} {text!r} is not a comma-separated list of integers, e.g. 4,8,8,8") from None


def changes_from_flags(args, method: str | None = None) -> dict:
    """Settings.replace keywords for the flags a person typed. A --file comes back as
    {"path", "key", "layout"} under "file" (the caller loads it). `method` says whose parameters
    the method-parameter flags set (default: --method, else the default method)."""
    changes = {}
    for name, d in FIELDS.items():
        text = getattr(args, name, None)
        if text is None or d.kind == "params":
            continue
        if d.kind in ("shape", "index"):
            changes[name] = _ints(text, d.flag)
        elif d.kind == "file":
            changes[name] = {"path": text, "key": args.file_key or "",
                             "layout": (args.file_layout or args.layout or "NCHW").upper()}
        else:
            changes[name] = text
    for name in ("layout",):
        if name in changes:
            changes[name] = changes[name].upper()
    method = method or changes.get("method") or Settings().method
    params = _params_from_flags(args, method, changes.get("framework") or Settings().framework)
    if params:
        changes["params"] = params
    for name, value in changes.items():
        if name not in ("file", "params"):
            try:
                coerce(name, value)
            except SettingError as exc:
                raise FlagError(f"{FIELDS[name].flag}: {exc}") from None
    return changes


def _params_from_flags(args, method: str, framework: str = "torch") -> dict:
    """The method's parameters from their flags, in `framework`'s names and meaning."""
    spec = METHODS.get(method)
    own = {p.name: p for p in param_specs(method, framework)} if spec is not None and framework in \
        FIELDS["framework"].options() else {}
    params = {}
    for name in param_declarations():
        text = getattr(args, f"param_{name}", None)
        if text is None:
            continue
        if name not in own:
            names = ", ".join(own)
            where = f" in {framework}" if framework != "torch" else ""
            raise FlagError(f"{param_flag(name)} does not apply to {method}{where} (its parameters: {names or 'none'})")
        params[name] = _param_value(own[name], text)
    return params


def _param_value(param, text: str):
    """A method parameter from its flag's text (checked by the registry later, with the shape)."""
    flag = param_flag(param.name)
    if param.kind == "range":
        return tuple(v.strip() for v in text.split(","))
    if param.kind == "optional_float" and text.strip().lower() == "none":
        return None
    if param.kind == "array":
        return array_value(text, flag)
    return text


def array_value(text: str, flag: str):
    """An affine parameter as its help promises: a number, a comma list (one per channel), or a
    .npy file (never unpickled). Non-finite values are refused."""
    text = text.strip()
    if text.lower().endswith(".npy"):
        from .file_loading import LoadError, read_npy
        try:
            values = np.asarray(read_npy(Path(text), MAX_ARRAY_VALUES), dtype=np.float64)
        except LoadError as exc:
            raise FlagError(f"{flag}: {exc}") from None
    else:
        try:
            values = np.array([float(v) for v in text.split(",")], dtype=np.float64)
        except ValueError:
            raise FlagError(f"{flag} {text[:60]!r} is not a number, a comma-separated list of numbers or a .npy "
                            f"file") from None
        if values.size == 1 and "," not in text:
            values = values.reshape(())
    if not np.all(np.isfinite(values)):
        raise FlagError(f"{flag} {text[:60]!r}: every value must be a finite number")
    return float(values) if values.ndim == 0 else values


def to_argv(settings: Settings, skip=()) -> list:
    """The flags that give `settings` on the command line (the inverse of changes_from_flags)."""
    argv = []
    for name, d in FIELDS.items():
        if not d.flag or name in skip:
            continue
        value = getattr(settings, name)
        if d.kind == "bool":
            argv.append(d.flag if value else d.flag.replace("--", "--no-", 1))
        elif d.kind in ("shape", "index"):
            argv += [d.flag, ",".join(map(str, value))]
        elif d.kind == "file":
            if value is not None:
                argv += [d.flag, value.path, "--file-layout", value.layout] + (["--file-key", value.key]
                                                                                if value.key else [])
        else:
            argv += [d.flag, str(value)]
    if "params" not in skip:
        for name, value in settings.params.as_dict().items():
            if isinstance(value, tuple):
                text = ",".join(map(repr, value))
            elif isinstance(value, np.ndarray):
                text = ",".join(repr(float(v)) for v in value.ravel())
            else:
                text = "none" if value is None else repr(value) if isinstance(value, float) else str(value)
            argv += [param_flag(name), text]
    return argv
