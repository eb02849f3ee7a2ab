"""Reading a person's own tensors safely: .npy/.npz never unpickled (allow_pickle=False),
.pt/.pth through torch.load(weights_only=True), PNG/JPEG through Qt. Anything malformed,
truncated, pickled or unsupported raises LoadError with one line for the user."""

from __future__ import annotations

import itertools
import stat
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .geometry import viewable_layout
from .limits import MAX_ELEMENTS
from .settings import FileRef

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
SUFFIXES = (".npy", ".npz", ".pt", ".pth") + IMAGE_SUFFIXES
#: Tensors above this many elements are loaded only after the person agrees.
ASK_ABOVE_ELEMENTS = 16 * 1024 * 1024
FILE_FILTER = "Tensors and images (*.npy *.npz *.pt *.pth *.png *.jpg *.jpeg *.bmp);;All files (*)"


class LoadError(ValueError):
    """A file that cannot be used; str() is one line for the user."""


@dataclass(frozen=True)
class Candidate:
    """One tensor in a file."""

    key: str  # '' for a file holding a single array
    shape: tuple
    dtype: str
    problem: str = ""  # why it cannot be used beyond its shape ('' when its type is fine)

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    def label(self) -> str:
        return f"{self.key or 'array'}  {' x '.join(map(str, self.shape))}  {self.dtype}"


def _numpy_candidate(key: str, arr) -> Candidate:
    real = np.dtype(arr.dtype).kind in "fiub"
    return Candidate(key, tuple(arr.shape), str(arr.dtype), "" if real else f"dtype {arr.dtype} is not a real "
                                                                            "number type")


def _torch_candidate(key: str, t) -> Candidate:
    import torch
    dtype = str(t.dtype).replace("torch.", "")
    if t.layout != torch.strided:
        return Candidate(key, tuple(t.shape), dtype, f"a {str(t.layout).replace('torch.', '')} tensor; only dense "
                                                     "tensors are supported")
    real = t.dtype.is_floating_point or t.dtype in (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32,
                                                   torch.int64)
    return Candidate(key, tuple(t.shape), dtype, "" if real else f"dtype {dtype} is not a real number type")


def default_layout(ndim: int) -> str:
    return {2: "NC", 3: "NCL", 4: "NCHW"}.get(ndim, "")


def candidates(path) -> list:
    """The usable tensors in the file at `path` (without loading their data where possible)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise LoadError(f"{path.name}: unsupported file type {suffix or '(no extension)'}; "
                        f"use {', '.join(SUFFIXES)}")
    if not path.exists():
        raise LoadError(f"{path}: no such file")
    _regular(path)
    if suffix == ".npy":
        found = [_numpy_candidate("", _open_npy(path))]
    elif suffix == ".npz":
        arrays, refused = _npz_arrays(path)
        found = [_numpy_candidate(k, a) for k, a in arrays.items()]
        found += [Candidate(k, (), "object", reason) for k, reason in refused.items()]
    elif suffix in (".pt", ".pth"):
        found = [_torch_candidate(k, t) for k, t in _torch_tensors(path)]
    else:
        found = [_numpy_candidate("", _read_image(path))]
    usable = [c for c in found if _usable(c) is None]
    if not usable:
        reasons = "; ".join(f"{c.key or 'array'}: {_usable(c)}" for c in found[:3]) or "it holds no arrays"
        raise LoadError(f"{path.name}: nothing to normalize ({reasons})")
    return usable


def _usable(c: Candidate) -> str | None:
    if c.problem:
        return c.problem
    if not 2 <= len(c.shape) <= 4:
        return f"{len(c.shape)} axes (2 to 4 are needed: N, C and up to two spatial axes)"
    if c.elements == 0:
        return "it is empty"
    if c.elements > MAX_ELEMENTS:
        return f"{c.elements:,} elements is more than the {MAX_ELEMENTS:,} the explorer holds"
    return None


def load(path, key: str = "") -> np.ndarray:
    """The tensor `key` of the file as a float32 (or float64) numpy array."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = np.asarray(_open_npy(path))
    elif suffix == ".npz":
        arrays, refused = _npz_arrays(path)
        if key in refused:
            raise LoadError(f"{path.name} [{key}]: {refused[key]}")
        if key not in arrays:
            raise LoadError(f"{path.name} has no array {key!r}")
        arr = arrays[key]
    elif suffix in (".pt", ".pth"):
        tensors = dict(_torch_tensors(path))
        if key not in tensors:
            raise LoadError(f"{path.name} has no tensor {key!r}")
        candidate = _torch_candidate(key, tensors[key])
        if candidate.problem:
            raise LoadError(f"{path.name} [{key}]: {candidate.problem}")
        t = tensors[key].detach().cpu()
        arr = (t.float() if t.dtype.is_floating_point and t.element_size() < 4 else t).numpy()
    elif suffix in IMAGE_SUFFIXES:
        arr = _read_image(path)
    else:
        raise LoadError(f"{path.name}: unsupported file type {suffix}")
    problem = _usable(_numpy_candidate(key, arr))
    if problem:
        raise LoadError(f"{path.name}: {problem}")
    return np.ascontiguousarray(arr, dtype=arr.dtype if arr.dtype == np.float64 else np.float32)


_tokens = itertools.count(1)


def open_file(path, key: str = "", layout: str | None = None) -> tuple:
    """(FileRef, array): the tensor `key` of the file, its axes in `layout` (default: the usual one
    for its number of axes). LoadError says what is wrong in one line."""
    array = load(path, key)
    try:
        layout = viewable_layout(layout or default_layout(array.ndim))
    except ValueError as exc:
        raise LoadError(f"{Path(path).name}: {exc}") from None
    if len(layout) != array.ndim:
        raise LoadError(f"{Path(path).name}: the tensor has {array.ndim} axes but layout {layout} names {len(layout)}")
    return file_ref(path, key, layout, array.shape), array


def file_ref(path, key: str, layout: str, shape) -> FileRef:
    """A new FileRef (its token tells this load apart from any other load of the same path)."""
    return FileRef(str(path), key, str(layout).upper(), tuple(int(s) for s in shape), next(_tokens))


def read_npy(path: Path, max_values: int) -> np.ndarray:
    """A small .npy file (an affine parameter's values), never unpickled, at most max_values values."""
    if path.suffix.lower() != ".npy":
        raise LoadError(f"{path.name} is not a .npy file")
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    array = _open_npy(path)
    if array.size > max_values:
        raise LoadError(f"{path.name} holds {array.size:,} values; at most {max_values:,} are read")
    if array.dtype.kind not in "fiub":
        raise LoadError(f"{path.name} holds {array.dtype}, not real numbers")
    return np.array(array)


def load_running(path, channels: int) -> tuple:
    """(running_mean, running_var) as float32, one per channel, stored beside a tensor in a .npz file (the
    keys running_mean and running_var, as a model layer's captured input is saved)."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        raise LoadError(f"{path.name}: running statistics are read from a .npz file holding running_mean and "
                        f"running_var")
    arrays, _ = _npz_arrays(path)
    out = []
    for key in ("running_mean", "running_var"):
        if key not in arrays:
            raise LoadError(f"{path.name} holds no {key}: choose other running statistics")
        values = np.asarray(arrays[key])
        if values.dtype.kind not in "fiu" or values.size != channels:
            raise LoadError(f"{path.name} [{key}] holds {values.size} values of {values.dtype}; the tensor has "
                            f"{channels} channels")
        out.append(np.array(values.ravel(), dtype=np.float32))
    return tuple(out)


def _regular(path: Path):
    """Refuse what is not a regular file (a FIFO would block forever, a device never ends)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise LoadError(f"{path}: {exc.strerror or 'cannot be read'}") from None
    if not stat.S_ISREG(mode):
        raise LoadError(f"{path.name} is not a regular file")


def _npy_header(stream, name: str, size: int | None = None) -> tuple:
    """(shape, dtype, header length, Fortran order) of the .npy data in a binary stream, checked before any data is
    read: the declared element count against the explorer's budget and, when `size` (the bytes
    there are) is known, against what the file holds."""
    try:
        version = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(stream, max_header_size=10000)
    except Exception as exc:  # a malformed header raises anything from ValueError to tokenize errors
        text = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise LoadError(f"{name} is not a readable .npy file (bad header: {text})") from None
    if dtype.hasobject:
        raise LoadError(f"{name} holds pickled Python objects, which are never loaded")
    elements = int(np.prod(shape, dtype=object)) if shape else 1
    if elements > MAX_ELEMENTS:
        raise LoadError(f"{name} declares {elements:,} elements, more than the {MAX_ELEMENTS:,} the explorer holds")
    offset = stream.tell()
    if size is not None and size - offset < elements * dtype.itemsize:
        raise LoadError(f"{name} is truncated: it holds fewer bytes than its header promises")
    return tuple(shape), dtype, offset, fortran


def _open_npy(path):
    _regular(path)
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":  # otherwise numpy would take it for a pickle
            raise LoadError(f"{path.name} is not a .npy file (no NumPy header)")
        f.seek(0)
        _npy_header(f, path.name, path.stat().st_size)
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "python objects" in str(exc).lower():
            raise LoadError(f"{path.name} holds pickled Python objects, which are never loaded") from None
        raise LoadError(f"{path.name} is not a readable .npy file ({str(exc)[:120]})") from None
    except (OSError, EOFError) as exc:
        raise LoadError(f"{path.name} is truncated or not a .npy file ({exc})") from None


def _npz_arrays(path) -> tuple:
    """({key: array}, {key: why it is refused}): an object array refuses itself, not the file. Every
    member's declared shape is checked before it is inflated (a zip bomb is refused unread), and
    the members together must fit the budget."""
    _regular(path)
    arrays, refused, total = {}, {}, 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[:-4]
                with archive.open(info) as member:
                    try:
                        shape, dtype, offset, fortran = _npy_header(member, f"{path.name} [{key}]",
                                                                    info.file_size)
                    except LoadError as exc:
                        if "pickled" not in str(exc):
                            raise
                        refused[key] = "it holds pickled Python objects, which are never loaded"
                        continue
                    total += int(np.prod(shape)) if shape else 1
                    if total > MAX_ELEMENTS:
                        raise LoadError(f"{path.name} holds more than the {MAX_ELEMENTS:,} elements the explorer holds")
                    data = member.read(info.file_size - offset + 1)  # never more than it declares
                if len(data) != int(np.prod(shape) if shape else 1) * dtype.itemsize:
                    raise LoadError(f"{path.name} [{key}] is truncated or larger than its header says")
                arrays[key] = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        if isinstance(exc, LoadError):
            raise
        raise LoadError(f"{path.name} is truncated or not a .npz file ({type(exc).__name__})") from None
    return arrays, refused


def _torch_tensors(path) -> list:
    """(name, tensor) for a saved tensor or every tensor of a (nested) state dict."""
    try:
        import torch
    except ImportError:
        raise LoadError(f"{path.name}: reading .pt/.pth files needs torch, which is not installed") from None
    try:
        with warnings.catch_warnings():  # torch's note about pickle protocols is not for the user
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses arbitrary pickles; corrupt zips raise anything
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise LoadError(f"{path.name} holds Python objects beyond tensors; only weights_only=True files are "
                            f"loaded") from None
        raise LoadError(f"{path.name} is not a readable torch file ({text[:120]})") from None
    found = []

    def walk(prefix, value):
        if isinstance(value, torch.Tensor):
            found.append((prefix, value))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)

    walk("", obj)
    if not found:
        raise LoadError(f"{path.name} holds no tensors")
    return found


def _read_image(path) -> np.ndarray:
    """A PNG/JPEG as (1, 3, H, W) float32 in [0, 1], or (1, 1, H, W) for grayscale images."""
    from PySide6.QtGui import QImage

    image = QImage(str(path))
    if image.isNull():
        raise LoadError(f"{path.name} is not a readable image (truncated or not {path.suffix[1:].upper()})")
    gray = image.isGrayscale()
    image = image.convertToFormat(QImage.Format.Format_Grayscale8 if gray else QImage.Format.Format_RGB888)
    h, w, channels = image.height(), image.width(), 1 if gray else 3
    buffer = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h)
    pixels = buffer.reshape(h, image.bytesPerLine())[:, :w * channels].reshape(h, w, channels)
    return (pixels.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
