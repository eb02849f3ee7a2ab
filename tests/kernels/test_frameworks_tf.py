"""TensorFlow's own ops (tf.nn); tf.keras is Keras 3 (the keras column). Every offered method's
generated code equals normalize(..., framework="tensorflow"); LRN's radius and alpha checked."""

import importlib.util
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kernels import NormError, normalize
from kernels.frameworks import FRAMEWORKS, translate
from kernels.inputs import generate
from tests.lazy import LazyModule

from .frameworks_support import TOL, cases, check_code

# the generated code imports tensorflow itself: without it, every test here is skipped, not failed
pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                                reason="tensorflow is not installed (pip install '.[frameworks]')")
tf = LazyModule("tensorflow", reason="tensorflow is not installed (pip install '.[frameworks]'); its "
                                     "layers are Keras 3's, checked in test_frameworks_keras.py")

OFFERS = FRAMEWORKS["tensorflow"].offers
SETTINGS = {"group": {"groups": 3}, "custom": {"axes": "NC"}, "lrn": {"depth_radius": 1, "alpha": 0.1}}


@pytest.mark.parametrize("method,layout,shape,params",
                         list(cases("tensorflow", SETTINGS, layouts=("NCHW",))) + [
                             ("lrn", "NHWC", (4, 5, 3, 6), {"depth_radius": 2, "alpha": 0.3, "beta": 0.75}),
                             ("batch", "NHWC", (4, 5, 3, 6), {"eps": 1e-5})])
def test_generated_code_equals_normalize(method, layout, shape, params):
    check_code("tensorflow", method, layout, shape, params)


def test_batch_eval_uses_the_given_running_statistics():
    check_code("tensorflow", "batch", "NCHW", (4, 6, 5, 3), {}, training=False)
    with pytest.raises(NormError, match="keeps no running statistics"):
        normalize(np.ones((2, 3, 2, 2), np.float32), "batch", framework="tensorflow", running_mean=np.zeros(3))


def test_lrn_defaults_radius_and_alpha_on_the_sum():
    x = generate("normal", (2, 3, 3, 12), "NHWC", seed=1)
    y = tf.nn.local_response_normalization(x).numpy()  # depth_radius=5, bias=1, alpha=1, beta=0.5
    window = np.stack([(x[..., max(0, c - 5):c + 6] ** 2).sum(-1) for c in range(12)], -1)
    np.testing.assert_allclose(y, x / (1 + window) ** 0.5, **TOL)
    assert OFFERS["lrn"].defaults == {"depth_radius": 5, "bias": 1.0, "alpha": 1.0, "beta": 0.5}
    np.testing.assert_allclose(normalize(x, "lrn", "NHWC", framework="tensorflow").output, y, **TOL)


def test_translation_torch_lrn_to_tensorflow_divides_alpha_by_the_size():
    torch = pytest.importorskip("torch")
    t = translate("lrn", "torch", "tensorflow", layout="NHWC", shape=(2, 3, 3, 8), size=5, alpha=0.5, k=2.0)
    assert t.exact and t.params == {"depth_radius": 2, "bias": 2.0, "alpha": 0.1, "beta": 0.75}
    x = generate("normal", (2, 3, 3, 8), "NHWC", seed=2)
    y_tf = tf.nn.local_response_normalization(x, **t.params).numpy()
    y_torch = torch.nn.functional.local_response_norm(torch.from_numpy(x).permute(0, 3, 1, 2), 5, alpha=0.5, k=2.0)
    np.testing.assert_allclose(y_tf, y_torch.permute(0, 2, 3, 1).numpy(), **TOL)
    even = translate("lrn", "torch", "tensorflow", size=4, alpha=0.5)
    assert not even.exact and any("2·depth_radius + 1" in n for n in even.notes)


def test_tf_keras_is_keras_3_and_has_no_instancenormalization():
    import keras
    assert tf.keras.layers.LayerNormalization is keras.layers.LayerNormalization
    assert not hasattr(tf.keras.layers, "InstanceNormalization")  # the seed article's layer does not exist


def test_not_offered():
    for method in ("ghost_batch", "frn", "standardize", "minmax"):
        assert not OFFERS[method].offered and OFFERS[method].reason
    assert not hasattr(tf.nn, "filter_response_normalization")
