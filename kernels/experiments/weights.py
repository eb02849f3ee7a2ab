"""Normalizations of weights instead of activations: weight normalization, spectral normalization
(power iteration, estimate vs true σ) and weight standardization; which weights share a norm, and
what each does to a layer's output."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..inputs import generate
from . import _nn
from ._common import MAX_VALUES, Values, check_choice, check_float, check_int, summarize

WEIGHT_KINDS = ("weight_norm", "spectral_norm", "weight_standardization")
WS_CONVENTIONS = ("paper", "timm")


def resolve_dim(dim, ndim: int):
    """torch's weight_norm dim: None and −1 both mean one norm over the whole tensor (torch maps
    None to −1 and its norm_except_dim treats −1 so); other negative dims count from the end."""
    if dim is None or dim == -1:
        return None
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -ndim <= dim < ndim:
        raise ValueError(f"dim={dim!r} is out of range for a weight with {ndim} axes")
    return int(dim) % ndim


def norm_except_dim(v, dim):
    """‖v‖₂ over every axis but `dim` (keepdims), or over everything (shape ()) when dim is None."""
    v = np.asarray(v, dtype=np.float64)
    if dim is None:
        return np.sqrt(np.sum(v * v))
    axes = tuple(a for a in range(v.ndim) if a != dim)
    return np.sqrt(np.sum(v * v, axis=axes, keepdims=True))


@dataclass
class WeightNormResult:
    """weight = g · v / ‖v‖; g and v_norm have the norm's shape (keepdims, or () for one norm);
    dim: the resolved axis (None: whole tensor)."""

    weight: np.ndarray
    g: np.ndarray
    v_norm: np.ndarray
    dim: int | None
    warnings: list = field(default_factory=list)


def weight_norm(v, g=None, dim=0) -> WeightNormResult:
    """Weight normalization (Salimans & Kingma 2016), torch.nn.utils.parametrizations.weight_norm:
    w = g · v / ‖v‖, the norm over every axis but `dim` (dim=0: one per output channel; None or −1:
    one over the whole tensor). g defaults to ‖v‖, as torch initialises it (so w = v at first).
    Where ‖v‖ = 0 torch gives NaN; here w is 0 there, with a warning."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 0 or v.size == 0:
        raise ValueError(f"the weight needs at least one axis and one element, got shape {v.shape}")
    d = resolve_dim(dim, v.ndim)
    norm = norm_except_dim(v, d)
    gg = norm.copy() if g is None else np.asarray(g, dtype=np.float64)
    try:
        gg = np.broadcast_to(gg, norm.shape).copy()
    except ValueError:
        raise ValueError(f"g of shape {gg.shape} does not fit the norm's shape {norm.shape}") from None
    warnings = []
    zero = norm == 0
    if np.any(zero):
        warnings.append(f"{int(np.count_nonzero(zero))} norm(s) are 0 (an all-zero weight group): torch gives "
                        f"NaN (0/0) there; the weight is set to 0")
    w = np.where(zero, 0.0, gg * v / np.where(zero, 1.0, norm))
    return WeightNormResult(weight=w, g=gg, v_norm=norm, dim=d, warnings=warnings)


@dataclass
class SpectralNormResult:
    """weight / sigma with sigma the final estimate; sigmas[i] = uᵢᵀ W vᵢ after i power iterations
    (sigmas[0]: the start vectors); true_sigma: the largest singular value (numpy.linalg.svd) of the
    (h, w) matrix; u, v: the final vectors; dim: the axis moved first."""

    weight: np.ndarray
    sigma: float
    sigmas: np.ndarray
    true_sigma: float
    u: np.ndarray
    v: np.ndarray
    dim: int
    warnings: list = field(default_factory=list)


def _unit(a, eps):
    """torch.nn.functional.normalize(a, dim=0, eps): a / max(‖a‖, eps)."""
    return a / max(float(np.linalg.norm(a)), eps)


def weight_matrix(weight, dim: int = 0):
    """The weight as the (h, w) matrix spectral norm works on: `dim` moved first, the rest flattened."""
    w = np.asarray(weight, dtype=np.float64)
    return np.moveaxis(w, dim, 0).reshape(w.shape[dim], -1)


def spectral_norm(weight, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12, seed: int = 0,
                  u=None, v=None) -> SpectralNormResult:
    """Spectral normalization (Miyato et al. 2018), the training-mode forward of
    torch.nn.utils.parametrizations.spectral_norm: W = weight with `dim` first, reshaped (h, w);
    each iteration u = normalize(W v), v = normalize(Wᵀ u) (normalize(a) = a / max(‖a‖, eps));
    σ = uᵀ W v; returns weight / σ. u, v: start vectors (default: seeded standard normal,
    normalized; torch starts from its own random ones and runs 15 iterations when registering).
    1-D weights: weight / max(‖weight‖, eps) as torch. n_power_iterations may be 0 (σ from the start)."""
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim == 0 or w.size == 0:
        raise ValueError(f"the weight needs at least one axis and one element, got shape {w.shape}")
    n = check_int("n_power_iterations", n_power_iterations, 0, 10000)
    eps = check_float("eps", eps, positive=True)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -w.ndim <= dim < w.ndim:
        raise ValueError(f"dim={dim!r} is out of range for a weight with {w.ndim} axes")
    dim = int(dim) % w.ndim
    if w.ndim == 1:
        norm = float(np.linalg.norm(w))
        sigma = max(norm, eps)
        return SpectralNormResult(weight=w / sigma, sigma=sigma, sigmas=np.array([sigma]), true_sigma=norm,
                                  u=np.ones(1), v=w / sigma, dim=0)
    mat = weight_matrix(w, dim)
    h, k = mat.shape
    rng = np.random.default_rng(seed)
    u = _unit(rng.standard_normal(h), eps) if u is None else np.asarray(u, dtype=np.float64).copy()
    v = _unit(rng.standard_normal(k), eps) if v is None else np.asarray(v, dtype=np.float64).copy()
    if u.shape != (h,) or v.shape != (k,):
        raise ValueError(f"u and v need shapes ({h},) and ({k},), got {u.shape} and {v.shape}")
    sigmas = [float(u @ mat @ v)]
    for _ in range(n):
        u = _unit(mat @ v, eps)
        v = _unit(mat.T @ u, eps)
        sigmas.append(float(u @ mat @ v))
    true_sigma = float(np.linalg.svd(mat, compute_uv=False)[0])
    sigma, warnings = sigmas[-1], []
    if not sigma > 0:
        warnings.append(f"the estimate σ = {sigma:g} is not positive (an all-zero weight, or start vectors "
                        f"orthogonal to it): torch would divide by it; the weight is reported unchanged")
        out = w.copy()
    else:
        out = w / sigma
    return SpectralNormResult(weight=out, sigma=sigma, sigmas=np.array(sigmas), true_sigma=true_sigma, u=u, v=v,
                              dim=dim, warnings=warnings)


@dataclass
class StandardizedWeight:
    """weight: the standardized weight; mean, std: per output channel (shape (O,)), std as used
    in the denominator's convention (unbiased for 'paper', biased for 'timm')."""

    weight: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    convention: str
    warnings: list = field(default_factory=list)


def weight_standardization(weight, eps: float = 1e-5, convention: str = "paper") -> StandardizedWeight:
    """Weight Standardization (Qiao et al. 2019), per output channel over (I, kH, kW):
    'paper' (the authors' released code): ŵ = (w − μ) / (σ + eps), σ unbiased (torch.std, n − 1),
        eps outside the square root;
    'timm' (StdConv2d: F.batch_norm on w.reshape(1, O, −1)): ŵ = (w − μ) / √(σ²_biased + eps)."""
    w = np.asarray(weight, dtype=np.float64)
    check_choice("convention", convention, WS_CONVENTIONS)
    eps = check_float("eps", eps, lo=0.0)
    if w.ndim < 2 or w.size == 0:
        raise ValueError(f"weight standardization needs a weight of shape (O, I, ...), got {w.shape}")
    rows = w.reshape(w.shape[0], -1)
    mean = rows.mean(axis=1)
    warnings = []
    if convention == "paper":
        if rows.shape[1] == 1:
            warnings.append("one weight per output channel: the unbiased std is undefined (torch.std gives NaN); "
                            "it is taken as 0")
            std = np.zeros(rows.shape[0])
        else:
            std = rows.std(axis=1, ddof=1)
        denom = std + eps
    else:
        std = rows.std(axis=1)
        denom = np.sqrt(std ** 2 + eps)
    zero = denom == 0
    if np.any(zero):
        warnings.append(f"{int(np.count_nonzero(zero))} output channel(s) have constant weights and eps = 0: "
                        f"0/0 (NaN in torch), set to 0")
    out = (rows - mean[:, None]) / np.where(zero, 1.0, denom)[:, None]
    return StandardizedWeight(weight=np.where(zero[:, None], 0.0, out).reshape(w.shape), mean=mean, std=std,
                              convention=convention, warnings=warnings)


def normalize_weight(kind: str, weight, **params):
    """(normalized weight, warnings) for `kind` in WEIGHT_KINDS with that function's keywords."""
    check_choice("weight normalization", kind, WEIGHT_KINDS)
    fn = {"weight_norm": weight_norm, "spectral_norm": spectral_norm,
          "weight_standardization": weight_standardization}[kind]
    try:
        res = fn(weight, **params)
    except TypeError as exc:
        raise ValueError(f"{kind}: {exc}") from None
    return res.weight, res.warnings


def weight_shared_mask(kind: str, shape, index, dim=0) -> np.ndarray:
    """Boolean array of `shape`: True where a weight enters the norm that scales weight[index].
    weight_norm: the same index along `dim` (None or −1: every weight); spectral_norm: every weight
    (one σ for the tensor, whatever dim); weight_standardization: the same output channel (axis 0)."""
    check_choice("weight normalization", kind, WEIGHT_KINDS)
    shape = tuple(int(s) for s in shape)
    index = tuple(int(i) for i in index)
    if not shape or min(shape) < 1:
        raise ValueError(f"shape {shape} needs at least one axis, each of size 1 or more")
    if len(index) != len(shape) or not all(-s <= i < s for i, s in zip(index, shape)):
        raise ValueError(f"index {index} is outside the shape {shape}")
    index = tuple(i % s for i, s in zip(index, shape))
    axis = {"weight_norm": lambda: resolve_dim(dim, len(shape)), "spectral_norm": lambda: None,
            "weight_standardization": lambda: 0}[kind]()
    mask = np.ones(shape, bool)
    if axis is not None:
        sel = np.zeros(shape[axis], bool)
        sel[index[axis]] = True
        mask &= sel.reshape(tuple(-1 if a == axis else 1 for a in range(len(shape))))
    return mask


@dataclass
class LayerEffect:
    """A layer's weight and output before and after the weight normalization (`Values` each);
    channel_std_before / after: the output's std per output channel; weight_norm_before / after:
    ‖w‖₂ per output channel; sigma_before / after: the largest singular value of the weight matrix."""

    kind: str
    weight_before: Values
    weight_after: Values
    output_before: Values
    output_after: Values
    channel_std_before: np.ndarray
    channel_std_after: np.ndarray
    weight_norm_before: np.ndarray
    weight_norm_after: np.ndarray
    sigma_before: float
    sigma_after: float
    warnings: list = field(default_factory=list)


def layer_effect(kind: str, weight_shape=(16, 8, 3, 3), batch: int = 8, spatial=(16, 16), init: str = "normal",
                 inputs: str = "normal", seed: int = 0, max_values: int = MAX_VALUES, **params) -> LayerEffect:
    """Apply a seeded weight (O, I) (dense) or (O, I, k, k) (conv, odd k, "same" padding) to a seeded
    input batch from kernels.inputs, before and after normalizing the weight with `kind` and `params`.
    Weight norm uses g = 1 here unless given (unit-norm filters; torch starts from g = ‖v‖, which
    changes nothing); spectral norm's start vectors use `seed` unless given. The weight comes from `init`
    (see _nn.init_std), the input from generator `inputs`."""
    check_choice("weight normalization", kind, WEIGHT_KINDS)
    shape = tuple(int(s) for s in weight_shape)
    if len(shape) not in (2, 4) or min(shape) < 1:
        raise ValueError(f"weight_shape must be (O, I) or (O, I, k, k), got {weight_shape!r}")
    if len(shape) == 4 and (shape[2] != shape[3] or shape[2] % 2 == 0):
        raise ValueError(f"the kernel must be square with an odd size, got {shape[2]}x{shape[3]}")
    check_int("batch", batch, 1, 4096)
    check_choice("init", init, _nn.INITS)
    if len(shape) == 4:
        if len(tuple(spatial)) != 2:
            raise ValueError(f"spatial must be (height, width), not {spatial!r}")
        for s in spatial:
            check_int("spatial size", s, 1, 512)
    if kind == "weight_norm":
        params.setdefault("g", 1.0)
    if kind == "spectral_norm":
        params.setdefault("seed", seed)
    w, _ = _nn.init_layer(np.random.default_rng([seed, 1]), init, shape)
    w_after, warnings = normalize_weight(kind, w, **params)
    if len(shape) == 4:
        x = generate(inputs, (batch, shape[1]) + tuple(spatial), "NCHW", seed=seed, dtype=np.float64)
        y0, y1 = _nn.conv2d(x, w), _nn.conv2d(x, w_after)
        axes = (0, 2, 3)
    else:
        x = generate(inputs, (batch, shape[1], 1), "NCL", seed=seed, dtype=np.float64)[..., 0]
        y0, y1 = _nn.dense(x, w), _nn.dense(x, w_after)
        axes = (0,)
    s = seed * 1000

    def norms(a):
        return np.sqrt((a.reshape(shape[0], -1) ** 2).sum(axis=1))

    def top_sigma(a):
        return float(np.linalg.svd(weight_matrix(a), compute_uv=False)[0])

    return LayerEffect(kind=kind, weight_before=summarize(w, s, max_values),
                       weight_after=summarize(w_after, s + 1, max_values),
                       output_before=summarize(y0, s + 2, max_values), output_after=summarize(y1, s + 3, max_values),
                       channel_std_before=y0.std(axis=axes), channel_std_after=y1.std(axis=axes),
                       weight_norm_before=norms(w), weight_norm_after=norms(w_after),
                       sigma_before=top_sigma(w), sigma_after=top_sigma(w_after), warnings=warnings)
