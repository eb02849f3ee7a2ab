"""What the experiment tabs compute and write, without Qt: the runs that bundle several kernels
experiments for one view (steps, weights), and each experiment's numbers as a CSV table or JSON
data. The views and the command line share them."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from kernels.experiments import (
    DEFAULT_SIZES,
    FREEZE_MODES,
    StepsConfig,
    batch_noise,
    layer_effect,
    run_freeze,
    run_steps,
    sample_dependence,
    spectral_norm,
    unbiased_shrink,
    weight_norm,
    weight_shared_mask,
    weight_standardization,
)

from ..atomic import write_text

#: The depth experiment's recorded stages: before normalizing, after it, after the activation.
STAGE_NAMES = ("pre", "normed", "act")


def csv_text(header, rows) -> str:
    """A CSV table; floats written with repr, so the numbers read back exactly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[repr(float(v)) if isinstance(v, float) else v for v in row] for row in rows])
    return buffer.getvalue()


def write_csv(path, text: str):
    """Atomic CSV write (SaveError on failure)."""
    write_text(path, text)


# -- depth -------------------------------------------------------------------------------------

def depth_table(result) -> tuple:
    """(header, rows): one row per computed layer with each stage's mean, std, min, max,
    the saturated fraction and the weight-gradient norm (empty when there are none)."""
    header = ["layer"] + [f"{s}_{k}" for s in STAGE_NAMES for k in ("mean", "std", "min", "max")] \
        + ["saturated", "grad_norm"]
    rows = []
    for rec in result.layers:
        row = [rec.index + 1]
        for stage in STAGE_NAMES:
            v = getattr(rec, stage)
            row += [v.mean, v.std, v.min, v.max]
        rows.append(row + [rec.saturated, "" if rec.grad_norm is None else rec.grad_norm])
    return header, rows


def depth_csv(result) -> str:
    return csv_text(*depth_table(result))


def depth_numbers(result) -> dict:
    """The result as plain JSON-able data."""
    cfg = result.config
    header, rows = depth_table(result)
    return {"experiment": "depth",
            "config": {k: getattr(cfg, k) for k in ("layers", "width", "samples", "features", "kind", "activation",
                                                    "init", "norm", "inputs", "seed")}
            | {"norm_params": dict(cfg.norm_params)},
            "layers": [dict(zip(header, [None if v == "" else v for v in row])) for row in rows],
            "loss": result.loss, "gradients": result.gradients, "gradient_reason": result.gradient_reason,
            "warnings": list(result.warnings)}



# -- training steps ------------------------------------------------------------------------------

SERIES = ("true_mean", "batch_mean", "running_mean", "renorm_running_mean", "true_var", "batch_var", "running_var",
          "renorm_running_var")


@dataclass
class StepsBundle:
    """Everything one run of the view computes (freeze is None without a usable drift)."""

    steps: object
    freeze: object
    noise: object
    dependence: object
    shrink: object


def steps_table(result) -> tuple:
    """(header, rows): one row per training step; per channel c the true, batch and running
    statistics (and Batch Renormalization's running ones), then the train/eval mismatches."""
    C = result.config.channels
    header = ["step"] + [f"{k}_c{c}" for k in SERIES for c in range(C)] + ["mismatch_batch", "mismatch_batch_renorm"]
    rows = []
    for t in range(result.config.steps):
        row = [t] + [float(getattr(result, k)[t, c]) for k in SERIES for c in range(C)]
        rows.append(row + [float(result.mismatch["batch"][t]), float(result.mismatch["batch_renorm"][t])])
    return header, rows


def steps_csv(result) -> str:
    return csv_text(*steps_table(result))


def _plain(a):
    return np.asarray(a).tolist() if isinstance(a, np.ndarray) else a


def steps_numbers(bundle: StepsBundle) -> dict:
    """The whole bundle as JSON-able data."""
    res = bundle.steps
    cfg = res.config
    header, rows = steps_table(res)
    out = {"experiment": "steps",
           "config": {k: _plain(getattr(cfg, k)) for k in ("steps", "batch_size", "channels", "spatial", "drift",
                                                             "drift_step", "momentum", "momentum_convention", "seed")},
           "steps": [dict(zip(header, row)) for row in rows],
           "held_out": {k: {"mean": v.mean, "std": v.std} for k, v in (("input", res.held_input),
                                                                       ("train", res.held_train),
                                                                       ("eval", res.held_eval))},
           "warnings": list(res.warnings)}
    n, d, s = bundle.noise, bundle.dependence, bundle.shrink
    out["batch_noise"] = {k: _plain(getattr(n, k)) for k in ("sizes", "values_per_channel", "mean_spread",
                                                             "var_spread", "mean_spread_theory", "var_spread_theory")}
    out["sample_dependence"] = {"sizes": _plain(d.sizes), "spread": {m: _plain(v) for m, v in d.spread.items()}}
    out["unbiased_shrink"] = {"n": s.n, "layers": _plain(s.layers), "measured": _plain(s.measured),
                              "predicted": _plain(s.predicted)}
    f = bundle.freeze
    out["freeze"] = None if f is None else {
        "steps": _plain(f.steps), **{k: {m: _plain(getattr(f, k)[m]) for m in FREEZE_MODES}
                                     for k in ("train_mean", "train_std", "eval_mean", "eval_std", "running_mean")}}
    return out


def compute_bundle(cfg: StepsConfig, progress=None, cancelled=None) -> StepsBundle:
    """run_steps, batch_noise, sample_dependence, unbiased_shrink and (with a drift) run_freeze,
    with one progress count over all of them."""
    freeze = cfg.drift != "none" and 1 <= cfg.drift_step < cfg.steps
    sizes = len(DEFAULT_SIZES)
    total = cfg.steps * (2 if freeze else 1) + 2 * sizes + 1
    offset = [0]

    def part(units):
        start = offset[0]
        offset[0] += units
        return None if progress is None else (lambda done, _total: progress(start + done, total))

    steps = run_steps(cfg, part(cfg.steps), cancelled)
    noise = batch_noise(channels=cfg.channels, spatial=cfg.spatial, seed=cfg.seed, progress=part(sizes),
                        cancelled=cancelled)
    dependence = sample_dependence(seed=cfg.seed, progress=part(sizes), cancelled=cancelled)
    n = max(2, cfg.batch_size * int(np.prod(cfg.spatial)))
    shrink = unbiased_shrink(n=min(n, 100000), layers=10, seed=cfg.seed)
    after_shrink = part(1)
    if after_shrink is not None:
        after_shrink(1, 1)
    fr = run_freeze(cfg, part(cfg.steps), cancelled) if freeze else None
    return StepsBundle(steps=steps, freeze=fr, noise=noise, dependence=dependence, shrink=shrink)



# -- weights -------------------------------------------------------------------------------------

@dataclass
class WeightsResult:
    """What one run computes: the weight, its normalized form (the kernels result), and the layer
    effect (None with the reason when the kernel is not square and odd)."""

    kind: str
    shape: tuple
    dim: int | None
    iterations: int
    seed: int
    weight: np.ndarray
    normalized: object
    effect: object
    effect_reason: str = ""


def draw_weight(shape, seed: int) -> np.ndarray:
    """The weight layer_effect draws for init 'normal' (standard normal from rng([seed, 1])), so the
    tiles and the layer-effect plots show the same weight."""
    return np.random.default_rng([seed, 1]).standard_normal(tuple(shape))


def compute_weights(kind: str, shape, dim=0, iterations: int = 1, seed: int = 0) -> WeightsResult:
    shape = tuple(int(s) for s in shape)
    w = draw_weight(shape, seed)
    params = {"weight_norm": dict(dim=dim), "spectral_norm": dict(n_power_iterations=iterations),
              "weight_standardization": {}}[kind]
    if kind == "weight_norm":
        normalized = weight_norm(w, g=1.0, dim=dim)
    elif kind == "spectral_norm":
        normalized = spectral_norm(w, n_power_iterations=iterations, seed=seed)
    else:
        normalized = weight_standardization(w)
    effect, reason = None, ""
    if shape[2] == shape[3] and shape[2] % 2 == 1:
        effect = layer_effect(kind, weight_shape=shape, seed=seed, **params)
    else:
        reason = f"the layer effect needs a square kernel of odd size (1, 3, 5, 7), not {shape[2]}×{shape[3]}"
    return WeightsResult(kind, shape, dim, iterations, seed, w, normalized, effect, reason)


def weights_csv(result: WeightsResult, selected=(0, 0, 0, 0)) -> str:
    """One row per weight element: its index, value before and after, and whether it shares a norm
    with the `selected` element."""
    mask = weight_shared_mask(result.kind, result.shape, selected, dim=result.dim)
    rows = [[*index, float(result.weight[index]), float(result.normalized.weight[index]), int(mask[index])]
            for index in np.ndindex(result.shape)]
    return csv_text(["o", "i", "h", "w", "before", "after", "shares_norm_with_selected"], rows)


def weights_numbers(result: WeightsResult, selected=(0, 0, 0, 0)) -> dict:
    n, e = result.normalized, result.effect
    out = {"experiment": "weights", "kind": result.kind, "shape": list(result.shape), "dim": result.dim,
           "n_power_iterations": result.iterations, "seed": result.seed, "selected": list(selected),
           "weight_before": result.weight.tolist(), "weight_after": np.asarray(n.weight).tolist(),
           "shared_mask": weight_shared_mask(result.kind, result.shape, selected, dim=result.dim).astype(int).tolist(),
           "warnings": list(n.warnings)}
    if result.kind == "spectral_norm":
        out.update(sigmas=n.sigmas.tolist(), true_sigma=n.true_sigma, sigma=n.sigma)
    out["layer_effect"] = None if e is None else {
        "output_std_before": e.output_before.std, "output_std_after": e.output_after.std,
        "channel_std_before": e.channel_std_before.tolist(), "channel_std_after": e.channel_std_after.tolist(),
        "weight_norm_before": e.weight_norm_before.tolist(), "weight_norm_after": e.weight_norm_after.tolist(),
        "sigma_before": e.sigma_before, "sigma_after": e.sigma_after}
    return out
