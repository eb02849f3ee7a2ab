"""Batch size: how noisy BatchNorm's batch statistics are for batch sizes 1 .. 256, how a fixed
sample's BatchNorm output depends on its batch mates (GroupNorm's and LayerNorm's do not), and
the eval-mode shrink by ((n−1)/n)^k that running_var's unbiased variance causes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..core import normalize, prepare
from ..methods import METHODS
from ._common import Loop, add_warnings, check_float, check_int
from .steps import layout_for

DEFAULT_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
MAX_DRAWN = 20_000_000


def _check_common(sizes, draws, channels, spatial):
    sizes = tuple(sizes)
    if not sizes:
        raise ValueError("sizes is empty: give at least one batch size")
    for n in sizes:
        check_int("batch size", n, 1, 4096)
    check_int("draws", draws, 1, 10000)
    check_int("channels", channels, 1, 256)
    if len(tuple(spatial)) > 3:
        raise ValueError(f"spatial has {len(tuple(spatial))} axes; at most 3 (D, H, W)")
    for s in spatial:
        check_int("spatial size", s, 1, 256)
    return sizes, int(np.prod(tuple(spatial)))


@dataclass
class NoiseResult:
    """Per batch size (arrays aligned with `sizes`): values_per_channel m = n·positions;
    mean_spread / var_spread: the std over draws of a channel's batch mean / biased batch
    variance, averaged over channels; mean_spread_theory = σ/√m and var_spread_theory =
    σ²·√(2(m−1))/m, the values for normal data. warnings: the kernels' sentences, per size."""

    sizes: np.ndarray
    values_per_channel: np.ndarray
    mean_spread: np.ndarray
    var_spread: np.ndarray
    mean_spread_theory: np.ndarray
    var_spread_theory: np.ndarray
    warnings: list = field(default_factory=list)


def batch_noise(sizes=DEFAULT_SIZES, draws: int = 200, channels: int = 3, spatial=(4, 4), std: float = 1.0,
                seed: int = 0, progress: Callable | None = None,
                cancelled: Callable | None = None) -> NoiseResult:
    """Spread of BatchNorm's per-channel batch statistics over `draws` batches of N(0, std²) values.
    progress(done, len(sizes)) after each size; `Cancelled` when cancelled() returns True."""
    sizes, positions = _check_common(sizes, draws, channels, spatial)
    std = check_float("std", std, positive=True)
    check_int("seed", seed, 0)
    if max(sizes) * draws * channels * positions > MAX_DRAWN:
        raise ValueError(f"{max(sizes)} x {draws} draws would hold more than {MAX_DRAWN} values: use fewer draws")
    loop = Loop(len(sizes), progress, cancelled)
    loop.check()
    layout = layout_for(spatial)
    out = {k: np.zeros(len(sizes)) for k in ("mean_spread", "var_spread", "mean_spread_theory", "var_spread_theory")}
    warnings = []
    for i, n in enumerate(sizes):
        rng = np.random.default_rng([seed, n])
        x = rng.standard_normal((draws, n, channels) + tuple(spatial)) * std
        axes = (1,) + tuple(range(3, x.ndim))
        mean, var = x.mean(axis=axes), x.var(axis=axes)  # (draws, C), as BatchNorm computes them
        add_warnings(warnings, normalize(x[0], "batch", layout).warnings, f"batch size {n}: ")
        m = n * positions
        out["mean_spread"][i], out["var_spread"][i] = mean.std(axis=0).mean(), var.std(axis=0).mean()
        out["mean_spread_theory"][i] = std / np.sqrt(m)
        out["var_spread_theory"][i] = std ** 2 * np.sqrt(2.0 * (m - 1)) / m
        loop.tick()
    return NoiseResult(sizes=np.array(sizes), values_per_channel=np.array(sizes) * positions, warnings=warnings, **out)


@dataclass
class DependenceResult:
    """One fixed sample normalized inside batches of `sizes` whose other samples are redrawn.
    spread: {method: (len(sizes),)}: std over draws of the sample's output, averaged over its
    elements (0 for GroupNorm and LayerNorm, which never look at the other samples).
    values: {method: [array of the sample's first element's output, one per draw] per size}.
    draws_used: draws per size (1 for batch size 1: there are no batch mates to redraw).
    sample: the fixed sample, shape (1, C, *spatial); it is sample 0 of every batch. GroupNorm's and
    LayerNorm's spreads are 0 up to rounding (~1e-16: numpy may sum in another order per batch shape)."""

    sizes: np.ndarray
    sample: np.ndarray
    spread: dict
    values: dict
    draws_used: np.ndarray
    warnings: list = field(default_factory=list)


def sample_dependence(sizes=DEFAULT_SIZES, draws: int = 50, channels: int = 4, spatial=(4, 4),
                      groups: int = 2, methods=("batch", "group", "layer"), seed: int = 0,
                      progress: Callable | None = None, cancelled: Callable | None = None) -> DependenceResult:
    """The output for one fixed N(0, 1) sample as its batch mates (also N(0, 1)) change; every
    method in training mode through `kernels.normalize` (groups is GroupNorm's G).
    progress(done, len(sizes)); `Cancelled` when cancelled() returns True."""
    sizes, positions = _check_common(sizes, draws, channels, spatial)
    check_int("seed", seed, 0)
    if max(sizes) * draws * channels * positions > MAX_DRAWN:
        raise ValueError(f"{max(sizes)} x {draws} draws would hold more than {MAX_DRAWN} values: use fewer draws")
    layout = layout_for(spatial)
    for name in methods:
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
        prepare(name, (1, channels) + tuple(spatial), layout, **_params(name, groups))
    loop = Loop(len(sizes), progress, cancelled)
    loop.check()
    sample = np.random.default_rng([seed, 0]).standard_normal((1, channels) + tuple(spatial))
    spread = {m: np.zeros(len(sizes)) for m in methods}
    values = {m: [] for m in methods}
    used, warnings = np.zeros(len(sizes), int), []
    for i, n in enumerate(sizes):
        rng = np.random.default_rng([seed, 1, n])
        k = 1 if n == 1 else draws
        outs = {m: np.zeros((k,) + sample.shape[1:]) for m in methods}
        for d in range(k):
            loop.check()
            mates = rng.standard_normal((n - 1, channels) + tuple(spatial))
            batch = np.concatenate([sample, mates])
            for m in methods:
                res = normalize(batch, m, layout, **_params(m, groups))
                add_warnings(warnings, res.warnings, f"{METHODS[m].label}, batch size {n}: ")
                outs[m][d] = res.output[0]
        for m in methods:
            spread[m][i] = outs[m].std(axis=0).mean()
            values[m].append(outs[m].reshape(k, -1)[:, 0].copy())
        used[i] = k
        loop.tick()
    return DependenceResult(sizes=np.array(sizes), sample=sample, spread=spread, values=values, draws_used=used,
                            warnings=warnings)


def _params(method, groups):
    return {"groups": groups} if "groups" in METHODS[method].param_names else {}


def unbiased_factor(n: int, k: int = 1) -> float:
    """((n − 1) / n)^k: the eval-mode variance left after k stacked BatchNorm layers whose
    running_var is the unbiased n/(n−1)·σ²_B of batches of n values per channel, e.g. (63/64)^k."""
    check_int("n", n, 2)
    check_int("k", k, 0)
    return ((n - 1) / n) ** k


@dataclass
class ShrinkResult:
    """layers: 1..k. measured[j−1]: the biased variance of the eval-mode output after layer j
    (averaged over channels); predicted[j−1] = ((n−1)/n)^j (exact for eps = 0). n: values per channel."""

    n: int
    layers: np.ndarray
    measured: np.ndarray
    predicted: np.ndarray
    warnings: list = field(default_factory=list)


def unbiased_shrink(n: int = 64, layers: int = 10, channels: int = 4, eps: float = 0.0,
                    seed: int = 0) -> ShrinkResult:
    """Simulate the ((n−1)/n)^k shrink. Modelled: k BatchNorm layers stacked directly (nothing between
    them) on a batch of n values per channel (layout NC). In training each layer sees the previous
    layer's training output and stores its running statistics as torch does after that one batch
    with momentum=None: the batch mean and the unbiased variance n/(n−1)·σ²_B. In eval the same
    batch goes through with those running statistics: every layer divides by √(n/(n−1)·σ²) instead of
    √σ², so the variance after layer j is ((n−1)/n)^j (eps > 0 shrinks it slightly more)."""
    check_int("n", n, 2, 100000)
    check_int("layers", layers, 1, 50)
    check_int("channels", channels, 1, 256)
    eps = check_float("eps", eps, lo=0.0)
    x = np.random.default_rng([seed, 0]).standard_normal((n, channels)) * 2.0 + 1.0
    stats, h, warnings = [], x, []
    for _ in range(layers):
        res = normalize(h, "batch", "NC", running_mean=np.zeros(channels), running_var=np.ones(channels),
                        momentum=None, eps=eps)
        add_warnings(warnings, res.warnings)
        stats.append((np.asarray(res.running_mean), np.asarray(res.running_var)))
        h = np.asarray(res.output)
    measured, g = np.zeros(layers), x
    for j, (rm, rv) in enumerate(stats):
        res = normalize(g, "batch", "NC", training=False, running_mean=rm, running_var=rv, eps=eps)
        add_warnings(warnings, res.warnings)
        g = np.asarray(res.output)
        measured[j] = g.var(axis=0).mean()
    k = np.arange(1, layers + 1)
    return ShrinkResult(n=n, layers=k, measured=measured, predicted=((n - 1) / n) ** k, warnings=warnings)
