"""Pieces every model format shares: the one error a person sees, flags as sentences, limits,
and the lazy imports of the optional packages (torch, onnx, onnxruntime)."""

from __future__ import annotations

import numpy as np

#: Largest model file read (the explorer holds every normalization layer's parameters in memory).
MAX_FILE_BYTES = 4 * 1024 ** 3
#: Largest tensor a file may declare, in bytes (a declaration beyond it is refused before anything is allocated).
MAX_TENSOR_BYTES = 2 * 1024 ** 3
#: A zip entry that inflates more than this many times its stored size is a zip bomb (torch stores uncompressed).
MAX_ZIP_RATIO = 100
#: Memory kept by `capture` for the chosen layers' inputs unless the caller gives another budget.
DEFAULT_BUDGET = 512 * 1024 ** 2
#: Largest model input generated or accepted for a run, in elements.
MAX_INPUT_ELEMENTS = 64 * 1024 ** 2

LEVELS = ("ok", "info", "warning", "problem")


class ModelError(ValueError):
    """A model that cannot be opened, run or folded; str() is one line for the person."""


class Flag(str):
    """A health flag: the sentence itself (a str), with a `code` naming the check and a `level`
    ('info', 'warning' or 'problem') for colours. Flags compare and print as their sentences."""

    code: str
    level: str

    def __new__(cls, text: str, code: str, level: str = "warning"):
        if level not in LEVELS[1:]:
            raise ValueError(f"flag level {level!r} is not one of {', '.join(LEVELS[1:])}")
        obj = super().__new__(cls, text)
        obj.code, obj.level = code, level
        return obj

    def __getnewargs__(self):
        return str(self), self.code, self.level

    def __repr__(self):
        return f"Flag({self.code}, {self.level}: {str(self)!r})"


def worst_level(flags) -> str:
    """'ok' when there is no flag, else the most serious level among them."""
    return max((f.level for f in flags), key=LEVELS.index, default="ok")


def need_torch(what: str):
    try:
        import torch
    except ImportError:
        raise ModelError(f"{what} needs torch, which is not installed (pip install '.[torch]')") from None
    return torch


def need_onnx(what: str, runtime: bool = False):
    try:
        import onnx
        if runtime:
            import onnxruntime
            return onnx, onnxruntime
    except ImportError as exc:
        raise ModelError(f"{what} needs the {exc.name or 'onnx'} package, which is not installed "
                         f"(pip install '.[models]')") from None
    return onnx


def to_numpy(value, dtype=np.float32):
    """A torch tensor or array-like as a numpy array of `dtype` (bfloat16 and float16 widened), None stays None."""
    if value is None:
        return None
    if hasattr(value, "detach"):
        t = value.detach().cpu()
        if t.is_floating_point() and dtype is not None:
            t = t.float()
        value = t.numpy()
    arr = np.asarray(value)
    return arr.astype(dtype, copy=False) if dtype is not None and arr.dtype.kind == "f" else arr


def megabytes(n: int) -> str:
    return f"{n / 1024 ** 2:,.1f} MB"
