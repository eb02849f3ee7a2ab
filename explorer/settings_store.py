"""Settings remembered between runs (QSettings): the declared settings that are `remembered`, as
JSON, and the window geometry. NORM_EXPLORER_SETTINGS=path.ini points them at a file (the tests
use one)."""

from __future__ import annotations

import json
import os

from PySide6.QtCore import QSettings

from .settings import DEFAULTS, FIELDS, SettingError, from_plain, to_plain


def qsettings() -> QSettings:
    path = os.environ.get("NORM_EXPLORER_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("NormExplorer", "norm-explorer")


def save_state(state, store: QSettings | None = None):
    store = store or qsettings()
    store.setValue("session", json.dumps(to_plain(state.settings, remembered_only=True)))


def restore_state(state, store: QSettings | None = None) -> bool:
    """Apply remembered settings; anything malformed, or settings that no longer compute, leave the
    defaults in place."""
    store = store or qsettings()
    raw = store.value("session")
    if not raw:
        return False
    try:
        data = json.loads(raw)
        remembered = {k: v for k, v in data.items() if k in FIELDS and FIELDS[k].remembered}
        settings = DEFAULTS.replace(**from_plain(remembered))
    except (ValueError, TypeError, AttributeError, RecursionError, SettingError):
        return False
    if settings.problem():
        return False
    state.apply(settings)
    return True
