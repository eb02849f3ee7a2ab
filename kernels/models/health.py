"""Health flags of a normalization layer: each a sentence saying what is odd and why it matters.

Checks: non-finite or negative statistics, running statistics never trained (still 0/1), a
`num_batches_tracked` of 0 beside trained statistics, running variance below 10·eps (eps
dominates), γ near 0 (dead channels), momentum 0 or 1, huge running variance, BatchNorm without
running statistics, and, after a capture, the gap between the batch's and the running statistics.
"""

from __future__ import annotations

import numpy as np

from ._common import LEVELS, Flag

#: running variance below EPS_FACTOR·eps: eps, not the variance, sets the scale
EPS_FACTOR = 10.0
#: |γ| below this is a dead channel (its output is β whatever the input)
DEAD_GAMMA = 1e-3
#: running variance above this (std 100) is huge
HUGE_VAR = 1e4
#: gap thresholds (rms of the mean shift in running std units; worst std ratio) for warning / problem
GAP_WARNING = (0.5, 2.0)
GAP_PROBLEM = (2.0, 5.0)


def _count(mask) -> int:
    return int(np.count_nonzero(mask))


def _channels(n: int, total: int) -> str:
    return f"{n} of {total} channel{'s' if total != 1 else ''}"


def flags_of(layer) -> list:
    """The layer's flags, most serious first (see the module docstring for the checks)."""
    out = []
    rm, rv, w = layer.running_mean, layer.running_var, layer.weight
    eps = layer.eps if layer.eps is not None else 0.0

    arrays = [(n, a) for n, a in (("running_mean", rm), ("running_var", rv), ("weight (γ)", w),
                                   ("bias (β)", layer.bias)) if a is not None]
    bad = [n for n, a in arrays if not np.all(np.isfinite(a))]
    if bad:
        out.append(Flag(f"{', '.join(bad)} hold NaN or Inf: every output of the affected channels is NaN",
                        "nonfinite", "problem"))
    if rv is not None and np.any(rv < 0):
        out.append(Flag(f"running_var is negative in {_channels(_count(rv < 0), rv.size)}: a variance never is, so "
                        f"eval mode takes the square root of a negative number (NaN)", "negative_var", "problem"))

    if layer.has_running_stats:
        at_init = np.all(rm == 0) and np.all(rv == 1)
        if at_init:
            out.append(Flag("running statistics are still at their initial mean 0 and variance 1 (never trained): "
                            "eval mode computes γ·x/√(1 + eps) + β, which does not normalize at all",
                            "never_trained", "problem"))
        elif layer.num_batches_tracked == 0 and layer.family == "batch":
            out.append(Flag("num_batches_tracked is 0 although the running statistics are trained: they were set "
                            "by hand or converted from another framework (Keras, ONNX); with momentum=None "
                            "(cumulative average) the first training step would replace them entirely",
                            "not_counted", "info"))
        if not at_init and eps > 0:
            tiny = _count((rv >= 0) & (rv < EPS_FACTOR * eps))
            if tiny:
                out.append(Flag(f"running variance below 10·eps={EPS_FACTOR * eps:.3g} in {_channels(tiny, rv.size)}: "
                                f"eps dominates √(σ² + ε) there, so eval output is shrunk towards β instead of "
                                f"having unit variance (and the eps a framework uses matters)",
                                "eps_dominates", "warning"))
        huge = float(np.max(rv)) if rv.size else 0.0
        if np.isfinite(huge) and huge > HUGE_VAR:
            out.append(Flag(f"running variance up to {huge:.3g} (std {np.sqrt(huge):.3g}): the layer's input is far "
                            f"from unit scale; in float16 (largest 65504) its squares overflow, and folding into the "
                            f"preceding layer scales its weights by as little as 1/{np.sqrt(huge):.3g}",
                            "huge_var", "warning"))

    if w is not None and w.size:
        dead = _count(np.abs(w) < DEAD_GAMMA)
        if dead:
            what = _channels(dead, w.size) if w.ndim == 1 else f"{dead} of {w.size} weights"
            level = "problem" if dead == w.size else "warning"
            out.append(Flag(f"γ is near 0 (|γ| < {DEAD_GAMMA:g}) in {what}: the output there is β whatever the "
                            f"input (a dead channel; all of them dead is how zero-initialised residual branches "
                            f"start)", "dead_channel", level))

    if layer.family == "batch":
        out += _momentum_flags(layer)
        if layer.batch_stats_in_eval:
            out.append(Flag("no running statistics (track_running_stats=False): eval mode normalizes with the "
                            "batch's own statistics too, so an output depends on the rest of its batch",
                            "batch_stats_in_eval", "info"))
        if layer.training_mode:
            out.append(Flag("the ONNX node runs in training mode (training_mode=1): it normalizes with the batch's "
                            "statistics at inference", "training_mode", "warning"))
    if layer.gap is not None:
        out += _gap_flags(layer.gap)
    out += [Flag(text, "assumed", "info") for text in layer.assumptions]
    return sorted(out, key=lambda f: -LEVELS.index(f.level))


def _momentum_flags(layer) -> list:
    m = layer.momentum
    if m is None:
        if layer.momentum_convention == "torch":
            return [Flag("momentum=None: running statistics are the cumulative average of every batch seen, so late "
                         "batches barely move them", "momentum_cumulative", "info")]
        return []
    keep = 1.0 - m if layer.momentum_convention == "torch" else m
    said = f"momentum {m:g} ({layer.momentum_convention} convention)"
    if keep >= 1.0:
        return [Flag(f"{said}: a training step never changes the running statistics (frozen, as converted models "
                     f"often are); fine-tuning in train mode normalizes with batch statistics that eval never sees",
                     "momentum_frozen", "info")]
    if keep <= 0.0:
        return [Flag(f"{said}: the running statistics are only the last training batch's, as noisy as a single "
                     f"batch", "momentum_last_batch", "warning")]
    return []


def _gap_flags(gap) -> list:
    shift, ratio = gap.shift_rms, gap.ratio_worst
    text = (f"on the captured input, eval mode's per-channel mean lands {shift:.2g} running std from 0 (rms over "
            f"channels) and its std is off by up to {ratio:.3g}×: the running statistics do not describe this "
            f"input, so train-mode and eval-mode outputs differ ('train fine, eval wrong')")
    if shift > GAP_PROBLEM[0] or ratio > GAP_PROBLEM[1]:
        return [Flag(text, "gap", "problem")]
    if shift > GAP_WARNING[0] or ratio > GAP_WARNING[1]:
        return [Flag(text, "gap", "warning")]
    return []
