"""Sessions as readable JSON with a format version: the settings as `explorer.settings` declares
them (a loaded file by its path, key and layout). Opening checks the whole file, and reads the
tensor it names, before anything of the current session changes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from .atomic import write_text
from .settings import DEFAULTS, SettingError, Settings, from_plain, to_plain

FORMAT = "norm-explorer-session"
VERSION = 2  # 2: the file is a setting like the others (1 kept it beside the settings)
#: A session is a few hundred bytes; a file much larger than this is not one.
MAX_BYTES = 1 << 20


class SessionError(ValueError):
    """A session file that cannot be opened; str() is one line for the user."""


def session_dict(settings: Settings) -> dict:
    return {"format": FORMAT, "version": VERSION, "settings": to_plain(settings)}


def save_session(settings: Settings, path):
    write_text(path, json.dumps(session_dict(settings), indent=2) + "\n")


def read_text(path, what: str = "file", limit: int = MAX_BYTES) -> str:
    """The text of a regular file of at most `limit` bytes (never a FIFO, a device or a folder)."""
    path = Path(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise SessionError(f"{path.name} is not a regular file")
        if info.st_size > limit:
            raise SessionError(f"{path.name} is {info.st_size:,} bytes: too large for a {what}")
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise SessionError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise SessionError(f"{path.name} is too large for a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SessionError(f"{path.name} is not a text file (not UTF-8)") from None


def read_session(path) -> dict:
    """The checked settings of the session file at `path` as keyword arguments for
    Settings.replace (a file as {"path", "key", "layout"}: see open_session), or SessionError."""
    path = Path(path)
    text = read_text(path, "session")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SessionError(f"{path.name} is not valid JSON (truncated or edited?): {exc.msg} at line {exc.lineno}") \
            from None
    except RecursionError:
        raise SessionError(f"{path.name} is nested too deeply to be a session") from None
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
    settings = dict(settings)
    if version == 1 and settings.get("input") == "file":
        settings["file"] = data.get("file")
    for required in ("method", "layout", "shape"):
        if required not in settings:
            raise SessionError(f"{name}: the setting {required!r} is missing")
    try:
        changes = from_plain(settings)
        check = {k: v for k, v in changes.items() if k != "file"}
        if changes.get("input") == "file":
            if not changes.get("file"):
                raise SettingError("the input is a file but the session does not say which")
            check["input"] = DEFAULTS.input  # checked when the file is read
        candidate = DEFAULTS.replace(**check)
        if changes.get("input") != "file":
            problem = candidate.problem()
            if problem:
                raise SettingError(problem)
    except SettingError as exc:
        raise SessionError(f"{name}: {exc}") from None
    return changes


def open_session(path, open_file=None) -> tuple:
    """(Settings, (FileRef, array) or None) of the session at `path`, with its file read by
    open_file(path, key, layout) -> (FileRef, array). SessionError (or the loader's LoadError) when
    it cannot be opened; nothing is changed either way."""
    changes = read_session(path)
    file = changes.pop("file", None)
    loaded = None
    if changes.get("input") == "file":
        if open_file is None:
            raise SessionError(f"{Path(path).name} reads its input from a file, which cannot be opened here")
        loaded = open_file(file["path"], file.get("key", ""), file.get("layout", "NCHW"))
        changes.update(file=loaded[0], selected=changes.get("selected", (0,) * len(loaded[1].shape)))
    try:
        settings = DEFAULTS.replace(**changes)
    except SettingError as exc:
        raise SessionError(f"{Path(path).name}: {exc}") from None
    problem = settings.problem()
    if problem:
        raise SessionError(f"{Path(path).name}: {problem}")
    return settings, loaded
