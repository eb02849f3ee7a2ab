"""What `normalize` checks around a method's computation: array arguments finite and shaped so they
never broadcast x to a new shape, and outputs that are NaN or Inf said in words (never a silent
NaN). Outputs that cannot overflow are not read again: a standardized value (x − μ)/√(σ² + ε) lies
within ±√(n − 1) for n values per group (Samuelson's inequality), so training-mode standardizing
with finite statistics stays below √n·max|γ| + max|β|."""

from __future__ import annotations

import math

import numpy as np

from .backend import is_torch_tensor
from .layouts import CHANNEL

#: Methods whose torch module takes γ and β per channel always; the others (LayerNorm, RMSNorm,
#: custom axes) take the normalized shape in torch, so a 1-D γ could be read along another axis.
PER_CHANNEL_AFFINE = frozenset({"batch", "ghost_batch", "batch_renorm", "instance", "group", "frn", "channel",
                                "sample_group"})
#: Methods whose training output is a standardized value times γ plus β (bounded, see above).
STANDARDIZING = frozenset({"batch", "ghost_batch", "batch_renorm", "layer", "instance", "group", "rms", "pixel",
                           "channel", "custom", "frn", "sample_group"})


def _nonfinite_count(value) -> int:
    if is_torch_tensor(value):
        return int((~value.detach().isfinite()).sum()) if value.is_floating_point() else 0
    a = np.asarray(value)
    return int(a.size - np.count_nonzero(np.isfinite(a))) if a.dtype.kind in "fc" else 0


def _shape(value) -> tuple:
    return tuple(value.shape) if hasattr(value, "shape") else np.shape(value)


def check_arrays(method: str, layout: str, shape: tuple, params: dict, running: dict):
    """ValueError naming the argument: NaN/Inf in weight, bias or the running statistics, a γ or β
    that would broadcast x to another shape, or a 1-D γ whose length is both C and the last axis's
    for a method whose torch module reads it along the normalized shape."""
    channels = dict(zip(layout, shape)).get(CHANNEL)
    for name, value in (*((n, params.get(n)) for n in ("weight", "bias")), *running.items()):
        if value is None or isinstance(value, str):
            continue
        try:
            bad = _nonfinite_count(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} is not an array of numbers") from None
        if bad:
            raise ValueError(f"{name} holds {bad} NaN/Inf value(s): every output it touches would be NaN or Inf; "
                             f"give finite numbers")
        if name not in ("weight", "bias"):
            continue
        vshape = _shape(value)
        if len(vshape) == 1 and vshape[0] == channels and channels is not None:
            if layout[-1] != CHANNEL and shape[-1] == channels and method not in PER_CHANNEL_AFFINE:
                ones = ", ".join("1" for _ in layout[layout.index(CHANNEL) + 1:])
                raise ValueError(f"{name} of length {channels} is ambiguous: one per channel (C={channels}) or one "
                                 f"along the last axis {layout[-1]} (also {channels}); shape it ({channels}, {ones}) "
                                 f"for channels, or give the whole normalized shape")
            continue
        try:
            fits = np.broadcast_shapes(tuple(shape), vshape) == tuple(shape)
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{name} of shape {vshape} fits neither one value per channel (C={channels}) nor the "
                             f"tensor's shape")


def _max_abs(value, default: float) -> float:
    if value is None:
        return default
    if is_torch_tensor(value):
        return float(value.detach().abs().max()) if value.numel() else default
    a = np.asarray(value, dtype=np.float64)
    return float(np.abs(a).max()) if a.size else default


def cannot_overflow(method: str, params: dict, training: bool, running_stats: bool, group_size: int,
                    stats_finite, limit: float) -> bool:
    """True where the output is bounded below `limit` (the output dtype's largest value) without
    reading it: training-mode standardizing with finite statistics (`stats_finite()`, asked last:
    on a GPU it waits for the device) and a moderate γ, β."""
    if method not in STANDARDIZING or (running_stats and not training):
        return False
    if method == "frn" and params.get("tlu") and not abs(params.get("tau", 0.0)) < limit / 2:
        return False
    spread = math.sqrt(max(group_size, 1))
    if method == "batch_renorm":
        spread = spread * params["rmax"] + params["dmax"]
    bound = spread * _max_abs(params.get("weight"), 1.0) + _max_abs(params.get("bias"), 0.0)
    return bound < limit / 2 and stats_finite()


def nonfinite_output(ops, x, output, nonfinite: str, warn, dtype_name: str, hint: str = "", told: bool = False):
    """The output with NaN/Inf explained: where the input was NaN/Inf they follow `nonfinite`
    (0 for 'omit', passed on for 'propagate'; `told`: the method has said so already); elsewhere
    they are an overflow of the output's dtype, said in a warning. Returns the output to keep."""
    out_finite = ops.isfinite(output)
    if ops.all(out_finite):
        return output
    in_finite = ops.isfinite(x)
    bad_in = int(np.prod(x.shape)) - ops.count(in_finite)
    if bad_in and nonfinite == "omit":
        output = ops.where(in_finite, output, 0.0)
        told or warn(f"the input holds {bad_in} NaN/Inf value(s): their outputs are set to 0 (torch gives NaN or Inf "
             f"there); pass nonfinite='propagate' to see that")
        out_finite = ops.isfinite(output)
    elif bad_in:
        if not told:
            warn(f"the input holds {bad_in} NaN/Inf value(s); nonfinite='propagate' passes them on as torch does")
        return output
    overflowed = int(np.prod(x.shape)) - ops.count(out_finite)
    if overflowed:
        warn(f"{overflowed} output value(s) are Inf or NaN although their inputs are finite: the result overflows "
             f"{dtype_name}" + (f" ({hint})" if hint else ""))
    return output
