"""Every framework's numbers for every registry method: Keras 3, JAX/Flax, ONNX, MLX and
TensorFlow beside torch, computed with kernels' own functions and checked against each framework
by the tests (tests/kernels/test_frameworks_*.py). Nothing here imports a framework; only
`execute` (running a generated snippet) does, when called.

    from kernels import normalize
    from kernels.frameworks import FRAMEWORKS, code, translate, compare
    res = normalize(x, "batch", framework="keras")          # Keras' eps 1e-3, momentum 0.99 (Keras')
    FRAMEWORKS["flax"].offers["group"].conventions          # what differs from torch, in words
    code("group", "mlx", layout="NCHW", shape=x.shape, groups=4)        # runnable MLX code
    translate("batch", "torch", "keras", momentum=0.1).params  # {'eps': 1e-05, 'momentum': 0.9, ...}
    compare(x, "layer", "keras").sentence                   # "Keras 3 defaults: max |Δ| = ... from eps ..."
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..layouts import BATCH, CHANNEL
from ..methods import METHODS
from .registry import FRAMEWORK_NAMES, Framework, Offer, build_frameworks
from .semantics import Plan, get_offer, plan

#: name -> Framework (torch, keras, flax, onnx, mlx, tensorflow), each with an Offer per registry method
FRAMEWORKS: dict = build_frameworks(METHODS)

__all__ = ["FRAMEWORKS", "FRAMEWORK_NAMES", "Framework", "Offer", "Plan", "Translation", "Difference", "offer",
           "offered", "normalize", "code", "translate", "compare", "execute", "typical_input"]


def offer(method: str, framework: str) -> Offer:
    """FRAMEWORKS[framework].offers[method], with a NormError naming a bad argument."""
    from ..core import NormError, get_method
    get_method(method)
    if framework not in FRAMEWORKS:
        raise NormError(f"framework={framework!r} is not one of {', '.join(FRAMEWORKS)}", method=method)
    return FRAMEWORKS[framework].offers[method]


def offered(method: str) -> tuple:
    """The frameworks that offer `method`, torch first."""
    return tuple(name for name in FRAMEWORK_NAMES if FRAMEWORKS[name].offers[method].offered)


def normalize(x, method: str, framework: str = "torch", layout: str = "NCHW", **kwargs):
    """kernels.normalize(x, method, layout, framework=framework, **kwargs)."""
    from ..core import normalize as core_normalize
    return core_normalize(x, method, layout, framework=framework, **kwargs)


def _plan_for(method, framework, layout, shape, params, training=True, running=False):
    from ..core import NormError, prepare
    from ..layouts import check_layout
    try:
        layout = check_layout(layout)
    except ValueError as exc:
        raise NormError(str(exc), method=method) from None
    shape = tuple(int(s) for s in (shape if shape is not None else default_shape(layout)))
    if framework == "torch":
        get_offer(method, framework)
        _, resolved, _, _ = prepare(method, shape, layout, training=training, **params)
        return layout, shape, Plan(method, resolved, dict(resolved))
    p = plan(get_offer(method, framework), layout, shape, params, training=training, tracking=running)
    _, resolved, _, _ = prepare(p.method, shape, layout, training=training, **p.params)  # NormError if bad
    p.params = resolved
    return layout, shape, p


def default_shape(layout: str) -> tuple:
    """A typical tensor for `layout`: N=8, C=16, every spatial axis 8."""
    return tuple({BATCH: 8, CHANNEL: 16}.get(a, 8) for a in layout)


def typical_input(layout: str = "NCHW", shape=None, seed: int = 0) -> np.ndarray:
    """The tensor translate() and compare() measure differences on: unit-variance values with a
    per-channel shift and scale (kernels.inputs' "shifted"), float32."""
    from ..inputs import generate
    return generate("shifted", shape if shape is not None else default_shape(layout), layout, seed=seed)


def code(method: str, framework: str, layout: str = "NCHW", shape=None, training: bool = True,
         running: bool = False, **params) -> str:
    """Runnable code for `method` in `framework` with the framework's `params` (its names and meaning),
    for a tensor `x` of `shape` in `layout` (NumPy, float32); it leaves the output in `y`. With
    running=True (BatchNorm) it also reads and updates `running_mean` and `running_var`."""
    from .codegen import generate
    layout, shape, p = _plan_for(method, framework, layout, shape, params, training, running)
    return generate(method, framework, layout, shape, p, training=training, running=running)


def execute(snippet: str, x, **scope) -> dict:
    """Run a snippet from `code` on x (NumPy) with the names in `scope` (running_mean, weight, ...);
    returns its namespace with `y` (and running_mean / running_var) as NumPy arrays. Imports the
    snippet's framework: only call it where that framework is installed."""
    namespace = {"x": np.asarray(x, dtype=np.float32), **scope}
    exec(compile(snippet, "<framework code>", "exec"), namespace)
    for name in ("y", "running_mean", "running_var"):
        if name in namespace:
            namespace[name] = to_numpy(namespace[name])
    return namespace


def to_numpy(a) -> np.ndarray:
    """A NumPy copy of a torch / jax / mlx / TensorFlow / NumPy array."""
    if hasattr(a, "detach"):
        a = a.detach().cpu()
    if hasattr(a, "numpy") and not isinstance(a, np.ndarray):
        try:
            return np.asarray(a.numpy())
        except (TypeError, AttributeError, RuntimeError):
            pass
    return np.array(a)


# -- translating parameters between frameworks ----------------------------------------------------

@dataclass
class Translation:
    """translate()'s answer.

    params: the target framework's parameters (its names and meaning) giving the source's numbers.
    call: the target's runnable code with them (see `code`).
    exact: True when the target computes the very same numbers (up to rounding).
    notes: what was converted, and where no exact equivalent exists, how large the difference is.
    difference: max |Δ| between the source's and the target's outputs on a typical tensor (and,
        for running statistics, between their running statistics after a few training steps).
    pasted: max |Δ| (same measure) if the source's numbers were pasted into the target unchanged;
        pasted_note says what that does.
    """

    method: str
    source: str
    target: str
    params: dict
    call: str
    exact: bool
    notes: list = field(default_factory=list)
    difference: float = 0.0
    pasted: float | None = None
    pasted_note: str = ""


def _keeps(variant):
    return variant.get("running", "torch")


def _to_target(method, target, layout, shape, kp, src: Plan, src_offer: Offer):
    """The target's parameters for kernels parameters `kp` (torch meaning) and the notes."""
    t_offer = get_offer(method, target)
    fp, notes, exact = {}, [], True
    for name in t_offer.defaults:
        if name == "momentum":
            m = kp["momentum"]
            if m is None:
                fp[name] = None if _keeps(t_offer.variant) == "torch" else 0.99
                if fp[name] is not None:
                    exact = False
                    notes.append(f"{target} has no cumulative average (torch's momentum=None): momentum 0.99 there")
                continue
            convention = kp.get("momentum_convention", "torch")
            same = convention == _keeps(t_offer.variant) if target != "torch" else convention == "torch"
            fp[name] = m if same else round(1 - m, 12)
            if not same:
                style, weight = ("Keras", "old value") if convention == "keras" else ("torch", "batch")
                notes.append(f"momentum {m:g} becomes {fp[name]:g}: the source's {style}-style m is the {weight}'s "
                             "weight")
        elif name == "momentum_convention":
            fp[name] = "torch"
        elif name == "eps":
            eps = kp.get("eps")
            if eps is None:
                eps = float(np.finfo(np.float32).eps)
                notes.append(f"eps=None is torch's finfo(float32).eps: {eps:g} explicitly")
            fp[name] = eps
        elif name == "use_fast_variance":
            fp[name] = src.variance == "one_pass"
        elif name == "pytorch_compatible":
            fp[name] = src.perm is None
        elif name == "opset":
            fp[name] = 21
        elif name == "depth_radius":
            fp[name] = (kp["size"] - 1) // 2 if kp["size"] % 2 else kp["size"] // 2
        elif name == "bias" and method == "lrn":
            fp[name] = kp["k"]
        elif name == "alpha" and target == "tensorflow":
            fp[name] = kp["alpha"] / (2 * fp["depth_radius"] + 1)
        elif name in kp:
            fp[name] = kp[name]
    if t_offer.affine:
        for name in ("weight", "bias"):
            if kp.get(name) is not None:
                fp[name] = kp[name]
    elif any(kp.get(n) is not None for n in ("weight", "bias")) and method != "lrn":
        exact = False
        notes.append(f"{target}'s {t_offer.api} has no affine step: apply γ, β after it")
    return t_offer, fp, notes, exact


def translate(method: str, source: str, target: str, layout: str = "NCHW", shape=None, training: bool = True,
              **params) -> Translation:
    """The target framework's parameters that give the source framework's numbers for `method`
    (`params` in the source's names and meaning; missing ones at the source's defaults)."""
    layout, shape, src = _plan_for(method, source, layout, shape, params, training)
    src_offer = get_offer(method, source)
    kp = dict(src.params)
    t_offer, fp, notes, exact = _to_target(method, target, layout, shape, kp, src, src_offer)
    t_layout, t_shape, tgt = _plan_for(method, target, layout, shape, fp, training)
    reasons = _variant_differences(src, tgt, source, target, method, kp, tgt.params)
    if reasons:
        exact = False
    x = typical_input(layout, shape)
    diff = _measure(x, method, layout, training, source, params, target, fp)
    notes += [f"no exact equivalent: {r}; on a typical {shape} tensor the difference is max |Δ| = {diff:.2g}"
              for r in reasons]
    pasted, pasted_note = None, ""
    names = set(get_offer(method, target).param_names)
    given = {k: v for k, v in params.items() if k in names}
    try:
        pasted = _measure(x, method, layout, training, source, params, target, given)
        changed = sorted(k for k in set(fp) | set(given) if k not in ("weight", "bias") and
                         _differs(fp.get(k), given.get(k, t_offer.defaults.get(k))))
        pasted_note = (f"pasting {_describe(given) or 'nothing'} into {target} leaves "
                       f"{', '.join(f'{k}={_fmt(given.get(k, t_offer.defaults.get(k)))}' for k in changed)} "
                       f"(needed: {', '.join(f'{k}={_fmt(fp.get(k))}' for k in changed)}): max |Δ| = {pasted:.2g}"
                       if changed else f"the source's parameters pasted unchanged give max |Δ| = {pasted:.2g}")
    except ValueError as exc:
        pasted_note = f"the source's parameters pasted unchanged are refused: {exc}"
    return Translation(method, source, target, fp, code(method, target, layout, shape, training, **fp), exact,
                       notes, diff, pasted, pasted_note)


def _fmt(v):
    return f"{v:g}" if isinstance(v, float) else repr(v)


def _describe(params):
    return ", ".join(f"{k}={_fmt(v)}" for k, v in params.items() if k not in ("weight", "bias"))


def _differs(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return not np.isclose(a, b, rtol=1e-9, atol=0)
    return a != b


def _variant_differences(src: Plan, tgt: Plan, source, target, method, kp, tp, translating=True) -> list:
    """Sentences for what the target computes differently from the source with the translated params."""
    out = []
    if src.variance != tgt.variance and METHODS[method].centers:
        one = source if src.variance == "one_pass" else target
        out.append(f"{one} computes the variance in one pass (E[x²] − E[x]²), the other in two")
    if (src.perm is None) != (tgt.perm is None):
        out.append("MLX's GroupNorm groups channels strided (c % G) without pytorch_compatible=True")
    if src.flip != tgt.flip:
        out.append(f"the LRN window for the even size {kp['size']} is mirrored (ONNX: c − {(kp['size'] - 1) // 2} … "
                   f"c + {kp['size'] // 2}; torch: c − {kp['size'] // 2} … c + {(kp['size'] - 1) // 2})")
    elif translating and method == "lrn" and kp.get("size") != tp.get("size"):
        out.append(f"TensorFlow's window is 2·depth_radius + 1 = {tp['size']} channels, never {kp['size']}")
    if (src.eps_on_std is None) != (tgt.eps_on_std is None):
        out.append("ONNX MeanVarianceNormalization adds a fixed 1e-9 to the standard deviation (no epsilon)")
    elif translating and src.eps_on_std is None and _differs(kp.get("eps"), tp.get("eps")) and "eps" in kp:
        out.append(f"eps {kp.get('eps')} cannot be set there ({tp.get('eps')})")
    for name in ("groups", "center", "axes") if translating else ():
        if name in kp and kp.get(name) != tp.get(name):
            out.append(f"{name}={kp[name]!r} is not expressible there")
    if METHODS[method].running_stats:
        conv_s, conv_t = kp.get("momentum_convention", "torch"), tp.get("momentum_convention", "torch")
        if conv_s != conv_t:
            unbiased = source if conv_s == "torch" else target
            out.append(f"the running variance is unbiased (÷(n − 1)) in {unbiased}, biased (÷n) in the other")
    return out


def _measure(x, method, layout, training, source, sp, target, tp, steps: int = 3) -> float:
    """max |Δ| between two frameworks' outputs on x (and, for the BatchNorm family in training,
    their running statistics after `steps` steps on shifted copies of x)."""
    from ..core import normalize as core_normalize
    a = core_normalize(x, method, layout, framework=source, training=training, **sp)
    b = core_normalize(x, method, layout, framework=target, training=training, **tp)
    diff = float(np.max(np.abs(np.asarray(a.output, np.float64) - np.asarray(b.output, np.float64))))
    if METHODS[method].running_stats and training:
        c = x.shape[layout.index(CHANNEL)]
        states = {}
        for name, fw, p in (("a", source, sp), ("b", target, tp)):
            rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
            for step in range(steps):
                r = core_normalize(x * (1 + 0.1 * step) + step, method, layout, framework=fw, training=True,
                                   running_mean=rm, running_var=rv, **p)
                rm, rv = r.running_mean, r.running_var
            states[name] = (np.asarray(rm, np.float64), np.asarray(rv, np.float64))
        for i in (0, 1):
            diff = max(diff, float(np.max(np.abs(states["a"][i] - states["b"][i]))))
    return diff


# -- how far a framework's result is from torch's -------------------------------------------------

@dataclass
class Difference:
    """compare()'s answer: the framework's result, torch's, max |Δ| and why they differ."""

    framework: str
    method: str
    max_abs: float
    reasons: list
    sentence: str
    result: object
    torch_result: object


_STRUCTURAL = ("groups", "axes", "center", "size", "virtual_batch", "with_mean", "with_std", "feature_range",
               "clip", "tlu", "tau")


def compare(x, method: str, framework: str, layout: str = "NCHW", training: bool = True, torch_params=None,
            **params) -> Difference:
    """The framework's result on x (its defaults, overridden by `params` in its meaning) against
    torch's (with `torch_params`; the structural ones such as groups and axes are shared when the
    framework's params leave them out): max |Δ| and the parameters and conventions that cause it."""
    torch_params = dict(torch_params or {})
    fw_offer = get_offer(method, framework)
    for name in _STRUCTURAL:
        if name in torch_params and name in fw_offer.param_names and name not in params:
            params[name] = torch_params[name]
    if framework == "tensorflow" and method == "lrn" and "size" in params:
        params["depth_radius"] = params.pop("size") // 2
    params = {k: v for k, v in params.items() if k in fw_offer.param_names}
    from ..core import normalize as core_normalize
    res = core_normalize(x, method, layout, framework=framework, training=training, **params)
    ref = core_normalize(x, method, layout, training=training, **torch_params)
    diff = float(np.max(np.abs(np.asarray(to_numpy(res.output), np.float64)
                               - np.asarray(to_numpy(ref.output), np.float64)))) if np.size(ref.output) else 0.0
    shape = tuple(np.shape(x))
    _, _, p = _plan_for(method, framework, layout, shape, params, training)
    reasons = []
    for name, value in p.params.items():
        t = ref.params.get(name)
        if name in ("weight", "bias", "momentum", "momentum_convention"):
            continue
        if name == "eps" and t is None:
            t = float(np.finfo(np.float32).eps)
        if _differs(value, t):
            reasons.append(f"{name} {_fmt(value)} vs {_fmt(t)}")
    reasons += _variant_differences(p, Plan(method, ref.params, {}), framework, "torch", method, p.params, ref.params,
                                    translating=False)
    label = FRAMEWORKS[framework].label
    sentence = f"{label} {'defaults' if not params else 'settings'}: max |Δ| = {diff:.2g}" + (
        f", from {'; '.join(reasons)}" if reasons else " (the same semantics as torch)")
    return Difference(framework, method, diff, reasons, sentence, res, ref)
