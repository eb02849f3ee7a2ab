"""Signals through a deep stack: L layers of linear (dense or 3x3 conv) → optional normalization →
activation, recording each layer's value distributions, saturation and weight-gradient norm."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..backend import torch_missing_reason, torch_or_none
from ..core import normalize, prepare
from ..inputs import GENERATORS, generate
from ..methods import METHODS
from . import _nn
from ._common import MAX_VALUES, Loop, Values, add_warnings, check_choice, check_int, summarize
from ._grad import normalize_autograd, normalize_backward, numpy_grad_reason

KINDS = ("dense", "conv")
GRAD_BACKENDS = ("auto", "torch", "numpy", "none")
KERNEL = 3
MAX_ELEMENTS = 4_000_000  # per layer activation tensor


@dataclass
class DepthConfig:
    """One deep-stack experiment.

    layers: 1..50. width: units per dense layer, or output channels per conv layer.
    samples: batch size N. features: input features (dense) or input channels (conv).
    kind: 'dense' on (N, features) or 'conv' (3x3, "same" padding) on (N, features, *spatial).
    activation: one of sigmoid, tanh, relu, gelu, selu, identity.
    init: 'normal' (standard normal weights and biases, the seed article), 'xavier', 'he', 'lecun'.
    norm: a kernels.METHODS name or None, applied in training mode after every linear step;
        dense layers use layout NCL with L=1, so BatchNorm is per feature over the batch.
    norm_params: keywords for that method (eps, groups, weight, bias, ...).
    inputs: a kernels.inputs generator name. seed: inputs use `seed`, weights rng([seed, 1]).
    backend: gradients by 'torch' autograd (the forward pass runs in torch too), 'numpy' (the
        hand-written backward pass), 'auto' (torch when it imports, else numpy) or 'none'.
    max_values: values kept per recorded tensor for histograms.
    """

    layers: int = 5
    width: int = 64
    samples: int = 100
    features: int = 20
    kind: str = "dense"
    spatial: tuple = (8, 8)
    activation: str = "sigmoid"
    init: str = "normal"
    norm: str | None = None
    norm_params: dict = field(default_factory=dict)
    inputs: str = "uniform"
    seed: int = 0
    backend: str = "auto"
    max_values: int = MAX_VALUES


@dataclass
class LayerRecord:
    """One layer: `pre` = W·x + b, `normed` = after the normalization (pre itself when norm is None),
    `act` = after the activation, each as `Values` (sampled values, mean, std over all elements).
    saturated: fraction of saturated units of the activation (see `_nn.saturated_fraction`).
    grad_norm: Frobenius norm of dLoss/dW for this layer's weight, None when unavailable."""

    index: int
    pre: Values
    normed: Values
    act: Values
    saturated: float
    grad_norm: float | None = None


@dataclass
class DepthResult:
    """layers: a `LayerRecord` per computed layer (fewer than asked when values overflowed).
    input: the input batch's `Values`. loss: mean(output²) of the last layer, the loss whose
    gradients are reported (None when not computed). gradients: 'torch', 'numpy' or '' (none);
    gradient_reason: why there are none ('' otherwise). warnings: sentences, each prefixed with
    its layer."""

    config: DepthConfig
    input: Values
    layers: list
    loss: float | None = None
    gradients: str = ""
    gradient_reason: str = ""
    warnings: list = field(default_factory=list)


def article_config(batchnorm: bool = False, **overrides) -> DepthConfig:
    """The seed article's setting: 100 samples of 20 uniform [0, 1) features, 5 dense layers of
    width 64, standard-normal weights and biases, sigmoid; with BatchNorm (γ=1, β=0, eps=1e-8)
    after every linear step when `batchnorm`."""
    base = dict(layers=5, width=64, samples=100, features=20, kind="dense", activation="sigmoid", init="normal",
                inputs="uniform", norm="batch" if batchnorm else None,
                norm_params=dict(eps=1e-8, weight=1.0, bias=0.0) if batchnorm else {})
    base.update(overrides)
    return DepthConfig(**base)


def _layout(cfg):
    return "NCL" if cfg.kind == "dense" else "NCHW"


def _norm_shape(cfg):
    return (cfg.samples, cfg.width, 1) if cfg.kind == "dense" else (cfg.samples, cfg.width) + tuple(cfg.spatial)


def validate(cfg: DepthConfig) -> DepthConfig:
    """Check every field; ValueError with a one-line message on the first bad one."""
    check_int("layers", cfg.layers, 1, 50)
    check_int("width", cfg.width, 1, 1024)
    check_int("samples", cfg.samples, 1, 10000)
    check_int("features", cfg.features, 1, 1024)
    check_int("max_values", cfg.max_values, 1)
    check_int("seed", cfg.seed, 0)
    check_choice("kind", cfg.kind, KINDS)
    check_choice("activation", cfg.activation, _nn.ACTIVATIONS)
    check_choice("init", cfg.init, _nn.INITS)
    check_choice("inputs", cfg.inputs, tuple(GENERATORS))
    check_choice("backend", cfg.backend, GRAD_BACKENDS)
    if cfg.kind == "conv":
        if len(tuple(cfg.spatial)) != 2:
            raise ValueError(f"spatial must be (height, width), not {cfg.spatial!r}")
        for name, s in zip(("height", "width"), cfg.spatial):
            check_int(f"spatial {name}", s, 1, 256)
    positions = int(np.prod(cfg.spatial)) if cfg.kind == "conv" else 1
    size = cfg.samples * max(cfg.width, cfg.features) * positions
    if size > MAX_ELEMENTS:
        raise ValueError(f"a layer would hold {size} values; the limit is {MAX_ELEMENTS}: use fewer samples, "
                         f"width, features or positions")
    if cfg.norm is not None:
        check_choice("norm", cfg.norm, tuple(METHODS))
        prepare(cfg.norm, _norm_shape(cfg), _layout(cfg), **dict(cfg.norm_params or {}))
    elif cfg.norm_params:
        raise ValueError("norm_params were given but norm is None")
    if cfg.backend == "torch" and torch_or_none() is None:
        raise ValueError(f"backend 'torch' is unavailable: {torch_missing_reason()}")
    return cfg


def make_parameters(cfg: DepthConfig):
    """(input x, [(weight, bias)] per layer): reproducible for cfg.seed, float64."""
    if cfg.kind == "dense":
        x = generate(cfg.inputs, (cfg.samples, cfg.features, 1), "NCL", seed=cfg.seed, dtype=np.float64)[..., 0]
    else:
        x = generate(cfg.inputs, (cfg.samples, cfg.features) + tuple(cfg.spatial), "NCHW", seed=cfg.seed,
                     dtype=np.float64)
    rng = np.random.default_rng([cfg.seed, 1])
    params, fan_in = [], cfg.features
    for _ in range(cfg.layers):
        shape = (cfg.width, fan_in) if cfg.kind == "dense" else (cfg.width, fan_in, KERNEL, KERNEL)
        params.append(_nn.init_layer(rng, cfg.init, shape))
        fan_in = cfg.width
    return x, params


def _record(cfg, index, z, y, a) -> LayerRecord:
    seed = cfg.seed * 1000 + 3 * index
    return LayerRecord(index=index, pre=summarize(z, seed, cfg.max_values),
                       normed=summarize(y, seed + 1, cfg.max_values), act=summarize(a, seed + 2, cfg.max_values),
                       saturated=_nn.saturated_fraction(cfg.activation, y, a))


def _finite(layer, arrays, result) -> bool:
    if all(np.all(np.isfinite(v)) for v in arrays):
        return True
    result.warnings.append(f"layer {layer + 1}: the values overflowed float64 (they grow by a large factor per "
                           f"layer with this init and activation); layers {layer + 1}-{result.config.layers} "
                           f"are not computed and there are no gradients")
    result.gradient_reason = result.gradient_reason or "the forward pass overflowed"
    return False


def run_depth(config: DepthConfig, progress: Callable | None = None,
              cancelled: Callable | None = None) -> DepthResult:
    """Run the stack once forward (training-mode normalization) and once backward.

    loss = mean over every element of the last layer's output squared; each layer reports
    ‖dloss/dW‖_F. progress(done, total) after each layer and after the backward pass
    (total = layers + 1); raises `Cancelled` as soon as cancelled() returns True.
    Deterministic for a config (seed included)."""
    cfg = validate(config)
    loop = Loop(cfg.layers + 1, progress, cancelled)
    loop.check()
    x, params = make_parameters(cfg)
    backend = cfg.backend
    if backend == "auto":
        backend = "torch" if torch_or_none() is not None else "numpy"
    result = DepthResult(config=cfg, input=summarize(x, cfg.seed, cfg.max_values), layers=[])
    if backend == "torch":
        _run_torch(cfg, x, params, result, loop)
    else:
        _run_numpy(cfg, x, params, result, loop, backend == "numpy")
    if loop.done < loop.total:  # stopped early (overflow): report completion all the same
        loop.tick(loop.total - loop.done)
    return result


def _run_numpy(cfg, x, params, result, loop, gradients):
    layout, shape3 = _layout(cfg), _norm_shape(cfg)
    cache, h = [], x
    for i, (w, b) in enumerate(params):
        z = _nn.dense(h, w, b) if cfg.kind == "dense" else _nn.conv2d(h, w, b)
        res = None
        if cfg.norm is None:
            y = z
        else:
            res = normalize(z.reshape(shape3), cfg.norm, layout=layout, training=True, **cfg.norm_params)
            y = np.asarray(res.output).reshape(z.shape)
            add_warnings(result.warnings, res.warnings, f"layer {i + 1}: ")
        with np.errstate(over="ignore", invalid="ignore"):
            a = _nn.activate(cfg.activation, y)
        if not _finite(i, (z, y, a), result):
            return
        result.layers.append(_record(cfg, i, z, y, a))
        cache.append((h, z, res, y, a))
        h = a
        loop.tick()
    reason = "" if gradients else "gradients were not asked for (backend 'none')"
    if gradients and cfg.norm is not None:
        reason = numpy_grad_reason(cfg.norm, cfg.norm_params)
    with np.errstate(over="ignore", invalid="ignore"):
        loss = float(np.mean(h * h))
    result.loss = loss if np.isfinite(loss) else None
    if reason or result.loss is None:
        result.gradient_reason = reason or "the loss overflowed float64"
        loop.tick()
        return
    g = 2.0 * h / h.size
    norms = [None] * len(cache)
    with np.errstate(over="ignore", invalid="ignore"):
        for i in reversed(range(len(cache))):
            loop.check()
            h_in, z, res, y, a = cache[i]
            g = g * _nn.activation_grad(cfg.activation, y, a)
            if res is not None:
                g = normalize_backward(res, z.reshape(_norm_shape(cfg)), g.reshape(_norm_shape(cfg))).reshape(z.shape)
            back = _nn.dense_backward if cfg.kind == "dense" else _nn.conv2d_backward
            g, dw, _ = back(h_in, params[i][0], g)
            norms[i] = float(np.linalg.norm(dw))
    _store_grads(result, norms, "numpy")
    loop.tick()


def _store_grads(result, norms, backend):
    if not all(n is not None and np.isfinite(n) for n in norms):
        result.gradient_reason = "the gradients overflowed float64"
        return
    for rec, n in zip(result.layers, norms):
        rec.grad_norm = n
    result.gradients = backend


def _run_torch(cfg, x, params, result, loop):
    torch = torch_or_none()
    F = torch.nn.functional
    layout, shape3 = _layout(cfg), _norm_shape(cfg)
    h = torch.from_numpy(x)
    weights = []
    for i, (w_np, b_np) in enumerate(params):
        w = torch.from_numpy(w_np).requires_grad_(True)
        b = torch.from_numpy(b_np)
        weights.append(w)
        z = F.linear(h, w, b) if cfg.kind == "dense" else F.conv2d(h, w, b, padding=KERNEL // 2)
        if cfg.norm is None:
            y = z
        else:
            y, warns = normalize_autograd(z.reshape(shape3), cfg.norm, layout, **cfg.norm_params)
            y = y.reshape(z.shape)
            add_warnings(result.warnings, warns, f"layer {i + 1}: ")
        a = _nn.torch_activate(torch, cfg.activation, y)
        arrays = [t.detach().numpy() for t in (z, y, a)]
        if not _finite(i, arrays, result):
            return
        result.layers.append(_record(cfg, i, *arrays))
        h = a
        loop.tick()
    loss = (h * h).mean()
    result.loss = float(loss.detach()) if torch.isfinite(loss) else None
    if result.loss is None:
        result.gradient_reason = "the loss overflowed float64"
    else:
        loop.check()
        loss.backward()
        _store_grads(result, [float(w.grad.norm()) for w in weights], "torch")
    loop.tick()
