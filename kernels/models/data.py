"""Inputs to run a model on: the bundled sample image, scikit-learn's bundled digits, seeded random
data of the model's input shape, or a person's .npy file (never unpickled). Nothing is downloaded."""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

import numpy as np

from ..inputs import _resize, generate
from ._common import MAX_INPUT_ELEMENTS, ModelError

INPUT_KINDS = {
    "image": "the bundled sample image: random crops and flips per sample, RGB cycling over the channels, in [0, 1]",
    "digits": "scikit-learn's bundled 8×8 handwritten digits (1797 of them), resized to the input, in [0, 1]",
    "random": "standard normal values (seeded)",
}


def check_shape(shape) -> tuple:
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ModelError(f"input shape {shape!r} is not a sequence of sizes") from None
    if not shape or min(shape) < 1:
        raise ModelError(f"input shape {shape} needs positive sizes")
    if int(np.prod(shape, dtype=np.int64)) > MAX_INPUT_ELEMENTS:
        raise ModelError(f"an input of shape {shape} has more than the {MAX_INPUT_ELEMENTS:,} elements the explorer "
                         f"generates; use a smaller batch")
    return shape


def model_input(kind, shape, seed: int = 0) -> np.ndarray:
    """An input of `shape` (N first, then C and positions, or (N, features)) from `kind`: one of
    INPUT_KINDS, or the path of a .npy file (its shape must equal `shape` where `shape` is not None)."""
    if isinstance(kind, Path) or (isinstance(kind, str) and kind.lower().endswith(".npy")):
        return read_npy(kind, shape)
    if kind not in INPUT_KINDS:
        raise ModelError(f"unknown input {kind!r}; choose one of {', '.join(INPUT_KINDS)} or a .npy file")
    shape = check_shape(shape)
    if kind == "random":
        return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    if kind == "image":
        layout = {2: "NC", 3: "NCL", 4: "NCHW", 5: "NCDHW"}.get(len(shape))
        if layout is None:
            raise ModelError(f"the sample image does not fit an input of {len(shape)} axes")
        return generate("image", shape, layout=layout, seed=seed)
    return _digits(shape, seed)


@functools.lru_cache(maxsize=1)
def digits() -> np.ndarray:
    """scikit-learn's bundled digits as (1797, 8, 8) float32 in [0, 1], read from its data file (importing
    scikit-learn takes a second; its load_digits reads the same file)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the digits input needs scikit-learn, which is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    try:
        with gzip.open(path) as f:
            raw = f.read().replace(b"\n", b",").decode().strip(",")
        table = np.array(raw.split(","), dtype=np.float32).reshape(-1, 65)  # 64 pixels and the label
    except (OSError, ValueError):
        from sklearn.datasets import load_digits
        return load_digits().images.astype(np.float32) / 16.0
    return table[:, :64].reshape(-1, 8, 8) / 16.0


def _digits(shape, seed) -> np.ndarray:
    images = digits()
    pick = np.random.default_rng(seed).choice(len(images), shape[0], replace=shape[0] > len(images))
    chosen = images[pick]
    if len(shape) == 4:
        resized = np.stack([_resize(img[None], shape[2], shape[3])[0] for img in chosen])
        return np.ascontiguousarray(np.repeat(resized[:, None], shape[1], axis=1))
    flat = chosen.reshape(len(chosen), -1)
    width = shape[-1]
    grid = np.linspace(0, flat.shape[1] - 1, width)
    rows = np.stack([np.interp(grid, np.arange(flat.shape[1]), row) for row in flat]).astype(np.float32)
    if len(shape) == 2:
        return rows
    if len(shape) == 3:
        return np.ascontiguousarray(np.repeat(rows[:, None], shape[1], axis=1))
    raise ModelError(f"the digits do not fit an input of {len(shape)} axes")


def read_npy(path, shape=None) -> np.ndarray:
    """A .npy file as float32, refusing pickles and truncated files; its shape must fit `shape` (None: any)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise ModelError(f"{path.name} is not a .npy file (no NumPy header)")
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise ModelError(f"{path.name} holds pickled Python objects, which are never loaded") from None
        raise ModelError(f"{path.name} is truncated or not a readable .npy file") from None
    except (OSError, EOFError):
        raise ModelError(f"{path.name} is truncated or not a readable .npy file") from None
    if arr.dtype.kind not in "fiub":
        raise ModelError(f"{path.name} holds {arr.dtype}, not real numbers")
    if arr.size > MAX_INPUT_ELEMENTS:
        raise ModelError(f"{path.name} holds {arr.size:,} values, more than the {MAX_INPUT_ELEMENTS:,} a run takes")
    if shape is not None and (len(shape) != arr.ndim or any(s is not None and int(s) != a
                                                            for s, a in zip(shape, arr.shape))):
        want = tuple("?" if s is None else int(s) for s in shape)
        raise ModelError(f"{path.name} has shape {arr.shape} but the model takes {want}")
    return np.array(arr, dtype=np.float32)  # a copy: the file stays closed and the array writable
