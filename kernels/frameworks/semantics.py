"""normalize(..., framework=...): a framework's numbers, computed with kernels' own functions.

A framework's parameters (its names, its meaning, its defaults) become a `Plan`: the registry
method and kernels parameters (torch's meaning) that give the same numbers, plus the variant
steps around kernels' normalize:

- one-pass variance (Flax, ONNX MeanVarianceNormalization): the groups' E[x²] − E[x]² are put
  in the moments cache normalize reads, so the output, the running statistics and the group
  map all use them;
- MLX's strided GroupNorm (channel c in group c % G): permute the channels so each group is
  consecutive, run torch's GroupNorm, permute back;
- ONNX's LRN window (c − (n−1)//2 … c + n//2): flip the channel axis around torch's LRN;
- TensorFlow's LRN radius r and alpha on the sum: torch's size 2r + 1 and alpha·size;
- ONNX opset 18 GroupNormalization's per-group γ, β: repeated over each group's channels;
- ONNX MeanVarianceNormalization's σ + 1e-9: the cached variance is (σ + 1e-9)² and eps 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..layouts import CHANNEL
from ..registry import ShapeInfo
from .registry import Offer

ONNX_MVN_EPS = 1e-9


@dataclass
class Plan:
    """How kernels computes one framework's call."""

    method: str
    params: dict  # kernels parameters (torch's meaning)
    framework_params: dict  # the framework's parameters, resolved (its names and meaning)
    variance: str = "two_pass"
    perm: tuple | None = None  # channel order that makes the framework's groups consecutive
    flip: bool = False  # flip C around torch's computation (ONNX's mirrored LRN window)
    eps_on_std: float | None = None  # ONNX MVN: σ + eps instead of √(σ² + eps)
    notes: list = field(default_factory=list)


def _error(reason, method, shape=None, layout=None):
    from ..core import NormError
    return NormError(reason, method=method, shape=shape, layout=layout)


def get_offer(method: str, framework: str) -> Offer:
    from ..core import get_method
    from . import FRAMEWORKS
    get_method(method)
    if framework not in FRAMEWORKS:
        raise _error(f"framework={framework!r} is not one of {', '.join(FRAMEWORKS)}", method)
    offer = FRAMEWORKS[framework].offers[method]
    if not offer.offered:
        raise _error(f"framework={framework!r} does not offer {method}: {offer.reason}", method)
    if not offer.computed:
        raise _error(f"framework={framework!r}'s {offer.api} is {offer.reason}", method)
    return offer


def resolve(offer: Offer, layout: str, shape: tuple, params: dict) -> dict:
    """The framework's parameters: the given ones over its defaults; None defaults (required by the
    framework, e.g. ONNX num_groups) take kernels' default for the shape."""
    from ..methods import METHODS
    unknown = sorted(set(params) - set(offer.param_names))
    if unknown:
        raise _error(f"unknown parameter(s) {', '.join(unknown)} for framework={offer.framework!r}; valid: "
                     f"{', '.join(offer.param_names) or 'none'}", offer.method, shape, layout)
    out = {}
    method = METHODS[offer.method]
    for name, default in offer.defaults.items():
        value = params.get(name, default)
        if value is None and name not in params and name in method.param_names:
            value = method.param(name).default_for(ShapeInfo(layout, tuple(shape)))
        out[name] = value
    for name in ("weight", "bias"):
        if offer.affine:
            out[name] = params.get(name)
    return out


def _bool(value, name, offer, shape, layout):
    from ..registry import parse_bool
    try:
        return parse_bool(value)
    except ValueError:
        raise _error(f"{name}={value!r} is not true or false", offer.method, shape, layout) from None


def plan(offer: Offer, layout: str, shape: tuple, params: dict, training: bool = True,
         tracking: bool = False) -> Plan:
    """The Plan for `offer` on a tensor of `shape` in `layout` with the framework's `params`."""
    fp = resolve(offer, layout, shape, params)
    kp = {k: v for k, v in fp.items() if not (k in ("weight", "bias") and v is None)}
    p = Plan(offer.method, kp, fp, variance=offer.variant.get("variance", "two_pass"))
    fw, method = offer.framework, offer.method

    def fail(reason):
        return _error(reason, method, shape, layout)

    if "use_fast_variance" in kp:
        p.variance = "one_pass" if _bool(kp.pop("use_fast_variance"), "use_fast_variance", offer, shape,
                                         layout) else "two_pass"
    if "momentum" in kp:
        if kp["momentum"] is None and offer.variant.get("running") == "keras":
            raise fail(f"momentum=None (torch's cumulative average) has no {fw} counterpart")
        kp["momentum_convention"] = offer.variant.get("running", "torch")
    if fw == "tensorflow" and method == "batch" and training and tracking:
        raise fail("tf.nn.batch_normalization keeps no running statistics; use framework='keras' "
                   "(tf.keras.layers.BatchNormalization) to update them")
    if method == "group" and fw == "onnx":
        opset = kp.pop("opset")
        if opset not in (18, 21):
            raise fail(f"opset={opset!r} must be 18 (γ, β per group) or 21 (per channel)")
        if opset == 18:
            _per_group_affine(kp, layout, shape, fail)
    if method == "group" and fw == "mlx" and not _bool(kp.pop("pytorch_compatible"), "pytorch_compatible", offer,
                                                       shape, layout):
        p.perm = _strided_order(dict(zip(layout, shape))[CHANNEL], kp["groups"], fail)
    if method == "lrn" and fw == "onnx":
        kp["k"] = kp.pop("bias")
        p.flip = kp["size"] % 2 == 0  # odd windows are symmetric: the same as torch's
    if method == "lrn" and fw == "tensorflow":
        r = kp.pop("depth_radius")
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0:
            raise fail(f"depth_radius={r!r} must be an integer >= 0")
        kp["size"] = 2 * int(r) + 1
        kp["k"] = kp.pop("bias")
        try:
            kp["alpha"] = float(kp["alpha"]) * kp["size"]
        except (TypeError, ValueError):
            raise fail(f"alpha={kp['alpha']!r} is not a number") from None
    if method == "custom" and fw == "onnx":
        p.eps_on_std = ONNX_MVN_EPS
        kp.update(eps=0.0, center=True, groups=1)
    return p


def _per_group_affine(kp, layout, shape, fail):
    """ONNX opset 18: scale and bias hold one value per group; torch's semantics take them per channel."""
    channels, groups = dict(zip(layout, shape))[CHANNEL], kp["groups"]
    if not isinstance(groups, (int, np.integer)) or groups < 1 or channels % groups:
        return  # kernels refuses the groups with its own message
    for name in ("weight", "bias"):
        v = kp.get(name)
        if v is None or np.ndim(v) == 0:
            continue
        a = np.asarray(v)
        if a.shape != (groups,):
            raise fail(f"{name} has shape {a.shape}; ONNX opset 18 GroupNormalization takes one value per group "
                       f"({groups})")
        kp[name] = np.repeat(a, channels // groups)


def _strided_order(channels, groups, fail):
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1 or channels % groups:
        raise fail(f"groups={groups!r} must divide C={channels}")
    return tuple(int(c) for c in np.argsort(np.arange(channels) % groups, kind="stable"))


# -- the computation ------------------------------------------------------------------------------

def _take(ops, a, index, axis):
    """a with `index` taken along `axis` (numpy arrays or torch tensors)."""
    if isinstance(a, np.ndarray):
        return np.take(a, index, axis=axis)
    import torch
    return torch.index_select(a, axis, torch.as_tensor(index, device=a.device))


def _flip(a, axis):
    if isinstance(a, np.ndarray):
        return np.flip(a, axis=axis).copy()
    return a.flip(axis)


def _per_channel_value(v, channels):
    return v is not None and np.ndim(v) == 1 and np.shape(v)[0] == channels


def normalize(x, method, framework, layout="NCHW", backend="numpy", device="cpu", training=True, *,
              running_mean=None, running_var=None, num_batches_tracked=0, nonfinite="omit", moments_cache=None,
              **params):
    """kernels.normalize(..., framework=...) for every framework but torch (see kernels.core.normalize)."""
    from ..core import _shape_of
    from ..core import normalize as core_normalize
    from ..layouts import check_layout
    offer = get_offer(method, framework)
    try:
        layout = check_layout(layout)
    except ValueError as exc:
        raise _error(str(exc), method) from None
    x, shape = _shape_of(x, method, layout)
    tracking = running_mean is not None or running_var is not None
    p = plan(offer, layout, shape, params, training=bool(training), tracking=tracking)
    cpos = layout.index(CHANNEL)
    channels = shape[cpos]
    kp = dict(p.params)
    rm, rv = running_mean, running_var
    if p.perm is not None:
        x = _take(None, x, list(p.perm), cpos)
        for name in ("weight", "bias"):
            if _per_channel_value(kp.get(name), channels):
                kp[name] = np.asarray(kp[name])[list(p.perm)]
        rm = None if rm is None else np.asarray(rm)[list(p.perm)] if np.ndim(rm) == 1 else rm
        rv = None if rv is None else np.asarray(rv)[list(p.perm)] if np.ndim(rv) == 1 else rv
    if p.flip:
        x = _flip(x, cpos)
    cache = moments_cache
    if p.variance == "one_pass" or p.eps_on_std is not None:
        cache = _one_pass_cache(x, p, layout, shape, backend, device, bool(training), moments_cache)
    res = core_normalize(x, p.method, layout, backend, device, training, running_mean=rm, running_var=rv,
                         num_batches_tracked=num_batches_tracked, nonfinite=nonfinite, moments_cache=cache, **kp)
    changes = {}
    if p.perm is not None:
        inverse = list(np.argsort(p.perm))
        changes["output"] = _take(None, res.output, inverse, cpos)
        for name in ("running_mean", "running_var"):
            value = getattr(res, name)
            if value is not None and np.ndim(value) == 1:
                changes[name] = _take(None, value, inverse, 0)
    if p.flip:
        changes["output"] = _flip(res.output, cpos)
        if method == "lrn":  # var is the window mean of squares at every element
            changes["var"] = _flip(res.var, cpos)
    return replace(res, **changes, framework=framework, framework_params=p.framework_params)


def one_pass_moments(ops, xe, axes, clip=True):
    """Mean and E[x²] − E[x]² (clipped at 0) over `axes` of xe, keepdims, in xe's dtype."""
    mean = ops.mean(xe, axes)
    var = ops.mean_of_squares(xe, axes) - mean * mean
    return mean, (ops.maximum(var, 0.0) if clip else var)


def _one_pass_cache(x, p: Plan, layout, shape, backend, device, training, base_cache):
    """A moments cache holding the one-pass moments of x's groups (kept apart from the two-pass
    ones: nested under its own key when the caller gives a cache)."""
    from ..backend import get_ops
    from ..core import prepare
    from ..moments import moments_key
    from ..partition import Partition
    m, resolved, sharing, layout = prepare(p.method, shape, layout, training=training, **p.params)
    center = m.centers if p.method != "custom" else resolved["center"]
    if not isinstance(sharing, Partition) or not center or (m.running_stats and not training):
        return base_cache
    try:
        ops = get_ops(backend, device)
    except ValueError:
        return base_cache  # normalize reports the bad backend
    xb = ops.asarray(x)
    xe = ops.reshape(ops.astype(xb, ops.compute_dtype(xb)), sharing.expanded_shape)
    slot = ("one_pass", p.eps_on_std)
    cache = {} if base_cache is None else base_cache.setdefault(slot, {})
    key = moments_key(ops, sharing, True, xe)
    if key not in cache:
        with np.errstate(all="ignore"):
            mean, var = one_pass_moments(ops, xe, sharing.reduce_positions)
            if p.eps_on_std is not None:
                var = (ops.sqrt(var) + p.eps_on_std) ** 2
        if not (ops.all(ops.isfinite(mean)) and ops.all(ops.isfinite(var))):
            return base_cache  # non-finite inputs or overflow: normalize's own rules apply
        cache[key] = (mean, var)
    return cache
