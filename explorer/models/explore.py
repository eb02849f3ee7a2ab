"""A model layer's captured input opened in the Explore tab with the layer's own settings.

The input is saved atomically as a .npz in the cache folder (key `input`, with the layer's
`running_mean` and `running_var` beside it), so a saved session re-opens the same data; the
Settings name that file as the input and carry the layer's method, layout, eps, momentum and its
convention, γ, β and mode, with running='file' for its running statistics. What the Explore tab
cannot express is said in the hand-off's text, never dropped silently. No Qt."""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kernels import METHODS

from ..atomic import SaveError, write_bytes
from ..file_loading import file_ref
from ..lessons import Lesson
from ..limits import MAX_ELEMENTS
from ..settings import DEFAULTS, FILE_INPUT, SettingError, Settings

#: Captured inputs kept in the cache folder (the oldest go first).
CACHE_KEPT = 24
INPUT_KEY = "input"
WORDS = {"weight": "γ", "bias": "β", "momentum_convention": "convention"}


def cache_folder() -> Path:
    """$XDG_CACHE_HOME/norm-explorer/captures (default ~/.cache/...), made when missing."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "norm-explorer" / "captures"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SaveError(f"cannot make the capture folder {folder}: {exc.strerror or exc}") from None
    return folder


@dataclass(frozen=True)
class Handoff:
    """What the Explore tab takes: settings, the loaded file (FileRef, array), and the words for the
    panel above the tabs: what this is, and what could not be carried over (`unexpressed`)."""

    settings: Settings
    file: tuple
    title: str
    text: str
    unexpressed: tuple = ()

    @property
    def lesson(self) -> Lesson:
        return Lesson("model-layer", self.title, self.text)

    @property
    def html(self) -> str:
        """The panel's text: what is on screen, and what was not carried over, in red."""
        text = html.escape(self.text.split(" Not carried over: ")[0])
        missing = "".join(f"<br><span style='color:#b71c1c'>Not carried over: {html.escape(u)}</span>"
                          for u in self.unexpressed)
        return f"<b>Real layer: {html.escape(self.title)}</b><br>{text}{missing}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.")[:60] or "layer"


def save_capture(path, array: np.ndarray, running=None) -> Path:
    """The input (and the running statistics, when given) as a .npz, written atomically."""
    arrays = {INPUT_KEY: np.ascontiguousarray(array, dtype=np.float32)}
    if running is not None:
        arrays["running_mean"], arrays["running_var"] = (np.asarray(a, np.float32) for a in running)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes(path, buffer.getvalue())
    return Path(path)


def short_name(model) -> str:
    """A few characters that say which model: the factory of an import path, else the file's stem."""
    name = model.name
    if model.format == "module" and ":" in name:
        name = name.split(":", 1)[1].split("(", 1)[0]
    else:
        name = Path(name).stem
    return _slug(name)[:16]


def cached_capture(model_name: str, layer_name: str, array: np.ndarray, running=None, folder=None) -> Path:
    """The capture saved in the cache folder under a name from its content (the same capture is one file)."""
    folder = Path(folder) if folder is not None else cache_folder()
    digest = hashlib.sha1(np.ascontiguousarray(array, np.float32).tobytes())
    for a in running or ():
        digest.update(np.asarray(a, np.float32).tobytes())
    path = folder / f"{_slug(model_name)[:16]}-{_slug(layer_name)[:24]}-{digest.hexdigest()[:8]}.npz"
    if not path.is_file():
        save_capture(path, array, running)
        _prune(folder, keep=path)
    return path


def _prune(folder: Path, keep: Path):
    files = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[CACHE_KEPT:]:
        if old != keep:
            with contextlib.suppress(OSError):  # another process may hold or have removed it
                old.unlink()


def explorable(array) -> str | None:
    """Why the Explore tab cannot show this array, or None."""
    shape = tuple(np.shape(array))
    if not 2 <= len(shape) <= 4:
        return (f"its input has {len(shape)} axes {shape}; the Explore tab shows 2 to 4 (N, C and up to two "
                f"positions)")
    if int(np.prod(shape)) > MAX_ELEMENTS:
        return f"its input has {int(np.prod(shape)):,} values, more than the {MAX_ELEMENTS:,} the Explore tab holds"
    return None


def handoff(model, layer, array: np.ndarray, training: bool, base: Settings = DEFAULTS, folder=None,
            input_label: str = "", path=None) -> Handoff:
    """The Explore tab's settings and file for `layer`'s captured input `array` in train or eval mode, the
    input saved at `path` (default: in the cache folder, or `folder`, named by its content). ValueError
    (one line) when the Explore tab cannot show it."""
    problem = explorable(array)
    if problem:
        raise ValueError(f"{layer.name}: {problem}")
    shape = tuple(int(s) for s in array.shape)
    kw = dict(layer.settings(training, shape))
    method, layout, used_training = kw.pop("method"), kw.pop("layout"), kw.pop("training")
    running = (kw.pop("running_mean", None), kw.pop("running_var", None))
    running = running if running[0] is not None else None
    nbt = kw.pop("num_batches_tracked", None)
    names = METHODS[method].param_names
    params = {k: v for k, v in kw.items() if k in names and not (v is None and k in ("weight", "bias"))}
    unexpressed = [f"{k}={v!r} (the Explore tab's {method} has no such setting)" for k, v in kw.items()
                   if k not in names and v is not None]
    notes = []
    if layer.lrn_onnx_window:
        unexpressed.append("ONNX's window for an even LRN size, which reaches one channel further up than torch's: "
                           "the Explore tab computes torch's window, so its output differs from the ONNX node's")
    if used_training and not training:
        notes.append("It keeps no running statistics, so eval normalizes with the batch's own: shown in train mode.")
    if used_training and running is not None and layer.family == "batch":
        notes.append("Switch the mode to eval to normalize with its running statistics.")
    if nbt and layer.momentum is None and used_training:
        unexpressed.append(f"num_batches_tracked={nbt}: with momentum None the running update shown is a cumulative "
                           f"average's first step")
    if any(np.ndim(params.get(k)) >= 1 for k in ("weight", "bias")):
        notes.append("A saved session keeps all of it but the per-channel γ and β (sessions hold no arrays).")
    if path is not None:
        save_capture(path, array, running)
    else:
        path = cached_capture(short_name(model), layer.name, array, running, folder)
    ref = file_ref(path, INPUT_KEY, layout, shape)
    changes = dict(method=method, layout=layout, params=params, training=used_training, input=FILE_INPUT, file=ref,
                   selected=(0,) * len(shape))
    if running is not None:
        changes["running"] = FILE_INPUT
    try:
        settings = base.replace(**changes)
    except SettingError as exc:
        raise ValueError(f"{layer.name}: {exc}") from None
    problem = settings.problem()
    if problem:
        raise ValueError(f"{layer.name}: the Explore tab cannot compute it: {problem}")
    mode = "train" if used_training else "eval"
    stats = ", running statistics from the file" if running is not None else ""
    text = (f"Its real input {input_label + ' ' if input_label else ''}of shape {shape} ({layout}) with the layer's "
            f"own settings: {METHODS[method].label}, {describe_params(params)}{stats} (saved as {Path(path).name}).")
    if notes:
        text += " " + " ".join(notes)
    if unexpressed:
        text += " Not carried over: " + "; ".join(unexpressed) + "."
    title = f"{layer.name} ({layer.kind}) of {model.name}, {mode} mode"
    return Handoff(settings, (ref, np.ascontiguousarray(array, dtype=np.float32)), title, text, tuple(unexpressed))


def describe_params(params: dict) -> str:
    """The settings in a few words: eps 0.001, momentum 0 (torch), γ and β per channel (16)."""
    parts = []
    for key, value in params.items():
        if key in ("weight", "bias", "momentum_convention"):
            continue
        if key == "momentum" and "momentum_convention" in params:
            parts.append(f"momentum {_short(value)} ({params['momentum_convention']})")
        else:
            parts.append(f"{key} {_short(value)}")
    affine = [(WORDS[k], params[k]) for k in ("weight", "bias") if params.get(k) is not None]
    if len(affine) == 2 and np.shape(affine[0][1]) == np.shape(affine[1][1]):
        parts.append(f"γ and β {_short(affine[0][1])}")
    else:
        parts += [f"{name} {_short(value)}" for name, value in affine]
    return ", ".join(parts)


def _short(value) -> str:
    if value is None:
        return "None"
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        return f"per channel ({value.size})" if value.ndim == 1 else f"of shape {'×'.join(map(str, value.shape))}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
