"""The math shared by the methods: moments over a partition, the standardizing step, the
affine step, running-statistics updates and the warnings for degenerate groups.

Conventions (torch's unless said): variance for normalizing is biased (divides by n);
running_var stores the unbiased variance (n / (n - 1)); eps is added to the variance
inside the square root: y = (x - mean) / sqrt(var + eps).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .layouts import BATCH, CHANNEL, spatial_axes
from .partition import Partition


@dataclass
class Moments:
    """Statistics in the partition's expanded keepdims shape.

    var is the biased variance (center=True) or the mean square (center=False).
    count: elements per group (an array when non-finite inputs were left out).
    finite: mask of finite inputs (expanded shape) when some were left out, else None.
    """

    mean: Any
    var: Any
    count: Any
    finite: Any = None
    centered: Any = None  # x - mean, kept so standardizing does not subtract twice
    owns_centered: bool = False  # `centered` is a temporary: standardizing may scale it in place


def moments_key(ops, part: Partition, center: bool, x) -> tuple:
    """Where the moments of x over `part` live in a moments cache (see normalize's moments_cache)."""
    return ops.name, str(ops.device), part, bool(center), str(x.dtype)


def cached(ctx, key):
    """The (mean, var) kept under key in the moments cache, or None."""
    if key is None or key not in ctx.moments_cache:  # `in` and [] only: the explorer passes its own mapping
        return None
    return ctx.moments_cache[key]


def moments(ctx, part: Partition, xe, center: bool = True) -> Moments:
    """Mean and biased variance (or mean square) of xe (x reshaped to part.expanded_shape).
    With ctx.moments_cache, moments of finite inputs are kept there and taken from there."""
    ops, axes = ctx.ops, part.reduce_positions
    key = moments_key(ops, part, center, xe) if ctx.moments_cache is not None else None
    hit = cached(ctx, key)
    if hit is not None:
        mean, var = hit
        return Moments(mean, var, part.group_size, centered=None if center else xe)
    if not center:
        return _mean_squares(ctx, part, xe, key)
    mean = ops.mean(xe, axes)
    mean_finite = ops.all(ops.isfinite(mean))
    if not mean_finite:
        finite = ops.isfinite(xe)
        bad = part.group_size * part.n_groups - ops.count(finite)
        if bad and ctx.nonfinite == "omit":
            return _moments_omitting(ctx, part, xe, finite, center, bad)
        if bad:
            ctx.warn(f"the input holds {bad} NaN/Inf value(s); nonfinite='propagate' passes them on as torch "
                     f"does: every statistics group containing one gets NaN statistics and NaN outputs")
        else:
            ctx.overflow = True  # finite values whose sum overflows: normalize retries in float64
    d = ops.subtract(xe, mean)
    m = Moments(mean, ops.mean_of_squares(d, axes), part.group_size, centered=d, owns_centered=True)
    if mean_finite and not ops.all(ops.isfinite(m.var)):
        ctx.overflow = True  # finite values whose squares overflow: normalize retries in float64
    elif mean_finite and key is not None:
        ctx.moments_cache[key] = (m.mean, m.var)
    return m


def rows_standard(ctx, part: Partition, xe, eps: float, center: bool):
    """(Moments, output before the affine step) from NumpyOps.standardize_rows: one sweep per
    thread where every statistics group is a contiguous row (LayerNorm, GroupNorm, InstanceNorm,
    RMSNorm on N, C, ... layouts), the same numbers as moments() + standardize(); kept in the
    moments cache like moments'. None where it does not apply, where the cache already holds the
    moments (standardizing from them is cheaper), or where a statistic is not finite (NaN/Inf
    inputs, overflow: the formula's path decides)."""
    ops = ctx.ops
    if ops.name != "numpy":
        return None
    key = moments_key(ops, part, center, xe) if ctx.moments_cache is not None else None
    if cached(ctx, key) is not None:
        return None
    fast = ops.standardize_rows(xe, part.reduce_positions, eps, center)
    if fast is None:
        return None
    mean, var, y = fast
    if not (np.isfinite(mean).all() and np.isfinite(var).all()):
        return None
    if key is not None:
        ctx.moments_cache[key] = (mean, var)
    return Moments(mean, var, part.group_size), ops.reshape(y, ctx.shape)


def _mean_squares(ctx, part, xe, key) -> Moments:
    """The methods that do not center: one pass for the mean squares; NaN/Inf inputs show in them
    (a NaN or infinite value makes its group's mean square so), and are told from overflow then."""
    ops, axes = ctx.ops, part.reduce_positions
    var = ops.mean_of_squares(xe, axes)
    m = Moments(ops.zeros(var.shape, like=var), var, part.group_size, centered=xe)
    if ops.all(ops.isfinite(var)):
        if key is not None:
            ctx.moments_cache[key] = (m.mean, m.var)
        return m
    finite = ops.isfinite(xe)
    bad = part.group_size * part.n_groups - ops.count(finite)
    if bad and ctx.nonfinite == "omit":
        return _moments_omitting(ctx, part, xe, finite, False, bad)
    if bad:
        ctx.warn(f"the input holds {bad} NaN/Inf value(s); nonfinite='propagate' passes them on as torch "
                 f"does: every statistics group containing one gets NaN statistics and NaN outputs")
    else:
        ctx.overflow = True  # finite values whose squares overflow: normalize retries in float64
    return m


def _moments_omitting(ctx, part, xe, finite, center, bad) -> Moments:
    """Moments over the finite values only; non-finite inputs will map to 0 in the output."""
    ops, axes = ctx.ops, part.reduce_positions
    x0 = ops.where(finite, xe, 0.0)
    count = ops.sum(ops.astype(finite, x0.dtype), axes)
    n = ops.maximum(count, 1.0)
    mean = ops.sum(x0, axes) / n if center else ops.zeros(count.shape, like=x0)
    d = ops.where(finite, xe - mean, 0.0)
    var = ops.sum(d * d, axes) / n
    ctx.finite = ops.reshape(finite, ctx.shape)
    empty = part.n_groups - ops.count(count)
    ctx.warn(f"the input holds {bad} NaN/Inf value(s): they are left out of the statistics and their outputs "
             f"set to 0. torch would return NaN for every element of each statistics group that holds one "
             f"({part.describe()}); pass nonfinite='propagate' to see that")
    if empty:
        ctx.warn(f"{empty} statistics group(s) hold no finite value: their statistics are set to 0")
    return Moments(mean, var, count, finite)


def inverse_std(ops, var, eps: float):
    """1 / sqrt(var + eps), with 0 where var + eps is 0 (so 0/0 gives 0, not NaN)."""
    return ops.inverse_std(var, eps)


def standardize(ctx, part: Partition, xe, m: Moments, eps: float, inv=None):
    """(x - mean) / sqrt(var + eps) in x's own shape (inv: inverse_std(m.var, eps), if known)."""
    inv = inverse_std(ctx.ops, m.var, eps) if inv is None else inv
    if m.owns_centered:  # one large allocation less: the output reuses x - mean
        m.owns_centered = False
        return ctx.ops.reshape(ctx.ops.scale_(m.centered, inv), ctx.shape)
    if m.centered is None:
        return ctx.ops.reshape(ctx.ops.scale_(ctx.ops.subtract(xe, m.mean), inv), ctx.shape)
    return ctx.ops.reshape(m.centered * inv, ctx.shape)


def to_stat(ctx, part: Partition, s):
    """A statistic from the expanded keepdims shape to `part.stat_shape` (layout order)."""
    return ctx.ops.reshape(s, part.stat_shape)



def channel_vector(ctx, values, name: str):
    """`values` (a number or one per channel) as a length-C vector on x's backend."""
    v = ctx.ops.const(values, like=ctx.x)
    channels = dict(zip(ctx.layout, ctx.shape))[CHANNEL]
    if v.ndim != 0 and tuple(v.shape) not in ((channels,), (1,)):
        raise ValueError(f"{name} has shape {tuple(v.shape)}; it needs one value per channel (C={channels})")
    return v * ctx.ops.full((channels,), 1.0, like=v)


def per_channel(ctx, values, name: str):
    """A number or length-C vector reshaped to broadcast along C in x's layout."""
    shape = tuple(size if a == CHANNEL else 1 for a, size in zip(ctx.layout, ctx.shape))
    return ctx.ops.reshape(channel_vector(ctx, values, name), shape)


def affine(ctx, y):
    """y * weight + bias. A scalar, a length-C vector (per channel) or an array broadcastable to x."""
    for name, combine in (("weight", lambda a, b: a * b), ("bias", lambda a, b: a + b)):
        value = ctx.params.get(name)
        if value is not None:
            y = combine(y, _affine_operand(ctx, value, name))
    return y


def _affine_operand(ctx, value, name):
    v = ctx.ops.const(value, like=ctx.x)
    channels = dict(zip(ctx.layout, ctx.shape))[CHANNEL]
    if v.ndim == 0:
        return v
    if v.ndim == 1 and v.shape[0] == channels:
        return per_channel(ctx, v, name)
    try:
        fits = np.broadcast_shapes(tuple(ctx.shape), tuple(v.shape)) == tuple(ctx.shape)
    except ValueError:
        fits = False
    if not fits:  # never a new output shape: torch refuses what would broadcast x itself
        raise ValueError(f"{name} of shape {tuple(v.shape)} fits neither one value per channel (C={channels}) "
                         f"nor the tensor's shape")
    return v


def group_map(ctx, part: Partition, scale, center, shift=0.0):
    """(a, c, b), each broadcastable to part.stat_shape, with output = a·(x − c) + b inside every
    statistics group: normalizing is one straight line per group (the affine step folded in).
    Keeping the center c apart lets a caller compute a·(mean − c) exactly. None when the map is
    not one line per group: non-finite inputs set to 0, or a weight that differs within a group."""
    if ctx.finite is not None:
        return None
    a, b = scale, shift
    for name in ("weight", "bias"):
        value = ctx.params.get(name)
        if value is None:
            continue
        operand = _affine_operand(ctx, value, name)
        # one value per group: the operand does not vary along any axis the groups reduce over
        # (per channel for BatchNorm, per (sample, channel) for InstanceNorm and AdaIN)
        constant = operand.ndim == len(ctx.layout) and all(
            size == 1 for ax, size in zip(ctx.layout, operand.shape) if ax in part.reduce)
        if operand.ndim != 0 and not constant:
            return None
        if name == "weight":
            a, b = a * operand, b * operand
        else:
            b = b + operand
    return a, center, b


def group_warnings(ctx, part: Partition, m: Moments, eps: float, center: bool = True):
    """Words for statistics groups that are degenerate: one element, constant, tiny variance."""
    ops = ctx.ops
    what = "variance" if center else "mean square"
    if part.group_size == 1:
        ctx.warn(f"each statistics group holds a single value ({part.describe()}): "
                 + ("its mean is that value and its variance 0, so every output is 0 before the affine step"
                    if center else f"the {what} is the value squared, so outputs are x / sqrt(x² + eps) ≈ ±1"))
        return
    var = ops.small(m.var)  # statistic-sized: counted with NumPy on the host (the same float comparisons)
    empty = part.n_groups - np.count_nonzero(ops.small(m.count)) if m.finite is not None else 0
    zero = np.count_nonzero(var == 0) - empty
    if zero:
        tail = ("with eps=0 torch gives NaN (0/0) there; the explorer gives 0" if eps == 0
                else f"eps={eps:g} keeps the division finite")
        ctx.warn(f"{zero} of {part.n_groups} statistics group(s) have {what} 0 (all values "
                 f"{'equal' if center else 'zero'}): their outputs are 0; {tail}")
    if eps > 0:
        tiny = np.count_nonzero((var > 0) & (var < eps))
        if tiny:
            ctx.warn(f"{tiny} of {part.n_groups} statistics group(s) have {what} below eps={eps:g}: eps dominates "
                     f"the denominator, so their outputs stay well below unit scale")


def update_running(ctx, mean, var, count, running_mean, running_var, num_batches_tracked):
    """One running-statistics step from the batch's biased per-channel mean and var.

    torch: new = (1 - momentum) * old + momentum * batch, with the unbiased variance
    var * n / (n - 1); momentum=None is the cumulative average, momentum = 1 / num_batches_tracked.
    keras: new = momentum * old + (1 - momentum) * batch, with the biased variance.
    A channel with n = 1 value has no unbiased variance: its running_var is kept (torch raises).
    count: values per channel, a number or an array like mean.
    Returns (running_mean, running_var, num_batches_tracked).
    """
    ops, p = ctx.ops, ctx.params
    momentum, convention = p["momentum"], p["momentum_convention"]
    num_batches_tracked += 1
    if convention == "keras":
        keep = momentum
        new_mean, new_var = keep * running_mean + (1 - keep) * mean, keep * running_var + (1 - keep) * var
        if not isinstance(count, (int, float)):  # channels with no finite values keep their running statistics
            new_mean = ops.where(count > 0, new_mean, running_mean)
            new_var = ops.where(count > 0, new_var, running_var)
        return new_mean, new_var, num_batches_tracked
    factor = 1.0 / num_batches_tracked if momentum is None else momentum
    new_mean = (1 - factor) * running_mean + factor * mean
    if isinstance(count, (int, float)):
        if count <= 1:
            return new_mean, running_var, num_batches_tracked
        return new_mean, (1 - factor) * running_var + factor * var * (count / (count - 1)), num_batches_tracked
    unbiased = var * count / ops.maximum(count - 1, 1.0)
    new_var = ops.where(count > 1, (1 - factor) * running_var + factor * unbiased, running_var)
    # a channel whose values were all left out (NaN/Inf) has no batch statistics: keep its running ones
    return ops.where(count > 0, new_mean, running_mean), new_var, num_batches_tracked


# -- torch's fused kernels ------------------------------------------------------------------
# Where a method and layout map onto one of torch's normalization kernels, the torch backend
# calls it (on the tensor's own device) instead of composing the formula from element-wise
# operations. Each returns None where the kernel's result would differ from the formula's:
# NaN/Inf inputs (omitted or propagated with a warning), sums that overflow float32 (retried in
# float64), degenerate groups (one value, variance 0 or below eps: warned about and, with
# eps=0, mapped to 0 where torch gives NaN), weights that are not one per channel (the affine
# step then follows the kernel), layouts torch cannot read without a copy, devices without the
# kernel. The caller then computes the formula as before.


#: False makes the torch backend compose every method from element-wise operations, as the
#: NumPy backend does (the tests compare both ways; the benchmark can show what the kernels gain).
FUSED = True


def fusable(ctx) -> bool:
    """The torch backend without autograd: the fused kernels' statistics do not carry gradients
    the way the formula's do (torch.batch_norm_update_stats has none), so a computation that
    autograd follows (x, weight or bias requiring grad) keeps the formula."""
    if ctx.ops.name != "torch" or not FUSED:
        return False
    if not ctx.ops.torch.is_grad_enabled():
        return True
    values = (ctx.x, ctx.params.get("weight"), ctx.params.get("bias"), ctx.running_mean, ctx.running_var)
    return not any(getattr(v, "requires_grad", False) for v in values if v is not None)


def channel_affine(ctx):
    """(weight, bias, True) as length-C tensors for torch's kernels (a number repeated, None when
    not given), or (None, None, False) when either is neither a number nor one value per channel."""
    ops, t = ctx.ops, ctx.ops.torch
    channels = dict(zip(ctx.layout, ctx.shape))[CHANNEL]
    out = []
    for name in ("weight", "bias"):
        value = ctx.params.get(name)
        if value is None:
            out.append(None)
            continue
        v = ops.const(value, like=ctx.x)
        if v.ndim == 0 or (tuple(v.shape) == (1,) and channels != 1):
            v = t.full((channels,), 1.0, dtype=v.dtype, device=v.device) * v.reshape(())
        elif tuple(v.shape) != (channels,):
            return None, None, False
        out.append(v.contiguous())
    return out[0], out[1], True


@functools.lru_cache(maxsize=256)
def _group_norm_groups(part):
    """G when part's statistics groups are torch.native_group_norm's with G groups (LayerNorm
    G=1, GroupNorm, InstanceNorm G=C), else None."""
    if part.virtual_batch or BATCH in part.reduce:
        return None
    spatial = spatial_axes(part.layout)
    if set(part.reduce) == set(CHANNEL + spatial):
        return part.groups
    if spatial and set(part.reduce) == set(spatial) and part.groups == 1:
        return dict(zip(part.layout, part.shape))[CHANNEL]
    return None


def fused_standard(ctx, part, eps):
    """The centered methods on torch's fused kernels: torch.native_group_norm (LayerNorm,
    GroupNorm, InstanceNorm) or torch.native_layer_norm (LayerNorm over C on a channels-last
    layout), which return the output with each group's mean and inverse standard deviation.
    The variance is recovered as 1/rstd² − eps in float64 (the kernel's own statistic, about
    1e-7 relative in float32); groups whose variance is at or below eps fall back (warned about).
    The moments cache is not read (the kernel's statistics pass costs less than the formula's
    separate transform would); when it lacks this grouping it gets the formula's own moments
    (computed once per input, as the views would compute them; a variance recovered with one
    eps would make the input's statistics shown depend on the eps of the call that cached them).
    A dict like _standard's (with `fused`, the kernel's name), or None (see above)."""
    ops = ctx.ops
    if not isinstance(part, Partition) or part.group_size == 1 or not fusable(ctx):
        return None
    t, x, eps = ops.torch, ctx.x, float(eps)
    groups = _group_norm_groups(part)
    channel_last = (part.reduce == CHANNEL and part.groups == 1 and not part.virtual_batch
                    and ctx.layout[-1] == CHANNEL and x.is_contiguous())
    if groups is None and not channel_last:
        return None
    weight, bias, folded = channel_affine(ctx)
    try:
        if groups is not None:
            xc = ops.canonical_view(x, ctx.layout)
            if xc is None:
                return None
            n, c = xc.shape[:2]
            out, mean, rstd = t.native_group_norm(xc, weight, bias, n, c, xc.numel() // (n * c), groups, eps)
            y, name = ops.from_canonical(out, ctx.layout), "torch.native_group_norm"
        else:
            y, mean, rstd = t.native_layer_norm(x, (x.shape[-1],), weight, bias, eps)
            name = "torch.native_layer_norm"
    except (RuntimeError, NotImplementedError):  # a device or dtype without this kernel
        return None
    mean_np, r = ops.small(mean), ops.small(rstd)  # statistic-sized: NumPy on the host (cheaper calls)
    var_np = 1.0 / np.square(r, dtype=np.float64) - eps  # under normalize's errstate: rstd 0 gives inf
    # NaN/Inf in mean or var (the sum is NaN or inf; a huge finite sum only costs the fallback), or
    # a variance within rounding of eps or below (the formula's warnings decide there)
    if not (np.isfinite(mean_np.sum()) and var_np.min() > eps * (1 + 1e-5) and var_np.max() < np.inf):
        return None
    if not folded:
        y = affine(ctx, y)
    stat = part.stat_shape
    var = ops.from_small(var_np.astype(mean_np.dtype).reshape(stat), like=mean)
    mean, inv = (ops.from_small(a.reshape(stat), like=v) if v.device.type == "cpu" else v.view(stat)
                 for a, v in ((mean_np, mean), (r, rstd)))
    if ctx.moments_cache is not None and moments_key(ops, part, True, x) not in ctx.moments_cache:
        # the views' statistics of this input: the formula's own (exact, whatever eps), computed once
        moments(replace(ctx, warnings=[], overflow=False, finite=None), part, ops.reshape(x, part.expanded_shape))
    return dict(output=y, mean=mean, var=var, group_map=group_map(ctx, part, inv, mean), fused=name)


#: Above this many elements the mean-square methods keep the formula: on the CPU,
#: torch._fused_rms_norm makes a temporary the size of x (2x slower than the formula's one pass
#: for the statistics and one for the output, at 25.7M elements); below it is the faster of the two.
RMS_KERNEL_MAX = 1 << 22


def fused_mean_square(ctx, part, eps):
    """The methods that do not center (RMSNorm, and PixelNorm, FRN, custom axes where every group
    is a contiguous row of x) on torch._fused_rms_norm, the kernel of torch.nn.functional.rms_norm:
    the output and each row's inverse root mean square in one call; the mean square is recovered
    as 1/rstd² − eps, and the semantics and fallbacks are fused_standard's. None where it does not
    apply (a torch without that kernel included)."""
    ops = ctx.ops
    if (not isinstance(part, Partition) or part.group_size == 1 or part.virtual_batch or not fusable(ctx)
            or ctx.x.numel() > RMS_KERNEL_MAX):
        return None
    t, x, eps = ops.torch, ctx.x, float(eps)
    kernel = getattr(t, "_fused_rms_norm", None)
    plan = _group_rows(part) if kernel is not None and x.is_contiguous() else None
    if plan is None:
        return None
    try:
        out, rstd = kernel(x.view(-1, plan), [plan], None, eps)
    except (RuntimeError, NotImplementedError):
        return None
    r = ops.small(rstd)
    var_np = 1.0 / np.square(r, dtype=np.float64) - eps  # under normalize's errstate: rstd 0 gives inf
    if not (var_np.min() > eps * (1 + 1e-5) and var_np.max() < np.inf):
        return None
    stat = part.stat_shape
    y = affine(ctx, out.view(ctx.shape))
    var = ops.from_small(var_np.astype(r.dtype).reshape(stat), like=rstd)
    inv = ops.from_small(r.reshape(stat), like=rstd) if rstd.device.type == "cpu" else rstd.view(stat)
    mean = ops.zeros(stat, like=var)
    if ctx.moments_cache is not None and moments_key(ops, part, False, x) not in ctx.moments_cache:
        moments(replace(ctx, warnings=[], overflow=False, finite=None), part, ops.reshape(x, part.expanded_shape),
                center=False)
    return dict(output=y, mean=mean, var=var, group_map=group_map(ctx, part, inv, mean), fused="torch._fused_rms_norm")


@functools.lru_cache(maxsize=256)
def _group_rows(part):
    """K when every statistics group of part is a contiguous run of K elements of a contiguous x
    (the reduced axes, split or not, end the expanded shape), else None."""
    expanded, reduced = part.expanded_shape, set(part.reduce_positions)
    k, i = 1, len(expanded)
    while i > 0 and i - 1 in reduced:
        i -= 1
        k *= expanded[i]
    return k if reduced == set(range(i, len(expanded))) and k > 1 else None


def batch_norm_view(ctx, part):
    """x in (N, C, *spatial) without a copy when the torch backend can run BatchNorm's kernels on
    it (part: one group per channel over N and every position); else None."""
    ops = ctx.ops
    if (not isinstance(part, Partition) or part.virtual_batch or part.groups != 1
            or set(part.reduce) != set(BATCH + spatial_axes(ctx.layout)) or not fusable(ctx)):
        return None
    return ops.canonical_view(ctx.x, ctx.layout)


def fused_batch_moments(ctx, part, xc):
    """BatchNorm's batch mean and biased variance per channel from torch.batch_norm_update_stats
    (the statistics pass of torch's own kernel, accumulated in double), kept in and taken from
    the moments cache like `moments`'. None when not finite (the formula's path handles NaN/Inf
    and overflow)."""
    ops, t = ctx.ops, ctx.ops.torch
    key = moments_key(ops, part, True, ctx.x) if ctx.moments_cache is not None else None
    hit = cached(ctx, key)
    if hit is not None:
        return Moments(hit[0], hit[1], part.group_size)
    try:
        mean, var = t.batch_norm_update_stats(xc, None, None, 0.0)
    except (RuntimeError, NotImplementedError):
        return None
    if not (np.isfinite(ops.small(mean)).all() and np.isfinite(ops.small(var)).all()):
        return None
    m = Moments(mean.reshape(part.expanded_stat_shape), var.reshape(part.expanded_stat_shape), part.group_size)
    if key is not None:
        ctx.moments_cache[key] = (m.mean, m.var)
    return m


def batch_norm_transform(ctx, xc, mean, var, eps):
    """(x − mean) / √(var + eps), then the affine step, per channel with torch's BatchNorm kernel
    in evaluation mode (one pass; weight and bias folded in when one per channel). None where a
    channel has var + eps = 0 (the formula gives 0 there, torch NaN)."""
    t = ctx.ops.torch
    if eps == 0 and bool((var == 0).any()):
        return None
    weight, bias, folded = channel_affine(ctx)
    try:
        y = t.batch_norm(xc, weight, bias, mean.reshape(-1), var.reshape(-1), False, 0.0, float(eps), False)
    except (RuntimeError, NotImplementedError):
        return None
    y = ctx.ops.from_canonical(y, ctx.layout)
    return y if folded else affine(ctx, y)
