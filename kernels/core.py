"""The public entry points: `normalize` (run a registry method), `prepare` (check settings without
data) and `shared_mask` (which elements share statistics with one element), plus the `Result`
they return and the `NormError` they raise."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from math import prod
from typing import Any

import numpy as np

from .backend import get_ops, is_torch_tensor
from .checks import cannot_overflow, check_arrays, nonfinite_output
from .layouts import BATCH, CHANNEL, check_layout
from .methods import METHODS
from .registry import Context, Method, resolve_params
from .special_inputs import empty, eval_hint, tracked_instance_eval, unbatched

NONFINITE_POLICIES = ("omit", "propagate")
#: shared_mask builds a boolean array of x's shape: at most this many elements (128 MB).
MAX_MASK_ELEMENTS = 1 << 27


class NormError(ValueError):
    """A bad argument: one line naming the method, shape and layout. `reason` is the bare cause."""

    def __init__(self, reason: str, method=None, shape=None, layout=None):
        self.reason, self.method, self.shape, self.layout = reason, method, shape, layout
        where = ", ".join(filter(None, [f"shape {tuple(shape)}" if shape is not None else "",
                                        f"layout {layout}" if layout else ""]))
        super().__init__(f"{method or 'normalize'}: {reason}" + (f" ({where})" if where else ""))


@dataclass
class Result:
    """What `normalize` returns.

    output: same shape and layout as x; a numpy array (numpy backend) or a torch tensor on
        `device` (torch backend); float16 (and, on the torch backend, bfloat16) inputs get their
        own dtype back; numpy has no bfloat16, so bfloat16 tensors come back as float32 there.
    mean, var: the statistics used, one entry per statistics group in layout order (shape
        `sharing.stat_shape`: e.g. (1, C, 1, 1) for BatchNorm on NCHW, (N, G, 1, 1) for
        GroupNorm). var is the biased variance; methods that do not center report mean 0 and
        var = the mean square; in eval mode they are the running statistics; minmax reports
        data_min and data_range².
    stats: every named statistic the method used (r and d for batch_renorm, scale, ...).
    running_mean, running_var, num_batches_tracked: updated values (training with running
        statistics given); None otherwise.
    group_map: (a, c, b), each broadcastable to `sharing.stat_shape`, when output = a·(x − c) + b
        inside every statistics group (normalizing is a straight line per group); None when not.
    framework, framework_params: whose semantics were computed (normalize(..., framework=...)) and
        its parameters in its own names and meaning; `params` then holds the equivalent kernels
        (torch-meaning) parameters. "torch" and None for a plain call.
    warnings: human-readable sentences for anything odd; empty when nothing is.
    fused: the torch kernel(s) that computed the output on the torch backend (e.g.
        "torch.native_group_norm"), or "" where the formula was composed from element-wise
        operations (the NumPy backend; the torch backend where no kernel computes the same thing).
    """

    output: Any
    mean: Any
    var: Any
    method: str
    layout: str
    shape: tuple
    backend: str
    device: str
    params: dict
    training: bool
    sharing: Any
    warnings: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    running_mean: Any = None
    running_var: Any = None
    num_batches_tracked: Any = None
    group_map: Any = None
    framework: str = "torch"
    framework_params: dict | None = None
    fused: str = ""


def get_method(name: str) -> Method:
    if not isinstance(name, str) or name not in METHODS:
        raise NormError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}", method=str(name))
    return METHODS[name]


def _shape_of(x, name, layout):
    if not (isinstance(x, np.ndarray) or is_torch_tensor(x)):
        try:
            x = np.asarray(x)
        except Exception as exc:
            raise NormError(f"x is not an array ({exc})", method=name, layout=layout) from None
    shape = tuple(x.shape)  # Python ints already (numpy's shape, torch.Size)
    kind = x.dtype.kind if isinstance(x, np.ndarray) else ("c" if x.is_complex() else "f")
    if kind not in "fiub":
        raise NormError(f"x has dtype {x.dtype}; a real number type is needed", method=name, shape=shape,
                        layout=layout)
    if len(shape) != len(layout):
        raise NormError(f"x has {len(shape)} axes but layout {layout} names {len(layout)}", method=name,
                        shape=shape, layout=layout)
    if getattr(x, "is_meta", False):
        raise NormError("x is a meta tensor: it has a shape but no values to normalize; use prepare() or "
                        "shared_mask() for what depends on the shape alone", method=name, shape=shape, layout=layout)
    return x, shape


def prepare(method: str, shape, layout: str = "NCHW", training: bool = True, **params):
    """(Method, resolved params, sharing, layout) for a shape, without data; NormError on bad
    arguments. In eval mode the BatchNorm family shares one running statistic per channel.

    What depends only on (method, shape, layout, training, the non-array parameters) is
    computed once and kept (`_prepared`): a slider drag or a benchmark loop pays for the
    validation and the partition once. The resolved dict is a fresh copy on every call."""
    get_method(method)
    array_params = _array_params(method)
    arrays = {k: v for k, v in params.items() if k in array_params} if params else {}
    scalars = tuple((k, type(v), v) for k, v in params.items() if k not in arrays)
    try:
        key = (method, tuple(shape) if isinstance(shape, (tuple, list)) else shape, layout, bool(training), scalars)
        hash(key)
    except TypeError:  # an unhashable value (a list for a range, ...): checked without the cache
        key = None
    if key is None:
        m, resolved, sharing, layout = _prepare(method, shape, layout, bool(training), params)
    else:
        m, resolved, sharing, layout = _prepared(key)
    resolved = dict(resolved)
    resolved.update(arrays)
    return m, resolved, sharing, layout


@functools.cache
def _array_params(method: str) -> frozenset:
    """Names of the method's parameters that take arrays (weight, bias): passed through, never hashed."""
    return frozenset(p.name for p in METHODS[method].params if p.kind == "array")


@functools.lru_cache(maxsize=64)
def _layout(layout: str) -> str:
    return check_layout(layout)


@functools.lru_cache(maxsize=256)
def _prepared(key):
    method, shape, layout, training, scalars = key
    return _prepare(method, shape, layout, training, {k: v for k, _, v in scalars})


def _prepare(method, shape, layout, training, params):
    m = get_method(method)
    try:
        layout = check_layout(layout)
    except ValueError as exc:
        raise NormError(str(exc), method=method) from None
    try:
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise NormError(f"shape {shape!r} is not a sequence of axis sizes", method=method, layout=layout) from None
    if len(shape) != len(layout):
        raise NormError(f"shape has {len(shape)} axes but layout {layout} names {len(layout)}", method=method,
                        shape=shape, layout=layout)
    if any(s < 1 for s in shape):
        raise NormError("every axis needs a size of at least 1", method=method, shape=shape, layout=layout)
    try:
        resolved = resolve_params(m, layout, shape, params)
        if resolved.get("momentum_convention") == "keras" and resolved.get("momentum") is None:
            raise ValueError("momentum=None (torch's cumulative average) has no Keras counterpart")
        sharing = m.make_sharing(layout, shape, resolved)
        if m.running_stats and not training and sharing.shares_groups:
            sharing = replace(sharing, virtual_batch=0)  # eval: no virtual batches, running statistics
        return m, resolved, sharing, layout
    except ValueError as exc:
        raise NormError(str(exc), method=method, shape=shape, layout=layout) from None


def normalize(x, method: str, layout: str = "NCHW", backend: str = "numpy", device: str = "cpu",
              training: bool = True, *, running_mean=None, running_var=None, num_batches_tracked=0,
              nonfinite: str = "omit", moments_cache: dict | None = None, framework: str = "torch",
              compute_dtype: str | None = None, variance: str = "two_pass", **params) -> Result:
    """Normalize x (numpy array or torch tensor) with registry method `method`.

    layout: the axis letters of x ('NCHW', 'NHWC', 'NCL', 'NLC' or any order of them).
    backend/device: 'numpy' on 'cpu', or 'torch' on any device torch sees here.
    training: batch statistics (True) or running statistics (False) for the BatchNorm family.
    running_mean/running_var: per-channel running statistics, as torch.nn.functional.batch_norm
        takes them; not mutated: the updated values come back on the result.
    nonfinite: 'omit' leaves NaN/Inf inputs out of the statistics and maps them to 0; 'propagate'
        lets them poison their statistics groups as torch does.
    moments_cache: a dict the caller keeps for this very x (never another tensor): the group
        means and variances computed here are stored in it, and later calls on the same x with
        the same grouping take them from it instead of passing over x again (the explorer keeps
        one per input while eps or the affine parameters change).
    params: the method's keywords (see METHODS[method].params); missing ones take defaults that
        fit the shape.
    framework: whose semantics, defaults and parameter meanings to use ("torch", "keras", "flax",
        "onnx", "mlx", "tensorflow"; see kernels.frameworks.FRAMEWORKS): with framework="keras",
        momentum=0.99 is Keras' momentum and eps defaults to 1e-3.
    compute_dtype: accumulate the statistics and compute the output in this type ("float16",
        "bfloat16", "float32", "float64") while x keeps its own (the storage type), every operation
        rounded as hardware rounds it, the variance by `variance` ("two_pass", "one_pass" E[x²] −
        E[x]², "welford"); see kernels.precision. None: kernels' own choice (float32 or float64).
    """
    if compute_dtype is not None:
        from .precision import normalize_in
        if running_mean is not None or running_var is not None or framework != "torch":
            raise NormError("compute_dtype emulates one framework-free training step: no running statistics or "
                            "framework with it", method=method)
        try:
            return normalize_in(x, method, layout, compute_dtype, variance, training, **params)
        except NormError:
            raise
        except ValueError as exc:
            raise NormError(str(exc), method=method, layout=layout) from None
    if framework != "torch":
        from .frameworks.semantics import normalize as framework_normalize
        return framework_normalize(x, method, framework, layout, backend, device, training,
                                   running_mean=running_mean, running_var=running_var,
                                   num_batches_tracked=num_batches_tracked, nonfinite=nonfinite,
                                   moments_cache=moments_cache, **params)
    m = get_method(method)
    if isinstance(layout, str) and BATCH not in layout and CHANNEL in layout and m.family == "activation" \
            and not m.running_stats:
        return unbatched(normalize, x, method, layout, backend=backend, device=device, training=training,
                         running_mean=running_mean, running_var=running_var,
                         num_batches_tracked=num_batches_tracked, nonfinite=nonfinite, **params)
    if method == "instance" and not training and (running_mean is not None or running_var is not None):
        return tracked_instance_eval(normalize, x, layout, backend=backend, device=device, running_mean=running_mean,
                                     running_var=running_var, nonfinite=nonfinite, **params)
    try:
        layout = _layout(layout) if isinstance(layout, str) else check_layout(layout)
    except ValueError as exc:
        raise NormError(str(exc), method=method) from None
    x, shape = _shape_of(x, method, layout)
    if 0 in shape:
        return empty(x, method, layout, shape, backend, device, training, running_mean, running_var,
                     num_batches_tracked, params)
    m, resolved, sharing, layout = prepare(method, shape, layout, training=bool(training), **params)

    def fail(reason):
        return NormError(reason, method=method, shape=shape, layout=layout)

    try:
        check_arrays(method, layout, shape, resolved, {"running_mean": running_mean, "running_var": running_var})
    except ValueError as exc:
        raise fail(str(exc)) from None

    if nonfinite not in NONFINITE_POLICIES:
        raise fail(f"nonfinite={nonfinite!r} is not one of {', '.join(NONFINITE_POLICIES)}")
    try:
        num_batches_tracked = int(num_batches_tracked)
        if num_batches_tracked < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise fail(f"num_batches_tracked={num_batches_tracked!r} must be a count (an integer >= 0)") from None
    try:
        ops = get_ops(backend, device)
    except ValueError as exc:
        raise fail(str(exc)) from None
    xb = ops.asarray(x)
    input_dtype = xb.dtype
    keep_dtype = ops.is_half(xb)
    compute_dtype = ops.compute_dtype(xb)
    xc = ops.astype(xb, compute_dtype)
    ctx = Context(method=m, ops=ops, x=xc, layout=layout, shape=shape, params=resolved, training=bool(training),
                  running_mean=running_mean, running_var=running_var,
                  num_batches_tracked=num_batches_tracked, nonfinite=nonfinite,
                  compute_eps=ops.finfo_eps(xc), sharing=sharing, moments_cache=moments_cache)
    try:
        with np.errstate(all="ignore"):  # what goes wrong is reported in res.warnings, in words
            out = m.compute(ctx)
            if ctx.overflow and compute_dtype != ops.xp.float64:
                ctx = replace(ctx, x=ops.astype(xb, ops.xp.float64), overflow=False, warnings=[])
                out = m.compute(ctx)
                out["output"] = ops.astype(out["output"], compute_dtype)
                ctx.warn("the values are too large for float32 statistics (sums overflow): computed in float64; "
                         "the statistics are float64")
    except ValueError as exc:
        raise fail(str(exc)) from None
    output = out["output"] if ctx.finite is None else ops.where(ctx.finite, out["output"], 0.0)
    if keep_dtype:
        with np.errstate(over="ignore"):  # values beyond float16 become Inf: said below, not by NumPy
            output = ops.astype(output, input_dtype)
    limit = float(ops.finfo_max(output))
    # torch's kernels only run on finite statistics (they fall back to the formula otherwise)
    stats_finite = (lambda: True) if out.get("fused") else lambda: ops.all(ops.isfinite(out["var"] + out["mean"]))
    if not cannot_overflow(method, resolved, bool(training), m.running_stats, getattr(sharing, "group_size", 0),
                           stats_finite, limit):
        told = any("NaN/Inf value(s)" in w for w in ctx.warnings)
        hint = eval_hint(ops, out, resolved) if m.running_stats and not training else ""
        output = nonfinite_output(ops, xb, output, nonfinite, ctx.warn, str(output.dtype).replace("torch.", ""),
                                  hint, told)
    return Result(output=output, mean=out["mean"], var=out["var"], method=method, layout=layout, shape=shape,
                  backend=ops.name, device=ops.device, params=resolved, training=bool(training), sharing=sharing,
                  warnings=ctx.warnings, stats=out.get("stats", {}), running_mean=out.get("running_mean"),
                  running_var=out.get("running_var"), num_batches_tracked=out.get("num_batches_tracked"),
                  group_map=out.get("group_map"), fused=out.get("fused", ""))


def shared_mask(method: str, shape, index, layout: str = "NCHW", training: bool = True, **params) -> np.ndarray:
    """Boolean array of `shape`: True where an element's value enters the statistics used to
    normalize x[index] (its statistics group, or its LocalResponseNorm window). In eval mode the
    BatchNorm family marks the elements normalized with the same running statistics (the channel)."""
    _, _, sharing, layout = prepare(method, shape, layout, training=training, **params)
    try:
        index = tuple(int(i) for i in index)
    except (TypeError, ValueError):
        raise NormError(f"index {index!r} is not a tuple of integers", method=method, shape=sharing.shape,
                        layout=layout) from None
    if len(index) != len(sharing.shape) or not all(-s <= i < s for i, s in zip(index, sharing.shape)):
        raise NormError(f"index {index} is outside the shape", method=method, shape=sharing.shape, layout=layout)
    index = tuple(i % s for i, s in zip(index, sharing.shape))
    if prod(sharing.shape) > MAX_MASK_ELEMENTS:
        raise NormError(f"a mask of {prod(sharing.shape):,} elements is over the {MAX_MASK_ELEMENTS:,} this builds; "
                        f"the sharing's box_of(index) gives the group's extent without one", method=method,
                        shape=sharing.shape, layout=layout)
    return sharing.mask(index)
