"""What each framework offers for each registry method: its layer or op, its defaults (in the
framework's own meaning and names) and its conventions, or why it offers nothing.

Every default and convention written here is checked against the framework itself by
tests/kernels/test_frameworks_*.py (they run Keras 3, Flax, ONNX's reference operators and
onnxruntime, MLX and TensorFlow when installed); nothing here imports a framework.

An `Offer`'s parameters are the framework's: `momentum=0.99` for Keras is Keras' momentum
(new = m·old + (1 − m)·batch), TensorFlow's LRN takes `depth_radius` and an `alpha` that
multiplies the sum of squares. `variant` names what the framework computes differently from
torch, and `kernels.frameworks.semantics` reproduces each with kernels' own functions:

    variance      "two_pass" (mean, then the mean of squared deviations) or "one_pass"
                  (E[x²] − E[x]², clipped at 0): visibly off when |mean| ≫ std in float32
    running       "torch" (new = (1 − m)·old + m·batch, unbiased running var) or "keras"
                  (new = m·old + (1 − m)·batch, biased running var)
    group_order   "contiguous" (channel c in group c // (C/G), torch) or "strided" (c % G, MLX)
    group_affine  "channel" (γ, β one per channel) or "group" (one per group: ONNX opset 18)
    lrn_window    "torch" (c − n//2 … c + (n−1)//2), "mirrored" (c − (n−1)//2 … c + n//2, ONNX;
                  differs for even n) or "radius" (c − r … c + r, TensorFlow: always odd)
    eps_place     "variance" (√(σ² + ε)) or "std" (σ + ε: ONNX MeanVarianceNormalization)
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: the frameworks, torch first (the reference every other column is measured against)
FRAMEWORK_NAMES = ("torch", "keras", "flax", "onnx", "mlx", "tensorflow")

TWO_PASS = {"variance": "two_pass"}
ONE_PASS = {"variance": "one_pass"}


@dataclass(frozen=True)
class Offer:
    """One method in one framework.

    api: the layer or op ("" when the framework offers none; `reason` says why).
    defaults: the framework's parameters for this method, by the names normalize(framework=...)
        accepts, at the framework's defaults (None: required by the framework; kernels then
        fills in the value that fits the shape and says so in `conventions`).
    affine: whether weight/bias (the layer's γ/β) are accepted.
    conventions: sentences, each checked by a test.
    variant: how the numbers differ from torch's (see the module docstring).
    """

    framework: str
    method: str
    api: str = ""
    reason: str = ""
    defaults: dict = field(default_factory=dict)
    affine: bool = False
    conventions: tuple = ()
    variant: dict = field(default_factory=dict)
    computed: bool = True  # False: the framework offers it, kernels does not reproduce it (reason says why)

    @property
    def offered(self) -> bool:
        return bool(self.api)

    @property
    def param_names(self) -> tuple:
        return tuple(self.defaults) + (("weight", "bias") if self.affine else ())


@dataclass(frozen=True)
class Framework:
    """A framework: how it is installed and imported, its general conventions and its offers."""

    name: str
    label: str
    package: str  # the import name the tests need
    install: str  # the pip requirement (pinned in constraints.txt)
    layout: str  # the layout its layers expect without axis arguments
    conventions: tuple
    offers: dict  # method name -> Offer

    def offer(self, method: str) -> Offer:
        return self.offers[method]


def _no(framework, method, reason):
    return Offer(framework, method, reason=reason)


# -- torch: the reference (kernels' own semantics) ---------------------------------------------

def _torch_offers(methods) -> dict:
    apis = {
        "batch": "torch.nn.BatchNorm1d/2d/3d (F.batch_norm)", "layer": "torch.nn.LayerNorm([C, *spatial])",
        "instance": "torch.nn.InstanceNorm1d/2d/3d", "group": "torch.nn.GroupNorm", "rms": "torch.nn.RMSNorm",
        "lrn": "torch.nn.LocalResponseNorm", "pixel": "x * torch.rsqrt(x.pow(2).mean(dim=C) + eps) (no layer)",
        "channel": "torch.nn.LayerNorm(C) on channels-last", "ghost_batch": "BatchNorm on x.split(virtual_batch)",
        "batch_renorm": "no layer: torch ops (Ioffe 2017)", "frn": "no layer: torch ops (Singh & Krishnan 2020)",
        "custom": "torch.var_mean over the chosen dims", "standardize": "sklearn StandardScaler",
        "minmax": "sklearn MinMaxScaler", "adain": "F.instance_norm(x) * std_s + mean_s (no layer)",
        "conditional_batch": "nn.BatchNorm(affine=False) + nn.Embedding γ, β (no layer)",
        "sample_group": "F.batch_norm on x.split(N // G) (no layer)"}
    offers = {}
    for name, m in methods.items():
        defaults = {p.name: p.default if not callable(p.default) else None for p in m.params
                    if p.name not in ("weight", "bias")}
        affine = "weight" in m.param_names
        offers[name] = Offer("torch", name, apis[name], defaults=defaults, affine=affine, variant=dict(TWO_PASS),
                             conventions=("kernels' own semantics, checked against torch.nn on every case",))
    return offers


# -- Keras 3 ------------------------------------------------------------------------------------

_KERAS_EPS = "epsilon defaults to 1e-3 (torch: 1e-5)"
_KERAS_TWO_PASS = ("variance two-pass on the jax backend (jnp.var; checked); Keras 3.15's source computes "
                   "E[x²] − E[x]², not clipped at 0, in ops.moments on the torch and numpy backends (not checked here)")


def _keras_offers() -> dict:
    k = "keras"
    return {
        "batch": Offer(k, "batch", "keras.layers.BatchNormalization(axis=C)", affine=True,
                       defaults={"eps": 1e-3, "momentum": 0.99},
                       conventions=(_KERAS_EPS, "momentum 0.99 means new = 0.99·old + 0.01·batch (torch's 0.01)",
                                    "moving_variance holds the biased batch variance", _KERAS_TWO_PASS),
                       variant={**TWO_PASS, "running": "keras"}),
        "layer": Offer(k, "layer", "keras.layers.LayerNormalization(axis=[every axis but N])", affine=True,
                       defaults={"eps": 1e-3},
                       conventions=(_KERAS_EPS, "axis defaults to -1: on NHWC LayerNormalization() normalizes each "
                                    "position over C alone (the 'channel' method), not torch's LayerNorm([C, H, W])"),
                       variant=dict(TWO_PASS)),
        "instance": Offer(k, "instance", "keras.layers.GroupNormalization(groups=-1, axis=C)", affine=True,
                          defaults={"eps": 1e-3},
                          conventions=(_KERAS_EPS, "there is no InstanceNormalization layer: groups=-1 (one channel "
                                       "per group) is InstanceNorm"),
                          variant=dict(TWO_PASS)),
        "group": Offer(k, "group", "keras.layers.GroupNormalization(groups, axis=C)", affine=True,
                       defaults={"groups": 32, "eps": 1e-3},
                       conventions=(_KERAS_EPS, "groups defaults to 32 (C must be divisible)",
                                    "γ, β one per channel; channels grouped consecutively, as torch"),
                       variant=dict(TWO_PASS)),
        "rms": Offer(k, "rms", "keras.layers.RMSNormalization(axis=[every axis but N])", affine=True,
                     defaults={"eps": 1e-6},
                     conventions=("epsilon defaults to 1e-6 (torch: None, finfo(dtype).eps)",
                                  "axis defaults to -1 (the last axis only)")),
        "lrn": _no(k, "lrn", "Keras 3 has no local response normalization layer or op "
                   "(TensorFlow's tf.nn.local_response_normalization: see the tensorflow column)"),
        "pixel": Offer(k, "pixel", "keras.layers.RMSNormalization(axis=-1) on channels-last", defaults={"eps": 1e-6},
                       conventions=("PixelNorm is RMSNormalization over the channel axis; epsilon defaults to 1e-6 "
                                    "(ProGAN: 1e-8)", "RMSNormalization(axis=1) on NCHW fails: its scale of shape (C,) "
                                    "does not broadcast, so C must be last")),
        "channel": Offer(k, "channel", "keras.layers.LayerNormalization(axis=C)", affine=True,
                         defaults={"eps": 1e-3},
                         conventions=(_KERAS_EPS, "on NHWC this is LayerNormalization() with its default axis=-1"),
                         variant=dict(TWO_PASS)),
        "ghost_batch": _no(k, "ghost_batch", "Keras 3's BatchNormalization dropped virtual_batch_size "
                           "(tf.keras 2.x had it)"),
        "batch_renorm": Offer(k, "batch_renorm", "keras.layers.BatchNormalization(renorm=True, renorm_clipping=...)",
                              computed=False, defaults={"eps": 1e-3, "momentum": 0.99},
                              reason="not reproduced by kernels: Keras tracks a moving stddev (renorm_stddev, "
                              "renorm_mean) with its own renorm_momentum=0.99, divides by max(renorm_stddev, √eps) "
                              "and clips only what renorm_clipping names (nothing by default; rmin apart from rmax)"),
        "frn": _no(k, "frn", "no FilterResponseNormalization layer (it was in TensorFlow Addons, now unmaintained)"),
        "custom": Offer(k, "custom", "keras.ops.moments(x, axes)", affine=True,
                        defaults={"axes": None, "groups": 1, "center": True, "eps": 1e-5},
                        conventions=("an op, not a layer: no default epsilon (kernels' 1e-5)", _KERAS_TWO_PASS),
                        variant=dict(TWO_PASS)),
        "standardize": _no(k, "standardize", "scikit-learn semantics (constant features get scale 1); Keras' "
                           "preprocessing layer Normalization(axis).adapt(x) divides by max(√var, 1e-7) and is not "
                           "covered here"),
        "minmax": _no(k, "minmax", "Keras has no min-max scaling layer (Rescaling takes a fixed scale)"),
    }


# -- Flax (nnx; linen has the same defaults) ------------------------------------------------------

_FLAX_ONE_PASS = ("use_fast_variance=True (the default): variance E[x²] − E[x]², clipped at 0, in float32; "
                  "visibly off when |mean| ≫ std")


def _flax_offers() -> dict:
    f = "flax"
    eps6 = "epsilon defaults to 1e-6 (torch: 1e-5)"
    return {
        "batch": Offer(f, "batch", "flax.nnx.BatchNorm(C, use_running_average=not training)", affine=True,
                       defaults={"eps": 1e-5, "momentum": 0.99, "use_fast_variance": True},
                       conventions=("epsilon 1e-5", "momentum 0.99 means new = 0.99·old + 0.01·batch (Keras-style)",
                                    "running var holds the biased variance", _FLAX_ONE_PASS),
                       variant={**ONE_PASS, "running": "keras"}),
        "layer": Offer(f, "layer", "flax.nnx.LayerNorm(reduction_axes=(1, ..), feature_axes=(1, ..))", affine=True,
                       defaults={"eps": 1e-6, "use_fast_variance": True},
                       conventions=(eps6, "reduction_axes defaults to -1 (channels-last: over C alone)",
                                    _FLAX_ONE_PASS),
                       variant=dict(ONE_PASS)),
        "instance": Offer(f, "instance", "flax.nnx.InstanceNorm(C)", affine=True,
                          defaults={"eps": 1e-6, "use_fast_variance": True},
                          conventions=(eps6, _FLAX_ONE_PASS), variant=dict(ONE_PASS)),
        "group": Offer(f, "group", "flax.nnx.GroupNorm(C, num_groups)", affine=True,
                       defaults={"groups": 32, "eps": 1e-6, "use_fast_variance": True},
                       conventions=(eps6, "num_groups defaults to 32", "γ, β per channel, groups consecutive as torch",
                                    _FLAX_ONE_PASS),
                       variant=dict(ONE_PASS)),
        "rms": Offer(f, "rms", "flax.nnx.RMSNorm(reduction_axes=(1, ..), feature_axes=(1, ..))", affine=True,
                     defaults={"eps": 1e-6}, conventions=(eps6 + " (torch: finfo(dtype).eps)",)),
        "lrn": _no(f, "lrn", "neither Flax nor jax.nn has local response normalization"),
        "pixel": Offer(f, "pixel", "flax.nnx.RMSNorm(C, use_scale=False) on channels-last", defaults={"eps": 1e-6},
                       conventions=("PixelNorm is RMSNorm over the last (channel) axis; " + eps6 + " (ProGAN: 1e-8)",)),
        "channel": Offer(f, "channel", "flax.nnx.LayerNorm(C) on channels-last", affine=True,
                         defaults={"eps": 1e-6, "use_fast_variance": True},
                         conventions=(eps6, _FLAX_ONE_PASS), variant=dict(ONE_PASS)),
        "ghost_batch": _no(f, "ghost_batch", "flax's BatchNorm has no virtual batches"),
        "batch_renorm": _no(f, "batch_renorm", "flax has no batch renormalization"),
        "frn": _no(f, "frn", "flax has no filter response normalization"),
        "custom": Offer(f, "custom", "jnp.mean / jnp.var over the chosen axes", affine=True,
                        defaults={"axes": None, "groups": 1, "center": True, "eps": 1e-5},
                        conventions=("jax.numpy ops: jnp.var is two-pass; no default epsilon (kernels' 1e-5)",),
                        variant=dict(TWO_PASS)),
        "standardize": _no(f, "standardize", "flax has no data-scaling layer"),
        "minmax": _no(f, "minmax", "flax has no data-scaling layer"),
    }


# -- ONNX (operators; checked with onnx.reference and onnxruntime) -------------------------------

def _onnx_offers() -> dict:
    o = "onnx"
    eps5 = "epsilon defaults to 1e-5"
    return {
        "batch": Offer(o, "batch", "BatchNormalization (opset 15, training_mode=1 in training)", affine=True,
                       defaults={"eps": 1e-5, "momentum": 0.9},
                       conventions=(eps5, "momentum 0.9 means running = 0.9·running + 0.1·batch (Keras-style)",
                                    "running_var gets the biased batch variance"),
                       variant={**TWO_PASS, "running": "keras"}),
        "layer": Offer(o, "layer", "LayerNormalization(axis=1) (opset 17)", affine=True, defaults={"eps": 1e-5},
                       conventions=(eps5, "normalizes over axes axis … rank−1 (axis defaults to −1)"),
                       variant=dict(TWO_PASS)),
        "instance": Offer(o, "instance", "InstanceNormalization", affine=True, defaults={"eps": 1e-5},
                          conventions=(eps5, "scale and B are required inputs (one per channel)"),
                          variant=dict(TWO_PASS)),
        "group": Offer(o, "group", "GroupNormalization(num_groups) (opset 21; opset 18 differs)", affine=True,
                       defaults={"groups": None, "eps": 1e-5, "opset": 21},
                       conventions=(eps5, "num_groups is required (no default)",
                                    "opset 21: scale and bias one per channel; opset 18: one per group"),
                       variant=dict(TWO_PASS)),
        "rms": Offer(o, "rms", "RMSNormalization(axis=1) (opset 23)", affine=True, defaults={"eps": 1e-5},
                     conventions=("epsilon defaults to 1e-5 (torch: finfo(dtype).eps)",)),
        "lrn": Offer(o, "lrn", "LRN(size)", defaults={"size": None, "alpha": 1e-4, "beta": 0.75, "bias": 1.0},
                     conventions=("size is required; alpha is divided by size, as torch", "bias is torch's k",
                                  "the window is c − ⌊(n−1)/2⌋ … c + ⌈(n−1)/2⌉: torch's mirrored for even sizes "
                                  "(onnxruntime refuses even sizes; onnx.reference loops over N instead of C)",
                                  "onnxruntime takes 4-D inputs only"),
                     variant={"lrn_window": "mirrored"}),
        "pixel": Offer(o, "pixel", "RMSNormalization(axis=-1) on channels-last (opset 23)", defaults={"eps": 1e-5},
                       conventions=(eps5 + " (ProGAN: 1e-8)",)),
        "channel": Offer(o, "channel", "LayerNormalization(axis=-1) on channels-last (opset 17)", affine=True,
                         defaults={"eps": 1e-5}, conventions=(eps5,), variant=dict(TWO_PASS)),
        "ghost_batch": _no(o, "ghost_batch", "no operator: BatchNormalization has no virtual batches"),
        "batch_renorm": _no(o, "batch_renorm", "no operator for batch renormalization"),
        "frn": _no(o, "frn", "no operator for filter response normalization"),
        "custom": Offer(o, "custom", "MeanVarianceNormalization(axes)", defaults={"axes": None},
                        conventions=("no epsilon attribute: the function body adds 1e-9 to the standard deviation, "
                                     "(x − E[x]) / (√(E[x²] − E[x]²) + 1e-9)", "always centers, no channel groups",
                                     "the function body (onnx.reference) is one-pass and cancels when |mean| ≫ std; "
                                     "onnxruntime's own kernel stays accurate there"),
                        variant={**ONE_PASS, "eps_place": "std"}),
        "standardize": _no(o, "standardize", "no fitted scaler operator (ai.onnx.ml Scaler takes a precomputed "
                           "offset and scale); MeanVarianceNormalization is the 'custom' column"),
        "minmax": _no(o, "minmax", "no fitted min-max operator"),
    }


# -- MLX ------------------------------------------------------------------------------------------

def _mlx_offers() -> dict:
    x = "mlx"
    eps5 = "eps defaults to 1e-5"
    return {
        "batch": Offer(x, "batch", "mlx.nn.BatchNorm(C)", affine=True, defaults={"eps": 1e-5, "momentum": 0.1},
                       conventions=(eps5, "momentum 0.1 torch-style: new = 0.9·old + 0.1·batch",
                                    "running_var holds the unbiased variance (ddof=1), as torch"),
                       variant={**TWO_PASS, "running": "torch"}),
        "layer": Offer(x, "layer", "mlx.nn.LayerNorm(C·H·W) on x.reshape(N, -1)", affine=True,
                       defaults={"eps": 1e-5},
                       conventions=(eps5, "LayerNorm(dims) normalizes the last axis only"), variant=dict(TWO_PASS)),
        "instance": Offer(x, "instance", "mlx.nn.InstanceNorm(C)", affine=True, defaults={"eps": 1e-5},
                          conventions=(eps5,), variant=dict(TWO_PASS)),
        "group": Offer(x, "group", "mlx.nn.GroupNorm(groups, C)", affine=True,
                       defaults={"groups": None, "eps": 1e-5, "pytorch_compatible": False},
                       conventions=(eps5, "num_groups is required",
                                    "channel c goes to group c % G unless pytorch_compatible=True (torch: c // (C/G))"),
                       variant={**TWO_PASS, "group_order": "strided"}),
        "rms": Offer(x, "rms", "mlx.nn.RMSNorm(C·H·W) on x.reshape(N, -1)", affine=True, defaults={"eps": 1e-5},
                     conventions=("eps defaults to 1e-5 (torch: finfo(dtype).eps)",)),
        "lrn": _no(x, "lrn", "MLX has no local response normalization"),
        "pixel": Offer(x, "pixel", "mx.fast.rms_norm(x, None, eps) on channels-last", defaults={"eps": 1e-5},
                       conventions=(eps5 + " (ProGAN: 1e-8)",)),
        "channel": Offer(x, "channel", "mlx.nn.LayerNorm(C) on channels-last", affine=True, defaults={"eps": 1e-5},
                         conventions=(eps5,), variant=dict(TWO_PASS)),
        "ghost_batch": _no(x, "ghost_batch", "MLX's BatchNorm has no virtual batches"),
        "batch_renorm": _no(x, "batch_renorm", "MLX has no batch renormalization"),
        "frn": _no(x, "frn", "MLX has no filter response normalization"),
        "custom": Offer(x, "custom", "mx.mean / mx.var over the chosen axes", affine=True,
                        defaults={"axes": None, "groups": 1, "center": True, "eps": 1e-5},
                        conventions=("ops, not a layer: no default epsilon (kernels' 1e-5)",),
                        variant=dict(TWO_PASS)),
        "standardize": _no(x, "standardize", "MLX has no data-scaling layer"),
        "minmax": _no(x, "minmax", "MLX has no data-scaling layer"),
    }


# -- TensorFlow (tf.nn ops; tf.keras is Keras 3: the keras column) -------------------------------

def _tf_offers() -> dict:
    t = "tensorflow"
    keras3 = "tf.keras is Keras 3: the layer and its defaults are the keras column's"
    keras = _keras_offers()

    def as_keras(name):
        o = keras[name]
        return Offer(t, name, o.api.replace("keras.", "tf.keras.", 1), affine=o.affine, defaults=dict(o.defaults),
                     conventions=(keras3, *o.conventions), variant=dict(o.variant))

    return {
        "batch": Offer(t, "batch", "tf.nn.moments + tf.nn.batch_normalization", affine=True,
                       defaults={"eps": 1e-3},
                       conventions=("ops without running statistics: training normalizes with tf.nn.moments "
                                    "(two-pass), eval with the running statistics you pass; the layer is "
                                    "tf.keras.layers.BatchNormalization (keras column)",
                                    "variance_epsilon is required; 1e-3 here, tf.keras' default"),
                       variant=dict(TWO_PASS)),
        "layer": as_keras("layer"),
        "instance": as_keras("instance"),
        "group": as_keras("group"),
        "rms": as_keras("rms"),
        "lrn": Offer(t, "lrn", "tf.nn.local_response_normalization (channels-last)",
                     defaults={"depth_radius": 5, "bias": 1.0, "alpha": 1.0, "beta": 0.5},
                     conventions=("the window is given as a radius: c − r … c + r (2r + 1 channels, always odd)",
                                  "alpha multiplies the sum of squares (torch's alpha = TensorFlow's alpha × size)",
                                  "defaults depth_radius=5, bias=1, alpha=1, beta=0.5 (torch: size 5, alpha 1e-4, "
                                  "beta 0.75, k 1)"),
                     variant={"lrn_window": "radius"}),
        "pixel": as_keras("pixel"),
        "channel": as_keras("channel"),
        "ghost_batch": _no(t, "ghost_batch", "TensorFlow 2.16+ ships Keras 3, whose BatchNormalization dropped "
                           "virtual_batch_size"),
        "batch_renorm": Offer(t, "batch_renorm", "tf.keras.layers.BatchNormalization(renorm=True) (Keras 3)",
                              computed=False, defaults={"eps": 1e-3, "momentum": 0.99},
                              reason="tf.keras is Keras 3: see the keras column (not reproduced by kernels)"),
        "frn": _no(t, "frn", "no op (TensorFlow Addons had FilterResponseNormalization; it is unmaintained)"),
        "custom": Offer(t, "custom", "tf.nn.moments + tf.nn.batch_normalization", affine=True,
                        defaults={"axes": None, "groups": 1, "center": True, "eps": 1e-5},
                        conventions=("ops: tf.nn.moments is two-pass; no default epsilon (kernels' 1e-5)",),
                        variant=dict(TWO_PASS)),
        "standardize": _no(t, "standardize", "no fitted scaler op (tf.keras.layers.Normalization is Keras')"),
        "minmax": _no(t, "minmax", "no fitted min-max op"),
    }


#: Methods no framework but torch's ops express as one layer or operator: each framework's reason.
_CONDITIONAL = {
    "adain": "no layer: InstanceNorm (affine off) times the style's std plus its mean, in ops",
    "conditional_batch": "no layer: BatchNorm without affine, then γ, β from an embedding of the labels, in ops",
    "sample_group": "no layer: BatchNorm on each group of samples, in ops (no running statistics)",
}


def _with_conditional(framework: str, offers: dict) -> dict:
    return {**offers, **{m: _no(framework, m, reason) for m, reason in _CONDITIONAL.items() if m not in offers}}


def build_frameworks(methods) -> dict:
    """name -> Framework for every framework, each with an Offer for every registry method."""
    frameworks = {
        "torch": Framework("torch", "PyTorch", "torch", "torch==2.13.0", "NCHW",
                           ("momentum m: new = (1 − m)·old + m·batch", "running_var unbiased (n/(n − 1))",
                            "eps inside the square root, 1e-5 by default"), _torch_offers(methods)),
        "keras": Framework("keras", "Keras 3", "keras", "keras", "NHWC",
                           ("momentum m: new = m·old + (1 − m)·batch", "moving_variance biased",
                            "epsilon 1e-3 for BatchNormalization, LayerNormalization, GroupNormalization"),
                           _with_conditional("keras", _keras_offers())),
        "flax": Framework("flax", "JAX / Flax", "flax", "flax", "NHWC",
                          ("momentum m: new = m·old + (1 − m)·batch", "running var biased",
                           "one-pass variance E[x²] − E[x]² (use_fast_variance=True)",
                           "epsilon 1e-5 for BatchNorm, 1e-6 for LayerNorm, GroupNorm, RMSNorm, InstanceNorm"),
                          _with_conditional("flax", _flax_offers())),
        "onnx": Framework("onnx", "ONNX", "onnx", "onnx", "NCHW",
                          ("operators, run by onnx.reference and onnxruntime", "BatchNormalization momentum "
                           "Keras-style (0.9), biased running var", "epsilon 1e-5"),
                          _with_conditional("onnx", _onnx_offers())),
        "mlx": Framework("mlx", "MLX", "mlx", "mlx[cpu]", "NHWC",
                         ("channels-last layers", "momentum torch-style (0.1), unbiased running var",
                          "eps 1e-5", "GroupNorm groups strided (c % G) unless pytorch_compatible=True"),
                         _with_conditional("mlx", _mlx_offers())),
        "tensorflow": Framework("tensorflow", "TensorFlow", "tensorflow", "tensorflow", "NHWC",
                                ("tf.nn ops (tf.keras is Keras 3: the keras column)",
                                 "LRN: window radius, alpha on the sum of squares"),
                                _with_conditional("tensorflow", _tf_offers())),
    }
    for fw in frameworks.values():
        missing = set(methods) - set(fw.offers)
        assert not missing, f"{fw.name} has no entry for {missing}"
    return frameworks
