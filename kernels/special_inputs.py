"""Inputs torch accepts that are not an ordinary batch: empty tensors (an axis of size 0: torch
returns an empty output), unbatched tensors ((C, L), (C, H, W): normalized as a batch of one, as
torch's InstanceNorm does), and InstanceNorm with running statistics in eval (torch's
track_running_stats=True: the running statistics per channel, BatchNorm's eval step). Each is
computed through `normalize` itself, passed in to keep the import one way."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .backend import get_ops, is_torch_tensor
from .layouts import BATCH


def empty(x, method, layout, shape, backend, device, training, running_mean, running_var, num_batches_tracked,
          params):
    """The Result for an input with a zero-length axis: an empty output of x's shape, no statistics,
    running statistics unchanged (torch's functional ops leave them)."""
    from .core import NormError, Result, prepare

    stand_in = tuple(max(s, 1) for s in shape)  # the parameters are checked as for a one-element axis
    _, resolved, _, layout = prepare(method, stand_in, layout, training=bool(training), **params)
    try:
        ops = get_ops(backend, device)
    except ValueError as exc:
        raise NormError(str(exc), method=method, shape=shape, layout=layout) from None
    xb = ops.asarray(x)
    output = ops.astype(xb, ops.compute_dtype(xb)) if not ops.is_half(xb) else xb
    axes = ", ".join(a for a, s in zip(layout, shape) if s == 0)
    tracked = running_mean is not None or running_var is not None
    return Result(output=output, mean=None, var=None, method=method, layout=layout, shape=shape, backend=ops.name,
                  device=ops.device, params=resolved, training=bool(training), sharing=None,
                  warnings=[f"the input is empty (axis {axes} has size 0): the output is empty too, as torch's; no "
                            "statistics" + (", and the running statistics are unchanged" if tracked else "")],
                  running_mean=running_mean if tracked and training else None,
                  running_var=running_var if tracked and training else None,
                  num_batches_tracked=num_batches_tracked if tracked and training else None)


def _first(a):
    return a[0] if a is not None and getattr(a, "ndim", 0) and a.shape[0] == 1 else a


def unbatched(normalize, x, method, layout, **kw):
    """x without a batch axis, normalized as x[None] with layout N + layout; the output, mean, var
    and group map lose that axis again. `sharing` keeps it: it describes (1, *x.shape)."""
    batched = x.unsqueeze(0) if is_torch_tensor(x) else np.asarray(x)[None]
    res = normalize(batched, method, BATCH + layout, **kw)
    line = tuple(_first(a) for a in res.group_map) if res.group_map is not None else None
    return replace(res, output=res.output[0], mean=_first(res.mean), var=_first(res.var), layout=layout,
                   shape=tuple(res.shape[1:]), group_map=line,
                   stats={k: _first(v) for k, v in res.stats.items()})


def tracked_instance_eval(normalize, x, layout, *, running_mean, running_var, momentum=None, **kw):
    """InstanceNorm in eval with running statistics: torch then normalizes with them, per channel,
    exactly BatchNorm's eval step (`momentum` has no use there)."""
    res = normalize(x, "batch", layout, training=False, running_mean=running_mean, running_var=running_var, **kw)
    return replace(res, method="instance")


def eval_hint(ops, out, params) -> str:
    """Why an eval-mode output can overflow: the largest scale 1/√(running_var + eps) it applied."""
    var = ops.small(out["var"]) if hasattr(ops, "small") else np.asarray(out["var"])
    smallest = float(np.min(np.asarray(var, dtype=np.float64))) if np.size(var) else 1.0
    return f"eval scales by up to 1/√(running_var + eps) = {1 / np.sqrt(max(smallest + params['eps'], 1e-300)):.3g}"
