"""Flax (nnx) semantics: every offered method's generated code runs and equals
normalize(..., framework="flax"); defaults, Keras-style momentum and the one-pass variance checked."""

import importlib.util
import inspect

import numpy as np
import pytest

from kernels import normalize
from kernels.frameworks import FRAMEWORKS, translate
from kernels.inputs import generate
from tests.lazy import LazyModule

from .frameworks_support import cases, check_code

# the generated code imports flax itself: without it, every test here is skipped, not failed
pytestmark = pytest.mark.skipif(importlib.util.find_spec("flax") is None,
                                reason="flax is not installed (pip install '.[frameworks]')")
nnx = LazyModule("flax.nnx", reason="flax is not installed (pip install '.[frameworks]')")
jnp = LazyModule("jax.numpy")

OFFERS = FRAMEWORKS["flax"].offers


@pytest.mark.parametrize("method,layout,shape,params", list(cases("flax", layouts=("NCHW", "NHWC"))))
def test_generated_code_equals_normalize(method, layout, shape, params):
    check_code("flax", method, layout, shape, params)


@pytest.mark.parametrize("training,running", [(True, True), (False, False)])
def test_batchnorm_running_statistics_and_eval(training, running):
    check_code("flax", "batch", "NHWC", (4, 5, 3, 6), {"momentum": 0.9}, training=training, running=running)


def _default(cls, name):
    return inspect.signature(cls.__init__).parameters[name].default


def test_defaults_are_the_modules():
    assert (_default(nnx.BatchNorm, "epsilon"), _default(nnx.BatchNorm, "momentum")) == (1e-5, 0.99)
    assert OFFERS["batch"].defaults["eps"] == 1e-5 and OFFERS["batch"].defaults["momentum"] == 0.99
    for method, cls in (("layer", nnx.LayerNorm), ("group", nnx.GroupNorm), ("rms", nnx.RMSNorm),
                        ("instance", nnx.InstanceNorm), ("channel", nnx.LayerNorm), ("pixel", nnx.RMSNorm)):
        assert _default(cls, "epsilon") == OFFERS[method].defaults["eps"] == 1e-6, method
    assert _default(nnx.GroupNorm, "num_groups") == OFFERS["group"].defaults["groups"] == 32
    for cls in (nnx.BatchNorm, nnx.LayerNorm, nnx.GroupNorm, nnx.InstanceNorm):
        assert _default(cls, "use_fast_variance") is True


def test_momentum_is_keras_style_with_a_biased_running_var():
    x = generate("shifted", (4, 3, 3, 5), "NHWC", seed=2)
    bn = nnx.BatchNorm(5, momentum=0.99, use_running_average=False, rngs=nnx.Rngs(0))
    bn(jnp.asarray(x))
    flat = x.reshape(-1, 5).astype(np.float64)
    np.testing.assert_allclose(np.asarray(bn.mean[...]), 0.01 * flat.mean(0), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(bn.var[...]), 0.99 + 0.01 * flat.var(0), rtol=1e-5)


def test_one_pass_variance_is_visibly_off_when_the_mean_is_large():
    """use_fast_variance: E[x²] − E[x]² in float32. kernels' torch semantics stay accurate; Flax's
    and kernels' flax semantics are both far off (their rounding differs, their error is the same kind)."""
    x = (300 + 0.05 * generate("normal", (4, 3, 3, 8), "NHWC", seed=3)).astype(np.float32)
    exact = normalize(x.astype(np.float64), "channel", "NHWC", eps=1e-6).output
    flax_y = np.asarray(nnx.LayerNorm(8, epsilon=1e-6, use_scale=False, use_bias=False, rngs=nnx.Rngs(0))(x))
    two = np.asarray(nnx.LayerNorm(8, epsilon=1e-6, use_fast_variance=False, use_scale=False, use_bias=False,
                                   rngs=nnx.Rngs(0))(x))
    ours = normalize(x, "channel", "NHWC", framework="flax").output
    assert np.max(np.abs(two - exact)) < 0.05
    assert np.max(np.abs(flax_y - exact)) > 0.3 and np.max(np.abs(ours - exact)) > 0.3
    np.testing.assert_allclose(normalize(x, "channel", "NHWC", framework="flax", use_fast_variance=False).output,
                               two, rtol=1e-3, atol=2e-3)


def test_translation_to_flax_sets_use_fast_variance_false_and_matches_torch():
    torch = pytest.importorskip("torch")
    t = translate("group", "torch", "flax", layout="NHWC", shape=(4, 5, 3, 6), groups=3)
    assert t.params["use_fast_variance"] is False and t.params["eps"] == 1e-5 and t.exact
    x = generate("shifted", (4, 5, 3, 6), "NHWC", seed=6)
    y_f = nnx.GroupNorm(6, num_groups=3, epsilon=t.params["eps"], use_fast_variance=False, use_scale=False,
                        use_bias=False, rngs=nnx.Rngs(0))(jnp.asarray(x))
    y_t = torch.nn.functional.group_norm(torch.from_numpy(x).permute(0, 3, 1, 2), 3, eps=1e-5).permute(0, 2, 3, 1)
    np.testing.assert_allclose(np.asarray(y_f), y_t.numpy(), rtol=1e-5, atol=2e-5)


def test_not_offered_is_really_absent():
    names = dir(nnx)
    for absent in ("LocalResponseNorm", "BatchRenorm", "FilterResponseNorm"):
        assert absent not in names
    assert "virtual_batch_size" not in inspect.signature(nnx.BatchNorm.__init__).parameters
    for method in ("lrn", "ghost_batch", "batch_renorm", "frn", "standardize", "minmax"):
        assert not OFFERS[method].offered and OFFERS[method].reason
