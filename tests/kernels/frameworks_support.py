"""Shared by tests/kernels/test_frameworks_*.py: run a framework's generated code and compare it
with normalize(..., framework=...)."""

from __future__ import annotations

import numpy as np

from kernels import normalize
from kernels.frameworks import FRAMEWORKS, code, execute
from kernels.inputs import generate

#: float32 throughout: the frameworks' own outputs equal kernels' within this
TOL = dict(rtol=1e-5, atol=2e-5)

#: every axis a different size, so a transposed axis cannot pass unnoticed
SHAPES = {"NCHW": (4, 6, 5, 3), "NHWC": (4, 5, 3, 6), "NLC": (4, 7, 6)}

#: non-default settings per method (framework names), so parameters are exercised
SETTINGS = {"group": {"groups": 3, "eps": 1e-4}, "custom": {"axes": "NC", "eps": 1e-3}, "batch": {"eps": 1e-4}}


def cases(framework, settings=None, layouts=tuple(SHAPES)):
    """(method, layout, shape, params) for every method the framework offers and computes, on `layouts`."""
    settings = SETTINGS if settings is None else settings
    for method, offer in FRAMEWORKS[framework].offers.items():
        if not (offer.offered and offer.computed):
            continue
        for layout in layouts:
            shape = SHAPES[layout]
            params = {k: v for k, v in settings.get(method, {}).items() if k in offer.param_names}
            yield method, layout, shape, params


def running_inputs(channels):
    return np.linspace(-1, 1, channels).astype(np.float32), np.linspace(0.5, 2, channels).astype(np.float32)


def check_code(framework, method, layout, shape, params, training=True, running=False, tol=None, seed=1):
    """Execute code(method, framework, ...) and compare y (and the running statistics) with normalize.
    Returns (framework's y, kernels' result) for further checks."""
    x = generate("shifted", shape, layout, seed=seed)
    channels = shape[layout.index("C")]
    rm, rv = running_inputs(channels)
    use_running = running or not training
    snippet = code(method, framework, layout, shape, training=training, running=running, **params)
    scope = execute(snippet, x, running_mean=rm.copy(), running_var=rv.copy())
    res = normalize(x, method, layout=layout, framework=framework, training=training,
                    running_mean=rm if use_running else None, running_var=rv if use_running else None, **params)
    tol = tol or TOL
    assert scope["y"].shape == x.shape
    np.testing.assert_allclose(scope["y"], res.output, **tol, err_msg=snippet)
    if running and training:
        np.testing.assert_allclose(scope["running_mean"], res.running_mean, **tol)
        np.testing.assert_allclose(scope["running_var"], res.running_var, **tol)
    return scope["y"], res
