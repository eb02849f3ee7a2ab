"""Sessions as readable JSON with a format version: every setting that decides the result and
the view options. Opening validates the whole file before touching the current session."""

from __future__ import annotations

import json
from pathlib import Path

from kernels import METHODS, NormError, available_backends, available_devices, prepare
from kernels.inputs import GENERATORS

from .atomic import write_text
from .pipeline import viewable_layout
from .state import FILE_INPUT

FORMAT = "norm-explorer-session"
VERSION = 1

#: setting -> (type(s), required)
FIELDS = {
    "method": (str, True), "layout": (str, True), "shape": (list, True), "params": (dict, False),
    "backend": (str, False), "device": (str, False), "input": (str, False), "seed": (int, False),
    "selected": (list, False), "training": (bool, False), "running": (str, False), "nonfinite": (str, False),
    "bins": (int, False), "shared_bins": (bool, False), "overlays": (bool, False), "log_counts": (bool, False),
}


class SessionError(ValueError):
    """A session file that cannot be opened; str() is one line for the user."""


def session_dict(state) -> dict:
    settings = state.settings()
    settings["params"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings["params"].items()
                          if isinstance(v, (int, float, str, bool, tuple, list, type(None)))}
    data = {"format": FORMAT, "version": VERSION, "settings": settings}
    if state.input == FILE_INPUT and state.file is not None:
        data["file"] = {"path": state.file.path, "key": state.file.key, "layout": state.file.layout}
    return data


def save_session(state, path):
    write_text(path, json.dumps(session_dict(state), indent=2) + "\n")


def read_session(path) -> dict:
    """The validated settings of the session file at `path` (keyword arguments for AppState.update),
    or SessionError. The optional 'file' entry comes back under the key '_file'."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"cannot read {path.name}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SessionError(f"{path.name} is not valid JSON (truncated or edited?): {exc.msg} at line {exc.lineno}") \
            from None
    return validate(data, path.name)


def validate(data, name: str = "session") -> dict:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionError(f"{name} is not a Norm Explorer session (no \"format\": \"{FORMAT}\")")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SessionError(f"{name} has no valid format version")
    if version > VERSION:
        raise SessionError(f"{name} was written by a newer Norm Explorer (session version {version}; this one "
                           f"reads up to {VERSION})")
    settings = data.get("settings")
    if not isinstance(settings, dict):
        raise SessionError(f"{name} has no \"settings\" object")
    unknown = sorted(set(settings) - set(FIELDS))
    if unknown:
        raise SessionError(f"{name}: unknown setting(s) {', '.join(unknown)}")
    for key, (kind, required) in FIELDS.items():
        if key not in settings:
            if required:
                raise SessionError(f"{name}: the setting {key!r} is missing")
            continue
        value = settings[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SessionError(f"{name}: {key} should be {kind.__name__}, not {type(value).__name__} {value!r}")
    out = dict(settings)
    for key in ("shape", "selected"):
        if key in out:
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in out[key]):
                raise SessionError(f"{name}: {key} should be a list of integers, not {out[key]!r}")
            out[key] = tuple(out[key])
    if out["method"] not in METHODS:
        raise SessionError(f"{name}: unknown method {out['method']!r}")
    if not 0 <= out.get("seed", 0) < 2**63:
        raise SessionError(f"{name}: seed {out['seed']} must be 0 or more")
    if not 2 <= out.get("bins", 64) <= 1000:
        raise SessionError(f"{name}: bins {out['bins']} must be between 2 and 1000")
    if "selected" in out and (len(out["selected"]) != len(out["shape"]) or
                              not all(0 <= i < n for i, n in zip(out["selected"], out["shape"]))):
        raise SessionError(f"{name}: selected element {list(out['selected'])} is outside the shape "
                           f"{list(out['shape'])}")
    try:
        viewable_layout(out["layout"])
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in out.get("params", {}).items()}
        out["params"] = params
        prepare(out["method"], out["shape"], out["layout"], **params)
    except (NormError, ValueError) as exc:
        raise SessionError(f"{name}: {getattr(exc, 'reason', exc)}") from None
    if out.get("input", "shifted") not in GENERATORS and out.get("input") != FILE_INPUT:
        raise SessionError(f"{name}: unknown input {out['input']!r}")
    if out.get("backend", "numpy") not in available_backends():
        raise SessionError(f"{name}: backend {out['backend']!r} is not available here")
    if out.get("device", "cpu") not in available_devices(out.get("backend", "numpy")):
        raise SessionError(f"{name}: device {out['device']!r} is not available here "
                           f"({', '.join(available_devices(out.get('backend', 'numpy')))})")
    if out.get("input") == FILE_INPUT:
        file = data.get("file")
        if not isinstance(file, dict) or not isinstance(file.get("path"), str) \
                or not isinstance(file.get("key", ""), str):
            raise SessionError(f"{name}: the input is a file but the session does not say which")
        out["_file"] = file
    return out


def apply_session(state, settings: dict, load_file=None):
    """Apply validated settings; a file input is re-read with load_file(path, key) -> array first."""
    settings = dict(settings)
    file = settings.pop("_file", None)
    if file is not None:
        if load_file is None:
            raise SessionError("this session reads its input from a file, which cannot be opened here")
        key = file.get("key", "")
        state.set_file(load_file(file["path"], key), file.get("layout", "NCHW"), file["path"], key)
        settings.pop("input", None)
        settings.pop("shape", None)
    state.update(**settings)
