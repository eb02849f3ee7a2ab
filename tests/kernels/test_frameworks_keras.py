"""Keras 3's semantics (KERAS_BACKEND=jax unless set): every offered method's generated code runs
and equals normalize(..., framework="keras"); its defaults and conventions, checked on the layers."""

import importlib.util
import inspect
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")

from kernels import NormError, normalize
from kernels.frameworks import FRAMEWORKS, translate
from kernels.inputs import generate
from tests.lazy import LazyModule

from .frameworks_support import TOL, cases, check_code

# the generated code imports keras itself: without it, every test here is skipped, not failed
pytestmark = pytest.mark.skipif(importlib.util.find_spec("keras") is None,
                                reason="keras is not installed (pip install '.[frameworks]')")
keras = LazyModule("keras", reason="keras is not installed (pip install '.[frameworks]')")

OFFERS = FRAMEWORKS["keras"].offers


#: every method on NCHW (axis arguments), the first few on NHWC (defaults); each Keras call compiles, so few
CASES = list(cases("keras", layouts=("NCHW",))) + list(cases("keras", layouts=("NHWC",)))[:4]


@pytest.mark.parametrize("method,layout,shape,params", CASES)
def test_generated_code_equals_normalize(method, layout, shape, params):
    check_code("keras", method, layout, shape, params)


@pytest.mark.parametrize("training,running", [(True, True), (False, False)])
def test_batchnorm_running_statistics_and_eval(training, running):
    check_code("keras", "batch", "NHWC", (4, 5, 3, 6), {"momentum": 0.9}, training=training, running=running)


def test_defaults_are_the_layers():
    layers = keras.layers
    bn, ln, gn, rms = (layers.BatchNormalization(), layers.LayerNormalization(), layers.GroupNormalization(),
                       layers.RMSNormalization())
    assert (bn.epsilon, bn.momentum, bn.axis) == (OFFERS["batch"].defaults["eps"], OFFERS["batch"].defaults["momentum"],
                                                  -1)
    assert (ln.epsilon, ln.axis) == (OFFERS["layer"].defaults["eps"], -1) == (1e-3, -1)
    group = OFFERS["group"].defaults
    assert (gn.groups, gn.epsilon) == (group["groups"], group["eps"]) == (32, 1e-3)
    assert rms.epsilon == OFFERS["rms"].defaults["eps"] == 1e-6
    assert bn.epsilon == 1e-3 and bn.momentum == 0.99


def test_momentum_is_the_old_values_weight_and_the_moving_variance_is_biased():
    x = generate("shifted", (4, 3, 3, 5), "NHWC", seed=2)
    bn = keras.layers.BatchNormalization(momentum=0.99)
    bn(x, training=True)
    flat = x.reshape(-1, 5).astype(np.float64)
    np.testing.assert_allclose(np.asarray(bn.moving_mean), 0.01 * flat.mean(0), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), 0.99 + 0.01 * flat.var(0), rtol=1e-5)  # ÷n
    res = normalize(x, "batch", "NHWC", framework="keras", running_mean=np.zeros(5), running_var=np.ones(5))
    np.testing.assert_allclose(res.running_var, np.asarray(bn.moving_variance), rtol=1e-5)


def test_not_offered_is_really_absent():
    names = dir(keras.layers)
    for absent in ("InstanceNormalization", "LocalResponseNormalization", "FilterResponseNormalization",
                   "MinMaxScaler"):
        assert absent not in names
    bn_args = inspect.signature(keras.layers.BatchNormalization).parameters
    assert "virtual_batch_size" not in bn_args
    for method in ("lrn", "ghost_batch", "frn", "minmax"):
        assert not OFFERS[method].offered and OFFERS[method].reason
        with pytest.raises(NormError, match="framework='keras' does not offer"):
            normalize(np.ones((2, 4, 3, 3), np.float32), method, framework="keras")


def test_renorm_is_offered_but_not_reproduced():
    """Keras 3.15 has renorm again: its state is a moving stddev, not torch-style running_var."""
    bn = keras.layers.BatchNormalization(renorm=True)
    bn.build((2, 4))
    assert hasattr(bn, "renorm_stddev") and bn.renorm_clipping == {}
    offer = OFFERS["batch_renorm"]
    assert offer.offered and not offer.computed
    with pytest.raises(NormError, match="not reproduced"):
        normalize(np.ones((2, 4), np.float32), "batch_renorm", "NC", framework="keras")


def test_jax_backend_variance_is_two_pass():
    """ops.moments on jax is jnp.var: accurate where E[x²] − E[x]² (Flax, ONNX MVN) cancels to garbage."""
    from kernels.backend import get_ops
    from kernels.frameworks.semantics import one_pass_moments
    if keras.backend.backend() != "jax":
        pytest.skip(f"checks the jax backend; KERAS_BACKEND is {keras.backend.backend()}")
    x = (1e3 + 0.1 * np.random.default_rng(0).standard_normal((256, 8))).astype(np.float32)
    true = x.astype(np.float64).var(0)
    _, v = keras.ops.moments(x, axes=[0])
    np.testing.assert_allclose(np.asarray(v), true, rtol=1e-2)
    _, one_pass = one_pass_moments(get_ops("numpy"), x, (0,))
    assert np.max(np.abs(one_pass.ravel() - true)) > 0.1 * true.max()


def test_rmsnormalization_axis_must_be_last():
    x = generate("normal", (2, 6, 5, 3), seed=0)
    with pytest.raises(ValueError, match="broadcast"):
        keras.layers.RMSNormalization(axis=1)(x)


def test_seed_article_layernormalization_after_conv2d_normalizes_each_position():
    """Keras LayerNormalization() after a Conv2D on NHWC: statistics over C alone at every (n, h, w)."""
    x = generate("normal", (2, 10, 10, 3), "NHWC", seed=4)
    kernel = np.random.default_rng(1).standard_normal((3, 3, 3, 8)).astype(np.float32)
    h = np.asarray(keras.ops.conv(x, kernel))  # a Conv2D(8, 3) without bias
    assert h.shape == (2, 8, 8, 8)
    y = np.asarray(keras.layers.LayerNormalization()(h))
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(normalize(h, "channel", "NHWC", framework="keras").output, y, **TOL)
    torch_layer = normalize(h, "layer", "NHWC").output  # torch's LayerNorm([C, H, W]): per sample
    assert np.max(np.abs(torch_layer - y)) > 0.1


def test_instancenormalization_is_groupnormalization_groups_minus_one():
    torch = pytest.importorskip("torch")
    assert not hasattr(keras.layers, "InstanceNormalization")
    x = generate("shifted", (3, 4, 4, 6), "NHWC", seed=5)
    y = np.asarray(keras.layers.GroupNormalization(groups=-1, epsilon=1e-5)(x))
    ref = torch.nn.functional.instance_norm(torch.from_numpy(x).permute(0, 3, 1, 2), eps=1e-5).permute(0, 2, 3, 1)
    np.testing.assert_allclose(y, ref.numpy(), **TOL)


def _torch_steps(torch, x, momentum, eps, steps=3):
    bn = torch.nn.BatchNorm2d(x.shape[1], momentum=momentum, eps=eps, affine=False)
    for step in range(steps):
        y = bn(torch.from_numpy(x * (1 + 0.1 * step) + step))
    first = torch.nn.BatchNorm2d(x.shape[1], momentum=momentum, eps=eps, affine=False)(torch.from_numpy(x))
    return first.detach().numpy(), bn.running_mean.numpy(), bn.running_var.numpy(), y


def _keras_steps(x, params, steps=3):
    bn = keras.layers.BatchNormalization(axis=1, epsilon=params["eps"], momentum=params["momentum"], center=False,
                                         scale=False)
    first = np.asarray(keras.layers.BatchNormalization(axis=1, epsilon=params["eps"], momentum=params["momentum"])(
        x, training=True))
    for step in range(steps):
        bn(x * (1 + 0.1 * step) + step, training=True)
    return first, np.asarray(bn.moving_mean), np.asarray(bn.moving_variance)


def test_translated_batchnorm_momentum_checked_by_running_torch_and_keras():
    torch = pytest.importorskip("torch")
    t = translate("batch", "torch", "keras", momentum=0.1)
    assert t.params == {"eps": 1e-5, "momentum": 0.9}
    assert not t.exact and any("unbiased" in n for n in t.notes)
    from kernels.frameworks import typical_input
    x = typical_input("NCHW")
    y_t, rm_t, rv_t, _ = _torch_steps(torch, x, 0.1, 1e-5)
    y_k, rm_k, rv_k = _keras_steps(x, t.params)
    np.testing.assert_allclose(y_k, y_t, **TOL)
    np.testing.assert_allclose(rm_k, rm_t, rtol=1e-5, atol=1e-5)  # momentum translated exactly
    real = max(np.abs(rv_k - rv_t).max(), np.abs(y_k - y_t).max())  # only the biased/unbiased var is left
    np.testing.assert_allclose(t.difference, real, rtol=1e-3)
    # pasting torch's 0.1 unchanged into Keras: the running mean hardly moves
    _, rm_p, _ = _keras_steps(x, {"eps": 1e-3, "momentum": 0.1})
    assert "momentum=0.1" in t.pasted_note and t.pasted > 1.0
    assert np.abs(rm_p - rm_t).max() > 1.0


def test_translated_layernorm_keras_to_torch_carries_eps():
    torch = pytest.importorskip("torch")
    t = translate("layer", "keras", "torch", layout="NHWC", shape=(4, 5, 3, 6))
    assert t.exact and t.params["eps"] == 1e-3
    x = generate("shifted", (4, 5, 3, 6), "NHWC", seed=7)
    y_k = np.asarray(keras.layers.LayerNormalization(axis=[1, 2, 3])(x))
    y_t = torch.nn.LayerNorm([5, 3, 6], eps=t.params["eps"], elementwise_affine=False)(torch.from_numpy(x))
    np.testing.assert_allclose(y_t.detach().numpy(), y_k, **TOL)
    assert t.difference < 1e-5
