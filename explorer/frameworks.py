"""The `framework` setting's rules, Qt-free: which parameters a method has in a framework (its names,
defaults and meaning, from kernels.frameworks.FRAMEWORKS), how given parameters are checked and
typed, what carries over when the framework changes, the torch parameters a framework's result
is measured against, and the pitfalls the seed articles' code fell into (each checked by a test
in tests/kernels/test_frameworks_*.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from kernels import FRAMEWORKS, METHODS, Param, parse_bool, prepare

TORCH = "torch"
#: parameters that decide the grouping, not a number inside it: they carry over when the framework changes
STRUCTURAL = ("groups", "axes", "center", "size", "virtual_batch", "depth_radius")
AFFINE = ("weight", "bias")

#: parameters only some frameworks have (the registry's methods do not)
EXTRA = {
    "use_fast_variance": Param("use_fast_variance", "bool", True, "Flax: the variance as E[x²] − E[x]² in one pass "
                               "(True, Flax's default) or in two passes"),
    "pytorch_compatible": Param("pytorch_compatible", "bool", False, "MLX: False puts channel c in group c % G; True "
                                "groups consecutive channels as torch does"),
    "opset": Param("opset", "choice", 21, "ONNX GroupNormalization's opset: 18 takes γ, β one per group, 21 one per "
                   "channel", choices=(18, 21)),
    "depth_radius": Param("depth_radius", "int", 5, "TensorFlow: the window is c − r … c + r (2r + 1 channels)",
                          minimum=0),
}
#: (framework, parameter) -> what it means there, where that is not torch's
MEANING = {
    ("keras", "momentum"): "Keras' momentum: new = m·old + (1 − m)·batch (torch's 1 − momentum)",
    ("flax", "momentum"): "Flax's momentum, Keras-style: new = m·old + (1 − m)·batch (torch's 1 − momentum)",
    ("onnx", "momentum"): "ONNX's momentum, Keras-style: running = m·running + (1 − m)·batch",
    ("tensorflow", "alpha"): "TensorFlow: α multiplies the window's sum of squares (torch's α / size)",
    ("tensorflow", "bias"): "TensorFlow: the additive constant (torch's k)",
    ("onnx", "bias"): "ONNX: the additive constant (torch's k)",
}


def offer(method: str, framework: str):
    return FRAMEWORKS[framework].offers[method]


def param_specs(method: str, framework: str) -> list:
    """The parameters the editor shows for `method` in `framework`: Params with the framework's
    defaults and meaning (torch: the registry's own)."""
    spec = METHODS[method]
    if framework == TORCH:
        return list(spec.params)
    o = offer(method, framework)
    out = []
    for name in o.param_names:
        base = spec.param(name) if name in spec.param_names else EXTRA.get(name) or Param(
            name, "float", 1.0, "the additive constant", minimum=0.0)
        doc = MEANING.get((framework, name), base.doc)
        default = o.defaults.get(name, base.default)
        out.append(replace(base, default=base.default if default is None else default, doc=doc))
    return out


def _typed(name, value, spec: Param, method, layout, shape):
    """One given value as the framework reads it ("0.001" -> 0.001, "21" -> 21, "false" -> False)."""
    if value is None or isinstance(value, np.ndarray):
        return value
    try:
        if spec.kind == "bool":
            return parse_bool(value)
        if spec.kind == "int" or (spec.kind == "choice" and all(isinstance(c, int) for c in spec.choices)):
            number = float(value)
            return int(number) if number == int(number) else value
        if spec.kind in ("float", "optional_float"):
            return float(value)
        if spec.kind in ("array", "axes", "range"):
            from kernels import resolve_params
            return resolve_params(METHODS[method], layout, shape, {name: value})[name]
    except (TypeError, ValueError, OverflowError):
        return value
    return value


def typed(method: str, framework: str, layout: str, shape: tuple, params: dict) -> dict:
    specs = {p.name: p for p in param_specs(method, framework)}
    return {k: _typed(k, v, specs[k], method, layout, shape) if k in specs else v for k, v in params.items()}


def prepared(method: str, framework: str, shape: tuple, layout: str, training: bool, params: dict) -> tuple:
    """(the framework's parameters resolved, the sharing its numbers use, kernels' parameters in
    torch's meaning); NormError when the framework does not offer the method or refuses them."""
    from kernels.frameworks.semantics import get_offer, plan
    p = plan(get_offer(method, framework), layout, tuple(shape), dict(params), training=training)
    _, resolved, sharing, _ = prepare(p.method, shape, layout, training=training, **p.params)
    return p.framework_params, sharing, resolved


def display_params(method: str, framework: str, shape: tuple, layout: str, params: dict) -> dict:
    """Every parameter as the editor shows it when the given ones cannot be resolved: given over defaults."""
    out = {p.name: p.default if not callable(p.default) else None for p in param_specs(method, framework)}
    out.update({k: v for k, v in dict(params.as_dict() if hasattr(params, "as_dict") else params).items() if k in out})
    return out


def carried(old_framework: str, new_framework: str, method: str, shown: dict, given: dict) -> dict:
    """The parameters a framework change keeps: the grouping (groups, axes, size as TensorFlow's
    radius and back) and γ, β; eps, momentum and the rest take the new framework's defaults."""
    names = {p.name for p in param_specs(method, new_framework)}
    out = {}
    for name in STRUCTURAL:
        if name in shown and shown[name] is not None and name in names:
            out[name] = shown[name]
    if "size" in shown and "depth_radius" in names and shown["size"] is not None:
        out["depth_radius"] = int(shown["size"]) // 2
    if "depth_radius" in shown and "size" in names and shown["depth_radius"] is not None:
        out["size"] = 2 * int(shown["depth_radius"]) + 1
    out.update({k: v for k, v in given.items() if k in AFFINE and k in names})
    return out


def torch_params(method: str, framework: str, params: dict) -> dict:
    """The torch parameters a framework's result is measured against: the same grouping and γ, β,
    torch's defaults for the rest (so the difference is the framework's defaults and conventions)."""
    names = METHODS[method].param_names
    out = {k: v for k, v in params.items() if k in (*STRUCTURAL, *AFFINE) and k in names}
    if framework == "tensorflow" and "depth_radius" in params and "size" in names:
        out["size"] = 2 * int(params["depth_radius"]) + 1
    return out


def momentum_reasons(method: str, framework: str, framework_params: dict, torch_given: dict) -> list:
    """A framework's momentum against torch's, in torch's meaning, when they differ (for eval mode)."""
    if "momentum" not in framework_params or "momentum" not in METHODS[method].param_names:
        return []
    m = framework_params["momentum"]
    keras_style = offer(method, framework).variant.get("running", TORCH) == "keras"
    as_torch = None if m is None else (round(1 - m, 12) if keras_style else m)
    torch_m = torch_given.get("momentum", METHODS[method].param("momentum").default)
    if as_torch == torch_m:
        return []
    style = f" (Keras-style: torch's {as_torch:g})" if keras_style and m is not None else ""
    return [f"momentum {m:g}{style} vs {torch_m:g}" if m is not None else f"momentum None vs {torch_m:g}"]


def refusal(method: str, framework: str) -> str:
    """Why `framework` cannot compute `method` here ("" when it can)."""
    o = offer(method, framework)
    if not o.offered:
        return f"{FRAMEWORKS[framework].label} does not offer {METHODS[method].label}: {o.reason}"
    if not o.computed:
        return f"{FRAMEWORKS[framework].label}'s {o.api} is offered, but {o.reason}"
    return ""


#: the seed articles' code, checked: (framework or "*", method) -> pitfalls the info panel lists
PITFALLS = {
    ("keras", "layer"): ("Keras' LayerNormalization() after a Conv2D on NHWC normalizes each position over C alone "
                         "(the 'channel' method), not over (C, H, W) as torch's LayerNorm([C, H, W]) does "
                         "(tests/kernels/test_frameworks_keras.py runs it)",),
    ("keras", "channel"): ("LayerNormalization() with its default axis=-1 on NHWC is this method: the seed articles "
                           "call it LayerNorm, torch's LayerNorm([C, H, W]) is another",),
    ("keras", "instance"): ("tf.keras.layers.InstanceNormalization does not exist in Keras 3: spell it "
                            "GroupNormalization(groups=-1) (tests/kernels/test_frameworks_tf.py checks both)",),
    ("keras", "batch"): ("torch's momentum=0.1 pasted into Keras is Keras' momentum 0.1: the moving averages keep "
                         "10% of the old value and follow the last batch; Keras' 0.99 is torch's 0.01. The running "
                         "variance is also biased there (÷n) and unbiased in torch (÷(n − 1))",),
    ("torch", "layer"): ("LayerNorm((32, 28, 28)) after a 3×3 convolution without padding on a 28×28 input meets a "
                         "26×26 map and fails: normalized_shape must be the feature map's real (C, H, W) "
                         "(tests/kernels/test_frameworks_api.py runs it)",),
    ("torch", "batch"): ("Keras' momentum=0.99 pasted into torch is torch's 0.99: the running statistics follow the "
                         "last batch instead of averaging (torch's 0.01 is Keras' 0.99)",),
    ("flax", "batch"): ("Flax computes the variance in one pass, E[x²] − E[x]²: with a large mean and a small spread "
                        "it cancels (use_fast_variance=False is two-pass; see the Precision view)",),
    ("mlx", "group"): ("MLX's GroupNorm puts channel c in group c % G unless pytorch_compatible=True: the same "
                       "groups count gives other groups than torch's",),
}
for _m in ("layer", "instance", "channel"):
    PITFALLS[("tensorflow", _m)] = PITFALLS[("keras", _m)]


def pitfalls(method: str, framework: str) -> tuple:
    return PITFALLS.get((framework, method), ())


def params_in(settings, framework: str) -> dict:
    """The parameters `framework` is shown with for these settings: the settings' own in their framework,
    elsewhere that framework's defaults with the same grouping and γ, β (see `carried`)."""
    if framework == settings.framework:
        return settings.kernel_params()
    return carried(settings.framework, framework, settings.method, settings.display_params(),
                   settings.params.as_dict())


def snippets(settings) -> dict:
    """The code panel's tabs: title -> (code, tooltip). One tab per framework (kernels.framework_code
    for the parameters `params_in` gives; a framework that does not offer the method says why, as a
    comment), and scikit-learn's for the data-scaling methods."""
    from kernels import code_for, framework_code
    s = settings
    out = {}
    for name, fw in FRAMEWORKS.items():
        why = refusal(s.method, name)
        if why:
            out[fw.label] = ("# " + why, why)
            continue
        params = params_in(s, name)
        try:
            text = framework_code(s.method, name, s.layout, s.shape, s.training, **params)
        except (ValueError, TypeError, KeyError) as exc:
            reason = getattr(exc, "reason", str(exc))
            out[fw.label] = (f"# not expressible for these settings: {reason}", reason)
            continue
        tip = ("the settings' own parameters" if name == s.framework else
               f"{fw.label}'s defaults with the same grouping; Tools > Translate between frameworks… gives the "
               f"parameters for the same numbers")
        out[fw.label] = (text, tip)
        if name == TORCH:
            try:
                resolved = prepare(s.method, s.shape, s.layout, training=s.training, **params)[1]
                extra = code_for(s.method, s.layout, s.shape, resolved, s.training)
            except (ValueError, TypeError, KeyError):
                extra = {}
            if "scikit-learn" in extra:
                out["scikit-learn"] = (extra["scikit-learn"], "the same numbers with scikit-learn")
    return out
