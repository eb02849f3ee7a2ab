"""Iris: the scalers fitted on the training split against scikit-learn's StandardScaler and
MinMaxScaler, test points outside [0, 1], gradient descent's solution against LogisticRegression,
and how scaling changes the iterations to converge."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from kernels import normalize
from kernels.experiments import IrisConfig, run_iris
from kernels.experiments.scaling import fit_scaler, gradient_descent, probabilities, split


@pytest.fixture(scope="module")
def res():
    return run_iris(IrisConfig(features=(0, 1), max_iter=3000))


def test_scalers_fitted_on_the_training_split_match_scikit_learn(res):
    for kind, scaler in (("standard", StandardScaler()), ("minmax", MinMaxScaler())):
        scaler.fit(res.x_train)
        fit = res.fits[kind]
        np.testing.assert_allclose(fit.x_train, scaler.transform(res.x_train), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fit.x_test, scaler.transform(res.x_test), rtol=1e-12, atol=1e-12)
    # on the training rows the standardization is the registry's 'standardize' (samples along N)
    z = normalize(res.x_train[:, :, None], "standardize", "NCL", axes="N").output[:, :, 0]
    np.testing.assert_allclose(res.fits["standard"].x_train, z, rtol=1e-10, atol=1e-12)


def test_test_points_can_fall_outside_zero_one_after_min_max(res):
    fit = res.fits["minmax"]
    outside = np.any((fit.x_test < 0) | (fit.x_test > 1), axis=1)
    np.testing.assert_array_equal(fit.outside, outside)
    assert outside.any()  # sepal features with seed 0: some test flowers lie beyond the training range
    assert fit.x_train.min() == 0.0 and fit.x_train.max() == 1.0


def test_gradient_descent_reaches_scikit_learns_solution_after_scaling(res):
    for kind in ("standard", "minmax"):
        fit = res.fits[kind]
        assert fit.converged and fit.sklearn_max_proba_difference < 5e-3
        model = LogisticRegression(C=1.0 / (res.config.l2 * len(res.y_train)), tol=1e-10, max_iter=10000)
        model.fit(fit.x_train, res.y_train)
        np.testing.assert_allclose(probabilities(fit.x_test, fit.weights, fit.bias), model.predict_proba(fit.x_test),
                                   atol=5e-3)
        assert fit.test_accuracy == pytest.approx(np.mean(model.predict(fit.x_test) == res.y_test), abs=0.05)
    raw, std = res.fits["raw"], res.fits["standard"]
    assert not raw.converged and raw.iterations == 3000 and std.iterations < 1000  # scaling speeds it up
    assert raw.step < std.step and raw.loss[-1] > std.loss[-1]


def test_decision_grid_agrees_with_the_predictions(res):
    fit = res.fits["standard"]
    assert fit.grid_class.shape == (res.config.grid, res.config.grid)
    ix = np.abs(res.grid_x[None, :] - res.x_train[:, :1]).argmin(axis=1)
    iy = np.abs(res.grid_y[None, :] - res.x_train[:, 1:]).argmin(axis=1)
    predicted = probabilities(fit.x_train, fit.weights, fit.bias).argmax(axis=1)
    assert np.mean(fit.grid_class[iy, ix] == predicted) > 0.9  # nearest grid point, so not every one


def test_split_is_stratified_and_reproducible():
    y = load_iris().target
    train, test = split(y, 0.3, 0)
    assert len(test) == 45 and np.bincount(y[test]).tolist() == [15, 15, 15]
    assert not set(train) & set(test)
    np.testing.assert_array_equal(split(y, 0.3, 0)[1], test)
    assert not np.array_equal(split(y, 0.3, 1)[1], test)
    shift, scale = fit_scaler("minmax", np.array([[1.0, 2.0], [1.0, 4.0]]))
    np.testing.assert_array_equal(scale, [1.0, 2.0])  # a constant feature keeps scale 1, as in scikit-learn
    w, b, step, losses, converged = gradient_descent(np.zeros((4, 2)), np.array([0, 1, 0, 1]), 2, 0.5, 0.0, 1e-8, 10)
    assert converged and losses[0] == pytest.approx(np.log(2))


@pytest.mark.parametrize("kw, words", [
    (dict(features=(0, 0)), "two different indices"),
    (dict(features=(0, 4)), "feature=4"),
    (dict(scalings=("robust",)), "unknown scaling 'robust'"),
    (dict(step=-1.0), "step=-1 must be positive"),
    (dict(test_fraction=0.95), "test_fraction=0.95"),
])
def test_bad_configs_raise_one_line_value_errors(kw, words):
    with pytest.raises(ValueError) as info:
        run_iris(IrisConfig(**kw))
    assert words in str(info.value) and "\n" not in str(info.value)
