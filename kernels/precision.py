"""The precision of a normalization: the input stored in one floating-point type, the statistics
accumulated in another, the variance by one of three algorithms, against a float64 reference.

    from kernels import precision
    out = precision.emulate(x, "layer", storage="float16", accumulate="float16", algorithm="one_pass")
    st = precision.study(x, "group", groups=4)      # every storage × accumulation × algorithm, and torch's
    st.cells[0].max_ulps, st.cells[0].sentence      # error in ulps of the storage type, the effect in words
    x, params, words = precision.preset("cancellation", (4, 8, 8, 8))

The arithmetic model (`emulate`): x is rounded to the storage type; every operation after that
is computed exactly and rounded to the accumulation type (round to nearest even, overflow to ±inf,
subnormals kept), which is what the hardware does for +, −, ×, ÷ and √. Sums are pairwise
(neighbours first, as vectorized and GPU reductions add), each partial sum rounded. The variance:

    two_pass   mean = Σx / n, then var = Σ(x − mean)² / n
    one_pass   var = Σx² / n − mean², clipped at 0 (Flax's use_fast_variance, ONNX's MVN body)
    welford    (count, mean, M2) per element, merged pairwise (Chan et al.), var = M2 / n

and y = (x − mean) · 1/√(var + eps), rounded to the storage type (no affine step: γ, β are
applied after it). eps is rounded to the accumulation type first: 1e-8 is 0 in float16.
The reference is float64 two-pass on the stored input, so the errors are the arithmetic's,
not the rounding of the input. `torch_half` runs torch's own CPU kernels (F.layer_norm,
F.group_norm, F.batch_norm, F.instance_norm, F.rms_norm) on float16/bfloat16 tensors.

`normalize(x, method, compute_dtype="float16", variance="one_pass")` computes through
`normalize_in` here: x keeps its own type (the storage), the arithmetic is `emulate`'s in the
accumulation type, γ·y + β too, and the Result says which effect hit (overflow of a sum, eps
rounded to 0, a one-pass variance cancelling). No Qt; torch only inside `torch_half`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .core import NormError, get_method, prepare
from .layouts import canonical_order, permutation
from .partition import Partition

#: the floating-point types, narrowest first
DTYPES = ("float16", "bfloat16", "float32", "float64")
#: variance algorithm -> label
ALGORITHMS = {"two_pass": "two-pass", "one_pass": "one-pass E[x²] − E[x]²", "welford": "Welford"}
#: the methods whose statistics are a group's mean and variance (or mean square)
COVERED = ("batch", "layer", "instance", "group", "channel", "rms", "pixel", "custom", "ghost_batch")

#: name -> (significand bits with the hidden one, smallest normal exponent, largest finite value)
FORMATS = {"float16": (11, -14, 65504.0), "bfloat16": (8, -126, float.fromhex("0x1.fep127")),
           "float32": (24, -126, float(np.finfo(np.float32).max)),
           "float64": (53, -1022, float(np.finfo(np.float64).max))}


def _check_dtype(name, what):
    if name not in FORMATS:
        raise ValueError(f"{what}={name!r} is not one of {', '.join(DTYPES)}")
    return name


def round_to(a, dtype: str) -> np.ndarray:
    """float64 array of `a`'s values rounded to `dtype` (nearest even, ±inf past the largest)."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype == "float64":
            return a.copy()
        if dtype in ("float16", "float32"):
            return a.astype(dtype).astype(np.float64)
        bits = a.astype(np.float32).view(np.uint32)  # float64 -> float32 -> bfloat16 rounds right (24 ≥ 2·8 + 2)
        rounded = ((bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000))
        out = rounded.view(np.float32).astype(np.float64)
        return np.where(np.isnan(a), np.nan, out)


def ulp(values, dtype: str) -> np.ndarray:
    """The spacing of `dtype` at |values| (the subnormal spacing below the smallest normal)."""
    p, emin, _ = FORMATS[dtype]
    v = np.abs(np.asarray(values, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        _, e = np.frexp(np.where(np.isfinite(v) & (v > 0), v, 1.0))
    exponent = np.maximum(np.where(v > 0, e - 1, emin), emin)
    return np.ldexp(1.0, exponent - (p - 1))


def storage_type(dtype: str):
    """The NumPy type an emulated result is returned in (bfloat16 values in float32)."""
    return np.float32 if dtype == "bfloat16" else np.dtype(dtype).type


# -- the arithmetic -------------------------------------------------------------------------------

class _Arith:
    """Operations rounded to one type; records whether a result overflowed to ±inf."""

    def __init__(self, dtype):
        self.dtype, self.overflow = dtype, False

    def r(self, a):
        out = round_to(a, self.dtype)
        if not self.overflow and np.any(np.isinf(out) & ~np.isinf(np.asarray(a))):
            self.overflow = True
        return out

    def add(self, a, b):
        with np.errstate(invalid="ignore", over="ignore"):
            return self.r(a + b)

    def sub(self, a, b):
        with np.errstate(invalid="ignore", over="ignore"):
            return self.r(a - b)

    def mul(self, a, b):
        with np.errstate(invalid="ignore", over="ignore"):
            return self.r(a * b)

    def div(self, a, b):
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            return self.r(a / b)

    def sqrt(self, a):
        with np.errstate(invalid="ignore"):
            return self.r(np.sqrt(a))


def _pairwise(states: tuple, merge) -> tuple:
    """Reduce the last axis of every array in `states` by merging neighbours, level by level
    (an odd element is carried to the next level)."""
    while states[0].shape[-1] > 1:
        n = states[0].shape[-1]
        even = n - n % 2
        merged = merge(tuple(s[..., 0:even:2] for s in states), tuple(s[..., 1:even:2] for s in states))
        if n % 2:
            merged = tuple(np.concatenate([m, s[..., -1:]], axis=-1) for m, s in zip(merged, states))
        states = merged
    return tuple(s[..., 0] for s in states)


def _sum(ar: _Arith, v):
    return _pairwise((v,), lambda a, b: (ar.add(a[0], b[0]),))[0]


def _welford(ar: _Arith, v):
    """(mean, M2) of the last axis by Chan's pairwise merge of (count, mean, M2)."""
    def merge(a, b):
        (na, ma, qa), (nb, mb, qb) = a, b
        n = na + nb  # counts are exact
        delta = ar.sub(mb, ma)
        mean = ar.add(ma, ar.mul(delta, ar.r(nb / n)))
        m2 = ar.add(ar.add(qa, qb), ar.mul(ar.mul(delta, delta), ar.r(na * nb / n)))
        return n, mean, m2
    _, mean, m2 = _pairwise((np.ones_like(v), v, np.zeros_like(v)), merge)
    return mean, m2


def _grouped(x64, sharing: Partition):
    """x as (kept..., n): each statistics group's values along the last axis, and the shape that
    broadcasts a statistic back onto x reshaped to sharing.expanded_shape."""
    xe = x64.reshape(sharing.expanded_shape)
    red = sharing.reduce_positions
    kept = [i for i in range(xe.ndim) if i not in red]
    moved = np.transpose(xe, kept + list(red))
    return moved.reshape(moved.shape[:len(kept)] + (-1,)), sharing.expanded_stat_shape


@dataclass(frozen=True, eq=False)
class Emulated:
    """emulate()'s answer. output: float64 holding values of the storage type (x's layout); mean, var:
    per group (sharing.stat_shape), in the accumulation type; overflow: what became ±inf from a finite
    input ("the sum", "the sum of squares", "the output"; "" when nothing did);
    eps_used: eps rounded to the accumulation type; center: whether the method subtracts the mean."""

    output: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    storage: str
    accumulate: str
    algorithm: str
    eps: float
    eps_used: float
    overflow: str
    center: bool
    sharing: Partition

    def as_storage(self) -> np.ndarray:
        return self.output.astype(storage_type(self.storage))


def _resolve(x, method, layout, training, params):
    get_method(method)
    if method not in COVERED:
        raise NormError(f"the precision study covers the methods normalized by a group's mean and variance "
                        f"({', '.join(COVERED)})", method=method)
    shape = tuple(np.shape(x))
    m, resolved, sharing, layout = prepare(method, shape, layout, training=bool(training), **params)
    if not isinstance(sharing, Partition):
        raise NormError("the precision study needs statistics groups", method=method, shape=shape, layout=layout)
    center = resolved["center"] if method == "custom" else m.centers
    return resolved, sharing, center, layout


def _eps(resolved, storage):
    eps = resolved.get("eps")
    return float(np.finfo(storage_type(storage)).eps) if eps is None else float(eps)


def emulate(x, method: str, layout: str = "NCHW", storage: str = "float16", accumulate: str = "float32",
            algorithm: str = "two_pass", training: bool = True, stats_in_storage: bool = False,
            fused: bool = False, **params) -> Emulated:
    """Normalize x with the storage and accumulation types and variance algorithm given (see the
    module docstring); params as normalize takes them (eps None: finfo(storage).eps, as torch).
    stats_in_storage: the mean and 1/std are rounded to the storage type before the output is
    computed (torch's CPU batch_norm keeps its saved statistics in the input's type).
    fused: y = fma(x, 1/std, −mean/std), one rounding, as torch's CPU kernels write it (it cancels
    when |mean|/std is large); else y = (x − mean) · 1/std."""
    _check_dtype(storage, "storage")
    _check_dtype(accumulate, "accumulate")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm={algorithm!r} is not one of {', '.join(ALGORITHMS)}")
    resolved, sharing, center, layout = _resolve(x, method, layout, training, params)
    ar = _Arith(accumulate)
    stored = round_to(np.asarray(x, dtype=np.float64), storage)
    xa = ar.r(stored)
    v, stat = _grouped(xa, sharing)
    n = v.shape[-1]
    inv_n = ar.r(1.0 / n)
    if not center:
        mean = np.zeros(v.shape[:-1])
        var = ar.mul(_sum(ar, ar.mul(v, v)), inv_n)  # the mean square: no variance algorithm involved
    elif algorithm == "two_pass":
        mean = ar.mul(_sum(ar, v), inv_n)
        d = ar.sub(v, mean[..., None])
        var = ar.mul(_sum(ar, ar.mul(d, d)), inv_n)
    elif algorithm == "one_pass":
        mean = ar.mul(_sum(ar, v), inv_n)
        square = ar.mul(_sum(ar, ar.mul(v, v)), inv_n)
        with np.errstate(invalid="ignore"):
            var = np.maximum(ar.sub(square, ar.mul(mean, mean)), 0.0)
    else:
        mean, m2 = _welford(ar, v)
        var = ar.mul(m2, inv_n)
    eps = _eps(resolved, storage)
    eps_used = float(ar.r(eps))
    finite_in = np.all(np.isfinite(xa))
    overflow = ""
    if ar.overflow and finite_in:
        overflow = "the sum" if np.any(np.isinf(mean)) else "the sum of squares"
    rstd = ar.div(1.0, ar.sqrt(ar.add(var, eps_used)))
    xe = xa.reshape(sharing.expanded_shape)
    mean_b, rstd_b = mean.reshape(stat), rstd.reshape(stat)
    if stats_in_storage:
        mean_b, rstd_b = round_to(mean_b, storage), round_to(rstd_b, storage)
    if fused and center:
        with np.errstate(invalid="ignore", over="ignore"):
            y = ar.r(xe * rstd_b + ar.mul(-mean_b, rstd_b))  # exact product and sum in float64, one rounding
    else:
        y = ar.mul(ar.sub(xe, mean_b) if center else xe, rstd_b)
    if ar.overflow and finite_in and not overflow:
        overflow = "the output"
    out = round_to(y, storage).reshape(np.shape(x))
    return Emulated(out, mean.reshape(sharing.stat_shape), var.reshape(sharing.stat_shape), storage, accumulate,
                    algorithm, eps, eps_used, overflow, center, sharing)


def reference(x, method: str, layout: str = "NCHW", storage: str = "float64", training: bool = True,
              **params) -> tuple:
    """(output, var): float64 two-pass on x rounded to `storage`, eps exact; var per group."""
    resolved, sharing, center, layout = _resolve(x, method, layout, training, params)
    xs = round_to(np.asarray(x, dtype=np.float64), storage)
    v, stat = _grouped(xs, sharing)
    with np.errstate(all="ignore"):
        mean = v.mean(-1) if center else np.zeros(v.shape[:-1])
        var = ((v - mean[..., None]) ** 2).mean(-1)
        y = (xs.reshape(sharing.expanded_shape) - mean.reshape(stat)) / np.sqrt(var.reshape(stat)
                                                                                   + _eps(resolved, storage))
    return y.reshape(np.shape(x)), var.reshape(sharing.stat_shape)


# -- errors and their effects -----------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Errors:
    """How far an output of the storage type is from the reference: in ulps of the storage type at
    the reference value, values below 1 in magnitude counted at 1 (a normalized output is of order 1;
    near 0 the ulp shrinks without bound while the error comes from the statistics), over the finite
    outputs where the reference is finite; NaN and ±inf counts. max_ulps is inf when any output is
    NaN or ±inf where the reference is finite."""

    max_ulps: float
    mean_ulps: float
    max_abs: float
    nan: int
    inf: int
    compared: int


def errors(output, ref, dtype: str) -> Errors:
    out = np.asarray(output, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    nan, inf = int(np.isnan(out).sum()), int(np.isinf(out).sum())
    ok = np.isfinite(out) & np.isfinite(ref)
    if not ok.any():
        return Errors(float("inf") if nan + inf else 0.0, float("inf") if nan + inf else 0.0, float("nan"), nan, inf,
                      0)
    diff = np.abs(out[ok] - ref[ok])
    u = diff / ulp(np.maximum(np.abs(ref[ok]), 1.0), dtype)
    bad = nan + inf > 0 and np.isfinite(ref).any()
    return Errors(float("inf") if bad else float(u.max()), float(u.mean()), float(diff.max()), nan, inf, int(ok.sum()))


def _g(v):
    return f"{v:.3g}" if np.isfinite(v) else str(v)


#: a normalization rounds a mean, a difference, a variance, a square root, a quotient and a product:
#: this many ulps of the storage type are rounding, not an effect
ROUNDING_ULPS = 4.0


def describe(cell_out: Emulated, err: Errors, ref_var) -> tuple:
    """(effect, sentence): what dominates an emulated result's error, in words. effect is one of
    "eps_underflow", "overflow", "cancellation", "rounding", "inaccurate"."""
    s, a = cell_out.storage, cell_out.accumulate
    where = f"stored as {s}, accumulated in {a}, {ALGORITHMS[cell_out.algorithm]}"
    ref_var = np.asarray(ref_var, np.float64)
    var = np.asarray(cell_out.var, np.float64)
    if err.nan and cell_out.eps > 0 and cell_out.eps_used == 0 and np.any(var == 0):
        return "eps_underflow", (f"eps = {cell_out.eps:g} rounds to 0 in {a}: a constant group has var + eps = 0, "
                                 f"and 0 · 1/√0 gives {err.nan} NaN ({where})")
    if cell_out.overflow:
        largest = FORMATS[a][2]
        what = {"the sum": "mean = inf, so x − mean is −inf and the outputs are NaN",
                "the sum of squares": "var = inf, so the group's outputs collapse to 0",
                "the output": "the normalized values themselves do not fit"}[cell_out.overflow]
        return "overflow", (f"{cell_out.overflow} overflows {a} (largest {largest:g}): {what} (max error "
                            f"{_g(err.max_ulps)} ulps; {err.nan} NaN, {err.inf} inf; {where})")
    if cell_out.center and cell_out.algorithm == "one_pass":
        with np.errstate(all="ignore"):
            rel = np.abs(var - ref_var) / np.maximum(ref_var, np.finfo(np.float64).tiny)
        worst = int(np.argmax(np.where(np.isfinite(rel), rel, np.inf)))
        mean = np.abs(cell_out.mean.ravel()[worst])
        std = np.sqrt(ref_var.ravel()[worst])
        large_mean = not std > 0 or mean > 3 * std  # E[x²] ≫ var: the subtraction loses the leading digits
        if large_mean and (not np.isfinite(rel.ravel()[worst]) or rel.ravel()[worst] > 0.01):
            ratio = f"|mean| / std = {mean / std:.3g}" if std > 0 else "std = 0"
            return "cancellation", (f"one-pass E[x²] − E[x]² cancels in {a}: {ratio}, so E[x²] holds the variance "
                                    f"in its last bits; var comes out as {_g(var.ravel()[worst])} instead of "
                                    f"{_g(ref_var.ravel()[worst])} (max error {_g(err.max_ulps)} ulps of {s})")
    if err.nan or err.inf:
        return "inaccurate", f"{err.nan} NaN and {err.inf} inf outputs ({where})"
    if err.max_ulps <= ROUNDING_ULPS:
        return "rounding", (f"within {_g(err.max_ulps)} ulp{'' if err.max_ulps == 1 else 's'} of the float64 "
                            f"result: the rounding of each step only ({where})")
    return "inaccurate", f"max error {_g(err.max_ulps)} ulps of {s}, mean {_g(err.mean_ulps)} ({where})"


# -- torch's own half-precision kernels --------------------------------------------------------------

TORCH_OPS = {"batch": "F.batch_norm(training=True)", "layer": "F.layer_norm", "instance": "F.instance_norm",
             "group": "F.group_norm", "channel": "F.layer_norm over C (channels-last)", "rms": "F.rms_norm"}


def torch_model(method: str) -> dict:
    """emulate()'s keywords that reproduce torch's CPU kernel for `method` on a half type: statistics
    in float32, two-pass; batch_norm and instance_norm (which runs batch_norm) round the mean and 1/std
    to the input's type first; layer_norm over the last axis alone (the 'channel' method) writes
    fma(x, 1/σ, −μ/σ). Checked against torch in tests/kernels/test_precision.py on ordinary inputs:
    float16 within 1 ulp for every op, bfloat16 within 1 ulp but for batch/instance (2). Where the
    mean is large against the spread, torch's own float32 rounding of the statistics is amplified
    by 1/σ and not reproduced (agreement then says by how much)."""
    return dict(accumulate="float32", algorithm="two_pass", stats_in_storage=method in ("batch", "instance"),
                fused=method == "channel")


def torch_half(x, method: str, layout: str = "NCHW", dtype: str = "float16", training: bool = True,
               **params) -> np.ndarray:
    """torch's own CPU kernel for `method` on x stored as `dtype` (float16 or bfloat16): its output
    as float64 (values of that type). ValueError when torch has no such op or cannot run it."""
    if dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise ValueError(f"dtype={dtype!r} is not a floating-point type")
    if method not in TORCH_OPS:
        raise ValueError(f"torch has no op for {method} (its ops: {', '.join(TORCH_OPS)})")
    resolved, sharing, _, layout = _resolve(x, method, layout, training, params)
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as exc:
        raise ValueError(f"torch is not installed ({exc})") from None
    canon = canonical_order(layout)
    last = canon[:1] + canon[2:] + canon[1]
    target = last if method == "channel" else canon
    xt = torch.from_numpy(np.ascontiguousarray(np.transpose(np.asarray(x, np.float32), permutation(layout, target))))
    xt = xt.to(getattr(torch, dtype))
    eps = resolved.get("eps")
    try:
        with torch.no_grad():
            if method == "batch":
                y = F.batch_norm(xt, None, None, training=True, eps=eps)
            elif method == "instance":
                y = F.instance_norm(xt, eps=eps)
            elif method == "group":
                y = F.group_norm(xt, resolved["groups"], eps=eps)
            elif method == "layer":
                y = F.layer_norm(xt, tuple(xt.shape[1:]), eps=eps)
            elif method == "channel":
                y = F.layer_norm(xt, (xt.shape[-1],), eps=eps)
            else:
                y = F.rms_norm(xt, tuple(xt.shape[1:]), eps=eps)
    except (RuntimeError, TypeError, NotImplementedError) as exc:
        raise ValueError(f"torch's {TORCH_OPS[method]} on {dtype}: {str(exc).splitlines()[0]}") from None
    out = y.to(torch.float64).numpy()
    return np.transpose(out, permutation(target, layout))


#: below this magnitude two results are compared in ulps at it: there a difference is the float32
#: rounding of the statistics (an output that is 0 in one and 7e-9 in the other), not the half type's
AGREEMENT_FLOOR = 2.0 ** -10


def agreement(a, b, dtype: str) -> float:
    """The largest difference between two results of `dtype`, in ulps of that type at the larger of the
    two values (values below AGREEMENT_FLOOR counted at it); NaN/inf where only one is finite: inf."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    both = np.isfinite(a) & np.isfinite(b)
    if np.any(np.isfinite(a) != np.isfinite(b)):
        return float("inf")
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), AGREEMENT_FLOOR)[both]
    return float(np.max(np.abs(a - b)[both] / ulp(scale, dtype), initial=0.0))


# -- a whole study ------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Cell:
    """One storage × accumulation × algorithm: its errors and the effect that dominates them."""

    storage: str
    accumulate: str
    algorithm: str
    errors: Errors
    effect: str
    sentence: str
    overflow: str
    eps_used: float


@dataclass(frozen=True, eq=False)
class TorchCell:
    """torch's own kernel on one half type: its errors, or why it did not run."""

    dtype: str
    op: str
    errors: Errors | None
    reason: str = ""
    sentence: str = ""
    agreement: float = float("nan")  # max ulps between torch's output and emulate(**torch_model(method))


@dataclass(frozen=True, eq=False)
class Study:
    method: str
    layout: str
    shape: tuple
    eps: float | None
    group_size: int
    cells: tuple
    torch: tuple
    summary: list = field(default_factory=list)

    def cell(self, storage, accumulate, algorithm) -> Cell:
        for c in self.cells:
            if (c.storage, c.accumulate, c.algorithm) == (storage, accumulate, algorithm):
                return c
        raise KeyError((storage, accumulate, algorithm))


#: the storage × accumulation pairs a study computes by default: each type alone, and half types in float32
PAIRS = (("float16", "float16"), ("float16", "float32"), ("bfloat16", "bfloat16"), ("bfloat16", "float32"),
         ("float32", "float32"), ("float32", "float64"), ("float64", "float64"))


class Cancelled(Exception):
    """study() stopped because cancelled() turned True."""


def study(x, method: str, layout: str = "NCHW", training: bool = True, pairs=PAIRS, algorithms=tuple(ALGORITHMS),
          torch_types=("float16", "bfloat16"), progress=None, cancelled=None, **params) -> Study:
    """Every (storage, accumulation) pair × algorithm on x against the float64 reference, and
    torch's own kernels on the half types. progress(done, total) and cancelled() are optional."""
    resolved, sharing, center, layout = _resolve(x, method, layout, training, params)
    algos = tuple(algorithms) if center else ("two_pass",)
    total = len(pairs) * len(algos) + len(torch_types)
    refs, cells, done = {}, [], 0
    for storage, accumulate in pairs:
        if storage not in refs:
            refs[storage] = reference(x, method, layout, storage, training, **params)
        ref, ref_var = refs[storage]
        for algorithm in algos:
            if cancelled is not None and cancelled():
                raise Cancelled("cancelled")
            e = emulate(x, method, layout, storage, accumulate, algorithm, training, **params)
            err = errors(e.output, ref, storage)
            effect, sentence = describe(e, err, ref_var)
            cells.append(Cell(storage, accumulate, algorithm, err, effect, sentence, e.overflow, e.eps_used))
            done += 1
            if progress is not None:
                progress(done, total)
    torch_cells = []
    for dtype in torch_types:
        if cancelled is not None and cancelled():
            raise Cancelled("cancelled")
        op = TORCH_OPS.get(method, "")
        try:
            out = torch_half(x, method, layout, dtype, training, **params)
        except ValueError as exc:
            torch_cells.append(TorchCell(dtype, op, None, str(exc)))
        else:
            ref = refs[dtype][0] if dtype in refs else reference(x, method, layout, dtype, training, **params)[0]
            err = errors(out, ref, dtype)
            agree = agreement(out, emulate(x, method, layout, dtype, training=training, **torch_model(method),
                                           **params).output, dtype)
            nonfinite = f"; {err.nan} NaN, {err.inf} inf" if err.nan or err.inf else ""
            model = torch_model(method)
            kept = (f", keeps the mean and 1/std in {dtype}" if model["stats_in_storage"] else
                    ", writes fma(x, 1/σ, −μ/σ)" if model["fused"] else "")
            torch_cells.append(TorchCell(dtype, op, err, agreement=agree, sentence=(
                f"torch's {op} on {dtype} (CPU): max {_g(err.max_ulps)} ulp, mean {_g(err.mean_ulps)}{nonfinite}; "
                f"it accumulates in float32{kept} (emulated within {_g(agree)} ulp)")))
        done += 1
        if progress is not None:
            progress(done, total)
    eps = resolved.get("eps")
    return Study(method, layout, tuple(np.shape(x)), eps, sharing.group_size, tuple(cells), tuple(torch_cells),
                 _summary(cells, center))


def _summary(cells, center) -> list:
    """One sentence per effect seen, naming the first cell that shows it."""
    out, seen = [], set()
    order = ("eps_underflow", "overflow", "cancellation", "inaccurate")
    for effect in order:
        for c in cells:
            if c.effect == effect and effect not in seen:
                seen.add(effect)
                out.append(c.sentence)
    if not center:
        out.append("no mean is subtracted: the variance algorithms do not apply (the mean square is one sum)")
    if not out:
        out.append("every combination is within rounding of the float64 result on this input")
    return out


# -- the classic inputs ---------------------------------------------------------------------------------

PRESETS = {
    "cancellation": "a large mean and a small spread: 10000 + N(0, 1)",
    "overflow": "values whose squares sum past float16's 65504: 50 · N(0, 1)",
    "eps_underflow": "a constant input with eps = 1e-8 (ProGAN's), which float16 rounds to 0",
}


def preset(name: str, shape, layout: str = "NCHW", method: str = "layer", seed: int = 0) -> tuple:
    """(x float32, parameter overrides, words) of one of PRESETS for `shape`. The constant input is
    1 for methods that subtract the mean, 0 for those that do not (x / √(mean square) needs 0 for 0/0)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    shape = tuple(int(s) for s in shape)
    rng = np.random.default_rng(seed)
    if name == "cancellation":
        return (1e4 + rng.standard_normal(shape)).astype(np.float32), {}, PRESETS[name]
    if name == "overflow":
        return (50 * rng.standard_normal(shape)).astype(np.float32), {}, PRESETS[name]
    centers = get_method(method).centers or method == "custom"
    value = 1.0 if centers else 0.0
    return np.full(shape, value, np.float32), {"eps": 1e-8}, f"a constant input ({value:g}) with eps = 1e-8 " \
        "(ProGAN's), which float16 rounds to 0"


__all__ = ["DTYPES", "ALGORITHMS", "COVERED", "FORMATS", "PAIRS", "PRESETS", "TORCH_OPS", "AGREEMENT_FLOOR",
           "ROUNDING_ULPS", "round_to", "ulp", "emulate", "reference", "errors", "describe", "torch_half",
           "torch_model", "agreement", "study", "preset", "Emulated", "Errors", "Cell", "TorchCell", "Study",
           "Cancelled", "storage_type"]


def _storage_of(x) -> tuple:
    """(x as a NumPy array holding its values, the storage type's name)."""
    if hasattr(x, "detach") and hasattr(x, "dtype"):  # a torch tensor: bfloat16 has no NumPy type
        name = str(x.dtype).replace("torch.", "")
        return x.detach().cpu().float().numpy() if name == "bfloat16" else x.detach().cpu().numpy(), name
    a = np.asarray(x)
    name = a.dtype.name if a.dtype.kind == "f" else "float32"
    return a, name


def normalize_in(x, method: str, layout: str, accumulate: str, variance: str = "two_pass", training: bool = True,
                 **params):
    """normalize(..., compute_dtype=accumulate, variance=...): x kept in its own type (the storage),
    every operation rounded to `accumulate`, the variance by `variance`; γ·y + β in the accumulation
    type, then the output rounded to the storage type. A NumPy Result (bfloat16 values in float32)."""
    from .core import Result

    m = get_method(method)
    if m.running_stats and not training:
        raise NormError("compute_dtype emulates training-mode statistics; eval mode with running statistics is "
                        "one multiply-add per element", method=method)
    if variance not in ALGORITHMS:
        raise ValueError(f"variance={variance!r} is not one of {', '.join(ALGORITHMS)}")
    values, storage = _storage_of(x)
    weight, bias = params.pop("weight", None), params.pop("bias", None)
    em = emulate(values, method, layout, storage=storage, accumulate=accumulate, algorithm=variance,
                 training=training, **params)
    resolved = prepare(method, values.shape, layout, training=bool(training), **params)[1]
    y = em.output
    if weight is not None or bias is not None:
        ar = _Arith(accumulate)
        channel = layout.index("C")
        shaped = [np.asarray(v, dtype=np.float64) for v in (1.0 if weight is None else weight,
                                                            0.0 if bias is None else bias)]
        shaped = [v.reshape([-1 if i == channel else 1 for i in range(len(layout))]) if v.ndim == 1 else v
                  for v in shaped]
        y = round_to(ar.add(ar.mul(y, shaped[0]), shaped[1]), storage)
        resolved.update(weight=weight, bias=bias)
    warnings = []
    if em.overflow:
        warnings.append(f"{em.overflow} overflowed {accumulate} although the input is finite: accumulate in a wider "
                        f"type")
    if em.eps > 0 and em.eps_used == 0:
        warnings.append(f"eps = {em.eps:g} is 0 in {accumulate}: a constant group divides 0 by 0")
    if variance == "one_pass" and em.center and np.isfinite(values).all():
        exact = np.asarray(reference(values, method, layout, storage=storage, training=training, **params)[1])
        mean = np.asarray(em.mean, dtype=np.float64).reshape(exact.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = float(np.nanmax(np.where(exact > 0, mean * mean / exact, 0.0)))
        if ratio * 2.0 ** (1 - FORMATS[accumulate][0]) > 1e-3:  # the relative error one-pass puts in var
            warnings.append(f"one-pass variance E[x²] − E[x]²: mean² / variance reaches {ratio:.3g}, so the "
                            f"subtraction cancels about {min(np.log10(ratio), 99):.0f} digits in {accumulate} "
                            f"(catastrophic cancellation; two-pass or Welford keep them)")
    if not np.isfinite(y).all() and np.isfinite(values).all() and not warnings:
        warnings.append(f"{int(np.size(y) - np.isfinite(y).sum())} output value(s) are Inf or NaN although the "
                        f"input is finite ({accumulate} arithmetic)")
    return Result(output=y.astype(storage_type(storage)), mean=em.mean, var=em.var, method=method, layout=layout,
                  shape=tuple(values.shape), backend="numpy", device="cpu", params=resolved, training=bool(training),
                  sharing=em.sharing, warnings=warnings,
                  stats={"compute_dtype": accumulate, "variance": variance, "eps_used": em.eps_used})
