"""Feature scaling before a linear model (a seed article's iris example): multinomial logistic
regression on two iris features, trained by plain gradient descent on raw, standardized and
min-max scaled features, with the decision boundary, the iterations to converge and the
accuracy. The scaler is fitted on the training split only and reused on the test split, so test
points can fall outside [0, 1] after min-max scaling. scikit-learn's LogisticRegression (lbfgs)
on the same data gives its own iteration count beside ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ._common import Loop, check_choice, check_float, check_int
from ._torch import require_datasets

SCALINGS = ("raw", "standard", "minmax")


@dataclass(frozen=True)
class IrisConfig:
    """features: two iris feature indices (0 sepal length, 1 sepal width, 2 petal length, 3 petal
    width, in cm). scalings: which of SCALINGS to fit. test_fraction of each class held out
    (seeded). Gradient descent on mean cross-entropy + l2/2·‖W‖² (the intercepts unpenalized)
    with step 'auto' (1/L for each scaling, L = ½·λmax of the features' second-moment matrix with
    a column of ones, plus l2: the largest step that is safe for that scaling) or one number for
    all; it stops when ‖gradient‖ < tol or after max_iter steps. grid: points per axis of the
    decision-boundary grid over the features' range ± margin (raw units). seed: the split."""

    features: tuple = (0, 1)
    scalings: tuple = SCALINGS
    test_fraction: float = 0.3
    step: float | str = "auto"
    l2: float = 1e-2
    tol: float = 1e-4
    max_iter: int = 20000
    grid: int = 120
    margin: float = 0.5
    seed: int = 0


@dataclass
class ScaledFit:
    """One scaling: shift and scale (2,), with x_scaled = (x − shift) / scale (fitted on the training
    split; raw: 0 and 1). x_train, x_test: the scaled features. outside: (n_test,) True where a test
    point falls outside the training range (for min-max: outside [0, 1]). step: the step size used;
    iterations: gradient-descent steps taken; converged: ‖gradient‖ < tol reached; loss: (iterations
    + 1,) the objective per step; weights (2, 3), bias (3,) in scaled units. sklearn_iterations:
    LogisticRegression(lbfgs)'s n_iter_ on the same data and penalty; sklearn_max_proba_difference:
    max |our probabilities − its| on the test split (small when both converged). train_accuracy,
    test_accuracy. grid_class: (grid, grid) the predicted class over the grid [y, x]."""

    scaling: str
    shift: np.ndarray
    scale: np.ndarray
    x_train: np.ndarray
    x_test: np.ndarray
    outside: np.ndarray
    step: float
    iterations: int
    converged: bool
    loss: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    train_accuracy: float
    test_accuracy: float
    sklearn_iterations: int | None
    sklearn_max_proba_difference: float | None
    grid_class: np.ndarray


@dataclass
class IrisResult:
    """feature_names (2,), class_names (3,); x_train, y_train, x_test, y_test in raw units; grid_x,
    grid_y (grid,) raw-unit axes of the decision grids; fits: {scaling: ScaledFit}."""

    config: IrisConfig
    feature_names: tuple
    class_names: tuple
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    fits: dict
    seconds: float
    warnings: list = field(default_factory=list)


def validate(cfg: IrisConfig) -> IrisConfig:
    if not isinstance(cfg, IrisConfig):
        raise ValueError(f"config must be an IrisConfig, not {type(cfg).__name__}")
    feats = tuple(cfg.features)
    if len(feats) != 2 or len(set(feats)) != 2:
        raise ValueError(f"features must be two different indices from 0..3, not {cfg.features!r}")
    for f in feats:
        check_int("feature", f, 0, 3)
    if not isinstance(cfg.scalings, tuple) or not cfg.scalings:
        raise ValueError(f"scalings must be a non-empty tuple, not {cfg.scalings!r}")
    for s in cfg.scalings:
        check_choice("scaling", s, SCALINGS)
    check_float("test_fraction", cfg.test_fraction, 0.1, 0.9)
    if cfg.step != "auto":
        check_float("step", cfg.step, positive=True)
    check_float("l2", cfg.l2, lo=0.0)
    check_float("tol", cfg.tol, positive=True)
    check_int("max_iter", cfg.max_iter, 1, 1_000_000)
    check_int("grid", cfg.grid, 2, 1000)
    check_float("margin", cfg.margin, lo=0.0)
    check_int("seed", cfg.seed, 0)
    return cfg


def fit_scaler(kind: str, x_train) -> tuple[np.ndarray, np.ndarray]:
    """(shift, scale) per feature from the training rows: 'standard' mean and biased std
    (StandardScaler; a constant feature gets scale 1), 'minmax' min and max − min (MinMaxScaler to
    [0, 1]; a constant feature gets scale 1), 'raw' 0 and 1. Transform with (x − shift) / scale."""
    check_choice("scaling", kind, SCALINGS)
    x = np.asarray(x_train, dtype=np.float64)
    if kind == "raw":
        return np.zeros(x.shape[1]), np.ones(x.shape[1])
    if kind == "standard":
        shift, scale = x.mean(axis=0), x.std(axis=0)
    else:
        shift, scale = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
    return shift, np.where(scale == 0, 1.0, scale)


def split(y, test_fraction: float, seed: int):
    """(train indices, test indices): round(test_fraction · n_c) of each class c held out, seeded."""
    rng = np.random.default_rng([seed, 5])
    test = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        test.extend(rng.permutation(idx)[:int(round(test_fraction * len(idx)))])
    test = np.sort(np.array(test, dtype=int))
    return np.setdiff1d(np.arange(len(y)), test), test


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def probabilities(x, weights, bias):
    """softmax(x · W + b): (n, classes)."""
    return _softmax(np.asarray(x) @ weights + bias)


def gradient_descent(x, y, classes: int, step, l2: float, tol: float, max_iter: int, loop: Loop | None = None):
    """(weights, bias, step, losses, converged) of multinomial logistic regression by full-batch
    gradient descent from zero on mean cross-entropy + l2/2·‖W‖²."""
    n, d = x.shape
    onehot = np.eye(classes)[y]
    if step == "auto":
        aug = np.hstack([x, np.ones((n, 1))])
        step = 1.0 / (0.5 * float(np.linalg.eigvalsh(aug.T @ aug / n).max()) + l2)
    w, b = np.zeros((d, classes)), np.zeros(classes)
    losses, converged = [], False
    for i in range(max_iter + 1):
        p = _softmax(x @ w + b)
        losses.append(float(-np.mean(np.log(np.maximum(p[np.arange(n), y], 1e-300))) + 0.5 * l2 * np.sum(w * w)))
        g = (p - onehot) / n
        gw, gb = x.T @ g + l2 * w, g.sum(axis=0)
        if np.sqrt(np.sum(gw * gw) + np.sum(gb * gb)) < tol:
            converged = True
            break
        if i == max_iter or not np.isfinite(losses[-1]):
            break
        w, b = w - step * gw, b - step * gb
        if loop is not None and i % 2000 == 0:
            loop.check()
    return w, b, float(step), np.array(losses), converged


def _sklearn_fit(x, y, l2, tol, max_iter, x_test, w, b):
    try:
        from sklearn.linear_model import LogisticRegression
    except Exception:
        return None, None
    import warnings

    n = len(y)
    # scikit-learn minimizes C·Σ loss + ½‖W‖², i.e. mean loss + ‖W‖² / (2·C·n): C = 1 / (l2·n)
    kw = dict(C=1.0 / (l2 * n)) if l2 > 0 else dict(penalty=None)
    model = LogisticRegression(solver="lbfgs", tol=tol, max_iter=max_iter, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y)
    diff = float(np.max(np.abs(model.predict_proba(x_test) - probabilities(x_test, w, b))))
    return int(np.max(model.n_iter_)), diff


def run(config: IrisConfig, progress: Callable | None = None, cancelled: Callable | None = None) -> IrisResult:
    """Fit every scaling of the config. progress(done, total) per scaling; Cancelled when asked.
    NumPy only (scikit-learn for the data and the comparison)."""
    cfg = validate(config)
    datasets = require_datasets("the iris experiment")
    loop = Loop(len(cfg.scalings), progress, cancelled)
    loop.check()
    began = time.perf_counter()
    iris = datasets.load_iris()
    feats = list(cfg.features)
    x, y = iris.data[:, feats].astype(np.float64), iris.target.astype(int)
    classes = int(y.max()) + 1
    train, test = split(y, cfg.test_fraction, cfg.seed)
    lo, hi = x.min(axis=0) - cfg.margin, x.max(axis=0) + cfg.margin
    gx, gy = np.linspace(lo[0], hi[0], cfg.grid), np.linspace(lo[1], hi[1], cfg.grid)
    grid = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    fits, warnings = {}, []
    for kind in cfg.scalings:
        shift, scale = fit_scaler(kind, x[train])
        xs_train, xs_test = (x[train] - shift) / scale, (x[test] - shift) / scale
        lo_t, hi_t = xs_train.min(axis=0), xs_train.max(axis=0)
        outside = np.any((xs_test < lo_t) | (xs_test > hi_t), axis=1)
        w, b, step, losses, converged = gradient_descent(xs_train, y[train], classes, cfg.step, cfg.l2, cfg.tol,
                                                         cfg.max_iter, loop)
        sk_iter, sk_diff = _sklearn_fit(xs_train, y[train], cfg.l2, cfg.tol, cfg.max_iter, xs_test, w, b)
        acc_train = float(np.mean(np.argmax(probabilities(xs_train, w, b), axis=1) == y[train]))
        acc_test = float(np.mean(np.argmax(probabilities(xs_test, w, b), axis=1) == y[test]))
        grid_class = np.argmax(probabilities((grid - shift) / scale, w, b), axis=1).reshape(cfg.grid, cfg.grid)
        if not converged:
            warnings.append(f"{kind}: gradient descent did not reach ‖gradient‖ < {cfg.tol:g} in {cfg.max_iter} steps")
        fits[kind] = ScaledFit(scaling=kind, shift=shift, scale=scale, x_train=xs_train, x_test=xs_test,
                               outside=outside, step=step, iterations=len(losses) - 1, converged=converged,
                               loss=losses, weights=w, bias=b, train_accuracy=acc_train, test_accuracy=acc_test,
                               sklearn_iterations=sk_iter, sklearn_max_proba_difference=sk_diff,
                               grid_class=grid_class)
        loop.tick()
    names = tuple(iris.feature_names[f] for f in feats)
    return IrisResult(config=cfg, feature_names=names, class_names=tuple(iris.target_names), x_train=x[train],
                      y_train=y[train], x_test=x[test], y_test=y[test], grid_x=gx, grid_y=gy, fits=fits,
                      seconds=time.perf_counter() - began, warnings=warnings)
