"""kernels.models on ONNX graphs: what torch's exporters write (dynamo with BatchNorm kept; the legacy
exporter's decomposed GroupNorm and LayerNorm) and graphs built operator by operator. Every layer's
normalize() is checked against onnxruntime's own output of that layer, the captured inputs against
torch's, and folding against onnxruntime running the folded graph."""

import copy
import warnings

import numpy as np
import pytest

from kernels.experiments import Cancelled
from kernels.models import ModelError, open_model

from . import model_files
from .model_files import need

torch = pytest.importorskip("torch", reason="torch is not installed")
need("onnx", "onnxruntime", "onnxscript")
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.models]


@pytest.fixture(scope="module", params=["conv_bn", "mixed"])
def exported(request):
    module = model_files.module(request.param)
    model = open_model(model_files.path(request.param, "onnx"))
    x = model.example_input("random", batch=3, seed=7)
    return request.param, module, model, x


def test_layers_carry_the_module_names_and_the_operators_settings(exported):
    name, module, model, _ = exported
    torch_model = open_model(module)
    assert [layer.name for layer in model.layers] == [layer.name for layer in torch_model.layers]
    for layer in model.layers:
        ref = torch_model.layer(layer.name)
        assert (layer.family, layer.method, layer.layout, layer.params) == (ref.family, ref.method, ref.layout,
                                                                             ref.params), layer.name
        assert layer.eps is None if ref.eps is None else layer.eps == pytest.approx(ref.eps, rel=1e-6)
        for attr in ("weight", "bias", "running_mean", "running_var"):
            a, b = getattr(layer, attr), getattr(ref, attr)
            assert (a is None) == (b is None), (layer.name, attr)
            if a is not None:
                np.testing.assert_array_equal(a.reshape(-1), b.reshape(-1))
        if layer.family == "batch":  # ONNX stores torch's momentum in the Keras convention
            assert layer.momentum_convention == "keras"
            assert layer.momentum == pytest.approx(1 - ref.momentum, abs=1e-6)
    kinds = {layer.name: layer.kind for layer in model.layers}
    if name == "mixed":
        assert kinds["gn"] == "GroupNormalization" and kinds["ln"] == "LayerNormalization"
        assert kinds["lrn"].startswith("LocalResponseNorm (decomposed")
        assert kinds["rmsnorm"].startswith("RMSNorm (decomposed")
        assert kinds["inorm_tracked"].startswith("InstanceNorm with running statistics")
    else:
        assert set(kinds.values()) == {"BatchNormalization"}
    assert model.input_shape == ((None,) + module.input_shape[1:])


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_normalize_equals_the_layers_output(exported, training):
    """eval: onnxruntime's own output of the layer; train: the torch module in train mode (an exported graph
    runs in eval mode only) on the same captured input."""
    _, module, model, x = exported
    cap = model.capture(x, keep="both", statistics=False)
    mods = dict(module.named_modules())
    for layer in model.layers:
        res = layer.normalize(cap[layer.name], training=training)
        if training:
            with torch.no_grad():
                expected = copy.deepcopy(mods[layer.name]).train()(torch.from_numpy(cap[layer.name])).numpy()
        else:
            expected = cap.outputs[layer.name]
        np.testing.assert_allclose(res.output, expected, rtol=1e-4, atol=2e-5, err_msg=layer.name)


def test_capture_equals_torch_and_the_statistics_are_computed_in_the_graph(exported):
    _, module, model, x = exported
    onnx_cap = model.capture(x)
    torch_cap = open_model(copy.deepcopy(module)).capture(x)
    assert set(onnx_cap) == set(torch_cap)
    for name in onnx_cap:
        np.testing.assert_allclose(onnx_cap[name], torch_cap[name], rtol=1e-4, atol=1e-5, err_msg=name)
    assert set(onnx_cap.statistics) == set(torch_cap.statistics)
    for name, gap in onnx_cap.statistics.items():
        np.testing.assert_allclose(gap.batch_mean, torch_cap.statistics[name].batch_mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(gap.batch_var, torch_cap.statistics[name].batch_var, rtol=1e-4, atol=1e-5)
        assert gap.count == torch_cap.statistics[name].count
        assert model.layer(name).gap is gap


def test_capture_runs_in_chunks_with_progress_cancel_and_budget():
    model = open_model(model_files.path("conv_bn", "onnx"))
    x = model.example_input("image", batch=10)
    seen = []
    cap = model.capture(x, layers=["bn1"], progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)] and cap["bn1"].shape == (10, 6, 8, 8)
    with pytest.raises(Cancelled):
        model.capture(x, cancelled=lambda: len(seen) > 3 or seen.append(0))
    with pytest.raises(ModelError, match="budget"):
        model.capture(x, layers=["bn1"], budget=1000)


def test_fold_batchnorm_into_conv_and_gemm():
    path = model_files.path("conv_bn", "onnx")
    model = open_model(path)
    x = model.example_input("random", batch=2, seed=3)
    report = model.fold_batchnorm(x)
    rows = {r.name: r for r in report.rows}
    assert [rows[n].foldable for n in ("bn1", "bn2", "bn_after_relu", "bn_fc")] == [True, True, False, True]
    assert "Relu" in rows["bn_after_relu"].reason
    assert set(rows["bn1"].diffs) == {"float32", "float16", "bfloat16"} and rows["bn1"].diffs["float32"] < 1e-5
    # the folded graph, run here by onnxruntime: one BatchNormalization left, the same output
    folded = report.folded
    assert [n.op_type for n in folded.graph.node].count("BatchNormalization") == 1
    onnx.checker.check_model(folded)
    feed = {"x": x}
    a = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    b = ort.InferenceSession(folded.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    assert np.abs(a - b).max() < 1e-5
    assert report.output_diff == {"float32": pytest.approx(float(np.abs(a - b).max()), abs=1e-7)}
    assert any("float32 only" in n for n in report.notes)


# -- graphs built operator by operator ----------------------------------------------------------------

def build(nodes, inits, shape, out_shape=None, opset=21, name="x"):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape or shape)],
                              [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def open_built(tmp_path, proto, fname="m.onnx"):
    onnx.save(proto, tmp_path / fname)
    return open_model(tmp_path / fname)


def check_against_ort(model, x):
    cap = model.capture(x, keep="both")
    for layer in model.layers:
        np.testing.assert_allclose(layer.normalize(cap[layer.name]).output, cap.outputs[layer.name], rtol=1e-4,
                                   atol=1e-5, err_msg=layer.kind)
    return cap


def test_native_operators(tmp_path):
    rng = np.random.default_rng(0)
    c = 6
    w, b = rng.uniform(0.5, 1.5, c), rng.normal(size=c)
    nodes = [
        helper.make_node("InstanceNormalization", ["x", "w", "b"], ["i"], epsilon=1e-3, name="inorm"),
        helper.make_node("GroupNormalization", ["i", "w", "b"], ["g"], num_groups=3, epsilon=1e-4, name="gn"),
        helper.make_node("LRN", ["g"], ["l3"], size=3, alpha=0.3, beta=0.6, bias=1.5, name="lrn3"),
        helper.make_node("LayerNormalization", ["l3", "lw", "lb"], ["ln"], axis=1, epsilon=1e-5, name="ln_chw"),
        helper.make_node("BatchNormalization", ["ln", "w", "b", "m", "v"], ["y"], epsilon=1e-3, momentum=0.99,
                         name="bn"),
    ]
    inits = dict(w=w, b=b, lw=rng.uniform(0.5, 1.5, (c, 4, 5)), lb=rng.normal(size=(c, 4, 5)), m=rng.normal(size=c),
                 v=rng.uniform(0.5, 2, c))
    model = open_built(tmp_path, build(nodes, inits, [None, c, 4, 5], opset=21))
    layers = {layer.name: layer for layer in model.layers}
    assert [(k, v.method, v.layout) for k, v in layers.items()] == [
        ("inorm", "instance", "NCHW"), ("gn", "group", "NCHW"), ("lrn3", "lrn", "NCHW"), ("ln_chw", "layer", "NCHW"),
        ("bn", "batch", "NCHW")]
    assert layers["gn"].groups == 3 and layers["bn"].momentum == pytest.approx(0.99)
    assert not layers["lrn3"].lrn_onnx_window and layers["lrn3"].params["k"] == 1.5
    check_against_ort(model, rng.normal(size=(2, c, 4, 5)).astype(np.float32))
    # torch's LRN for odd sizes is ONNX's: the same numbers as torch.nn.LocalResponseNorm
    x = rng.normal(size=(2, c, 4, 5)).astype(np.float32)
    ref = torch.nn.LocalResponseNorm(3, alpha=0.3, beta=0.6, k=1.5)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(layers["lrn3"].normalize(x).output, ref, rtol=1e-5, atol=1e-6)


def onnx_lrn(x, size, alpha, beta, bias):
    """The ONNX specification's LRN, written out: the window of channel c is c − ⌊(size−1)/2⌋ ... c + ⌈(size−1)/2⌉.
    (onnx 1.23's reference evaluator loops over the batch instead of the channels, so it is no oracle.)"""
    lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
    square_sum = np.stack([(x[:, max(0, c - lo):c + hi + 1] ** 2).sum(axis=1) for c in range(x.shape[1])], axis=1)
    return x / (bias + alpha / size * square_sum) ** beta


def test_even_lrn_follows_the_onnx_window(tmp_path):
    """onnxruntime runs odd sizes only; for even sizes ONNX's window reaches one channel further up than torch's."""
    proto = build([helper.make_node("LRN", ["x"], ["y"], size=4, alpha=0.2, beta=0.75, bias=1.0, name="lrn4")], {},
                  [2, 6, 3])
    layer = open_built(tmp_path, proto).layers[0]
    assert layer.lrn_onnx_window and layer.params == {"size": 4, "alpha": pytest.approx(0.2), "beta": 0.75, "k": 1.0}
    x = np.random.default_rng(3).normal(size=(2, 6, 3)).astype(np.float32)
    expected = onnx_lrn(x.astype(np.float64), 4, 0.2, 0.75, 1.0)
    np.testing.assert_allclose(layer.normalize(x).output, expected, rtol=1e-5, atol=1e-6)
    torch_window = torch.nn.LocalResponseNorm(4, alpha=0.2, beta=0.75, k=1.0)(torch.from_numpy(x)).numpy()
    assert np.abs(torch_window - expected).max() > 1e-3  # the windows really differ
    odd = onnx_lrn(x.astype(np.float64), 3, 0.2, 0.75, 1.0)  # and agree for odd sizes (the formula is right)
    np.testing.assert_allclose(torch.nn.LocalResponseNorm(3, alpha=0.2, beta=0.75, k=1.0)(torch.from_numpy(x)),
                               odd, rtol=1e-5, atol=1e-6)


def test_rms_normalization_operator(tmp_path):
    if ort.get_version_string() < "1.23":
        pytest.skip("onnxruntime before 1.23 has no RMSNormalization")
    rng = np.random.default_rng(1)
    nodes = [helper.make_node("RMSNormalization", ["x", "s"], ["y"], axis=-1, epsilon=1e-6, name="rms")]
    model = open_built(tmp_path, build(nodes, dict(s=rng.uniform(0.5, 1.5, 8)), [None, 5, 8], opset=23))
    layer = model.layers[0]
    assert (layer.family, layer.method, layer.layout, layer.eps) == ("rms", "custom", "NLC", pytest.approx(1e-6))
    x = rng.normal(size=(3, 5, 8)).astype(np.float32)
    check_against_ort(model, x)
    ref = torch.nn.functional.rms_norm(torch.from_numpy(x), (8,), torch.from_numpy(layer.weight), 1e-6).numpy()
    np.testing.assert_allclose(layer.normalize(x).output, ref, rtol=1e-5, atol=1e-6)


def test_batchnorm_in_training_mode_is_flagged(tmp_path):
    c = 3
    nodes = [helper.make_node("BatchNormalization", ["x", "w", "b", "m", "v"], ["y"], training_mode=1, name="bn")]
    inits = dict(w=np.ones(c), b=np.zeros(c), m=np.zeros(c), v=np.ones(c))
    model = open_built(tmp_path, build(nodes, inits, [2, c, 4], opset=15))
    assert "training_mode" in {f.code for f in model.layers[0].flags}


def test_legacy_exporter_decompositions(tmp_path):
    class Legacy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gn = torch.nn.GroupNorm(2, 6)
            self.ln = torch.nn.LayerNorm([6, 3, 3])

        def forward(self, x):
            return self.ln(self.gn(x))

    module = Legacy().eval()
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape) * 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(2, 6, 3, 3),), str(tmp_path / "legacy.onnx"), dynamo=False,
                          opset_version=13)
    model = open_model(tmp_path / "legacy.onnx")
    assert [(la.name, la.family, la.groups) for la in model.layers] == [("gn", "group", 2), ("ln", "layer", None)]
    x = np.random.default_rng(2).normal(size=(2, 6, 3, 3)).astype(np.float32)
    cap = check_against_ort(model, x)
    with torch.no_grad():
        np.testing.assert_allclose(cap.outputs["ln"], module(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-5)
