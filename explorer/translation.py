"""The translator's numbers, Qt-free: kernels.translate from one framework to another for the
current method, and what the translated and the pasted parameters give on the current tensor
and, for running statistics, over a few training steps. The pipeline runs it on the worker."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels import FRAMEWORKS, METHODS, NormError, normalize, prepare, translate

from . import frameworks as rules

#: training steps the running statistics are followed over (inputs x·(1 + 0.1·k) + k, as kernels.translate)
STEPS = 3


@dataclass(frozen=True, eq=False)
class Measured:
    """max |Δ| against the source's own numbers: the outputs on the tensor, and the running mean and
    variance after STEPS training steps (None for methods without running statistics)."""

    output: float
    running: float | None

    @property
    def largest(self) -> float:
        return max(self.output, self.running or 0.0)


@dataclass(frozen=True, eq=False)
class Translated:
    """What the translator shows (see the module docstring). `pasted` is None when the target refuses
    the source's parameters (`pasted_error` says why)."""

    method: str
    source: str
    target: str
    source_params: dict
    pasted_params: dict
    translation: object  # kernels.frameworks.Translation
    translated: Measured
    pasted: Measured | None
    pasted_error: str = ""

    @property
    def labels(self) -> tuple:
        return FRAMEWORKS[self.source].label, FRAMEWORKS[self.target].label


def source_params(settings, source: str) -> dict:
    """The source's parameters, every one resolved (what a person would copy from the source's code):
    the window's own when the source is the window's framework, else the source's defaults with the
    window's grouping and γ, β. Parameters left at None (no affine step) are left out."""
    given = settings.kernel_params() if source == settings.framework else rules.carried(
        settings.framework, source, settings.method, settings.display_params(), settings.params.as_dict())
    if source == rules.TORCH:
        resolved = prepare(settings.method, settings.shape, settings.layout, training=settings.training, **given)[1]
        resolved = {k: v for k, v in resolved.items() if not (k == "momentum_convention" and v == "torch")}
    else:
        resolved = rules.prepared(settings.method, source, settings.shape, settings.layout, settings.training,
                                  given)[0]
    return {k: v for k, v in resolved.items() if v is not None or k in given}


def _run(x, method, layout, training, framework, params, steps):
    out = normalize(x, method, layout, training=training, framework=framework, **params).output
    if not (METHODS[method].running_stats and steps):
        return np.asarray(out, np.float64), None
    channels = x.shape[layout.index("C")]
    rm, rv = np.zeros(channels, np.float32), np.ones(channels, np.float32)
    for step in range(steps):
        r = normalize(x * (1 + 0.1 * step) + step, method, layout, training=True, framework=framework,
                      running_mean=rm, running_var=rv, **params)
        rm, rv = r.running_mean, r.running_var
    return np.asarray(out, np.float64), (np.asarray(rm, np.float64), np.asarray(rv, np.float64))


def _difference(a, b) -> Measured:
    output = float(np.max(np.abs(a[0] - b[0])))
    running = None if a[1] is None else float(max(np.max(np.abs(a[1][i] - b[1][i])) for i in (0, 1)))
    return Measured(output, running)


def measure_translation(settings, x, source: str, target: str, steps: int = STEPS) -> Translated:
    """Translate the settings' method from `source` to `target` and measure, on x, the translated
    parameters and the source's pasted unchanged against the source's own numbers. NormError when
    either framework cannot compute the method."""
    s = settings
    sp = source_params(s, source)
    t = translate(s.method, source, target, layout=s.layout, shape=s.shape, training=s.training, **sp)
    reference = _run(x, s.method, s.layout, s.training, source, sp, steps)
    translated = _difference(reference, _run(x, s.method, s.layout, s.training, target, t.params, steps))
    names = set(FRAMEWORKS[target].offers[s.method].param_names)
    pasted_params = {k: v for k, v in sp.items() if k in names}
    try:
        pasted = _difference(reference, _run(x, s.method, s.layout, s.training, target, pasted_params, steps))
        error = ""
    except NormError as exc:
        pasted, error = None, exc.reason
    return Translated(s.method, source, target, sp, pasted_params, t, translated, pasted, error)
