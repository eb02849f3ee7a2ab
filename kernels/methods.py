"""The registry: every normalization, declared once with its axes, parameters, formula,
texts, compute function and code generator (in `kernels.code`). Adding a method is adding an
entry here (and its code generator); the tests parametrize over `METHODS`, so a new entry is
tested automatically.
"""

from __future__ import annotations

from math import prod

import numpy as np

from .code import (
    code_adain,
    code_batch,
    code_channel,
    code_conditional_batch,
    code_custom,
    code_frn,
    code_ghost,
    code_group,
    code_instance,
    code_layer,
    code_lrn,
    code_minmax,
    code_pixel,
    code_renorm,
    code_rms,
    code_sample_group,
    code_standardize,
)
from .layouts import BATCH, CHANNEL, permutation, spatial_axes
from .moments import (
    affine,
    batch_norm_transform,
    batch_norm_view,
    channel_vector,
    fusable,
    fused_batch_moments,
    fused_mean_square,
    fused_standard,
    group_map,
    group_warnings,
    inverse_std,
    moments,
    per_channel,
    rows_standard,
    standardize,
    to_stat,
    update_running,
)
from .partition import ChannelWindow, Partition
from .registry import Method, Param, ShapeInfo, default_batch_axes, default_groups, default_virtual_batch

# -- parameters shared by several methods ------------------------------------------------
EPS = Param("eps", "float", 1e-5, "added to the variance inside the square root: (x − μ) / √(σ² + ε)", minimum=0.0,
            log=True)
WEIGHT = Param("weight", "array", None, "affine scale γ: a number, one per channel, or an array broadcastable "
                                         "to x (None: 1)")
BIAS = Param("bias", "array", None, "affine shift β, shaped like weight (None: 0)")
AFFINE = (WEIGHT, BIAS)
MOMENTUM = Param("momentum", "optional_float", 0.1,
                 "running-statistics momentum (torch: new = (1 − m)·old + m·batch; None: cumulative average)",
                 minimum=0.0, maximum=1.0)
CONVENTION = Param("momentum_convention", "choice", "torch",
                   "torch: new = (1 − m)·old + m·batch with unbiased var; keras: new = m·old + (1 − m)·batch "
                   "with biased var", choices=("torch", "keras"))
RUNNING = (MOMENTUM, CONVENTION)
INSTANCE_MOMENTUM = Param("momentum", "optional_float", 0.1,
                          "running-statistics momentum, used only when running statistics are passed (torch's "
                          "track_running_stats=True): new = (1 − m)·old + m·(per-instance statistics averaged over N)",
                          minimum=0.0, maximum=1.0)
GROUPS = Param("groups", "int", default_groups, "number of channel groups G; C must be divisible by G", minimum=1)

TRAIN_EVAL = ("Train vs eval: in training BatchNorm normalizes with the batch's own mean and variance and "
              "updates running averages; in eval it uses the running averages, so the same input gives a "
              "different output. Forgetting model.eval() at inference is a classic bug.")
BATCH_ONE = ("Batch size 1: with one value per channel (N=1 and no spatial extent) the batch variance is 0; "
             "torch raises 'Expected more than 1 value per channel when training'. With small batches the "
             "statistics are noisy; GroupNorm and LayerNorm do not depend on the batch.")
UNBIASED = ("running_var stores the unbiased variance (n/(n−1)) while normalizing uses the biased one, "
            "so eval output has slightly less than unit variance.")
LN_NCHW = ("LayerNorm on NCHW in torch (nn.LayerNorm([C, H, W])) normalizes each sample over channels and "
           "positions; nn.LayerNorm(C) on an NHWC tensor (ConvNeXt, transformers) normalizes over channels "
           "only, at every position: see 'channel'.")


# -- shared pieces of the compute functions ----------------------------------------------

def _standard(ctx, center=True, eps=None):
    """The plain path: moments over the partition, standardize, affine step (on the torch
    backend torch's fused kernel where one computes the same thing, see moments.fused_standard)."""
    part = ctx.sharing
    eps = ctx.params["eps"] if eps is None else eps
    fused = fused_standard(ctx, part, eps) if center else fused_mean_square(ctx, part, eps)
    if fused is not None:
        return fused
    xe = ctx.ops.reshape(ctx.x, part.expanded_shape)
    fast = rows_standard(ctx, part, xe, eps, center)  # NumPy, every group a row: one sweep per thread
    m = moments(ctx, part, xe, center=center) if fast is None else fast[0]
    group_warnings(ctx, part, m, eps, center=center)
    inv = inverse_std(ctx.ops, m.var, eps)
    y = affine(ctx, standardize(ctx, part, xe, m, eps, inv) if fast is None else fast[1])
    inv, mean = to_stat(ctx, part, inv), to_stat(ctx, part, m.mean)
    return dict(output=y, mean=mean, var=to_stat(ctx, part, m.var),
                group_map=group_map(ctx, part, inv, mean))


def _rows(ctx, part, s):
    """A per-(virtual batch, channel) statistic as a (batches, C) array."""
    order = BATCH + CHANNEL + "".join(a for a in ctx.layout if a not in BATCH + CHANNEL)
    t = ctx.ops.transpose(to_stat(ctx, part, s), permutation(ctx.layout, order))
    return ctx.ops.reshape(t, (t.shape[0], t.shape[1]))


def _running_inputs(ctx):
    """The given running statistics as length-C vectors, or a fresh module's (mean 0, var 1)."""
    rm = channel_vector(ctx, 0.0 if ctx.running_mean is None else ctx.running_mean, "running_mean")
    rv = channel_vector(ctx, 1.0 if ctx.running_var is None else ctx.running_var, "running_var")
    if ctx.ops.count(rv < 0):
        raise ValueError("running_var has negative values; a variance is never negative")
    return rm, rv


def _eval_with_running(ctx):
    """Eval mode: normalize with the running statistics (torch's F.batch_norm(training=False))."""
    missing = [name for name, value in (("running_mean=0", ctx.running_mean), ("running_var=1", ctx.running_var))
               if value is None]
    if missing:
        ctx.warn(f"eval mode without {' and '.join(m.split('=')[0] for m in missing)}: using a freshly initialised "
                 f"module's {' and '.join(missing)}" + (", so the output is x / √(1 + eps) ≈ x, not normalized at all"
                                                        if len(missing) == 2 else ""))
    rm, rv = _running_inputs(ctx)
    eps = ctx.params["eps"]
    mean, var = per_channel(ctx, rm, "running_mean"), per_channel(ctx, rv, "running_var")
    inv = inverse_std(ctx.ops, var, eps)
    xc = batch_norm_view(ctx, ctx.sharing)
    y = batch_norm_transform(ctx, xc, mean, var, eps) if xc is not None else None
    out = dict(fused="torch.batch_norm") if y is not None else {}
    if y is None:
        y = affine(ctx, (ctx.x - mean) * inv)
    return dict(output=y, mean=mean, var=var, group_map=group_map(ctx, ctx.sharing, inv, mean), **out)


def _batch_training(ctx, renorm=False):
    """BatchNorm-style training step: batch statistics (per virtual batch for ghost BatchNorm),
    optional Batch Renormalization correction, and running-statistics updates when given."""
    ops, p = ctx.ops, ctx.params
    part = ctx.sharing
    eps = p["eps"]
    xe = ops.reshape(ctx.x, part.expanded_shape)
    xc = None if renorm else batch_norm_view(ctx, part)  # torch's BatchNorm kernels, where they apply
    m = fused_batch_moments(ctx, part, xc) if xc is not None else None
    xc = xc if m is not None else None
    m = m if m is not None else moments(ctx, part, xe)
    if part.group_size == 1:
        ctx.warn("one value per channel in training (N=1 and a single position): torch raises 'Expected more "
                 "than 1 value per channel when training'. The batch mean equals the value and the variance is "
                 "0, so every output is 0 (then bias): the sample's information is erased")
    else:
        group_warnings(ctx, part, m, eps)
        if not part.virtual_batch and dict(zip(ctx.layout, ctx.shape))[BATCH] == 1:
            ctx.warn("one sample per batch (N=1): each channel's statistics come from this sample's positions alone, "
                     "the same groups as InstanceNorm; nothing is shared across samples, and eval mode (running "
                     "statistics) will give a different output")
    if eps == 0:
        ctx.warn("torch refuses eps=0 for BatchNorm in training ('batch_norm eps must be positive during "
                 "training'); the explorer computes it anyway")
    inv_e = inverse_std(ops, m.var, eps)
    mean, inv = to_stat(ctx, part, m.mean), to_stat(ctx, part, inv_e)
    out = dict(mean=mean, var=to_stat(ctx, part, m.var), stats={})
    y = batch_norm_transform(ctx, xc, m.mean, m.var, eps) if xc is not None else None  # output, affine included
    if y is not None:
        out["fused"] = "torch.batch_norm_update_stats + torch.batch_norm"
    else:
        y = standardize(ctx, part, xe, m, eps, inv_e)
    scale, shift = inv, 0.0
    track = ctx.running_mean is not None or ctx.running_var is not None or renorm
    if track:
        rm, rv = _running_inputs(ctx)
        if renorm:
            y, r, d = _renorm_correction(ctx, part, m, y, rm, rv)
            out["stats"].update(r=r, d=d)
            scale, shift = scale * r, d
        means, variances = _rows(ctx, part, m.mean), _rows(ctx, part, m.var)
        counts = _rows(ctx, part, m.count) if m.finite is not None else part.group_size
        nbt = ctx.num_batches_tracked
        for b in range(means.shape[0]):  # ghost BatchNorm: one update per virtual batch, in order
            count = counts if isinstance(counts, int) else counts[b]
            rm, rv, nbt = update_running(ctx, means[b], variances[b], count, rm, rv, nbt)
        if part.group_size == 1 and p["momentum_convention"] == "torch":
            ctx.warn("running_var was not updated: one value per channel has no unbiased variance")
        out.update(running_mean=rm, running_var=rv, num_batches_tracked=nbt)
    out["output"] = y if "fused" in out else affine(ctx, y)
    out["group_map"] = group_map(ctx, part, scale, mean, shift)
    return out


def _renorm_correction(ctx, part, m, y, rm, rv):
    """Batch Renormalization (Ioffe 2017): y·r + d with r = clip(σ_B/σ, 1/rmax, rmax) and
    d = clip((μ_B − μ)/σ, −dmax, dmax), σ = √(running_var + eps), both treated as constants."""
    ops, p = ctx.ops, ctx.params
    sigma = ops.sqrt(per_channel(ctx, rv, "running_var") + p["eps"])
    mu = per_channel(ctx, rm, "running_mean")
    sigma_b = ops.sqrt(to_stat(ctx, part, m.var) + p["eps"])
    r = ops.clip(sigma_b / sigma, 1.0 / p["rmax"], p["rmax"])
    d = ops.clip((to_stat(ctx, part, m.mean) - mu) / sigma, -p["dmax"], p["dmax"])
    return y * r + d, r, d


def _compute_batch(ctx):
    return _batch_training(ctx) if ctx.training else _eval_with_running(ctx)


def _compute_batch_renorm(ctx):
    return _batch_training(ctx, renorm=True) if ctx.training else _eval_with_running(ctx)


def _compute_instance(ctx):
    if len(spatial_axes(ctx.layout)) and _spatial_size(ctx) == 1:
        ctx.warn("InstanceNorm over a single position: torch raises 'Expected more than 1 spatial element when "
                 "training'; every output is 0")
    out = _standard(ctx)
    if ctx.running_mean is not None or ctx.running_var is not None:
        out.update(_instance_running(ctx, out["mean"], out["var"]))
    return out


def _instance_running(ctx, mean, var):
    """torch's InstanceNorm with track_running_stats=True, in training: each running statistic moves
    toward the per-instance statistics averaged over the batch (unbiased variances):
    new = (1 − m)·old + m·mean over N. momentum=None means 0 there (InstanceNorm passes
    `momentum or 0.0`): nothing moves; num_batches_tracked is never counted."""
    ops = ctx.ops
    rm, rv = _running_inputs(ctx)
    order = BATCH + CHANNEL + "".join(a for a in ctx.layout if a not in BATCH + CHANNEL)

    def per_sample(s):  # (N, C)
        t = ops.transpose(s, permutation(ctx.layout, order))
        return ops.reshape(t, (t.shape[0], t.shape[1]))

    n = ctx.sharing.group_size
    factor = ctx.params["momentum"] or 0.0
    if ctx.params["momentum"] is None:
        ctx.warn("momentum=None: torch's InstanceNorm passes momentum 0 then, so the running statistics never move")
    channels = rm.shape[0]
    batch_mean = ops.reshape(ops.mean(per_sample(mean), (0,)), (channels,))
    batch_var = ops.reshape(ops.mean(per_sample(var), (0,)), (channels,))
    new_mean = (1 - factor) * rm + factor * batch_mean
    new_var = rv if n <= 1 else (1 - factor) * rv + factor * batch_var * (n / (n - 1))
    return dict(running_mean=new_mean, running_var=new_var, num_batches_tracked=ctx.num_batches_tracked)


def _per_sample_channel(ctx, value, name):
    """A number, one value per channel (C,) or one per sample and channel (N, C), as an array that
    broadcasts against x in its layout (N and C where the layout has them, 1 elsewhere)."""
    ops = ctx.ops
    v = ops.const(value, like=ctx.x)
    size = dict(zip(ctx.layout, ctx.shape))
    if v.ndim == 0 or (v.ndim == 1 and v.shape[0] == size[CHANNEL]):
        return v if v.ndim == 0 else per_channel(ctx, v, name)
    if tuple(v.shape) != (size[BATCH], size[CHANNEL]):
        raise ValueError(f"{name} of shape {tuple(v.shape)} needs a number, one value per channel (C={size[CHANNEL]}) "
                         f"or one per sample and channel (N, C) = ({size[BATCH]}, {size[CHANNEL]})")
    if ctx.layout.index(BATCH) > ctx.layout.index(CHANNEL):
        v = ops.transpose(v, (1, 0))
    return ops.reshape(v, tuple(s if a in (BATCH, CHANNEL) else 1 for a, s in zip(ctx.layout, ctx.shape)))


def _compute_adain(ctx):
    """AdaIN (Huang & Belongie 2017): InstanceNorm whose γ, β are a style's σ_s, μ_s per (sample,
    channel). They become the affine step's weight and bias (shown in the Result's params)."""
    p = ctx.params
    p.update(weight=_per_sample_channel(ctx, p["style_std"], "style_std"),
             bias=_per_sample_channel(ctx, p["style_mean"], "style_mean"))
    if len(spatial_axes(ctx.layout)) and _spatial_size(ctx) == 1:
        ctx.warn("AdaIN over a single position: the instance variance is 0, so every output is the style's mean")
    return _standard(ctx)


def conditional_tables(params: dict, n: int, c: int) -> tuple:
    """(labels (N,), gamma_table (classes, C), beta_table (classes, C)) as NumPy arrays, the defaults
    filled in: two classes, even samples class 0 (γ 1, β 0) and odd samples class 1 (γ 2, β 1)."""
    labels = np.arange(n) % 2 if params["labels"] is None else np.asarray(params["labels"])
    gamma = np.array([[1.0] * c, [2.0] * c]) if params["gamma_table"] is None else np.asarray(params["gamma_table"],
                                                                                            dtype=np.float64)
    beta = np.array([[0.0] * c, [1.0] * c]) if params["beta_table"] is None else np.asarray(params["beta_table"],
                                                                                          dtype=np.float64)
    if labels.shape != (n,) or labels.dtype.kind not in "iub" and not np.array_equal(labels, np.round(labels)):
        raise ValueError(f"labels needs one integer class per sample (N={n}), got shape {labels.shape}")
    labels = labels.astype(np.int64)
    for name, table in (("gamma_table", gamma), ("beta_table", beta)):
        if table.ndim != 2 or table.shape[1] != c:
            raise ValueError(f"{name} needs one row per class and one column per channel (classes, C={c}), got "
                             f"shape {table.shape}")
    classes = min(gamma.shape[0], beta.shape[0])
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in 0 … {classes - 1} (the tables have {classes} rows)")
    return labels, gamma, beta


def _compute_conditional_batch(ctx):
    """Conditional BatchNorm (de Vries et al. 2017, Dumoulin et al. 2017): BatchNorm without its own
    affine step, then γ, β looked up per sample from its class (an nn.Embedding(classes, C))."""
    size = dict(zip(ctx.layout, ctx.shape))
    labels, gamma, beta = conditional_tables(ctx.params, size[BATCH], size[CHANNEL])
    ctx.params.update(weight=_per_sample_channel(ctx, gamma[labels], "gamma_table[labels]"),
                      bias=_per_sample_channel(ctx, beta[labels], "beta_table[labels]"))
    return _compute_batch(ctx)


def _spatial_size(ctx) -> int:
    n = 1
    for a, s in zip(ctx.layout, ctx.shape):
        n *= s if a in spatial_axes(ctx.layout) else 1
    return n


def _compute_rms(ctx):
    eps = ctx.params["eps"]
    if eps is None:  # torch: finfo(dtype).eps of the computation dtype (float32 for half inputs)
        eps = ctx.compute_eps
    return _standard(ctx, center=False, eps=eps)


def _compute_custom(ctx):
    return _standard(ctx, center=ctx.params["center"])


def _compute_frn(ctx):
    """Filter Response Normalization (Singh & Krishnan 2020): ν² = mean(x²) over positions,
    y = γ·x/√(ν² + |ε|) + β, then the TLU max(y, τ)."""
    out = _standard(ctx, center=False, eps=abs(ctx.params["eps"]))
    if ctx.params["tlu"]:
        out["output"] = ctx.ops.maximum(out["output"], ctx.params["tau"])
        out["group_map"] = None  # max(y, tau) is not a line
    return out


def _compute_lrn(ctx):
    """torch.nn.functional.local_response_norm: b_c = a_c / (k + α/n · Σ a_{c'}²)^β over the
    window c' ∈ [c − n//2, c + (n−1)//2], zero padded."""
    ops, p = ctx.ops, ctx.params
    x = ctx.x
    cpos, channels = ctx.layout.index(CHANNEL), dict(zip(ctx.layout, ctx.shape))[CHANNEL]
    # A window wider than 2C − 1 covers every channel from every c: its sums are those of size 2C − 1
    # (the zero padding adds nothing), only the divisor differs. So any size costs what 2C − 1 does.
    size = min(p["size"], 2 * channels - 1)
    alpha, rescale = p["alpha"] * size / p["size"], size / p["size"]
    fast = ops.local_response(x, cpos, size, alpha, p["beta"], p["k"]) if ops.name == "numpy" or fusable(ctx) \
        else None  # the common case in a few passes; NaN/Inf, overflow and 0/0 take the formula below
    if fast is not None:
        window_mean, y = fast
        return dict(output=y, mean=ops.zeros(ctx.shape, like=x), var=window_mean * rescale if rescale != 1 else
                    window_mean, fused="torch.nn.functional.avg_pool3d" if ops.name == "torch" else "")
    finite = ops.isfinite(x)
    bad = prod(ctx.shape) - ops.count(finite)
    if bad and ctx.nonfinite == "omit":
        ctx.warn(f"the input holds {bad} NaN/Inf value(s): they count as 0 in the windows and their outputs are "
                 f"0; torch would give NaN for every element whose window holds one")
        x = ops.where(finite, x, 0.0)
        ctx.finite = finite
    elif bad:
        ctx.warn(f"the input holds {bad} NaN/Inf value(s); nonfinite='propagate' passes them on as torch does: "
                 f"every element whose window holds one gets a NaN output")
    sq = x * x

    def pad(n):
        shape = list(ctx.shape)
        shape[cpos] = n
        return ops.zeros(tuple(shape), like=x)

    padded = ops.concat([pad(size // 2), sq, pad((size - 1) // 2)], axis=cpos)
    index = [slice(None)] * len(ctx.shape)
    acc = None
    for offset in range(size):
        index[cpos] = slice(offset, offset + channels)
        acc = padded[tuple(index)] if acc is None else acc + padded[tuple(index)]
    window_mean = acc / size
    if not bad and not ops.all(ops.isfinite(window_mean)):
        ctx.overflow = True  # squares of finite values overflow: normalize retries in float64
    div = ops.power(window_mean * alpha + p["k"], p["beta"])
    window_mean = window_mean * rescale if rescale != 1 else window_mean
    zero = ops.count(div == 0)
    if zero:
        ctx.warn(f"{zero} element(s) have k=0 and an all-zero window: 0/0, set to 0 (torch gives NaN)")
    y = ops.where(div > 0, x / ops.where(div > 0, div, 1.0), 0.0)
    return dict(output=y, mean=ops.zeros(ctx.shape, like=x), var=window_mean)


def _compute_standardize(ctx):
    """sklearn StandardScaler: z = (x − mean) / scale, scale = √var (biased), 1 for constant features."""
    ops, p = ctx.ops, ctx.params
    part = ctx.sharing
    xe = ops.reshape(ctx.x, part.expanded_shape)
    m = moments(ctx, part, xe)
    constant = ops.count(m.var == 0)
    if constant and p["with_std"]:
        ctx.warn(f"{constant} of {part.n_groups} feature(s) are constant: their scale is set to 1 "
                 f"(scikit-learn's rule), so they map to 0 instead of 0/0")
    scale = ops.where(m.var == 0, 1.0, ops.sqrt(m.var)) if p["with_std"] else ops.full(m.var.shape, 1.0, like=m.var)
    y = ((xe - m.mean) if p["with_mean"] else xe) / scale
    scale_s, mean = to_stat(ctx, part, scale), to_stat(ctx, part, m.mean)
    center = mean if p["with_mean"] else 0.0
    return dict(output=ops.reshape(y, ctx.shape), mean=mean, var=to_stat(ctx, part, m.var),
                stats=dict(scale=scale_s), group_map=group_map(ctx, part, 1.0 / scale_s, center))


def _compute_minmax(ctx):
    """sklearn MinMaxScaler: x·scale + (a − min·scale), scale = (b − a) / (max − min), range 0 → 1."""
    ops, p = ctx.ops, ctx.params
    part = ctx.sharing
    axes = part.reduce_positions
    xe = ops.reshape(ctx.x, part.expanded_shape)
    lo, hi = ops.amin(xe, axes), ops.amax(xe, axes)
    if not (ops.all(ops.isfinite(lo)) and ops.all(ops.isfinite(hi))):
        finite = ops.isfinite(xe)
        ctx.finite = ops.reshape(finite, ctx.shape)
        bad = part.group_size * part.n_groups - ops.count(finite)
        ctx.warn(f"the input holds {bad} NaN/Inf value(s): they are left out of the minimum and maximum and map "
                 f"to 0")
        big = float("inf")
        lo, hi = ops.amin(ops.where(finite, xe, big), axes), ops.amax(ops.where(finite, xe, -big), axes)
        empty = ~ops.isfinite(lo)
        lo, hi = ops.where(empty, 0.0, lo), ops.where(empty, 0.0, hi)
    a, b = p["feature_range"]
    data_range = hi - lo
    constant = ops.count(data_range == 0)
    if constant:
        ctx.warn(f"{constant} of {part.n_groups} feature(s) are constant (max = min): their range is set to 1 "
                 f"(scikit-learn's rule), so they map to {a:g}")
    scale = (b - a) / ops.where(data_range == 0, 1.0, data_range)
    y = xe * scale + (a - lo * scale)
    if p["clip"]:
        y = ops.clip(y, a, b)
    line = None if p["clip"] else group_map(ctx, part, to_stat(ctx, part, scale), to_stat(ctx, part, lo), a)
    return dict(output=ops.reshape(y, ctx.shape), mean=to_stat(ctx, part, lo), var=to_stat(ctx, part, data_range ** 2),
                stats=dict(data_min=to_stat(ctx, part, lo), data_max=to_stat(ctx, part, hi)), group_map=line)


def _default_sample_groups(info: ShapeInfo) -> int:
    """Two groups or more (the smallest divisor of N between 1 and N), so it differs from both BatchNorm
    and InstanceNorm; 1 (BatchNorm) when N has none (N = 1, 2, 3, 5, …)."""
    n = info.size(BATCH)
    return next((d for d in range(2, n) if n % d == 0), 1)


def _sample_group_size(layout, shape, params) -> int:
    n, groups = dict(zip(layout, shape))[BATCH], params["sample_groups"]
    if n % groups:
        raise ValueError(f"N={n} is not divisible by sample_groups={groups}")
    return n // groups


def _window_sharing(layout, shape, params):
    return ChannelWindow(layout, tuple(shape), params["size"])


# -- the registry ---------------------------------------------------------------------------

_STD = "y = (x − μ) / √(σ² + ε) · γ + β"

_ENTRIES = [
    Method(
        name="batch",
        label="BatchNorm",
        family="activation",
        axes="N*",
        centers=True,
        params=(EPS, *RUNNING, *AFFINE),
        formula=_STD + "\nμ, σ² over (N, H, W) for each channel (biased σ² in training);\n"
            "eval: μ, σ² = running_mean, running_var",
        summary="Per channel, over the batch and all positions. Training uses the batch's statistics and updates "
            "running averages; eval uses the running averages.",
        compute=_compute_batch,
        code=code_batch,
        running_stats=True,
        references=("Ioffe & Szegedy 2015, Batch Normalization, arXiv:1502.03167",
            "torch.nn.BatchNorm2d, torch.nn.functional.batch_norm"),
        pitfalls=(BATCH_ONE, TRAIN_EVAL, UNBIASED,
            "Momentum conventions are opposite: torch's momentum=0.1 is Keras' momentum=0.9.")),
    Method(
        name="layer",
        label="LayerNorm",
        family="activation",
        axes="C*",
        centers=True,
        params=(EPS, *AFFINE),
        formula=_STD + "\nμ, σ² over (C, H, W) for each sample; same in train and eval",
        summary="Per sample, over all channels and positions: torch's nn.LayerNorm([C, H, W]). Independent of the "
            "batch, identical in training and evaluation.",
        compute=lambda ctx: _standard(ctx),
        code=code_layer,
        references=("Ba, Kiros & Hinton 2016, Layer Normalization, arXiv:1607.06450", "torch.nn.LayerNorm"),
        pitfalls=(LN_NCHW, "torch's LayerNorm weight has the normalized shape (C, H, W), one γ per element, "
            "not per channel.")),
    Method(
        name="instance",
        label="InstanceNorm",
        family="activation",
        axes="*",
        centers=True,
        params=(EPS, *AFFINE, INSTANCE_MOMENTUM),
        formula=_STD + "\nμ, σ² over (H, W) for each sample and channel",
        summary="Per sample and channel, over positions: removes each image's per-channel contrast (style transfer).",
        compute=_compute_instance,
        code=code_instance,
        references=("Ulyanov, Vedaldi & Lempitsky 2016, Instance Normalization, arXiv:1607.08022",
            "torch.nn.InstanceNorm2d"),
        pitfalls=("torch's InstanceNorm defaults to affine=False and track_running_stats=False, unlike "
            "BatchNorm.", "Over a single position (1x1 maps) the variance is 0 and every output is 0.")),
    Method(
        name="group",
        label="GroupNorm",
        family="activation",
        axes="C*",
        centers=True,
        params=(GROUPS, EPS, *AFFINE),
        formula=_STD + "\nμ, σ² over (C/G, H, W) for each sample and group of channels",
        summary="Per sample, over groups of consecutive channels and all positions. G=1 is LayerNorm, G=C is "
            "InstanceNorm. Independent of the batch size.",
        compute=lambda ctx: _standard(ctx),
        code=code_group,
        references=("Wu & He 2018, Group Normalization, arXiv:1803.08494", "torch.nn.GroupNorm"),
        pitfalls=("C must be divisible by the number of groups G.",
            "The affine γ, β are per channel, not per group.")),
    Method(
        name="rms",
        label="RMSNorm",
        family="activation",
        axes="C*",
        centers=False,
        params=(Param("eps", "optional_float", None, "added to the mean square; None: torch.finfo(dtype).eps of the "
                                                     "computation dtype (float32 for half)", minimum=0.0, log=True),
            *AFFINE),
        formula="y = x / √(mean(x²) + ε) · γ\nmean over (C, H, W) for each sample; no centering",
        summary="LayerNorm without the centering: divides by the root mean square per sample. Used in LLaMA-style "
            "transformers.",
        compute=_compute_rms,
        code=code_rms,
        references=("Zhang & Sennrich 2019, Root Mean Square Layer Normalization, arXiv:1910.07467",
            "torch.nn.RMSNorm"),
        pitfalls=("torch's eps=None means torch.finfo(x.dtype).eps (1.19e-07 for float32), not 1e-5.",
            "The mean is not removed: a shifted input stays shifted.")),
    Method(
        name="lrn",
        label="LocalResponseNorm",
        family="activation",
        axes="C",
        centers=False,
        params=(Param("size", "int", 5, "number of neighbouring channels in the window n", minimum=1),
            Param("alpha", "float", 1e-4, "multiplier α of the window's mean square", minimum=0.0, log=True),
            Param("beta", "float", 0.75, "exponent β", minimum=0.0),
            Param("k", "float", 1.0, "additive constant k", minimum=0.0)),
        formula="b_c = a_c / (k + α/n · Σ_{c'} a_{c'}²)^β\nc' from c − n//2 to c + (n−1)//2 at the same (n, h, w)",
        summary="Each activation is divided by the energy of its neighbouring channels at the same position "
            "(AlexNet). There are no shared groups: every element has its own window.",
        compute=_compute_lrn,
        code=code_lrn,
        sharing=_window_sharing,
        references=("Krizhevsky, Sutskever & Hinton 2012, ImageNet Classification with Deep CNNs",
            "torch.nn.functional.local_response_norm"),
        pitfalls=("With torch's default α = 1e-4, inputs of unit scale are barely changed.",
            "torch divides α by the window size; TensorFlow does not.",
            "torch's window for even sizes is asymmetric: c − n/2 ... c + n/2 − 1.")),
    Method(
        name="pixel",
        label="PixelNorm",
        family="activation",
        axes="C",
        centers=False,
        params=(Param("eps", "float", 1e-8, "added to the mean square", minimum=0.0, log=True),),
        formula="y = x / √(mean_c(x²) + ε)\nover C at each sample and position (ProGAN)",
        summary="Scales each pixel's feature vector to unit root mean square, over channels only (ProGAN, StyleGAN).",
        compute=lambda ctx: _standard(ctx, center=False),
        code=code_pixel,
        references=("Karras et al. 2018, Progressive Growing of GANs, arXiv:1710.10196",),
        pitfalls=("No centering and no learned scale.",)),
    Method(
        name="channel",
        label="LayerNorm over C",
        family="activation",
        axes="C",
        centers=True,
        params=(EPS, *AFFINE),
        formula=_STD + "\nμ, σ² over C alone at each sample and position",
        summary="LayerNorm over channels only, at every position: nn.LayerNorm(C) applied to an NHWC tensor (ConvNeXt, "
            "vision transformers). Not the same as nn.LayerNorm([C, H, W]).",
        compute=lambda ctx: _standard(ctx),
        code=code_channel,
        references=("Liu et al. 2022, A ConvNet for the 2020s (ConvNeXt), arXiv:2201.03545",
            "torch.nn.LayerNorm"),
        pitfalls=(LN_NCHW,)),
    Method(
        name="ghost_batch",
        label="Ghost BatchNorm",
        family="activation",
        axes="N*",
        centers=True,
        params=(Param("virtual_batch", "int", default_virtual_batch, "samples per virtual batch; N must be divisible",
            minimum=1), EPS, *RUNNING, *AFFINE),
        formula=_STD + "\nμ, σ² over (N_v, H, W) per channel within each virtual batch of N_v samples",
        summary="BatchNorm computed separately on virtual batches (chunks of the batch): the noise of small-batch "
            "statistics with the throughput of a large batch.",
        compute=_compute_batch,
        code=code_ghost,
        running_stats=True,
        references=("Hoffer, Hubara & Soudry 2017, Train longer, generalize better, arXiv:1705.08741",),
        pitfalls=("Running statistics are updated once per virtual batch, in order.", BATCH_ONE)),
    Method(
        name="batch_renorm",
        label="Batch Renormalization",
        family="activation",
        axes="N*",
        centers=True,
        params=(EPS, Param("rmax", "float", 3.0, "clip r to [1/rmax, rmax]", minimum=1.0),
            Param("dmax", "float", 5.0, "clip d to [−dmax, dmax]", minimum=0.0), *RUNNING, *AFFINE),
        formula="y = (x − μ_B) / σ_B · r + d, r = clip(σ_B/σ, 1/rmax, rmax), d = clip((μ_B − μ)/σ, ±dmax)\n"
            "σ = √(running_var + ε): r and d pull training output toward what eval will give",
        summary="BatchNorm whose training output is corrected toward the running statistics, so training and "
            "evaluation agree even with small or non-i.i.d. batches.",
        compute=_compute_batch_renorm,
        code=code_renorm,
        running_stats=True,
        references=("Ioffe 2017, Batch Renormalization, arXiv:1702.03275",),
        pitfalls=("rmax=1, dmax=0 is plain BatchNorm.", "Without given running statistics a fresh module's "
            "(mean 0, var 1) are used.")),
    Method(
        name="frn",
        label="Filter Response Norm",
        family="activation",
        axes="*",
        centers=False,
        params=(Param("eps", "float", 1e-6, "added to ν² (the paper learns it for 1x1 maps; its absolute value is "
                                            "used)", log=True),
            Param("tau", "float", 0.0, "TLU threshold τ: z = max(y, τ)"),
            Param("tlu", "bool", True, "apply the thresholded linear unit"), *AFFINE),
        formula="ν² = mean(x²) over (H, W);  y = γ · x / √(ν² + |ε|) + β;  z = max(y, τ)",
        summary="Per sample and channel, divides by the root mean square over positions, without centering, and "
            "follows with a learned-threshold ReLU (TLU). Batch independent.",
        compute=_compute_frn,
        code=code_frn,
        references=("Singh & Krishnan 2020, Filter Response Normalization, arXiv:1911.09737",),
        pitfalls=("On 1x1 maps x/√(x² + ε) ≈ sign(x): the paper learns ε there.",)),
    Method(
        name="custom",
        label="Custom axes",
        family="activation",
        axes="",
        centers=True,
        params=(Param("axes", "axes", default_batch_axes, "axis letters to reduce over (e.g. NHW)"),
            Param("groups", "int", 1, "split C into groups (needs C in axes)", minimum=1),
            Param("center", "bool", True, "subtract the mean (False: divide by the root mean square)"),
            EPS, *AFFINE),
        formula=_STD + "\nμ, σ² over the chosen axes (C in groups when groups > 1)",
        summary="Choose the axes yourself: every method above is one choice (NHW: BatchNorm, CHW: LayerNorm, HW: "
            "InstanceNorm, C: LayerNorm over channels).",
        compute=_compute_custom,
        code=code_custom),
    Method(
        name="adain",
        label="AdaIN",
        family="activation",
        axes="*",
        centers=True,
        params=(EPS, Param("style_mean", "array", 0.0, "the style's mean μ_s: a number, one per channel, or one per "
                                                       "sample and channel (N, C)"),
            Param("style_std", "array", 1.0, "the style's standard deviation σ_s = √(var_s + ε), shaped like "
                                             "style_mean")),
        formula="y = σ_s · (x − μ) / √(σ² + ε) + μ_s\nμ, σ² over (H, W) for each sample and channel (InstanceNorm); "
            "μ_s, σ_s the style's",
        summary="Adaptive Instance Normalization: each sample's per-channel statistics replaced by a style's (style "
            "transfer). InstanceNorm whose γ, β are the style's standard deviation and mean.",
        compute=_compute_adain,
        code=code_adain,
        references=("Huang & Belongie 2017, Arbitrary Style Transfer in Real-time with Adaptive Instance "
            "Normalization, arXiv:1703.06868",),
        pitfalls=("From a style tensor s: μ_s = s.mean(spatial), σ_s = √(s.var(spatial) + ε). The authors' released "
            "code uses the unbiased variance there; the paper's formula the biased one.",
            "It is InstanceNorm: over a single position every output is μ_s.")),
    Method(
        name="conditional_batch",
        label="Conditional BatchNorm",
        family="activation",
        axes="N*",
        centers=True,
        params=(EPS, *RUNNING,
            Param("labels", "array", None, "each sample's class, N integers (None: 0, 1, 0, 1, …)"),
            Param("gamma_table", "array", None, "γ per class and channel, (classes, C) (None: class 0 γ = 1, "
                                                "class 1 γ = 2)"),
            Param("beta_table", "array", None, "β per class and channel, (classes, C) (None: class 0 β = 0, "
                                               "class 1 β = 1)")),
        formula=_STD + "\nμ, σ² as BatchNorm (per channel over N, H, W); γ, β = tables[label of the sample]",
        summary="BatchNorm whose γ and β are looked up per sample from its class (conditional image generation, "
            "FiLM-style conditioning): the statistics are shared across the batch, the affine step is not.",
        compute=_compute_conditional_batch,
        code=code_conditional_batch,
        running_stats=True,
        references=("de Vries et al. 2017, Modulating early visual processing by language, arXiv:1707.00683",
            "Dumoulin, Shlens & Kudlur 2017, A Learned Representation For Artistic Style, arXiv:1610.07629"),
        pitfalls=(TRAIN_EVAL, "FiLM is this affine step alone, with γ, β computed from a condition: it has no "
            "statistics, so it is not a normalization of its own (kernels.experiments.conditional.film).")),
    Method(
        name="sample_group",
        label="Group Instance Norm (samples)",
        family="activation",
        axes="N*",
        centers=True,
        params=(Param("sample_groups", "int", _default_sample_groups,
                      "split the batch into G groups of N/G samples; N must be divisible", minimum=1), EPS, *AFFINE),
        formula=_STD + "\nμ, σ² over (N/G samples, H, W) per channel, within each of the G sample groups; the same "
            "in train and eval",
        summary="One reading of 'Group Instance Normalization': BatchNorm's statistics per channel, but over groups "
            "of samples instead of the whole batch (G = N: InstanceNorm, G = 1: BatchNorm in training). The other "
            "reading, groups of channels per sample, is GroupNorm (the lesson compares them).",
        compute=lambda ctx: _standard(ctx),
        code=code_sample_group,
        sharing=lambda layout, shape, p: Partition(layout, shape, default_batch_axes(ShapeInfo(layout, shape)),
                                                   virtual_batch=_sample_group_size(layout, shape, p),
                                                   batch_chunk="sample group"),
        references=("the seed article names it without a definition; see the 'Group Instance Norm' lesson",),
        pitfalls=("It has no running statistics: eval computes what training computes, unlike BatchNorm.",
            "In training it equals Ghost BatchNorm with virtual_batch = N/G.")),
    Method(
        name="standardize",
        label="Standardize (z-score)",
        family="data",
        axes="",
        centers=True,
        params=(Param("axes", "axes", "N", "axes the samples run along; one feature per index of the others"),
            Param("with_mean", "bool", True, "subtract the mean"),
            Param("with_std", "bool", True, "divide by the standard deviation")),
        formula="z = (x − mean) / std\nper feature over the samples (scikit-learn StandardScaler); std 0 → 1",
        summary="Data scaling: each feature to zero mean and unit variance over the samples, as "
            "sklearn.preprocessing.StandardScaler does (biased std, no ε).",
        compute=_compute_standardize,
        code=code_standardize,
        references=("scikit-learn StandardScaler",),
        pitfalls=("Fit on training data only; reuse its mean and std on test data.",
            "Constant features get scale 1 instead of a division by zero.")),
    Method(
        name="minmax",
        label="Min-max scaling",
        family="data",
        axes="",
        centers=False,
        params=(Param("axes", "axes", "N", "axes the samples run along; one feature per index of the others"),
            Param("feature_range", "range", (0.0, 1.0), "target range (a, b)"),
            Param("clip", "bool", False, "clip the output to the range")),
        formula="y = (x − min) / (max − min) · (b − a) + a\nper feature over the samples (scikit-learn MinMaxScaler)",
        summary="Data scaling: each feature mapped linearly so its minimum goes to a and its maximum to b, as "
            "sklearn.preprocessing.MinMaxScaler does.",
        compute=_compute_minmax,
        code=code_minmax,
        references=("scikit-learn MinMaxScaler",),
        pitfalls=("One outlier squeezes every other value into a small part of the range.",
            "res.mean and res.var hold data_min and (data_max − data_min)² here.")),
]

#: name -> Method, in menu order.
METHODS: dict = {m.name: m for m in _ENTRIES}
