"""Array backends: the few operations the kernels need, on NumPy or on torch (any device).

Every formula in `kernels` is written once against `Ops`; `NumpyOps` and `TorchOps` map the
operations to each library. torch is imported lazily, so the NumPy backend never needs it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import sys

import numpy as np

from .layouts import BATCH, CHANNEL, canonical_order, permutation, spatial_axes

BACKENDS = ("numpy", "torch")


@functools.cache
def _import_torch():
    """(torch module or None, reason why not)."""
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken install raising anything else
        return None, f"torch is not installed ({type(exc).__name__}: {exc})"
    return torch, ""


def torch_or_none():
    """The torch module when it imports, else None."""
    return _import_torch()[0]


def _torch_unimported_but_found() -> bool:
    """torch is installed but not imported yet: its module is found without running it (importing
    torch takes about a second, which a window listing its backends should not wait for)."""
    return "torch" not in sys.modules and _torch_found()


@functools.cache
def _torch_found() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def torch_missing_reason() -> str:
    """Why the torch backend is unavailable ('' when it is available). An installed torch that is
    not imported yet counts as available; an install too broken to import says so when it is used."""
    return "" if _torch_unimported_but_found() else _import_torch()[1]


def is_torch_tensor(x) -> bool:
    torch = torch_or_none() if type(x).__module__.startswith("torch") else None
    return torch is not None and isinstance(x, torch.Tensor)


def available_backends() -> tuple[str, ...]:
    """("numpy", "torch") when torch is installed (found, not imported: see torch_missing_reason)."""
    return BACKENDS if _torch_unimported_but_found() or torch_or_none() is not None else ("numpy",)


def available_devices(backend: str = "torch") -> list[str]:
    """Devices usable with `backend`: always 'cpu'; 'cuda:N' and 'mps' when torch sees them."""
    devices = ["cpu"]
    torch = torch_or_none() if backend == "torch" else None  # the numpy backend never imports torch
    if torch is None:
        return devices
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def _canonical_device(device: str) -> str:
    device = str(device).strip().lower()
    return "cuda:0" if device == "cuda" else device


def get_ops(backend: str, device: str = "cpu") -> Ops:
    """The operations for `backend` on `device`; ValueError says which ones exist. One instance
    per backend and device, kept (ops hold no data)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    dev = _canonical_device(device)
    if backend == "torch" and torch_or_none() is None:
        raise ValueError(f"backend 'torch' is unavailable: {torch_missing_reason()}")
    ops = _OPS.get((backend, dev))
    if ops is not None:
        return ops
    if backend == "numpy":
        if dev != "cpu":
            raise ValueError(f"the numpy backend runs on cpu only, not {device!r}; "
                             f"use backend='torch' for other devices")
        ops = NumpyOps()
    else:
        devices = available_devices("torch")
        if dev not in devices:
            raise ValueError(f"device {device!r} is not available here; devices: {', '.join(devices)}")
        ops = TorchOps(dev)
    _OPS[(backend, dev)] = ops
    return ops


_OPS: dict = {}


class Ops:
    """The operations shared by both backends (subclasses fill in the library calls)."""

    name = ""
    device = "cpu"

    def compute_dtype(self, x):
        """float32/float64 keep their dtype; half precision and integers compute in float32."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.device!r})"


#: Element-wise NumPy work on arrays this large runs in slices on a few threads: NumPy lets go
#: of the GIL in its loops, and one core alone cannot use the memory bandwidth (about 1.6x
#: faster on 2 cores). Every element is computed exactly as in one call.
PARALLEL_ELEMENTS = 1 << 20


_WORKERS = min(4, os.cpu_count() or 1)


@functools.lru_cache(maxsize=1)
def _thread_pool():
    from concurrent.futures import ThreadPoolExecutor  # imported when first needed: start-up stays short
    return ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="kernels")


def _rows_of(a, s, ndim):
    """The part of `a` that goes with x[s] (x has ndim axes, s slices its first one or is ...)."""
    sliced = s is not Ellipsis and isinstance(a, np.ndarray) and a.ndim == ndim and a.shape[0] > 1
    return a[s] if sliced else a


def _sliced(work, x, axis: int = 0):
    """work(index) over slices of x's first axis (or `axis`, slicing with (slice(None),) * axis
    first), in parallel when x is large (else work(...)). The caller's thread takes the last slice."""
    n = x.shape[axis] if x.ndim > axis else 0
    workers = _WORKERS if x.size >= PARALLEL_ELEMENTS and n > 1 else 1
    if workers == 1:
        work(Ellipsis)
        return
    errors, callback, bufsize = np.geterr(), np.geterrcall(), np.getbufsize()  # per thread: the caller's go along

    def run(s):
        with np.errstate(call=callback, **errors):
            old = np.setbufsize(bufsize)
            try:
                work(s)
            finally:
                np.setbufsize(old)

    bounds = np.linspace(0, n, min(workers, n) + 1).astype(int)
    lead = (slice(None),) * axis
    slices = [lead + (slice(a, b),) if axis else slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    futures = [_thread_pool().submit(run, s) for s in slices[:-1]]
    try:
        work(slices[-1])
    finally:
        for future in futures:
            future.result()


@contextlib.contextmanager
def _inner_buffer(inner: int):
    """NumPy buffers a broadcast operand whose inner run (the elements it stays constant or
    contiguous over) is shorter than the ufunc buffer (8,192 elements): for runs of 512 or more,
    a buffer no longer than the run lets the loops work on the arrays directly (about 2x faster
    for x − mean with a mean per row of 1,024-8,191 elements). Numbers are unchanged."""
    if not 512 <= inner < 8192:
        yield
        return
    old = np.setbufsize(inner - inner % 16)
    try:
        yield
    finally:
        np.setbufsize(old)


def _inner_run(x, y) -> int:
    """Elements of x's trailing axes along which y (broadcast against x) is constant."""
    if not isinstance(y, np.ndarray) or y.ndim == 0:
        return x.size
    run = 1
    for i in range(1, min(x.ndim, y.ndim) + 1):
        if y.shape[-i] != 1:
            break
        run *= x.shape[-i]
    return run


@functools.lru_cache(maxsize=256)
def _row_plan(shape: tuple, axes: tuple):
    """A reduction of an array of `shape` over `axes` as sums along contiguous rows: the reduced
    axes at the end make rows of K elements; returns (leading shape, leading reduced axes, K),
    or None when fewer than MIN_ROW elements trail (NumPy's own reductions are as fast there)."""
    axes = sorted({a % len(shape) for a in axes})
    k, i = 1, len(shape)
    while i > 0 and i - 1 in axes:
        i -= 1
        k *= shape[i]
    if k < MIN_ROW:
        return None
    return shape[:i], tuple(a for a in axes if a < i), k


@functools.lru_cache(maxsize=64)
def _layout_kind(layout: str) -> tuple:
    """("canonical" | "channels_last" | None, permutation to N, C, spatial, permutation back)."""
    canon = canonical_order(layout)
    if layout == canon:
        return "canonical", None, None
    if layout == BATCH + spatial_axes(layout) + CHANNEL and 3 <= len(layout) <= 5:
        return "channels_last", permutation(layout, canon), permutation(canon, layout)
    return None, None, None


#: Rows shorter than this are reduced by NumPy's own reductions.
MIN_ROW = 256
#: Elements per float32 partial sum (a float32 running sum over millions drifts).
PARTIAL = 4096


def _dot_rows(rows, squares: bool):
    """Σ over each row of a 2-D array with contiguous rows of x (squares=False) or x² (True), in
    float64: runs of at most PARTIAL elements are BLAS dot products (with ones, or with
    themselves) in the array's dtype, and the runs' sums are added in float64."""
    p, k = rows.shape
    whole, rem = divmod(k, PARTIAL) if k > PARTIAL else (0, k)
    total = 0.0
    if whole:
        size = rows.itemsize
        runs = np.lib.stride_tricks.as_strided(rows, (p, whole, PARTIAL), (rows.strides[0], PARTIAL * size, size),
                                               writeable=False)
        total = np.vecdot(runs, runs if squares else _ones(PARTIAL, rows.dtype)).sum(axis=1, dtype=np.float64)
    if rem:
        tail = rows[:, whole * PARTIAL:]
        total = total + np.vecdot(tail, tail if squares else _ones(rem, rows.dtype))
    return total


def _count(shape, axes) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _power_(a, beta: float):
    """a **= beta in place; β = 0.75 (AlexNet's, torch's default) as √(a·√a) and β = 0.5 as √a,
    a few times faster than pow and within 2 ulp of it."""
    if beta == 1:
        return a
    if beta == 0.5:
        return np.sqrt(a, out=a)
    if beta == 0.75:
        r = np.sqrt(a)
        np.multiply(a, r, out=a)
        return np.sqrt(a, out=a)
    return np.power(a, beta, out=a)


@functools.lru_cache(maxsize=16)
def _ones(n: int, dtype) -> np.ndarray:
    ones = np.ones(n, dtype)
    ones.setflags(write=False)
    return ones


def bin_counts(x: np.ndarray, lo, hi, bins: int, clip: bool = False, labels=None, n_labels: int = 1) -> np.ndarray:
    """Counts of x in `bins` equal bins over [lo, hi]. Values outside are dropped, or with
    clip=True (x finite, its range known up to rounding) counted in the end bins, unchecked.
    labels (an int in range(n_labels) per value): one histogram per label, shape (n_labels, bins)."""
    x = x.ravel()
    if not clip:
        inside = (x >= lo) & (x <= hi)  # also drops NaN
        if not inside.all():
            x = x[inside]
            labels = None if labels is None else labels[inside]
    idx = ((x - lo) * (bins / (hi - lo))).astype(np.intp)
    np.clip(idx, 0, bins - 1, out=idx)  # the top edge belongs to the last bin, as in histc
    if labels is None:
        return np.bincount(idx, minlength=bins)
    return np.bincount(labels * bins + idx, minlength=n_labels * bins).reshape(n_labels, bins)


class NumpyOps(Ops):
    name = "numpy"
    device = "cpu"
    xp = np
    PARTIAL = PARTIAL  # elements per float32 partial sum of squares

    def asarray(self, x, dtype=None):
        if is_torch_tensor(x):
            x = x.detach().cpu()
            if str(x.dtype) == "torch.bfloat16":  # numpy has no bfloat16
                x = x.float()
            x = x.numpy()
        return np.asarray(x, dtype=dtype)

    def compute_dtype(self, x):
        """float32/float64 (either byte order) keep their size, longdouble computes in float64,
        half precision and integers in float32."""
        if x.dtype.kind == "f" and x.dtype.itemsize >= 4:
            return np.dtype(np.float64 if x.dtype.itemsize >= 8 else np.float32)
        return np.dtype(np.float32)

    def is_half(self, x):
        return x.dtype == np.float16

    def astype(self, x, dtype):
        return x.astype(dtype, copy=False)

    def to_numpy(self, x):
        return np.asarray(x)

    def scalar(self, x):
        return float(x)

    def reshape(self, x, shape):
        return x.reshape(shape)

    def transpose(self, x, perm):
        return x.transpose(perm)

    def mean(self, x, axes):
        total = self._row_sums(x, axes, squares=False)
        if total is None:
            return x.mean(axis=axes, keepdims=True)
        return (total / _count(x.shape, axes)).astype(x.dtype, copy=False)

    def sum(self, x, axes):
        return x.sum(axis=axes, keepdims=True)

    def mean_of_squares(self, x, axes):
        """mean(x * x) over axes (keepdims) without a temporary the size of x, summed in x's
        dtype over runs of at most PARTIAL elements whose sums are added in float64 (a float32
        running sum over millions drifts). Along contiguous rows (the reduced axes last) the runs
        are BLAS dot products on a few threads; otherwise einsum's."""
        total = self._row_sums(x, axes, squares=True)
        if total is not None:
            return (total / _count(x.shape, axes)).astype(x.dtype, copy=False)
        letters = "abcdefghijklmnop"[:x.ndim]
        axes = sorted(axes)
        run, split = int(np.prod([x.shape[a] for a in axes])), []
        for a in axes:  # keep the outermost reduced axes apart until each run is short
            if run <= self.PARTIAL:
                break
            split.append(a)
            run //= x.shape[a]
        out_axes = [i for i in range(x.ndim) if i not in axes or i in split]
        partial = np.einsum(f"{letters},{letters}->{''.join(letters[i] for i in out_axes)}", x, x)
        total = partial.sum(axis=tuple(out_axes.index(a) for a in split), dtype=np.float64)
        count = int(np.prod([x.shape[i] for i in axes]))
        shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        return (total / count).reshape(shape).astype(x.dtype, copy=False)

    def standardize_rows(self, x, axes, eps: float, center: bool = True):
        """(mean, var, output) of the plain standardization (x − mean)·inverse_std(var, eps), or
        x·inverse_std(mean square, eps) without centering, when every statistics group is a
        contiguous row of x (the reduced axes end x: LayerNorm, GroupNorm, InstanceNorm, RMSNorm on
        N, C, ... layouts); None otherwise. One sweep per thread over whole rows: the sums, the
        centered values written to the output, the squares' sums, the scaling. Every number is the
        one mean / subtract / mean_of_squares / scale_ give (the same runs summed, the same float32
        mean subtracted, the same inverse_std), so reusing cached moments gives the same output."""
        if x.ndim == 0 or x.dtype.kind != "f" or not x.flags.c_contiguous:
            return None
        plan = _row_plan(tuple(x.shape), tuple(axes))
        if plan is None or plan[1]:
            return None
        k = plan[2]
        rows = x.reshape(-1, k)
        mean = np.zeros(rows.shape[0], x.dtype)
        var = np.empty(rows.shape[0], x.dtype)
        out = np.empty(rows.shape, x.dtype)

        def work(s):
            r, o = rows[s], out[s]
            if center:
                m = (_dot_rows(r, False) / k).astype(x.dtype)[:, None]
                with _inner_buffer(k):
                    np.subtract(r, m, out=o)
                mean[s] = m[:, 0]
                v = (_dot_rows(o, True) / k).astype(x.dtype)
            else:
                v = (_dot_rows(r, True) / k).astype(x.dtype)
            var[s] = v
            inv = self.inverse_std(v, eps)[:, None]
            with _inner_buffer(k):
                np.multiply(o if center else r, inv, out=o)

        _sliced(work, rows)
        shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        return mean.reshape(shape), var.reshape(shape), out.reshape(x.shape)

    def _row_sums(self, x, axes, squares: bool):
        """Σx or Σx² over axes (keepdims, float64) when the reduced axes end x (see _row_plan),
        by `_dot_rows`, rows split over threads; None otherwise."""
        if x.ndim == 0 or x.dtype.kind != "f" or not x.flags.c_contiguous:
            return None
        plan = _row_plan(tuple(x.shape), tuple(axes))
        if plan is None:
            return None
        lead, lead_axes, k = plan
        rows = x.reshape(-1, k)
        sums = np.empty(rows.shape[0], np.float64)

        def work(s):
            sums[s] = _dot_rows(rows[s], squares)

        _sliced(work, rows)
        out = sums.reshape(lead)
        if lead_axes:
            out = out.sum(axis=lead_axes, keepdims=True)
        return out.reshape(tuple(1 if i in axes else n for i, n in enumerate(x.shape)))

    def scale_(self, x, factor):
        """x *= factor in place (x must be a temporary the caller owns)."""
        with _inner_buffer(_inner_run(x, factor)):
            _sliced(lambda s: np.multiply(x[s], _rows_of(factor, s, x.ndim), out=x[s]), x)
        return x

    def subtract(self, x, y):
        """x − y as a new array (y broadcasts to x's shape)."""
        out = np.empty(x.shape, np.result_type(x, y))
        with _inner_buffer(_inner_run(x, y)):
            _sliced(lambda s: np.subtract(x[s], _rows_of(y, s, x.ndim), out=out[s]), x)
        return out

    def local_response(self, x, cpos: int, size: int, alpha: float, beta: float, k: float):
        """(window mean of squares, output) of LocalResponseNorm along axis cpos, or None when a
        window's mean is not finite (NaN/Inf inputs, overflow) or a denominator is 0: the caller's
        formula handles those. Slices of the first axis run on a few threads (when C is not it),
        each with one temporary: the squares, then the denominator."""
        if cpos == 0 and x.shape[0] > 1 or not x.flags.c_contiguous:
            return None
        window, y = np.empty_like(x), np.empty_like(x)
        lo, hi, channels = size // 2, (size - 1) // 2, x.shape[cpos]
        check_zero = not (k > 0 and k ** beta > 1e-30)  # else (k + α·mean)^β ≥ k^β > 0
        trouble = []

        def along_c(a, c):
            return a[(slice(None),) * cpos + (c,)]

        def work(s):
            xs, ws, ys = x[s], window[s], y[s]
            sq = np.multiply(xs, xs)
            np.copyto(ws, sq)
            for o in range(-lo, hi + 1):  # ws[c] += sq[c + o] where c + o is a channel (zero padding)
                if o and abs(o) < channels:
                    dst, src = slice(max(0, -o), channels - max(0, o)), slice(max(0, o), channels + min(0, o))
                    np.add(along_c(ws, dst), along_c(sq, src), out=along_c(ws, dst))
            np.divide(ws, size, out=ws)
            if not np.isfinite(ws.max()):
                trouble.append(s)
                return
            div = np.multiply(ws, alpha, out=sq)
            div += k
            _power_(div, beta)
            if check_zero and not div.all():
                trouble.append(s)
                return
            np.divide(xs, div, out=ys)

        _sliced(work, x)
        return None if trouble else (window, y)

    def amin(self, x, axes):
        return x.min(axis=axes, keepdims=True)

    def amax(self, x, axes):
        return x.max(axis=axes, keepdims=True)

    def sqrt(self, x):
        return np.sqrt(x)

    def rsqrt(self, x):
        return 1.0 / np.sqrt(x)

    def abs(self, x):
        return np.abs(x)

    def maximum(self, a, b):
        return np.maximum(a, b)

    def clip(self, x, lo, hi):
        return np.clip(x, lo, hi)

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    def inverse_std(self, var, eps: float):
        s = var + eps
        if s.min() > 0:  # the common case: no group to map to 0
            return 1.0 / np.sqrt(s)
        positive = s > 0
        return np.where(positive, self.rsqrt(np.where(positive, s, 1.0)), 0.0)

    def isfinite(self, x):
        return np.isfinite(x)

    def all(self, x) -> bool:
        return bool(np.all(x))

    def count(self, x) -> int:
        return int(np.count_nonzero(x))

    def power(self, x, p):
        return np.power(x, p)

    def concat(self, arrays, axis):
        return np.concatenate(arrays, axis=axis)

    def zeros(self, shape, like):
        return np.zeros(shape, dtype=like.dtype)

    def full(self, shape, value, like):
        return np.full(shape, value, dtype=like.dtype)

    def const(self, value, like):
        """`value` (scalar or array-like) as an array of like's dtype on like's device."""
        return np.asarray(self.asarray(value), dtype=like.dtype)

    def finfo_eps(self, x):
        return float(np.finfo(x.dtype).eps)

    def finfo_max(self, x):
        return float(np.finfo(x.dtype).max) if x.dtype.kind == "f" else float("inf")

    def small(self, a) -> np.ndarray:
        """A statistic-sized array as a NumPy array (itself)."""
        return np.asarray(a)

    def histogram(self, x, lo, hi, bins, clip=False):
        return bin_counts(x, lo, hi, bins, clip)


class TorchOps(Ops):
    name = "torch"

    def __init__(self, device="cpu"):
        self.torch = torch_or_none()
        self.device = device
        self._device = self.torch.device(device)
        self.xp = self.torch

    def asarray(self, x, dtype=None):
        t = self.torch
        if isinstance(x, t.Tensor):
            x = x.detach() if x.requires_grad else x
        elif isinstance(x, np.ndarray) and x.dtype.kind in "fiub":
            if x.dtype.byteorder not in "=|" or (x.dtype.kind == "f" and x.dtype.itemsize > 8):
                # torch takes native byte order only, and no longdouble
                x = x.astype(np.float64 if x.dtype.kind == "f" and x.dtype.itemsize > 8 else x.dtype.newbyteorder("="))
            x = t.from_numpy(np.ascontiguousarray(x) if x.flags.writeable else np.array(x))
        else:
            x = t.as_tensor(np.asarray(x))
        if dtype is not None:
            x = x.to(dtype)
        return x if x.device == self._device else x.to(self._device)

    def compute_dtype(self, x):
        t = self.torch
        return x.dtype if x.dtype in (t.float32, t.float64) else t.float32

    def is_half(self, x):
        return x.dtype in (self.torch.float16, self.torch.bfloat16)

    def astype(self, x, dtype):
        return x.to(dtype)

    def to_numpy(self, x):
        x = x.detach().cpu()
        if x.dtype == self.torch.bfloat16:
            x = x.float()
        return x.numpy()

    def scalar(self, x):
        return float(x)

    def reshape(self, x, shape):
        return x.reshape(shape)

    def transpose(self, x, perm):
        return x.permute(perm)

    def mean(self, x, axes):
        return x.mean(dim=axes, keepdim=True) if axes else x.clone()

    def sum(self, x, axes):
        return x.sum(dim=axes, keepdim=True) if axes else x.clone()

    def mean_of_squares(self, x, axes):
        """mean(x * x) over axes (keepdims). When the reduced axes end a contiguous x, one read:
        the 2-norms of runs of at most PARTIAL elements (torch.linalg.vector_norm), squared and
        added in float64 (a float32 running sum over a million squares drifts)."""
        if not axes:
            return x * x
        plan = _row_plan(tuple(x.shape), tuple(axes)) if x.is_floating_point() and x.is_contiguous() else None
        if plan is None:
            return (x * x).mean(dim=axes, keepdim=True)
        lead, lead_axes, k = plan
        rows = x.reshape(-1, k)
        whole, rem = divmod(k, PARTIAL) if k > PARTIAL else (0, k)
        norm = self.torch.linalg.vector_norm
        total = 0.0
        if whole:
            runs = rows.as_strided((rows.shape[0], whole, PARTIAL), (k, PARTIAL, 1))
            total = norm(runs, dim=2).double().square_().sum(dim=1)
        if rem:
            total = total + norm(rows[:, whole * PARTIAL:], dim=1).double().square_()
        out = total.reshape(lead)
        if lead_axes:
            out = out.sum(dim=lead_axes, keepdim=True)
        shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        return (out / _count(x.shape, axes)).to(x.dtype).reshape(shape)

    def local_response(self, x, cpos: int, size: int, alpha: float, beta: float, k: float):
        """(window mean of squares, output) of LocalResponseNorm on (N, C, ...) contiguous x, the
        steps of torch.nn.functional.local_response_norm (squares, average pool over the channel
        window, pow, divide) keeping the window means and with fewer temporaries; None where the
        caller's formula must decide (layout, NaN/Inf, overflow, a zero denominator)."""
        t = self.torch
        if cpos != 1 or x.dim() < 3 or not x.is_contiguous():
            return None
        F = t.nn.functional
        n, c = x.shape[:2]
        sq = (x * x).view(n, 1, c, x.shape[2], -1)
        lo, hi = size // 2, (size - 1) // 2
        try:
            if lo == hi and c >= size:  # an odd window over enough channels: the pool pads both sides itself
                window = F.avg_pool3d(sq, (size, 1, 1), stride=1, padding=(lo, 0, 0))
            else:
                window = F.avg_pool3d(F.pad(sq, (0, 0, 0, 0, lo, hi)), (size, 1, 1), stride=1)
        except (RuntimeError, NotImplementedError):
            return None
        window = window.view(x.shape)
        if not bool(t.isfinite(window.amax())):
            return None
        div = window.mul(alpha).add_(k).pow_(beta)
        if not (k > 0 and k ** beta > 1e-30) and not bool(div.all()):
            return None
        return window, t.div(x, div, out=div)

    def small(self, t) -> np.ndarray:
        """A statistic-sized tensor as a NumPy array on the host (no copy on the CPU): a few
        NumPy operations on it cost less than the same torch calls' dispatch."""
        if self.device == "cpu" and not t.requires_grad:
            return t.numpy()
        return t.detach().cpu().numpy()

    def from_small(self, a: np.ndarray, like):
        """The inverse of small: a NumPy array as a tensor on like's device."""
        t = self.torch.from_numpy(a)
        return t if like.device.type == "cpu" else t.to(like.device)

    def canonical_view(self, x, layout: str):
        """x as (N, C, *spatial) without a copy, for torch's normalization kernels: x itself when
        the layout is N, C, spatial and x is contiguous; a channels-last view when the layout is
        N, spatial, C (NHWC, NDHWC; NLC as an (N, C, L, 1) image); None otherwise."""
        kind, to_canon, _ = _layout_kind(layout)
        if kind == "canonical":
            return x if x.is_contiguous() else None
        if kind is None:
            return None
        view = x.unsqueeze(2).permute(0, 3, 1, 2) if len(layout) == 3 else x.permute(to_canon)
        fmt = self.torch.channels_last if view.dim() == 4 else self.torch.channels_last_3d
        return view if view.is_contiguous(memory_format=fmt) else None

    def from_canonical(self, y, layout: str):
        """The inverse of canonical_view for a result y of the same shape (contiguous in layout order)."""
        kind, _, back = _layout_kind(layout)
        if kind == "canonical":
            return y.contiguous()
        if len(layout) == 3:
            return y.permute(0, 2, 3, 1).squeeze(2).contiguous()
        return y.permute(back).contiguous()

    def scale_(self, x, factor):
        return x * factor if x.requires_grad else x.mul_(factor)  # autograd needs x unchanged

    def subtract(self, x, y):
        return x - y

    def amin(self, x, axes):
        return x.amin(dim=axes, keepdim=True) if axes else x.clone()

    def amax(self, x, axes):
        return x.amax(dim=axes, keepdim=True) if axes else x.clone()

    def sqrt(self, x):
        return self.torch.sqrt(x)

    def rsqrt(self, x):
        return self.torch.rsqrt(x)

    def abs(self, x):
        return self.torch.abs(x)

    def _t(self, v, like):
        return v if isinstance(v, self.torch.Tensor) else self.torch.as_tensor(v, dtype=like.dtype, device=like.device)

    def maximum(self, a, b):
        return self.torch.maximum(a, self._t(b, a))

    def clip(self, x, lo, hi):
        return self.torch.clamp(x, lo, hi)

    def where(self, cond, a, b):
        like = a if isinstance(a, self.torch.Tensor) else b
        if like.is_floating_point():  # a Python number takes the tensor's dtype: no tensor made for it
            a, b = (v if isinstance(v, (self.torch.Tensor, float, int)) else self._t(v, like) for v in (a, b))
            return self.torch.where(cond, a, b)
        return self.torch.where(cond, self._t(a, like), self._t(b, like))

    def inverse_std(self, var, eps: float):
        s = var + eps
        positive = s > 0
        if s.requires_grad:  # rsqrt(0) = inf would make the masked gradient 0 · inf = NaN
            return self.torch.where(positive, self.torch.rsqrt(self.torch.where(positive, s, 1.0)), 0.0)
        return self.torch.rsqrt(s).masked_fill_(~positive, 0.0)

    def isfinite(self, x):
        return self.torch.isfinite(x)

    def all(self, x) -> bool:
        return bool(self.torch.all(x))

    def count(self, x) -> int:
        return int(self.torch.count_nonzero(x))

    def power(self, x, p):
        return self.torch.pow(x, p)

    def concat(self, arrays, axis):
        return self.torch.cat(arrays, dim=axis)

    def zeros(self, shape, like):
        return self.torch.zeros(shape, dtype=like.dtype, device=like.device)

    def full(self, shape, value, like):
        return self.torch.full(shape, value, dtype=like.dtype, device=like.device)

    def const(self, value, like):
        return self.asarray(value).to(dtype=like.dtype, device=like.device)

    def finfo_eps(self, x):
        return float(self.torch.finfo(x.dtype).eps)

    def finfo_max(self, x):
        return float(self.torch.finfo(x.dtype).max) if x.is_floating_point() else float("inf")

    def histogram(self, x, lo, hi, bins, clip=False):
        # histc counts values equal to `hi` in the last bin and drops those outside [lo, hi]
        if clip:
            x = self.torch.clamp(x, lo, hi)
        return self.to_numpy(self.torch.histc(x.reshape(-1), bins=bins, min=lo, max=hi)).astype(np.int64)
