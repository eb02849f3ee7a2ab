"""The arithmetic of one element, step by step, with the real numbers.

    steps = explain(x, "group", (1, 3, 0, 2), layout="NCHW", groups=4)
    for step in steps.steps:
        print(step.title, "—", step.text)      # "mean — μ = Σx / n = 141.3 / 32 = 4.416"
    steps.output == normalize(x, "group", groups=4).output[1, 3, 0, 2]     # exactly

Every step names the elements it uses (a box of x: slices per axis) so a view can light them
up. The statistics shown are the ones `normalize` used (its Result's mean and var on the same
backend), and the output is the Result's own element: the explanation equals `normalize` by
construction. Sums and deviations are shown in float64 from the group's values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .backend import get_ops
from .core import NormError, normalize
from .layouts import CHANNEL
from .methods import METHODS

#: The kinds of step, in the order they happen (a view's step-through walks them).
STEP_KINDS = ("gather", "mean", "deviation", "variance", "normalize", "affine", "running")


@dataclass(frozen=True)
class Step:
    """One step: `kind` (see STEP_KINDS), a title, the formula in symbols, the same formula with
    the numbers (`text`), its value, and the box of x (slices in layout order) it reads."""

    kind: str
    title: str
    formula: str
    text: str
    value: float | None = None
    box: tuple | None = None


@dataclass
class Explanation:
    """explain()'s answer: the element, its value before and after, the steps, and the box of
    the elements its statistics come from (`count` of them; None in eval mode)."""

    method: str
    index: tuple
    layout: str
    value: float
    output: float
    steps: list = field(default_factory=list)
    box: tuple | None = None
    count: int = 0
    training: bool = True
    warnings: list = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(f"{s.title}: {s.text}" for s in self.steps)

    def step(self, kind: str) -> Step | None:
        """The first step of this kind (or with this title)."""
        return next((s for s in self.steps if s.kind == kind), None) or \
            next((s for s in self.steps if s.title == kind), None)


def fmt(v: float) -> str:
    """A number as the steps print it: 4 significant digits, exponent when small or large."""
    if v is None:
        return "None"
    v = float(v)
    if v == 0:
        return "0"
    if not np.isfinite(v):
        return str(v)
    return f"{v:.4g}".replace("e-0", "e-").replace("e+0", "e").replace("-", "−")


def _minus(a: float, b: float) -> str:
    """'a − b' with a negative b in parentheses."""
    return f"{fmt(a)} − ({fmt(b)})" if b < 0 else f"{fmt(a)} − {fmt(b)}"


def explain(x, method: str, index, layout: str = "NCHW", backend: str = "numpy", device: str = "cpu",
            training: bool = True, *, running_mean=None, running_var=None, num_batches_tracked=0,
            nonfinite: str = "omit", **params) -> Explanation:
    """The steps that turn x[index] into normalize(...).output[index] (the same arguments as normalize)."""
    res = normalize(x, method, layout=layout, backend=backend, device=device, training=training,
                    running_mean=running_mean, running_var=running_var, num_batches_tracked=num_batches_tracked,
                    nonfinite=nonfinite, **params)
    return explain_result(x, res, index, running_mean=running_mean, running_var=running_var)


def explain_result(x, res, index, running_mean=None, running_var=None) -> Explanation:
    """The steps for x[index] of a Result `normalize` already computed on x (running_mean and
    running_var: what was given to it, for the running-statistics step)."""
    method = res.method
    layout, sharing, shape = res.layout, res.sharing, res.shape
    try:
        index = tuple(int(i) for i in index)
    except (TypeError, ValueError):
        raise NormError(f"index {index!r} is not a tuple of integers", method=method, shape=shape,
                        layout=layout) from None
    if len(index) != len(shape) or not all(0 <= i < s for i, s in zip(index, shape)):
        raise NormError(f"index {index} is outside the shape", method=method, shape=shape, layout=layout)
    ops = get_ops(res.backend, res.device)
    xb = ops.asarray(x)

    def part(box):  # only the elements a step reads, in float64 (never a copy of all of x)
        return np.asarray(ops.to_numpy(xb[box]), dtype=np.float64)

    out = float(ops.to_numpy(res.output[index]))
    p = res.params
    spec = METHODS[method]
    e = Explanation(method, index, layout, float(part(index)), out, training=res.training,
                    warnings=list(res.warnings))
    box = sharing.box_of(index)
    values = part(box)
    finite = values[np.isfinite(values)]
    e.box, e.count = box, int(finite.size)
    c = index[layout.index(CHANNEL)]
    stat = _stat_reader(res, sharing, index)
    if method == "lrn":
        _lrn_steps(e, values, box, p)
        return e
    if method == "minmax":
        _minmax_steps(e, finite, box, p, stat)
        return e
    eval_mode = spec.running_stats and not res.training
    if eval_mode:
        mean, var = stat(res.mean), stat(res.var)
        e.box, e.count = None, 0
        given = running_mean is not None and running_var is not None
        e.steps.append(Step("gather", "no batch statistics",
                            "eval: μ, σ² = running_mean[c], running_var[c]",
                            f"eval mode: element {index} uses channel {c}'s running statistics"
                            f"{'' if given else ' (a fresh module: mean 0, var 1)'}, not the batch's"))
        e.steps.append(Step("mean", "running mean", "μ = running_mean[c]", f"μ = running_mean[{c}] = {fmt(mean)}",
                            mean))
        e.steps.append(Step("variance", "running variance", "σ² = running_var[c]",
                            f"σ² = running_var[{c}] = {fmt(var)}", var))
    else:
        centers = spec.centers if method != "custom" else bool(p["center"])
        mean, var = _gather_steps(e, finite, box, stat, res, centers, method)
    eps = _eps(method, p, res)
    _normalize_steps(e, method, p, res, stat, mean, var, eps, index)
    if spec.running_stats and res.training and res.running_mean is not None:
        _running_step(e, res, p, c, finite.size, mean, var, running_mean, running_var)
    return e


def _stat_reader(res, sharing, index):
    """A function that reads a statistic (of the sharing's stat_shape, or x's shape) at x[index]'s group."""
    group = sharing.group_of(index) if sharing.shares_groups else index

    def read(a):
        arr = np.asarray(_numpy(a), dtype=np.float64)
        if arr.ndim == 0:
            return float(arr)
        return float(np.broadcast_to(arr, sharing.stat_shape if sharing.shares_groups else res.shape)[group])
    return read


def _numpy(a):
    if isinstance(a, (np.ndarray, np.generic, float, int)):
        return a
    t = a.detach().cpu()
    return (t.float() if str(t.dtype) == "torch.bfloat16" else t).numpy()


def _gather_steps(e, finite, box, stat, res, centers, method):
    n = finite.size
    total = float(np.sum(finite))
    what = "its statistics group" if res.sharing.shares_groups else "its window"
    e.steps.append(Step("gather", "gather", "the n elements that share statistics with x",
                        f"n = {n:,} elements: {what}, {res.sharing.describe()}", float(n), box))
    if not centers:
        mean_square = stat(res.var)
        e.steps.append(Step("variance", "mean square", "ν² = Σx² / n",
                            f"ν² = {fmt(float(np.sum(finite * finite)))} / {n:,} = {fmt(mean_square)}",
                            mean_square, box))
        return 0.0, mean_square
    mean = stat(res.mean)
    e.steps.append(Step("mean", "mean", "μ = Σx / n", f"μ = {fmt(total)} / {n:,} = {fmt(mean)}", mean, box))
    d = e.value - mean
    e.steps.append(Step("deviation", "deviation", "x − μ", f"{_minus(e.value, mean)} = {fmt(d)}", d))
    var = stat(res.var)
    squares = float(np.sum((finite - mean) ** 2))
    e.steps.append(Step("variance", "variance (biased)", "σ² = Σ(x − μ)² / n",
                        f"σ² = {fmt(squares)} / {n:,} = {fmt(var)}", var, box))
    return mean, var


def _eps(method, p, res):
    if method == "standardize":
        return None
    eps = p.get("eps")
    if method == "rms" and eps is None:
        return float(np.finfo(np.float32).eps if str(res.output.dtype) != "float64" else np.finfo(np.float64).eps)
    return abs(eps) if method == "frn" else eps


def _normalize_steps(e, method, p, res, stat, mean, var, eps, index):
    centered = e.value - mean
    top = f"({_minus(e.value, mean)})" if mean != 0 or method not in ("rms", "pixel", "frn") else fmt(e.value)
    if method == "standardize":
        scale = float(np.sqrt(var)) if p["with_std"] and var > 0 else 1.0
        z = (centered if p["with_mean"] else e.value) / scale
        e.steps.append(Step("normalize", "standardize", "z = (x − μ) / σ (σ = 1 for a constant feature)",
                            f"z = {top if p['with_mean'] else fmt(e.value)} / {fmt(scale)} = {fmt(z)}", z))
        e.steps.append(_output_step(e, "normalize"))
        return
    root = float(np.sqrt(var + eps)) if var + eps > 0 else 0.0
    y = (centered if mean != 0 else e.value) / root if root > 0 else 0.0
    symbol = "ν²" if method in ("rms", "pixel", "frn") or (method == "custom" and not p["center"]) else "σ²"
    e.steps.append(Step("normalize", "normalize", f"z = (x − μ) / √({symbol} + ε)",
                        f"z = {top} / √({fmt(var)} + {fmt(eps)}) = {fmt(centered if mean != 0 else e.value)} / "
                        f"{fmt(root)} = {fmt(y)}", y))
    if method == "batch_renorm" and res.training:
        r, d = stat(res.stats["r"]), stat(res.stats["d"])
        y = y * r + d
        e.steps.append(Step("normalize", "renormalize", "z·r + d (r, d against the running statistics)",
                            f"z·{fmt(r)} + {fmt(d)} = {fmt(y)}", y))
    gamma, beta = _affine_at(p, res, index)
    if gamma is not None or beta is not None:
        g, b = 1.0 if gamma is None else gamma, 0.0 if beta is None else beta
        e.steps.append(Step("affine", "scale and shift", "y = γ·z + β",
                            f"y = {fmt(g)} · {fmt(y)} + {fmt(b)} = {fmt(e.output)}", e.output))
    if method == "frn" and p["tlu"]:
        e.steps.append(Step("affine", "TLU", "z = max(y, τ)", f"z = max(…, {fmt(p['tau'])}) = {fmt(e.output)}",
                            e.output))
    e.steps.append(_output_step(e, "affine" if gamma is not None or beta is not None else "normalize"))


def _output_step(e, kind) -> Step:
    return Step(kind, "output", "the element after normalizing", f"{fmt(e.value)} → {fmt(e.output)}", e.output)


def _affine_at(p, res, index):
    """(γ, β) at x[index]: a number, one per channel, or an array broadcastable to x."""
    out = []
    for name in ("weight", "bias"):
        v = p.get(name)
        if v is None:
            out.append(None)
            continue
        a = np.asarray(_numpy(v), dtype=np.float64)
        if a.ndim == 0:
            out.append(float(a))
        elif a.ndim == 1 and a.shape[0] == res.shape[res.layout.index(CHANNEL)]:
            out.append(float(a[index[res.layout.index(CHANNEL)]]))
        else:
            out.append(float(np.broadcast_to(a, res.shape)[index]))
    return tuple(out)


def _running_step(e, res, p, c, n, mean, var, running_mean, running_var):
    """The running-statistics update of channel c after this training step."""
    m = p["momentum"]
    rm_old = 0.0 if running_mean is None else float(np.broadcast_to(np.asarray(_numpy(running_mean)),
                                                                    (res.shape[res.layout.index(CHANNEL)],))[c])
    rv_old = 1.0 if running_var is None else float(np.broadcast_to(np.asarray(_numpy(running_var)),
                                                                   (res.shape[res.layout.index(CHANNEL)],))[c])
    rm_new = float(np.asarray(_numpy(res.running_mean)).reshape(-1)[c])
    rv_new = float(np.asarray(_numpy(res.running_var)).reshape(-1)[c])
    if p["momentum_convention"] == "keras":
        text = (f"running_mean = {fmt(m)}·{fmt(rm_old)} + {fmt(1 - m)}·{fmt(mean)} = {fmt(rm_new)}; "
                f"running_var = {fmt(m)}·{fmt(rv_old)} + {fmt(1 - m)}·{fmt(var)} (biased) = {fmt(rv_new)}")
        formula = "new = m·old + (1 − m)·batch (Keras)"
    else:
        f = "1/num_batches" if m is None else fmt(m)
        text = (f"running_mean = (1 − {f})·{fmt(rm_old)} + {f}·{fmt(mean)} = {fmt(rm_new)}; "
                f"running_var = (1 − {f})·{fmt(rv_old)} + {f}·{fmt(var)}·{n}/{n - 1} (unbiased) = {fmt(rv_new)}"
                if n > 1 else f"running_mean = {fmt(rm_new)}; running_var kept at {fmt(rv_new)} (one value: no "
                              f"unbiased variance)")
        formula = "new = (1 − m)·old + m·batch, unbiased variance (torch)"
    e.steps.append(Step("running", "running statistics", formula, text, rm_new))


def _lrn_steps(e, window, box, p):
    finite = window[np.isfinite(window)]
    size, alpha, beta, k = p["size"], p["alpha"], p["beta"], p["k"]
    squares = float(np.sum(finite * finite))
    e.steps.append(Step("gather", "window", "the channels c − n//2 … c + (n − 1)//2 at this position",
                        f"{finite.size} channel(s) in the window of size n = {size} (zero padded)", float(size), box))
    e.steps.append(Step("variance", "sum of squares", "Σ a²", f"Σ a² = {fmt(squares)}", squares, box))
    base = k + alpha / size * squares
    e.steps.append(Step("normalize", "divisor", "(k + α/n · Σ a²)^β",
                        f"({fmt(k)} + {fmt(alpha)}/{size} · {fmt(squares)})^{fmt(beta)} = {fmt(base ** beta)}",
                        base ** beta))
    e.steps.append(Step("normalize", "output", "b = a / divisor",
                        f"{fmt(e.value)} / {fmt(base ** beta)} = {fmt(e.output)}", e.output))


def _minmax_steps(e, finite, box, p, stat):
    lo, hi = float(np.min(finite)), float(np.max(finite))
    a, b = p["feature_range"]
    e.steps.append(Step("gather", "gather", "the samples of this feature",
                        f"{finite.size:,} values of the feature", float(finite.size), box))
    e.steps.append(Step("mean", "minimum and maximum", "min, max over the samples",
                        f"min = {fmt(lo)}, max = {fmt(hi)}", lo, box))
    span = hi - lo if hi > lo else 1.0
    e.steps.append(Step("normalize", "output", "y = (x − min) / (max − min) · (b − a) + a",
                        f"({_minus(e.value, lo)}) / {fmt(span)} · {fmt(b - a)} + {fmt(a)} = {fmt(e.output)}",
                        e.output))


__all__ = ["explain", "explain_result", "Explanation", "Step", "STEP_KINDS", "fmt"]
