"""ONNX operators, run by onnxruntime (and onnx.reference where onnxruntime refuses): every offered
method's generated code equals normalize(..., framework="onnx"); defaults and conventions checked."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install '.[frameworks]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install '.[frameworks]')")

from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from kernels import NormError, normalize  # noqa: E402
from kernels.frameworks import FRAMEWORKS, translate  # noqa: E402
from kernels.inputs import generate  # noqa: E402

from .frameworks_support import TOL, cases, check_code  # noqa: E402

OFFERS = FRAMEWORKS["onnx"].offers
SETTINGS = {"group": {"groups": 3}, "custom": {"axes": "NC"}, "batch": {"eps": 1e-4}, "lrn": {"size": 3,
                                                                                             "alpha": 0.5}}


def _run(op, inputs, feeds, opset, outputs=("y",), runtime="ort", **attrs):
    node = helper.make_node(op, list(inputs), list(outputs), **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if runtime == "ort":
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    return ReferenceEvaluator(model).run(None, feeds)


@pytest.mark.parametrize("method,layout,shape,params",
                         [c for c in cases("onnx", SETTINGS) if not (c[0] == "lrn" and len(c[2]) != 4)])
def test_generated_code_equals_normalize(method, layout, shape, params):
    check_code("onnx", method, layout, shape, params)


@pytest.mark.parametrize("training,running", [(True, True), (False, False)])
def test_batchnorm_running_statistics_and_eval(training, running):
    check_code("onnx", "batch", "NCHW", (4, 6, 5, 3), {"momentum": 0.8}, training=training, running=running)


def test_defaults_are_the_schemas():
    def default(op, name):
        return helper.get_attribute_value(onnx.defs.get_schema(op).attributes[name].default_value)
    assert default("BatchNormalization", "momentum") == pytest.approx(OFFERS["batch"].defaults["momentum"]) == 0.9
    for op, method in (("BatchNormalization", "batch"), ("LayerNormalization", "layer"),
                       ("InstanceNormalization", "instance"), ("GroupNormalization", "group"),
                       ("RMSNormalization", "rms")):
        assert default(op, "epsilon") == pytest.approx(OFFERS[method].defaults["eps"]) == pytest.approx(1e-5)
    assert (default("LRN", "alpha"), default("LRN", "beta"), default("LRN", "bias")) == pytest.approx((1e-4, 0.75, 1))
    assert onnx.defs.get_schema("LRN").attributes["size"].required is not False


def test_batchnorm_momentum_is_keras_style_with_a_biased_running_var():
    x = generate("shifted", (4, 5, 3, 3), seed=2)
    c = 5
    _, rm, rv = _run("BatchNormalization", ["x", "s", "b", "m", "v"],
                     dict(x=x, s=np.ones(c, np.float32), b=np.zeros(c, np.float32), m=np.zeros(c, np.float32),
                          v=np.ones(c, np.float32)), 15, outputs=("y", "rm", "rv"), training_mode=1, momentum=0.9)
    flat = x.transpose(1, 0, 2, 3).reshape(c, -1).astype(np.float64)
    np.testing.assert_allclose(rm, 0.1 * flat.mean(1), rtol=1e-5)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * flat.var(1), rtol=1e-5)  # ÷n


def test_groupnormalization_scale_per_group_in_opset_18_and_per_channel_in_21():
    x = generate("shifted", (2, 6, 4, 4), seed=3)
    gamma_g, beta_g = np.array([2.0, -1.0, 0.5], np.float32), np.array([0.1, 0.2, 0.3], np.float32)
    y18, = _run("GroupNormalization", ["x", "s", "b"], dict(x=x, s=gamma_g, b=beta_g), 18, num_groups=3)
    ours18 = normalize(x, "group", framework="onnx", groups=3, opset=18, weight=gamma_g, bias=beta_g).output
    np.testing.assert_allclose(y18, ours18, **TOL)
    gamma_c = np.linspace(0.5, 2, 6).astype(np.float32)
    y21, = _run("GroupNormalization", ["x", "s", "b"], dict(x=x, s=gamma_c, b=np.zeros(6, np.float32)), 21,
                num_groups=3)
    np.testing.assert_allclose(y21, normalize(x, "group", framework="onnx", groups=3, weight=gamma_c).output, **TOL)
    with pytest.raises(NormError, match="one value per group"):
        normalize(x, "group", framework="onnx", groups=3, opset=18, weight=gamma_c)


def test_lrn_window_is_mirrored_for_even_sizes():
    """onnxruntime refuses even sizes; onnx.reference's LRN loops over axis 0 instead of C, so N == C here."""
    x = generate("normal", (6, 6, 3, 2), seed=4)
    with pytest.raises(Exception, match="size_ % 2 == 1"):
        _run("LRN", ["x"], dict(x=x), 13, size=4)
    with pytest.raises(Exception, match="NumDimensions"):  # and 4-D inputs only
        _run("LRN", ["x"], dict(x=x[..., 0]), 13, size=3)
    y, = _run("LRN", ["x"], dict(x=x), 13, runtime="reference", size=4, alpha=0.5, beta=0.75, bias=1.0)
    ours = normalize(x, "lrn", framework="onnx", size=4, alpha=0.5)
    np.testing.assert_allclose(y, ours.output, **TOL)
    torch_semantics = normalize(x, "lrn", size=4, alpha=0.5, k=1.0).output
    assert np.max(np.abs(torch_semantics - y)) > 1e-2
    flipped = normalize(x[:, ::-1].copy(), "lrn", size=4, alpha=0.5).output[:, ::-1]
    np.testing.assert_allclose(flipped, y, **TOL)
    # the reference's bug: with N != C its result is not the operator's
    x2 = generate("normal", (4, 6, 3, 2), seed=4)
    y_ref, = _run("LRN", ["x"], dict(x=x2), 13, runtime="reference", size=3, alpha=0.5)
    y_ort, = _run("LRN", ["x"], dict(x=x2), 13, size=3, alpha=0.5)
    assert np.max(np.abs(y_ref - y_ort)) > 1e-3
    np.testing.assert_allclose(normalize(x2, "lrn", framework="onnx", size=3, alpha=0.5).output, y_ort, **TOL)


def test_mean_variance_normalization_adds_1e9_to_the_std_in_one_pass():
    x = generate("shifted", (4, 6, 5, 3), seed=5)
    y, = _run("MeanVarianceNormalization", ["x"], dict(x=x), 13, axes=[0, 2, 3])
    np.testing.assert_allclose(normalize(x, "custom", framework="onnx", axes="NHW").output, y, **TOL)
    # the operator's function body (run by onnx.reference) is one-pass and cancels in float32 when
    # |mean| >> std, as kernels' onnx semantics do; onnxruntime's own kernel stays accurate there
    big = (500 + 0.05 * generate("normal", (4, 6, 5, 3), seed=6)).astype(np.float32)
    exact = normalize(big.astype(np.float64), "custom", axes="NHW", eps=0.0).output
    y_ref, = _run("MeanVarianceNormalization", ["x"], dict(x=big), 13, runtime="reference", axes=[0, 2, 3])
    y_ort, = _run("MeanVarianceNormalization", ["x"], dict(x=big), 13, axes=[0, 2, 3])
    ours = normalize(big, "custom", framework="onnx", axes="NHW").output
    assert np.nanmax(np.abs(y_ref - exact)) > 0.1 or np.isnan(y_ref).any()
    assert np.max(np.abs(ours - exact)) > 0.1
    assert np.max(np.abs(y_ort - exact)) < 0.01


def test_translation_torch_lrn_to_onnx_even_size_is_not_exact_and_says_how_far():
    t = translate("lrn", "torch", "onnx", size=4, alpha=0.5)
    assert t.params == {"size": 4, "alpha": 0.5, "beta": 0.75, "bias": 1.0} and not t.exact
    assert any("mirrored" in n for n in t.notes) and t.difference > 1e-3
    odd = translate("lrn", "torch", "onnx", size=5, alpha=0.5, k=2.0)
    assert odd.exact and odd.params["bias"] == 2.0 and odd.difference < 1e-6
    x = generate("normal", (8, 16, 8, 8), seed=0)  # ONNX's own answer for the translated odd size
    y, = _run("LRN", ["x"], dict(x=x), 13, **{k: float(v) if k != "size" else v for k, v in odd.params.items()})
    np.testing.assert_allclose(y, normalize(x, "lrn", size=5, alpha=0.5, k=2.0).output, **TOL)


def test_not_offered():
    for method in ("ghost_batch", "batch_renorm", "frn", "standardize", "minmax"):
        assert not OFFERS[method].offered and OFFERS[method].reason
    for op in ("GhostBatchNormalization", "BatchRenormalization", "FilterResponseNormalization"):
        assert not onnx.defs.has(op)
