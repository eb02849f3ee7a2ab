"""What the Model tab shows and `norm-explorer model` writes, without Qt: the layer table's cells, the
layer table as CSV (with the flags), the numbers as JSON (layers, gaps, fold report), the fold table,
and the health colours the strip and the table share."""

from __future__ import annotations

import csv
import io
import math

import numpy as np

#: Strip and table colours per health level (ColorBrewer RdYlBu-like, readable as fills with dark text).
HEALTH_COLORS = {"ok": "#a6d96a", "info": "#92c5de", "warning": "#fdae61", "problem": "#d7301f"}
HEALTH_TEXT = {"ok": "#1b3a0b", "info": "#0b2a40", "warning": "#3d2300", "problem": "#ffffff"}
HEALTH_WORDS = {"ok": "nothing flagged", "info": "worth knowing", "warning": "worth checking",
                "problem": "wrong or broken"}
#: One letter per layer family, drawn in the strip's cells.
FAMILY_LETTERS = {"batch": "B", "instance": "I", "group": "G", "layer": "L", "rms": "R", "lrn": "N"}
#: The layer table: (key of display_row, header, header tooltip).
COLUMNS = (
    ("index", "#", "position among the model's normalization layers"),
    ("name", "layer", "the module or node name"),
    ("health", "health", "the most serious flag: ok, info, warning, problem (hover a row for the sentences)"),
    ("kind", "kind", "the class or ONNX operator"),
    ("method", "method", "the explorer's method that reproduces it"),
    ("layout", "layout", "the axes of its input"),
    ("channels", "C", "channels (or the normalized size)"),
    ("eps", "eps", "added to the variance"),
    ("momentum", "momentum", "running-statistics momentum and whose convention: torch new = (1 − m)·old + m·batch, "
                             "keras new = m·old + (1 − m)·batch"),
    ("affine", "affine", "γ (weight) and β (bias)"),
    ("running", "running statistics", "running mean and variance, smallest..largest"),
    ("num_batches_tracked", "batches", "num_batches_tracked"),
    ("gap", "gap", "after a capture: batch against running statistics (mean shift in running std, worst std ratio)"),
)


def fmt(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return f"{float(value):.4g}"


def _spread(arr) -> str:
    a = np.asarray(arr, dtype=np.float64)
    if a.size == 0:
        return "empty"
    if a.size == 1:
        return fmt(a.item())
    return f"{a.min():.3g}..{a.max():.3g}"


def method_and_layout(layer) -> tuple:
    """(method, layout), or ('?', '?') when the layer's input has a rank the registry does not take."""
    try:
        return layer.method, layer.layout
    except ValueError:
        return "?", "?"


def momentum_text(layer) -> str:
    if layer.family != "batch":
        return ""
    if layer.momentum is None:
        return "None: cumulative (torch)" if layer.momentum_convention == "torch" else ""
    return f"{layer.momentum:g} ({layer.momentum_convention})"


def affine_text(layer) -> str:
    parts = [name for name, arr in (("γ", layer.weight), ("β", layer.bias)) if arr is not None]
    if not parts:
        return "none"
    shape = next(np.shape(a) for a in (layer.weight, layer.bias) if a is not None)
    return ", ".join(parts) + (f" {'×'.join(map(str, shape))}" if len(shape) > 1 else "")


def running_text(layer) -> str:
    if not layer.has_running_stats:
        return "none" if layer.family in ("batch", "instance") else ""
    return f"μ {_spread(layer.running_mean)} · σ² {_spread(layer.running_var)}"


def gap_text(layer) -> str:
    if layer.gap is None:
        return ""
    return f"shift {layer.gap.shift_rms:.2g} · std ×{layer.gap.ratio_worst:.3g}"


def display_row(layer) -> dict:
    """The layer table's cells as text, keyed like COLUMNS."""
    method, layout = method_and_layout(layer)
    nbt = layer.num_batches_tracked
    return dict(index=str(layer.index), name=layer.name, kind=layer.kind, method=method, layout=layout,
                channels=fmt(layer.channels), eps=fmt(layer.eps), momentum=momentum_text(layer),
                affine=affine_text(layer), running=running_text(layer), num_batches_tracked=fmt(nbt),
                gap=gap_text(layer), health=layer.health)


def safe_row(layer) -> dict:
    """kernels' layer.row() (the CSV row), with method and layout '?' where the rank is not supported."""
    try:
        return layer.row()
    except ValueError:
        method, layout = method_and_layout(layer)
        return dict(index=layer.index, name=layer.name, kind=layer.kind, method=method, layout=layout,
                    health=layer.health, flags=" | ".join(layer.flags))


def layers_csv(model) -> str:
    """The layer table: one row per normalization layer, its numbers summarized, its flags as sentences
    (joined by ' | ') and their codes."""
    rows = [dict(safe_row(layer), flag_codes=" ".join(f.code for f in layer.flags)) for layer in model.layers]
    columns = list(dict.fromkeys(k for row in rows for k in row)) or ["index", "name", "kind", "health", "flags"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n", restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def fold_csv(report) -> str:
    """The fold report: one row per normalization layer (folded into what, or why not; max |difference| per dtype)."""
    rows = report.table()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(rows[0]) if rows else ["name"], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def _cell(value):
    return repr(float(value)) if isinstance(value, (float, np.floating)) else value


def json_safe(value):
    """Plain JSON data: numpy numbers and arrays as Python ones, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value if value is None or isinstance(value, str) else str(value)


def fold_numbers(report) -> dict:
    return dict(rows=[{k: (None if v == "" else v) for k, v in row.items()} for row in report.table()],
                output_diff=report.output_diff, reference_diff=report.reference_diff, notes=report.notes)


def numbers(model, capture=None, fold=None, input_label: str = "") -> dict:
    """Everything `norm-explorer model --out x.json` writes: the model, its layers with flags (sentence, code,
    level), the gaps of the latest capture, and the fold report when there is one."""
    layers = [dict(safe_row(layer), flags=[dict(text=str(f), code=f.code, level=f.level) for f in layer.flags])
              for layer in model.layers]
    out = dict(format="norm-explorer-model", version=1,
               model=dict(name=model.name, source=model.source, format=model.format, can_run=model.can_run,
                          input_shape=None if model.input_shape is None else list(model.input_shape),
                          notes=model.notes),
               layers=layers, gaps=model.gaps(), capture=None, fold=None)
    if capture is not None:
        out["capture"] = dict(input=input_label, shape=list(np.shape(capture.input)), seconds=capture.seconds,
                              layers=sorted(capture), notes=capture.notes)
    if fold is not None:
        out["fold"] = fold_numbers(fold)
    return json_safe(out)


def default_input(model) -> str:
    """The input a capture starts from: the sample image for an image model (N, C, H, W with 1 or 3
    channels), else random data of the input shape."""
    shape = model.input_shape
    if shape is not None and len(shape) == 4 and shape[1] in (1, 3):
        return "image"
    return "random"


def shape_text(shape) -> str:
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")" if shape is not None else "unknown"


def describe(model) -> str:
    """One line about the model: its name, format, layer count and input shape."""
    n = len(model.layers)
    runs = "runs here" if model.can_run else "weights only: cannot run"
    return (f"{model.name} · {model.format} · {n} normalization layer{'s' if n != 1 else ''} · input "
            f"{shape_text(model.input_shape)} · {runs}")


def flags_html(layer, escape) -> str:
    """The layer's flags as an HTML list, each sentence marked with its level's colour."""
    if not layer.flags:
        return "<p>No flags: nothing odd found in this layer's parameters.</p>"
    items = "".join(f"<li><span style='background:{HEALTH_COLORS[f.level]}; color:{HEALTH_TEXT[f.level]}'>&nbsp;"
                    f"{f.level}&nbsp;</span> {escape(str(f))}</li>" for f in layer.flags)
    return f"<ul style='margin-left:-20px'>{items}</ul>"
