"""Conditional normalization and the two readings of "Group Instance Normalization", as NumPy
functions on (N, C, *spatial) tensors in any layout (the registry's compute functions can wrap
them; the tests check each against a torch formulation).

- FiLM (Perez et al. 2018): y = γ(c) ⊙ x + β(c), a scale and shift per sample and channel
  predicted from a condition c. It computes no statistics: it is the affine step of a
  normalization, made conditional, and follows a normalization without its own affine
  (BatchNorm in the FiLM paper's residual blocks).
- Conditional BatchNorm (de Vries et al. 2017; Dumoulin et al. 2017 for per-style
  InstanceNorm): BatchNorm's statistics, then γ, β looked up per sample from its label
  (an embedding table), in place of one learned γ, β per channel.
- AdaIN (Huang & Belongie 2017): y = σ(s) · (x − μ(x)) / σ(x) + μ(s), InstanceNorm whose
  affine parameters are the style tensor's own per-channel mean and standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import normalize
from ..layouts import canonical_order, check_layout, permutation
from ._common import check_choice, check_float, check_int

READINGS = ("channels", "samples")


@dataclass
class ConditionalResult:
    """output: the same shape and layout as x. mean, var: the normalization's statistics (None
    for FiLM, which has none; AdaIN: the content's per (sample, channel) mean and variance, shape
    (N, C)); scale, shift: the γ and β applied per sample and channel, (N, C). warnings: from
    the normalization."""

    output: np.ndarray
    mean: np.ndarray | None
    var: np.ndarray | None
    scale: np.ndarray
    shift: np.ndarray
    running_mean: np.ndarray | None = None
    running_var: np.ndarray | None = None
    warnings: list = field(default_factory=list)


def _canonical(x, layout):
    layout = check_layout(layout)
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != len(layout):
        raise ValueError(f"x has {a.ndim} axes but layout {layout} names {len(layout)}")
    canon = canonical_order(layout)
    return np.ascontiguousarray(a.transpose(permutation(layout, canon))), layout, canon


def _back(y, layout, canon):
    return np.ascontiguousarray(y.transpose(permutation(canon, layout)))


def _per_sample_channel(name, value, n, c):
    v = np.asarray(value, dtype=np.float64)
    if v.shape == (c,):
        v = np.broadcast_to(v, (n, c))
    if v.shape != (n, c) or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite with shape (N, C) = ({n}, {c}) or (C,) = ({c},), not {v.shape}")
    return np.array(v)


def _expand(v, ndim):
    return v.reshape(v.shape + (1,) * (ndim - 2))


def film_parameters(condition, weight, bias=None, plus_one: bool = False):
    """(γ, β), each (N, C), from a condition (N, D) through one linear map, as FiLM's generator:
    [γ, β] = condition · weightᵀ + bias with weight (2C, D), bias (2C,) (torch.nn.Linear(D, 2C)
    followed by chunk(2, dim=1)). plus_one: γ = 1 + Δγ, the common parametrization that starts
    as the identity."""
    cond = np.asarray(condition, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    if cond.ndim != 2 or w.ndim != 2 or w.shape[1] != cond.shape[1] or w.shape[0] % 2:
        raise ValueError(f"condition (N, D) and weight (2C, D) do not fit: {cond.shape} and {w.shape}")
    out = cond @ w.T
    if bias is not None:
        b = np.asarray(bias, dtype=np.float64)
        if b.shape != (w.shape[0],):
            raise ValueError(f"bias must have shape ({w.shape[0]},), not {b.shape}")
        out = out + b
    gamma, beta = np.split(out, 2, axis=1)
    return (1.0 + gamma if plus_one else gamma), beta


def film(x, gamma, beta, layout: str = "NCHW") -> ConditionalResult:
    """FiLM: y[n, c, ...] = gamma[n, c] · x[n, c, ...] + beta[n, c]; gamma, beta (N, C), or (C,)
    for the same on every sample. No statistics are computed."""
    a, layout, canon = _canonical(x, layout)
    n, c = a.shape[:2]
    g, b = _per_sample_channel("gamma", gamma, n, c), _per_sample_channel("beta", beta, n, c)
    y = a * _expand(g, a.ndim) + _expand(b, a.ndim)
    return ConditionalResult(output=_back(y, layout, canon), mean=None, var=None, scale=g, shift=b)


def conditional_batch_norm(x, labels, gamma_table, beta_table, layout: str = "NCHW", training: bool = True,
                           eps: float = 1e-5, running_mean=None, running_var=None,
                           momentum: float | None = 0.1) -> ConditionalResult:
    """Conditional BatchNorm: BatchNorm without affine (batch statistics in training, running
    statistics in eval, via kernels.normalize), then y = γ[label] · x̂ + β[label] with
    gamma_table, beta_table of shape (classes, C) and one integer label per sample."""
    a, layout, canon = _canonical(x, layout)
    n, c = a.shape[:2]
    lab = np.asarray(labels)
    if lab.shape != (n,) or lab.dtype.kind not in "iu":
        raise ValueError(f"labels must be {n} integers (one per sample), not {lab.shape} of {lab.dtype}")
    gt, bt = np.asarray(gamma_table, dtype=np.float64), np.asarray(beta_table, dtype=np.float64)
    if gt.ndim != 2 or gt.shape[1] != c or bt.shape != gt.shape:
        raise ValueError(f"gamma_table and beta_table must both have shape (classes, {c}), not {gt.shape} and "
                         f"{bt.shape}")
    if lab.min() < 0 or lab.max() >= gt.shape[0]:
        raise ValueError(f"labels must lie in 0..{gt.shape[0] - 1}")
    res = normalize(a, "batch", canon, training=training, eps=eps, momentum=momentum, running_mean=running_mean,
                    running_var=running_var)
    g, b = gt[lab], bt[lab]
    y = np.asarray(res.output) * _expand(g, a.ndim) + _expand(b, a.ndim)
    return ConditionalResult(output=_back(y, layout, canon), mean=np.ravel(res.mean), var=np.ravel(res.var),
                             scale=g, shift=b, running_mean=res.running_mean, running_var=res.running_var,
                             warnings=list(res.warnings))


def instance_moments(x, unbiased: bool = False):
    """(mean, var) per sample and channel over the positions of a canonical (N, C, *spatial) array,
    each (N, C); var biased (÷n) unless unbiased (÷(n−1), torch.var's default)."""
    a = np.asarray(x, dtype=np.float64)
    flat = a.reshape(a.shape[0], a.shape[1], -1)
    if unbiased and flat.shape[2] < 2:
        raise ValueError("the unbiased variance needs at least 2 positions")
    return flat.mean(axis=2), flat.var(axis=2, ddof=1 if unbiased else 0)


def adain(content, style, layout: str = "NCHW", eps: float = 1e-5, unbiased: bool = False) -> ConditionalResult:
    """Adaptive Instance Normalization: y = σ(s) · (x − μ(x)) / σ(x) + μ(s), with μ, σ per sample and
    channel over the positions; σ = √(var + eps).

    content x and style s share N and C (their spatial sizes may differ) and the layout.
    unbiased=False is the paper's formula (biased variance, as InstanceNorm); unbiased=True is the
    authors' released code (`calc_mean_std`: torch's .var(), ÷(n−1), for both tensors)."""
    eps = check_float("eps", eps, lo=0.0)
    a, layout, canon = _canonical(content, layout)
    s, _, _ = _canonical(style, layout)
    if s.shape[:2] != a.shape[:2]:
        raise ValueError(f"style has N, C = {s.shape[:2]}, content {a.shape[:2]}; they must match")
    mean, var = instance_moments(a, unbiased)
    s_mean, s_var = instance_moments(s, unbiased)
    scale, shift = np.sqrt(s_var + eps), s_mean
    if eps == 0 and np.any(var == 0):
        raise ValueError("a content channel is constant and eps=0: its normalization divides by zero")
    y = (a - _expand(mean, a.ndim)) / np.sqrt(_expand(var, a.ndim) + eps)
    y = y * _expand(scale, a.ndim) + _expand(shift, a.ndim)
    return ConditionalResult(output=_back(y, layout, canon), mean=mean, var=var, scale=scale, shift=shift)


def group_instance_norm(x, groups: int, layout: str = "NCHW", reading: str = "channels",
                        eps: float = 1e-5) -> ConditionalResult:
    """"Group Instance Normalization": the name joins two words that each say what is grouped, and
    it reads two ways. Both are shown, because the seed article does not define it:

    reading="channels": instance normalization over groups of channels. Per sample (the
        instance), the statistics are shared by a group of C/groups channels and all positions.
        That is exactly GroupNorm(groups) (Wu & He 2018, whose paper places it between
        InstanceNorm, groups = C, and LayerNorm, groups = 1): registry method 'group'.
    reading="samples": instance normalization pooled over groups of instances. Per channel, the
        statistics are shared by a group of N/groups consecutive samples and all positions:
        BatchNorm within each group of samples (the batch-axis twin of GroupNorm: groups = N is
        InstanceNorm, groups = 1 is BatchNorm). In training it is Ghost BatchNorm with
        virtual_batch = N/groups (registry 'ghost_batch'); unlike Ghost BatchNorm it keeps no
        running statistics, so evaluation computes the same thing as training.

    Biased variance, eps inside the square root, no affine; N (or C) must be divisible by groups."""
    check_choice("reading", reading, READINGS)
    eps = check_float("eps", eps, lo=0.0)
    a, layout, canon = _canonical(x, layout)
    n, c = a.shape[:2]
    axis, size = (1, c) if reading == "channels" else (0, n)
    groups = check_int("groups", groups, 1, size)
    if size % groups:
        raise ValueError(f"groups={groups} must divide {'C' if axis else 'N'}={size}")
    split = a.reshape(a.shape[:axis] + (groups, size // groups) + a.shape[axis + 1:])
    # statistics over everything but the sample (channels reading) or the channel (samples reading) and the group
    keep = (0, 1) if reading == "channels" else (0, 2)
    dims = tuple(d for d in range(split.ndim) if d not in keep)
    mean = split.mean(axis=dims, keepdims=True)
    var = split.var(axis=dims, keepdims=True)
    y = ((split - mean) / np.sqrt(var + eps)).reshape(a.shape)
    shape = (n, groups) if reading == "channels" else (groups, c)
    return ConditionalResult(output=_back(y, layout, canon), mean=mean.reshape(shape), var=var.reshape(shape),
                             scale=np.ones((n, c)), shift=np.zeros((n, c)))
