"""Settings remembered between runs (QSettings): the declared settings that are `remembered`, as
JSON, and the window geometry. NORM_EXPLORER_SETTINGS=path.ini points them at a file (the tests
use one)."""

from __future__ import annotations

import json
import os

from PySide6.QtCore import QSettings

from .settings import DEFAULTS, FIELDS, SettingError, Settings, from_plain, to_plain


def qsettings() -> QSettings:
    path = os.environ.get("NORM_EXPLORER_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("NormExplorer", "norm-explorer")


def save_settings(settings: Settings, store: QSettings | None = None):
    (store or qsettings()).setValue("session", json.dumps(to_plain(settings, remembered_only=True)))


def load_settings(store: QSettings | None = None) -> Settings | None:
    """The remembered settings, or None when there are none, or they are malformed, or they no
    longer compute (the app then starts from the defaults)."""
    raw = (store or qsettings()).value("session")
    if not raw:
        return None
    try:
        data = json.loads(raw)
        remembered = {k: v for k, v in data.items() if k in FIELDS and FIELDS[k].remembered}
        settings = DEFAULTS.replace(**from_plain(remembered))
    except (ValueError, TypeError, AttributeError, RecursionError, SettingError):
        return None
    return None if settings.problem() else settings
