"""SELU's self-normalization (Klambauer et al. 2017, "Self-Normalizing Neural Networks"): the map
g(μ, ν) = (μ̃, ν̃) from the mean and variance of a dense layer's inputs to those of its SELU
outputs, iterated layer after layer to its fixed point (0, 1); and what dropout and weights that
are not normalized do to it.

For inputs with mean μ and variance ν and a unit whose weights have ω = Σ wᵢ and τ = Σ wᵢ²,
z = Σ wᵢ xᵢ has mean μω and variance ντ (independent inputs; normal for wide layers by the
central limit theorem, whatever the weights' distribution). Normalized weights have ω = 0 and
τ = 1: LeCun-normal weights N(0, 1/n) have τ ≈ 1, and ω ≈ 0 on average over the units. The
map is computed in closed form (Gaussian integrals of SELU, the paper's equations (4)-(5)) and
measured on a torch network.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ._common import Loop, check_choice, check_float, check_int
from ._nn import SELU_ALPHA, SELU_LAMBDA
from ._torch import one_thread, require_torch, seeded

DROPOUTS = ("none", "standard", "alpha")
WEIGHT_DISTRIBUTIONS = ("normal", "uniform")
#: SELU's saturation value −λα, where alpha dropout sets dropped units
ALPHA_PRIME = -SELU_LAMBDA * SELU_ALPHA
_SQRT2 = math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_ndtr(t: float) -> float:
    """log Φ(t), the standard normal CDF, without underflow for very negative t."""
    if t > -20.0:
        return math.log(0.5 * math.erfc(-t / _SQRT2))
    t2 = t * t
    series = 1.0 - 1.0 / t2 + 3.0 / t2 ** 2 - 15.0 / t2 ** 3 + 105.0 / t2 ** 4
    return -0.5 * t2 - math.log(-t) - _LOG_SQRT_2PI + math.log(series)


def _ndtr(t):
    return 0.5 * math.erfc(-t / _SQRT2)


def selu_moments(mean: float, var: float) -> tuple[float, float]:
    """(E[selu(z)], Var[selu(z)]) for z ~ N(mean, var), in closed form:
    E[z; z>0] = m Φ(m/s) + s φ(m/s);  E[z²; z>0] = (m² + s²) Φ(m/s) + m s φ(m/s);
    E[eᶻ; z≤0] = e^(m + s²/2) Φ(−(m + s²)/s);  E[e²ᶻ; z≤0] = e^(2m + 2s²) Φ(−(m + 2s²)/s);
    selu = λ z for z > 0, λα(eᶻ − 1) otherwise."""
    m, s2 = float(mean), float(var)
    if s2 <= 0.0:
        y = SELU_LAMBDA * (m if m > 0 else SELU_ALPHA * math.expm1(m))
        return y, 0.0
    s = math.sqrt(s2)
    r = m / s
    p_pos, p_neg = _ndtr(r), _ndtr(-r)
    phi = math.exp(-0.5 * r * r) / math.sqrt(2.0 * math.pi)
    e_pos = m * p_pos + s * phi
    e_pos2 = (m * m + s2) * p_pos + m * s * phi
    e_exp = math.exp(m + 0.5 * s2 + _log_ndtr(-(m + s2) / s))
    e_exp2 = math.exp(2.0 * m + 2.0 * s2 + _log_ndtr(-(m + 2.0 * s2) / s))
    lam, alpha = SELU_LAMBDA, SELU_ALPHA
    first = lam * (e_pos + alpha * (e_exp - p_neg))
    second = lam * lam * (e_pos2 + alpha * alpha * (e_exp2 - 2.0 * e_exp + p_neg))
    return first, max(0.0, second - first * first)


def dropout_moments(mean: float, var: float, rate: float, kind: str = "standard") -> tuple[float, float]:
    """(mean, variance) after dropout with drop probability `rate` in training mode:
    'standard' (torch.nn.Dropout): x·m/(1 − q): mean μ, variance (ν + μ²)/(1 − q) − μ²;
    'alpha' (torch.nn.AlphaDropout): a·(x·m + α'(1 − m)) + b with α' = −λα,
        a = ((1 − q)(1 + q α'²))^−½, b = −a α' q: mean a(1 − q)μ, and (0, 1) kept at (0, 1);
    'none' or rate 0: unchanged. m ~ Bernoulli(1 − q)."""
    check_choice("dropout", kind, DROPOUTS)
    q = float(rate)
    if kind == "none" or q == 0.0:
        return mean, var
    p = 1.0 - q
    second = var + mean * mean
    if kind == "standard":
        return mean, second / p - mean * mean
    a = 1.0 / math.sqrt(p * (1.0 + q * ALPHA_PRIME ** 2))
    b = -a * ALPHA_PRIME * q
    # kept: y = a·x + b; dropped: y = a·α' + b
    m1 = p * (a * mean + b) + q * (a * ALPHA_PRIME + b)
    m2 = p * (a * a * second + 2 * a * b * mean + b * b) + q * (a * ALPHA_PRIME + b) ** 2
    return m1, max(0.0, m2 - m1 * m1)


def selu_map(mean: float, var: float, omega: float = 0.0, tau: float = 1.0, dropout: float = 0.0,
             dropout_kind: str = "none") -> tuple[float, float]:
    """g(μ, ν): the (mean, variance) of a SELU layer's outputs given its inputs' (μ, ν), the weights'
    ω = Σ wᵢ and τ = Σ wᵢ², and dropout on the inputs (`dropout_moments`)."""
    m, v = dropout_moments(mean, var, dropout, dropout_kind)
    return selu_moments(m * omega, v * tau)


def iterate(mean: float, var: float, layers: int, **kw) -> np.ndarray:
    """(layers + 1, 2): (μ, ν) after 0..layers applications of `selu_map` (keywords as selu_map);
    NaN from the first non-finite value on."""
    out = np.full((layers + 1, 2), np.nan)
    m, v = float(mean), float(var)
    out[0] = m, v
    for i in range(1, layers + 1):
        try:
            m, v = selu_map(m, v, **kw)
        except (OverflowError, ValueError):
            break
        if not (math.isfinite(m) and math.isfinite(v)):
            break
        out[i] = m, v
    return out


def fixed_point(omega: float = 0.0, tau: float = 1.0, dropout: float = 0.0, dropout_kind: str = "none",
                start=(0.0, 1.0), tol: float = 1e-12, max_iter: int = 10000):
    """((μ*, ν*), jacobian 2×2 at it) where iterating the map from `start` settles, or (None, None)
    when it does not within max_iter (it runs off to infinity or to ν = 0). The Jacobian comes from
    central differences; the fixed point attracts when its eigenvalues lie inside the unit circle."""
    kw = dict(omega=omega, tau=tau, dropout=dropout, dropout_kind=dropout_kind)
    m, v = start
    for _ in range(max_iter):
        try:
            nm, nv = selu_map(m, v, **kw)
        except (OverflowError, ValueError):
            return None, None
        if not (math.isfinite(nm) and math.isfinite(nv)) or nv > 1e6:
            return None, None
        if abs(nm - m) < tol and abs(nv - v) < tol:
            m, v = nm, nv
            break
        m, v = nm, nv
    else:
        return None, None
    if v < 1e-9:
        return None, None
    h = 1e-6
    jac = np.empty((2, 2))
    for j, (dm, dv) in enumerate(((h, 0.0), (0.0, h))):
        up, down = selu_map(m + dm, v + dv, **kw), selu_map(m - dm, v - dv, **kw)
        jac[:, j] = (np.subtract(up, down)) / (2 * h)
    return np.array([m, v]), jac


@dataclass(frozen=True)
class SeluConfig:
    """start_mean, start_var: (μ, ν) of the first layer's inputs. layers: how many SELU layers.
    omega, tau: the weights' ω = Σ wᵢ and τ = Σ wᵢ² per unit (normalized weights: 0 and 1;
    LeCun normal gives τ = 1). dropout (rate q) of dropout_kind on every layer's inputs.
    Simulation on torch: `width` units per layer, `samples` inputs, weights of `weights`
    distribution with mean ω/width and variance τ/width − (ω/width)² (so each unit's Σ wᵢ and
    Σ wᵢ² are ω and τ on average). grid: points per axis of the map's field over
    field_mean × field_var. seed: the simulation's inputs and weights."""

    start_mean: float = 1.0
    start_var: float = 3.0
    layers: int = 16
    omega: float = 0.0
    tau: float = 1.0
    dropout: float = 0.0
    dropout_kind: str = "none"
    width: int = 512
    samples: int = 2000
    weights: str = "normal"
    grid: int = 15
    field_mean: tuple = (-1.0, 1.0)
    field_var: tuple = (0.2, 3.0)
    seed: int = 0


@dataclass
class SeluResult:
    """trajectory: (layers + 1, 2) the closed-form (μ, ν) per layer for the config; ideal: the same
    from the same start with normalized weights and no dropout. fixed_point: (μ*, ν*) where the
    config's map settles (None when it does not: divergence or collapse); jacobian and
    eigenvalues there (None likewise). simulated: (layers + 1, 2) mean and variance over all
    units and samples measured on the torch network (torch.selu, torch's dropout); simulated_ideal:
    the same network with LeCun-normal weights and no dropout. field_mean, field_var: the grid
    axes; field_dmean, field_dvar: (grid, grid) g(μ, ν) − (μ, ν), indexed [var, mean], for a
    quiver plot of the map (the paper's Figure 2). warnings: sentences."""

    config: SeluConfig
    trajectory: np.ndarray
    ideal: np.ndarray
    fixed_point: np.ndarray | None
    jacobian: np.ndarray | None
    eigenvalues: np.ndarray | None
    simulated: np.ndarray
    simulated_ideal: np.ndarray
    field_mean: np.ndarray
    field_var: np.ndarray
    field_dmean: np.ndarray
    field_dvar: np.ndarray
    seconds: float
    warnings: list = field(default_factory=list)


def validate(cfg: SeluConfig) -> SeluConfig:
    if not isinstance(cfg, SeluConfig):
        raise ValueError(f"config must be a SeluConfig, not {type(cfg).__name__}")
    check_float("start_mean", cfg.start_mean, -10.0, 10.0)
    check_float("start_var", cfg.start_var, 0.0, 100.0)
    check_int("layers", cfg.layers, 1, 200)
    check_float("omega", cfg.omega, -3.0, 3.0)
    check_float("tau", cfg.tau, 0.0, 10.0, positive=True)
    check_float("dropout", cfg.dropout, 0.0, 0.9)
    check_choice("dropout_kind", cfg.dropout_kind, DROPOUTS)
    check_int("width", cfg.width, 1, 4096)
    check_int("samples", cfg.samples, 2, 100000)
    if cfg.width * cfg.samples > 4_000_000:
        raise ValueError("width × samples would be more than 4,000,000 activations per layer")
    check_choice("weights", cfg.weights, WEIGHT_DISTRIBUTIONS)
    check_int("grid", cfg.grid, 2, 100)
    for name in ("field_mean", "field_var"):
        lo_hi = tuple(getattr(cfg, name))
        if len(lo_hi) != 2 or not lo_hi[0] < lo_hi[1]:
            raise ValueError(f"{name} must be (low, high) with low < high, not {lo_hi!r}")
        for v in lo_hi:
            check_float(name, v, -100.0, 100.0)
    if cfg.field_var[0] < 0:
        raise ValueError("field_var must not go below 0")
    if cfg.tau * cfg.width < cfg.omega ** 2:
        raise ValueError(f"tau={cfg.tau:g} is too small for omega={cfg.omega:g}: Σwᵢ² ≥ (Σwᵢ)²/width")
    check_int("seed", cfg.seed, 0)
    return cfg


def simulate(cfg: SeluConfig, omega=None, tau=None, dropout=None, dropout_kind=None, loop: Loop | None = None):
    """(layers + 1, 2): mean and variance over all units and samples of a torch network of
    cfg.layers dense SELU layers (no bias) fed inputs N(start_mean, start_var); keywords override
    the config's weights and dropout."""
    torch = require_torch("the SELU simulation")
    omega = cfg.omega if omega is None else omega
    tau = cfg.tau if tau is None else tau
    rate = cfg.dropout if dropout is None else dropout
    kind = cfg.dropout_kind if dropout_kind is None else dropout_kind
    n = cfg.width
    w_mean = omega / n
    w_std = math.sqrt(max(0.0, tau / n - w_mean ** 2))
    gen = torch.Generator().manual_seed(cfg.seed)
    x = torch.randn(cfg.samples, n, generator=gen, dtype=torch.float64) * math.sqrt(cfg.start_var) + cfg.start_mean
    out = np.full((cfg.layers + 1, 2), np.nan)
    out[0] = float(x.mean()), float(x.var(unbiased=False))
    with seeded(torch, cfg.seed + 1):  # dropout's masks come from torch's global generator
        _layers(torch, cfg, x, gen, w_mean, w_std, rate, kind, out, loop)
    return out


def _layers(torch, cfg, x, gen, w_mean, w_std, rate, kind, out, loop):
    F = torch.nn.functional
    n = cfg.width
    for i in range(cfg.layers):
        if loop is not None:
            loop.check()
        if cfg.weights == "normal":
            w = torch.randn(n, n, generator=gen, dtype=torch.float64) * w_std + w_mean
        else:  # uniform with the same mean and variance: ± √3 σ around the mean
            w = (torch.rand(n, n, generator=gen, dtype=torch.float64) * 2 - 1) * math.sqrt(3.0) * w_std + w_mean
        if kind != "none" and rate > 0:
            x = F.alpha_dropout(x, rate, training=True) if kind == "alpha" else F.dropout(x, rate, training=True)
        x = torch.selu(x @ w.T)
        if not bool(torch.isfinite(x).all()):
            break
        out[i + 1] = float(x.mean()), float(x.var(unbiased=False))
        if loop is not None:
            loop.tick()


def run(config: SeluConfig, progress: Callable | None = None, cancelled: Callable | None = None) -> SeluResult:
    """The closed-form trajectory, fixed point and field, and the torch simulation of the config
    and of the ideal network. progress(done, total) per simulated layer; Cancelled when asked."""
    cfg = validate(config)
    torch = require_torch("the SELU experiment")
    loop = Loop(2 * cfg.layers + 1, progress, cancelled)
    loop.check()
    began = time.perf_counter()
    kw = dict(omega=cfg.omega, tau=cfg.tau, dropout=cfg.dropout, dropout_kind=cfg.dropout_kind)
    trajectory = iterate(cfg.start_mean, cfg.start_var, cfg.layers, **kw)
    ideal = iterate(cfg.start_mean, cfg.start_var, cfg.layers)
    point, jac = fixed_point(**kw)
    means = np.linspace(*cfg.field_mean, cfg.grid)
    variances = np.linspace(*cfg.field_var, cfg.grid)
    dmean, dvar = np.zeros((cfg.grid, cfg.grid)), np.zeros((cfg.grid, cfg.grid))
    for i, v in enumerate(variances):
        for j, m in enumerate(means):
            gm, gv = selu_map(m, v, **kw)
            dmean[i, j], dvar[i, j] = gm - m, gv - v
    loop.tick()
    with one_thread(torch):
        simulated = simulate(cfg, loop=loop)
        simulated_ideal = simulate(cfg, omega=0.0, tau=1.0, dropout=0.0, dropout_kind="none", loop=loop)
    warnings = []
    if point is None:
        warnings.append("the map has no attracting fixed point from (0, 1) with these weights and dropout: the "
                        "variance runs away or collapses")
    elif abs(point[0]) > 1e-3 or abs(point[1] - 1.0) > 1e-3:
        warnings.append(f"the fixed point moved to (μ, ν) = ({point[0]:.3g}, {point[1]:.3g}), away from (0, 1)")
    eig = None if jac is None else np.linalg.eigvals(jac)
    return SeluResult(config=cfg, trajectory=trajectory, ideal=ideal, fixed_point=point, jacobian=jac,
                      eigenvalues=eig, simulated=simulated, simulated_ideal=simulated_ideal, field_mean=means,
                      field_var=variances, field_dmean=dmean, field_dvar=dvar, seconds=time.perf_counter() - began,
                      warnings=warnings)
