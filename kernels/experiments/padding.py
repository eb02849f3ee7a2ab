"""Sequences with padding: a batch of (N, L, C) token sequences of different lengths, padded to the
longest with a pad value, normalized by BatchNorm (per channel over N and L), LayerNorm over the
channels of each token (nn.LayerNorm(C), what transformers use) and LayerNorm over the whole
sequence (nn.LayerNorm([L, C])), with and without a padding mask.

Padding enters every statistic that pools over positions: BatchNorm's mean moves toward the pad
value by the padded fraction f, (1 − f)·μ + f·pad, and its variance becomes
(1 − f)·σ² + f(1 − f)(μ − pad)²; so every real token's output changes, and so do the running
statistics that evaluation will use. A mask (statistics over the real tokens only, as BatchNorm on
a packed sequence computes them) removes the effect. LayerNorm over C never mixes positions:
real tokens are untouched by padding, pad tokens (all one value) have variance 0 and map to 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import normalize
from ._common import Loop, check_float, check_int

LAYOUT = "NLC"


@dataclass(frozen=True)
class PaddingConfig:
    """samples N, max_length L, channels C. lengths: each sequence's real length (None: seeded
    draws from min_length..max_length, one sequence always max_length long). Real tokens are
    normal with per-channel mean and std drawn around `mean` and `std`; padding positions hold
    pad_value. eps for every normalization, momentum for the running statistics after one
    training step (torch's convention). fractions: how many points the bias curves have."""

    samples: int = 8
    max_length: int = 16
    channels: int = 4
    lengths: tuple | None = None
    min_length: int = 2
    pad_value: float = 0.0
    mean: float = 2.0
    std: float = 1.5
    eps: float = 1e-5
    momentum: float = 0.1
    fractions: int = 19
    seed: int = 0


@dataclass
class Normalized:
    """One normalization with and without the mask: output_masked, output_unmasked (N, L, C; pad
    positions of the masked output are 0); mean_* and var_* the statistics (BatchNorm (C,), sequence
    LayerNorm (N,), token LayerNorm (N, L)); running_mean_*, running_var_* after one training step
    (BatchNorm only, else None); max_change: max |masked − unmasked| over the real tokens."""

    output_masked: np.ndarray
    output_unmasked: np.ndarray
    mean_masked: np.ndarray
    var_masked: np.ndarray
    mean_unmasked: np.ndarray
    var_unmasked: np.ndarray
    max_change: float
    running_mean_masked: np.ndarray | None = None
    running_var_masked: np.ndarray | None = None
    running_mean_unmasked: np.ndarray | None = None
    running_var_unmasked: np.ndarray | None = None


@dataclass
class PaddingResult:
    """x: (N, L, C) the padded batch; mask: (N, L) True on real tokens; lengths: (N,); pad_fraction:
    the share of padding positions. true_mean, true_std: (C,) the distribution the real tokens
    come from. batch, token_layer, sequence_layer: `Normalized` for BatchNorm, LayerNorm over C,
    LayerNorm over (L, C). fraction, bias_mean, bias_var: BatchNorm's unmasked mean and variance
    against the padded fraction f (0 .. 0.9) for the real tokens' own statistics of channel 0
    (closed form: (1 − f)μ + f·pad, (1 − f)σ² + f(1 − f)(μ − pad)²). warnings: sentences."""

    config: PaddingConfig
    x: np.ndarray
    mask: np.ndarray
    lengths: np.ndarray
    pad_fraction: float
    true_mean: np.ndarray
    true_std: np.ndarray
    batch: Normalized
    token_layer: Normalized
    sequence_layer: Normalized
    fraction: np.ndarray
    bias_mean: np.ndarray
    bias_var: np.ndarray
    warnings: list = field(default_factory=list)


def validate(cfg: PaddingConfig) -> PaddingConfig:
    if not isinstance(cfg, PaddingConfig):
        raise ValueError(f"config must be a PaddingConfig, not {type(cfg).__name__}")
    check_int("samples", cfg.samples, 1, 4096)
    check_int("max_length", cfg.max_length, 1, 4096)
    check_int("channels", cfg.channels, 1, 1024)
    if cfg.samples * cfg.max_length * cfg.channels > 4_000_000:
        raise ValueError("the batch would hold more than 4,000,000 values")
    check_int("min_length", cfg.min_length, 1, cfg.max_length)
    if cfg.lengths is not None:
        if len(tuple(cfg.lengths)) != cfg.samples:
            raise ValueError(f"lengths has {len(tuple(cfg.lengths))} entries for samples={cfg.samples}")
        for n in cfg.lengths:
            check_int("length", n, 1, cfg.max_length)
    check_float("pad_value", cfg.pad_value, -1e6, 1e6)
    check_float("mean", cfg.mean, -1e6, 1e6)
    check_float("std", cfg.std, positive=True)
    check_float("eps", cfg.eps, lo=0.0)
    check_float("momentum", cfg.momentum, 0.0, 1.0)
    check_int("fractions", cfg.fractions, 2, 1000)
    check_int("seed", cfg.seed, 0)
    return cfg


def make_batch(cfg: PaddingConfig):
    """(x (N, L, C) float64 with pads, mask (N, L), lengths (N,), channel means (C,), channel stds (C,))."""
    rng = np.random.default_rng([cfg.seed, 0])
    means = cfg.mean + rng.uniform(-1.0, 1.0, cfg.channels)
    stds = cfg.std * np.exp(rng.uniform(-0.3, 0.3, cfg.channels))
    if cfg.lengths is not None:
        lengths = np.array(cfg.lengths, dtype=int)
    else:
        lengths = rng.integers(cfg.min_length, cfg.max_length + 1, cfg.samples)
        lengths[0] = cfg.max_length
    x = rng.standard_normal((cfg.samples, cfg.max_length, cfg.channels)) * stds + means
    mask = np.arange(cfg.max_length)[None, :] < lengths[:, None]
    x[~mask] = cfg.pad_value
    return x, mask, lengths, means, stds


def masked_batch_norm(x, mask, eps=1e-5, running_mean=None, running_var=None, momentum=0.1):
    """BatchNorm over the real tokens only: per channel, mean and biased variance over the (n, l)
    with mask[n, l]; the same as BatchNorm on the packed tokens (torch's pack_padded_sequence
    data). Returns (output with pads set to 0, mean (C,), var (C,), running mean, running var) with
    the running statistics after one step (unbiased variance over the real count)."""
    tokens = x[mask]  # (count, C)
    count = tokens.shape[0]
    mean, var = tokens.mean(axis=0), tokens.var(axis=0)
    y = np.where(mask[..., None], (x - mean) / np.sqrt(var + eps), 0.0)
    rm = np.zeros(x.shape[-1]) if running_mean is None else np.asarray(running_mean, dtype=np.float64)
    rv = np.ones(x.shape[-1]) if running_var is None else np.asarray(running_var, dtype=np.float64)
    unbiased = var * count / (count - 1) if count > 1 else np.full_like(var, np.nan)
    return y, mean, var, (1 - momentum) * rm + momentum * mean, (1 - momentum) * rv + momentum * unbiased


def masked_sequence_layer_norm(x, mask, eps=1e-5):
    """LayerNorm over (L, C) of each sequence's real tokens: (output, mean (N,), var (N,))."""
    counts = mask.sum(axis=1) * x.shape[-1]
    m3 = mask[..., None]
    mean = np.where(m3, x, 0.0).sum(axis=(1, 2)) / counts
    var = np.where(m3, (x - mean[:, None, None]) ** 2, 0.0).sum(axis=(1, 2)) / counts
    y = np.where(m3, (x - mean[:, None, None]) / np.sqrt(var[:, None, None] + eps), 0.0)
    return y, mean, var


def padding_bias(mean: float, var: float, pad: float, fraction):
    """BatchNorm's statistics over real tokens (mean, var) diluted by a padded fraction f:
    ((1 − f)·mean + f·pad, (1 − f)·var + f(1 − f)(mean − pad)²)."""
    f = np.asarray(fraction, dtype=np.float64)
    return (1 - f) * mean + f * pad, (1 - f) * var + f * (1 - f) * (mean - pad) ** 2


def run(config: PaddingConfig, progress=None, cancelled=None) -> PaddingResult:
    """The padded batch normalized three ways, each with and without the mask (NumPy through
    kernels.normalize for the unmasked ones; milliseconds). progress/cancelled as the others."""
    cfg = validate(config)
    loop = Loop(1, progress, cancelled)
    loop.check()
    x, mask, lengths, means, stds = make_batch(cfg)
    real = mask[..., None]
    warnings = []

    def change(a, b):
        return float(np.max(np.abs(np.where(real, a - b, 0.0))))

    bn = normalize(x, "batch", LAYOUT, eps=cfg.eps, momentum=cfg.momentum, running_mean=np.zeros(cfg.channels),
                   running_var=np.ones(cfg.channels))
    y, m, v, rm, rv = masked_batch_norm(x, mask, cfg.eps, momentum=cfg.momentum)
    out_bn = np.asarray(bn.output)
    batch = Normalized(output_masked=y, output_unmasked=out_bn, mean_masked=m, var_masked=v,
                       mean_unmasked=np.ravel(bn.mean), var_unmasked=np.ravel(bn.var),
                       max_change=change(y, out_bn), running_mean_masked=rm, running_var_masked=rv,
                       running_mean_unmasked=np.ravel(bn.running_mean), running_var_unmasked=np.ravel(bn.running_var))
    tok = normalize(x, "channel", LAYOUT, eps=cfg.eps)
    out_tok = np.asarray(tok.output)
    tok_masked = np.where(real, out_tok, 0.0)
    token_layer = Normalized(output_masked=tok_masked, output_unmasked=out_tok,
                             mean_masked=np.where(mask, np.reshape(tok.mean, mask.shape), np.nan),
                             var_masked=np.where(mask, np.reshape(tok.var, mask.shape), np.nan),
                             mean_unmasked=np.reshape(tok.mean, mask.shape),
                             var_unmasked=np.reshape(tok.var, mask.shape),
                             max_change=change(tok_masked, out_tok))
    seq = normalize(x, "layer", LAYOUT, eps=cfg.eps)
    ys, ms, vs = masked_sequence_layer_norm(x, mask, cfg.eps)
    out_seq = np.asarray(seq.output)
    sequence_layer = Normalized(output_masked=ys, output_unmasked=out_seq, mean_masked=ms, var_masked=vs,
                                mean_unmasked=np.ravel(seq.mean), var_unmasked=np.ravel(seq.var),
                                max_change=change(ys, out_seq))
    for w in (*bn.warnings, *tok.warnings, *seq.warnings):
        if w not in warnings:
            warnings.append(w)
    pad_fraction = float(1.0 - mask.mean())
    fraction = np.linspace(0.0, 0.9, cfg.fractions)
    bias_mean, bias_var = padding_bias(means[0], stds[0] ** 2, cfg.pad_value, fraction)
    loop.tick()
    return PaddingResult(config=cfg, x=x, mask=mask, lengths=lengths, pad_fraction=pad_fraction, true_mean=means,
                         true_std=stds, batch=batch, token_layer=token_layer, sequence_layer=sequence_layer,
                         fraction=fraction, bias_mean=bias_mean, bias_var=bias_var, warnings=warnings)
