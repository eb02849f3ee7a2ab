"""Every setting is declared once: walking dataclasses.fields(Settings), each one round-trips
through a session file, QSettings and the command line, with nothing but its declaration to go
on. A new field that a derived format cannot carry fails here."""

import argparse
import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from explorer.cli import settings_from
from explorer.file_loading import open_file
from explorer.flags import add_setting_flags, to_argv
from explorer.session import open_session, save_session
from explorer.settings import DEFAULTS, FIELDS, SettingError, Settings, coerce, from_plain, mirrored, to_plain
from explorer.settings_store import load_settings, save_settings
from kernels import available_devices

KINDS = {"choice", "text", "layout", "int", "bool", "shape", "index", "params", "file"}


def changed(name: str, tmp_path) -> Settings:
    """Settings that differ from the defaults in `name` (and in what that field needs), read off its
    declaration; device, whose valid values depend on the machine, keeps the first device there."""
    d = FIELDS[name]
    default = getattr(DEFAULTS, name)
    if d.kind == "choice":
        options = [o for o in d.options() if o != default and o != "file"]
        for option in options:  # the first one that computes with the defaults (a backend may be missing here)
            candidate = DEFAULTS.replace(**{name: option})
            if candidate.problem() is None:
                return candidate
        pytest.skip(f"no other value of {name} computes here")
    if d.kind == "bool":
        return DEFAULTS.replace(**{name: not default})
    if d.kind == "int":
        return DEFAULTS.replace(**{name: d.high if default != d.high else d.low})
    if d.kind == "layout":
        return DEFAULTS.replace(layout="NLC")
    if d.kind == "shape":
        return DEFAULTS.replace(shape=(3, 6, 5, 7))
    if d.kind == "index":
        return DEFAULTS.replace(selected=(3, 7, 7, 0))
    if d.kind == "params":
        return DEFAULTS.replace(method="group", params={"groups": 2, "eps": 0.001, "weight": 1.5})
    if d.kind == "text":
        return DEFAULTS.replace(**{name: available_devices(DEFAULTS.backend)[-1]})
    if d.kind == "file":
        path = tmp_path / "mine.npy"
        np.save(path, np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 4, 5, 3))
        ref, array = open_file(path, "", "NHWC")
        return DEFAULTS.replace(file=ref, input="file", layout="NHWC", selected=(1, 2, 3, 1)).replace(layout="NCHW")
    raise AssertionError(f"no sample value for kind {d.kind}")


def same(a: Settings, b: Settings) -> bool:
    """Equal settings, a file compared by what a session holds (path, key, layout, shape)."""
    def plain(s):
        file = s.file
        return dataclasses.replace(s, file=None), None if file is None else (file.path, file.key, file.layout,
                                                                             file.shape)
    return plain(a) == plain(b)


def test_every_field_is_declared():
    for f in dataclasses.fields(Settings):
        d = FIELDS[f.name]
        assert d.kind in KINDS and d.doc and f.default is not dataclasses.MISSING, f.name
        assert d.flag.startswith("--") or d.kind == "params", f"{f.name} has no command-line flag"
        coerce(f.name, f.default)  # the default passes its own check


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Settings)])
def test_each_setting_round_trips_through_a_session_file(name, tmp_path):
    settings = changed(name, tmp_path)
    assert getattr(settings, name) != getattr(DEFAULTS, name) or name == "device"
    path = tmp_path / "s.json"
    save_session(settings, path)
    again, _ = open_session(path, open_file)
    assert same(again, settings), name


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Settings)])
def test_each_setting_round_trips_through_qsettings(name, tmp_path, qapp):
    settings = changed(name, tmp_path)
    store = QSettings(str(tmp_path / "store.ini"), QSettings.Format.IniFormat)
    save_settings(settings, store)
    again = load_settings(store)
    if FIELDS[name].remembered:
        assert same(again, settings), name
    else:  # not remembered (a file may be gone by the next run): the defaults come back for it
        assert getattr(again, name) == getattr(DEFAULTS, name)


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Settings)])
def test_each_setting_round_trips_through_the_command_line(name, tmp_path):
    settings = changed(name, tmp_path)
    parser = argparse.ArgumentParser()
    add_setting_flags(parser)
    args = parser.parse_args(to_argv(settings))
    again, _ = settings_from(args)
    assert same(again, settings), (name, to_argv(settings))


def test_plain_data_refuses_wrong_types_naming_the_setting():
    for data, needle in [({"seed": "zero"}, "seed should be int"), ({"shape": "4,8,8,8"}, "shape should be list"),
                         ({"training": 1}, "training should be bool"), ({"colour": 1}, "unknown setting(s) colour"),
                         ({"selected": [1, "a"]}, "selected should be a list of integers")]:
        with pytest.raises(SettingError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            from_plain(data)
    assert DEFAULTS.replace(**from_plain(to_plain(DEFAULTS))) == DEFAULTS


def test_compare_mirrors_everything_but_the_per_method_settings():
    per_method = {name for name, d in FIELDS.items() if d.per_method}
    assert per_method == {"method", "params"}
    assert set(mirrored(DEFAULTS)) == set(FIELDS) - per_method


def test_replace_is_all_or_nothing_and_names_the_setting():
    for changes, needle in [({"bins": 1}, "bins=1 must be between 2 and 1000"), ({"seed": 2**31}, "seed="),
                            ({"shape": (10**30, 8, 6, 6)}, "more than"), ({"shape": (4, 8, 2**63, 6)}, "more than"),
                            ({"selected": (9, 0, 0, 0)}, "outside the shape"), ({"training": "maybe"}, "training=")]:
        with pytest.raises(SettingError, match=needle):
            DEFAULTS.replace(method="layer", **changes)
