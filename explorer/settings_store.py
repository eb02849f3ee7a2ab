"""Settings remembered between runs (QSettings): the session's settings as JSON, window geometry.
NORM_EXPLORER_SETTINGS=path.ini points them at a file (the tests use one)."""

from __future__ import annotations

import json
import os

from PySide6.QtCore import QSettings

from .state import COMPUTE_KEYS, FILE_INPUT, VIEW_KEYS


def qsettings() -> QSettings:
    path = os.environ.get("NORM_EXPLORER_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("NormExplorer", "norm-explorer")


def _jsonable(settings: dict) -> dict:
    out = dict(settings)
    out["params"] = {k: v for k, v in settings["params"].items() if isinstance(v, (int, float, str, bool, list,
                                                                                   tuple, type(None)))}
    if out.get("input") == FILE_INPUT:  # a file is not remembered; fall back to a generated input
        out["input"] = "shifted"
    return out


def save_state(state, store: QSettings | None = None):
    store = store or qsettings()
    store.setValue("session", json.dumps(_jsonable(state.settings())))


def restore_state(state, store: QSettings | None = None) -> bool:
    """Apply remembered settings; anything malformed or invalid leaves the defaults in place."""
    store = store or qsettings()
    raw = store.value("session")
    if not raw:
        return False
    try:
        data = json.loads(raw)
        changes = {k: data[k] for k in COMPUTE_KEYS + VIEW_KEYS if k in data}
        if "shape" in changes:
            changes["shape"] = tuple(changes["shape"])
        if "selected" in changes:
            changes["selected"] = tuple(changes["selected"])
        if isinstance(changes.get("params", {}).get("feature_range"), list):
            changes["params"]["feature_range"] = tuple(changes["params"]["feature_range"])
        backup = state.settings()
        state.update(**changes)
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
    if state.error:  # remembered settings that no longer compute: start from the defaults
        backup["shape"], backup["selected"] = tuple(backup["shape"]), tuple(backup["selected"])
        state.update(**backup)
        return False
    return True
