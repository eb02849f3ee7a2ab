"""Gradients through a registry normalization: the registry's own formulas run on torch tensors
with autograd kept (every method), and a hand-written NumPy backward pass for the methods that
standardize over a partition (BatchNorm, LayerNorm, GroupNorm, RMSNorm and their relatives)."""

from __future__ import annotations

import numpy as np

from ..backend import TorchOps, torch_or_none
from ..core import prepare
from ..layouts import CHANNEL
from ..methods import METHODS
from ..moments import affine
from ..registry import Context

#: methods whose NumPy backward pass `normalize_backward` knows
NUMPY_GRAD_METHODS = ("batch", "layer", "instance", "group", "rms", "pixel", "channel", "custom", "ghost_batch",
                      "batch_renorm")


class _GradOps(TorchOps):
    """TorchOps that keeps tensors attached to the autograd graph (TorchOps.asarray detaches)."""

    def asarray(self, x, dtype=None):
        if isinstance(x, self.torch.Tensor):
            x = x if dtype is None else x.to(dtype)
            return x.to(self.device)
        return super().asarray(x, dtype)


def _context(method, x, layout, params, torch):
    m, resolved, sharing, layout = prepare(method, tuple(x.shape), layout, **params)
    ctx = Context(method=m, ops=_GradOps(str(x.device)), x=x, layout=layout, shape=tuple(x.shape), params=resolved,
                  training=True, sharing=sharing, compute_eps=float(torch.finfo(x.dtype).eps))
    return m, ctx


def normalize_autograd(x, method: str, layout: str, **params):
    """(output, warnings): registry method `method` in training mode on float tensor x, differentiable.

    The forward values equal `kernels.normalize(..., training=True)`; gradients are torch's
    autograd through the same formulas. Batch Renormalization's r and d are treated as constants
    (detached), as in Ioffe 2017. Raises NormError on bad arguments."""
    torch = torch_or_none()
    if method == "batch_renorm":
        m, ctx = _context(method, x, layout, dict(params, weight=None, bias=None), torch)
        stats = m.compute(ctx)["stats"]
        bn = {k: v for k, v in ctx.params.items() if k in METHODS["batch"].param_names}
        _, bctx = _context("batch", x, layout, bn, torch)
        y = METHODS["batch"].compute(bctx)["output"] * stats["r"].detach() + stats["d"].detach()
        _, actx = _context(method, x, layout, params, torch)
        return affine(actx, y), ctx.warnings + bctx.warnings
    m, ctx = _context(method, x, layout, params, torch)
    y = m.compute(ctx)["output"]
    if ctx.finite is not None:
        y = torch.where(ctx.finite, y, torch.zeros((), dtype=y.dtype))
    return y, ctx.warnings


def numpy_grad_reason(method: str, params: dict) -> str:
    """'' when `normalize_backward` handles method with params, else why not (one sentence)."""
    if method not in NUMPY_GRAD_METHODS:
        return (f"the NumPy backward pass covers {', '.join(NUMPY_GRAD_METHODS)}, not {method!r}; "
                f"install torch for autograd gradients")
    return ""


def _broadcast_affine(value, layout: str, shape: tuple):
    """weight as an array broadcastable to x: a scalar, one value per channel, or x-shaped."""
    v = np.asarray(value, dtype=np.float64)
    channels = dict(zip(layout, shape))[CHANNEL]
    if v.ndim == 1 and v.shape[0] == channels:
        return v.reshape(tuple(channels if a == CHANNEL else 1 for a in layout))
    return v


def normalize_backward(res, x, grad_out):
    """dL/dx of a training-mode `kernels.normalize` result `res` on x, given dL/dy.

    y = γ·x̂ + β, x̂ = (x − μ)·s, s = 1/√(σ² + ε), statistics over each group of res.sharing:
      centered:     dL/dx = s·(g − mean(g) − x̂·mean(g·x̂)),  g = γ·dL/dy
      not centered: dL/dx = s·(g − x̂·mean(g·x̂))            (μ = 0, σ² = mean(x²))
    means over the group; groups with σ² + ε = 0 get s = 0 (their output is constant).
    Batch Renormalization (y = γ·(x̂·r + d) + β, r and d constants): g = γ·r·dL/dy."""
    part = res.sharing
    eps = res.params.get("eps")
    eps = float(np.finfo(np.float64).eps) if eps is None else float(eps)
    center = bool(res.params.get("center", METHODS[res.method].centers))
    axes = part.reduce_positions
    xe = np.asarray(x, dtype=np.float64).reshape(part.expanded_shape)
    mean = np.reshape(np.asarray(res.mean, dtype=np.float64), part.expanded_stat_shape)
    var = np.reshape(np.asarray(res.var, dtype=np.float64), part.expanded_stat_shape)
    total = var + eps
    s = np.where(total > 0, 1.0 / np.sqrt(np.where(total > 0, total, 1.0)), 0.0)
    xhat = (xe - mean) * s if center else xe * s
    g = np.asarray(grad_out, dtype=np.float64)
    if res.params.get("weight") is not None:
        g = g * _broadcast_affine(res.params["weight"], res.layout, res.shape)
    g = np.broadcast_to(g, res.shape).reshape(part.expanded_shape)
    if res.method == "batch_renorm":
        g = g * np.reshape(np.asarray(res.stats["r"], dtype=np.float64), part.expanded_stat_shape)
    inner = g - xhat * (g * xhat).mean(axis=axes, keepdims=True)
    if center:
        inner = inner - g.mean(axis=axes, keepdims=True)
    return (s * inner).reshape(res.shape)
