"""kernels.models on torch modules, state_dicts and safetensors files: the layers found, each layer's
normalize() against the torch module itself (train and eval), captures against plain forward hooks,
the memory budget, progress and cancel, the inputs, the gap statistics and BatchNorm folding."""

import copy
import sys

import numpy as np
import pytest

from kernels import normalize
from kernels.experiments import Cancelled
from kernels.models import ARCHITECTURES, Capture, ModelError, open_model

from ..fresh import run_fresh
from . import model_files
from .model_files import need

torch = pytest.importorskip("torch", reason="torch is not installed")
pytestmark = pytest.mark.torch

NORM_TYPES = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.modules.instancenorm._InstanceNorm, torch.nn.GroupNorm,
              torch.nn.LayerNorm, torch.nn.RMSNorm, torch.nn.LocalResponseNorm)


def norm_modules(module) -> dict:
    return {n: m for n, m in module.named_modules() if isinstance(m, NORM_TYPES)}


def hook_inputs(module, x) -> tuple:
    """({name: input}, {name: output}) of every normalization module, by plain forward hooks (the reference)."""
    ins, outs, handles = {}, {}, []

    def hook(name):
        def record(mod, args, output):
            ins.setdefault(name, args[0].detach().clone().numpy())
            outs.setdefault(name, output.detach().clone().numpy())
        return record

    for name, mod in norm_modules(module).items():
        handles.append(mod.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            module.eval()(torch.from_numpy(x))
    finally:
        for h in handles:
            h.remove()
    return ins, outs


@pytest.fixture(scope="module", params=["conv_bn", "mixed"])
def network(request):
    module = model_files.module(request.param)
    model = open_model(module)
    x = model.example_input("random", batch=3, seed=5)
    return request.param, module, model, x


# -- layers ------------------------------------------------------------------------------------------

def test_module_layers_are_its_normalization_modules(network):
    _, module, model, _ = network
    mods = norm_modules(module)
    assert [layer.name for layer in model.layers] == list(mods)
    for layer in model.layers:
        mod = mods[layer.name]
        assert layer.kind == type(mod).__name__
        assert layer.eps == (None if isinstance(mod, torch.nn.LocalResponseNorm) else mod.eps)
        if hasattr(mod, "running_mean") and mod.running_mean is not None:
            np.testing.assert_array_equal(layer.running_mean, mod.running_mean.numpy())
            np.testing.assert_array_equal(layer.running_var, mod.running_var.numpy())
            # torch's InstanceNorm updates its running statistics but never counts the batches
            expected = 3 if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) else 0
            assert layer.num_batches_tracked == int(mod.num_batches_tracked) == expected
        if getattr(mod, "weight", None) is not None:
            np.testing.assert_array_equal(layer.weight, mod.weight.detach().numpy())
    kinds = {layer.name: (layer.method, layer.layout, layer.params) for layer in model.layers}
    if network[0] == "mixed":
        assert kinds["gn"] == ("group", "NCHW", {"groups": 4})
        assert kinds["lrn"] == ("lrn", "NCHW", {"size": 3, "alpha": 0.5, "beta": 0.75, "k": 2.0})
        assert kinds["ln"][:2] == ("channel", "NLC")
        assert kinds["rmsnorm"] == ("custom", "NLC", {"axes": "C", "center": False})
        assert model.layer("inorm").method == "instance"
    else:
        assert model.layer("bn2").eps == 1e-3 and model.layer("bn2").momentum == pytest.approx(0.3)


def test_state_dict_and_safetensors_infer_kinds_and_say_what_they_assume():
    need("safetensors")
    for fmt in ("state_dict", "safetensors"):
        model = open_model(model_files.path("mixed", fmt))
        assert model.format == fmt and not model.can_run
        layers = {layer.name: layer for layer in model.layers}
        # LRN has no parameters: it leaves nothing in a state_dict (said in the notes)
        assert set(layers) == {"gn", "inorm", "inorm_tracked", "ln", "rmsnorm", "ln_seq"}
        assert any("LocalResponseNorm" in n for n in model.notes)
        assert layers["gn"].family == "group" and layers["gn"].groups == 8  # assumed, and wrong: the module has 4
        assert any(f.code == "assumed" and "groups=8 assumed" in f for f in layers["gn"].flags)
        assert layers["inorm_tracked"].family == "instance" and layers["inorm_tracked"].has_running_stats
        assert (layers["ln"].method, layers["ln"].layout) == ("channel", "NLC")
        assert (layers["ln_seq"].method, layers["ln_seq"].normalized_ndim) == ("layer", 2)
        assert layers["rmsnorm"].family == "rms" and layers["rmsnorm"].bias is None
        np.testing.assert_array_equal(layers["ln"].weight, model_files.module("mixed").ln.weight.detach().numpy())
    for fmt in ("state_dict", "safetensors"):
        model = open_model(model_files.path("conv_bn", fmt))
        assert [(layer.name, layer.kind) for layer in model.layers] == [
            ("bn1", "BatchNorm2d"), ("bn2", "BatchNorm2d"), ("bn_after_relu", "BatchNorm2d"), ("bn_fc", "BatchNorm1d")]
        bn2 = model.layer("bn2")
        assert bn2.eps == 1e-5 and bn2.momentum == 0.1  # the defaults a bare state_dict must assume...
        sentences = [f for f in bn2.flags if f.code == "assumed"]
        assert any("eps=1e-05 assumed" in f for f in sentences) and any("momentum=0.1" in f for f in sentences)
        assert bn2.num_batches_tracked == 3
        np.testing.assert_array_equal(bn2.running_var, model_files.module("conv_bn").bn2.running_var.numpy())


def test_safetensors_bfloat16_is_widened_exactly(tmp_path):
    need("safetensors")
    from safetensors.torch import save_file
    bn = torch.nn.BatchNorm2d(4)
    bn.running_var.copy_(torch.tensor([0.5, 1.5, 3.25, 1e-3]))
    state = {f"bn.{k}": v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in bn.state_dict().items()}
    save_file(state, str(tmp_path / "bf16.safetensors"))
    layer = open_model(tmp_path / "bf16.safetensors").layers[0]
    np.testing.assert_array_equal(layer.running_var, state["bn.running_var"].float().numpy())


# -- normalize equals the layer itself -----------------------------------------------------------------

def test_capture_equals_forward_hooks(network):
    _, module, model, x = network
    ref_in, ref_out = hook_inputs(module, x)
    cap = model.capture(x, keep="both", statistics=False)
    assert isinstance(cap, Capture) and set(cap) == set(ref_in) == set(cap.outputs)
    for name in ref_in:
        np.testing.assert_array_equal(cap[name], ref_in[name])
        np.testing.assert_array_equal(cap.outputs[name], ref_out[name])
        assert model.layer(name).input_shape == ref_in[name].shape


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_normalize_equals_the_module_on_its_captured_input(network, training):
    _, module, model, x = network
    cap = model.capture(x, statistics=False)
    mods = norm_modules(module)
    for layer in model.layers:
        mod = copy.deepcopy(mods[layer.name]).train(training)
        with torch.no_grad():
            expected = mod(torch.from_numpy(cap[layer.name])).numpy()
        res = layer.normalize(cap[layer.name], training=training)
        np.testing.assert_allclose(res.output, expected, rtol=1e-4, atol=2e-5, err_msg=f"{layer.name} ({layer.kind})")
        if training and layer.family == "batch":  # the running statistics move as the module's did
            np.testing.assert_allclose(res.running_mean, mod.running_mean.numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(res.running_var, mod.running_var.numpy(), rtol=1e-5, atol=1e-6)
            assert res.num_batches_tracked == int(mod.num_batches_tracked)
        # the settings are plain kernels.normalize keywords: the explore view can take them as they are
        again = normalize(cap[layer.name], **layer.settings(training, cap[layer.name].shape))
        np.testing.assert_array_equal(again.output, res.output)


def test_an_untracked_batchnorm_uses_batch_statistics_in_eval():
    bn = torch.nn.BatchNorm1d(4, track_running_stats=False).eval()
    model = open_model(torch.nn.Sequential(bn))
    layer = model.layers[0]
    x = np.random.default_rng(0).standard_normal((6, 4, 5)).astype(np.float32) * 3 + 1
    assert layer.batch_stats_in_eval and "batch_stats_in_eval" in {f.code for f in layer.flags}
    with torch.no_grad():
        np.testing.assert_allclose(layer.normalize(x, training=False).output, bn(torch.from_numpy(x)).numpy(),
                                   atol=1e-5)


def test_a_layer_checks_the_input_channels(network):
    _, _, model, _ = network
    layer = model.layers[0]
    with pytest.raises(ModelError, match="channels"):
        layer.normalize(np.zeros((2, 99, 4, 4), np.float32))


# -- capture: budget, progress, cancel, inputs --------------------------------------------------------

def test_capture_keeps_only_the_chosen_layers_within_the_budget():
    module = model_files.module("conv_bn")
    state = copy.deepcopy(module.state_dict())
    model = open_model(module)
    x = model.example_input("random", batch=4)
    done = []
    cap = model.capture(x, layers=["bn2"], progress=lambda d, t: done.append((d, t)))
    assert list(cap) == ["bn2"] and cap["bn2"].shape == (4, 6, 8, 8)
    assert done[-1] == (4, 4) and [d for d, _ in done] == sorted(d for d, _ in done)
    assert set(cap.statistics) == {"bn1", "bn2", "bn_after_relu", "bn_fc"}  # numbers for every BatchNorm
    with pytest.raises(ModelError, match="budget"):
        model.capture(x, layers=["bn1", "bn2"], budget=cap["bn2"].nbytes + 100)
    with pytest.raises(Cancelled):
        model.capture(x, cancelled=lambda: True)
    asked = []
    with pytest.raises(Cancelled):
        model.capture(x, cancelled=lambda: asked.append(1) or len(asked) > 2)
    # the module is left as it was: eval mode, the same running statistics
    assert not module.training
    for k, v in module.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_capture_takes_every_kind_of_input(tmp_path):
    model = open_model(model_files.module("conv_bn"))
    for kind in ("image", "digits", "random"):
        x = model.example_input(kind, batch=2, seed=1)
        assert x.shape == (2, 3, 8, 8) and x.dtype == np.float32
        assert np.isfinite(x).all() and x.std() > 0
    assert model.example_input("digits", batch=2).min() >= 0 and model.example_input("image").max() <= 1
    np.save(tmp_path / "x.npy", np.ones((5, 3, 8, 8), np.float32))
    cap = model.capture(tmp_path / "x.npy", layers="bn1")
    assert cap["bn1"].shape == (5, 6, 8, 8)
    np.save(tmp_path / "bad.npy", np.ones((5, 3, 9, 9), np.float32))
    with pytest.raises(ModelError, match="shape"):
        model.capture(tmp_path / "bad.npy")
    with pytest.raises(ModelError, match="unknown input"):
        model.capture("noise")
    with pytest.raises(ModelError, match="takes inputs of shape"):
        model.capture(np.zeros((2, 3, 7, 7), np.float32))
    with pytest.raises(ModelError, match="elements"):
        model.example_input("random", batch=10 ** 7)


def test_gap_statistics_are_the_batch_against_the_running_statistics():
    module = copy.deepcopy(model_files.module("conv_bn"))
    model = open_model(module)
    x = model.example_input("random", batch=8, seed=2)
    cap = model.capture(x, layers=["bn1"])
    gap = cap.statistics["bn1"]
    np.testing.assert_allclose(gap.batch_mean, cap["bn1"].mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gap.batch_var, cap["bn1"].var(axis=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert gap.count == 8 * 8 * 8 and model.layer("bn1").gap is gap
    rows = model.gaps()
    assert [r["name"] for r in rows] == ["bn1", "bn2", "bn_after_relu", "bn_fc"]
    # running statistics that fit this input: no gap, no flag; an input far from them: flagged
    with torch.no_grad():
        module.bn1.running_mean.copy_(torch.from_numpy(gap.batch_mean))
        module.bn1.running_var.copy_(torch.from_numpy(gap.batch_var))
    fitted = open_model(module)
    fitted.capture(x, layers=["bn1"])
    assert fitted.layer("bn1").gap.shift_rms < 1e-5 and abs(fitted.layer("bn1").gap.ratio_median - 1) < 1e-4
    assert "gap" not in {f.code for f in fitted.layer("bn1").flags}
    fitted.capture(x * 5 + 3, layers=["bn1"])
    flags = [f for f in fitted.layer("bn1").flags if f.code == "gap"]
    assert flags and flags[0].level == "problem" and "eval" in flags[0]
    assert fitted.layer("bn1").health == "problem" and fitted.strip()[0] == ("bn1", "problem", "batch")


# -- folding ---------------------------------------------------------------------------------------------

def test_fold_batchnorm_into_the_conv_and_linear_before_it():
    module = model_files.module("conv_bn")
    model = open_model(module)
    x = model.example_input("random", batch=2, seed=3)
    report = model.fold_batchnorm(x)
    rows = {r.name: r for r in report.rows}
    assert (rows["bn1"].foldable, rows["bn1"].into) == (True, "conv1")
    assert (rows["bn2"].foldable, rows["bn2"].into) == (True, "conv2")  # a conv without bias gets one
    assert (rows["bn_fc"].foldable, rows["bn_fc"].into) == (True, "fc")
    assert rows["bn_after_relu"].foldable is False and "outside any module" in rows["bn_after_relu"].reason
    assert set(rows["bn1"].diffs) == {"float32", "float16", "bfloat16"}
    assert rows["bn1"].diffs["float32"] < 1e-5 < rows["bn1"].diffs["bfloat16"]
    # the folded module: BatchNorms gone where folded, the same output as the original (checked here, not taken
    # from the report)
    folded = report.folded
    assert isinstance(folded.bn1, torch.nn.Identity) and isinstance(folded.bn_after_relu, torch.nn.BatchNorm2d)
    with torch.no_grad():
        a, b = module(torch.from_numpy(x)), folded.eval()(torch.from_numpy(x))
    assert float((a - b).abs().max()) < 1e-5
    assert report.output_diff["float32"] == pytest.approx(float((a - b).abs().max()), abs=1e-6)
    assert set(report.output_diff) == {"float32", "float16", "bfloat16"} and report.reference_diff["float32"] == 0


def test_fold_says_why_other_layers_cannot_fold():
    report = open_model(model_files.module("mixed")).fold_batchnorm()
    for row in report.rows:
        assert row.foldable is False and "statistics of each input" in row.reason or "InstanceNorm" in row.reason
    assert all(r["foldable"] == "no" for r in report.table())


def test_a_state_dict_says_what_folding_is_possible():
    report = open_model(model_files.path("conv_bn", "state_dict")).fold_batchnorm()
    rows = {r.name: r for r in report.rows}
    assert rows["bn1"].foldable is None and rows["bn1"].into == "conv1" and "no graph" in rows["bn1"].reason
    assert rows["bn_fc"].into == "fc" and report.folded is None and report.notes


# -- import paths, architectures ----------------------------------------------------------------------------

def test_an_import_path_needs_an_explicit_opt_in():
    text = "tests.kernels.model_zoo:untrained_conv_bn"
    sys.modules.pop("tests.kernels.model_zoo_unused", None)
    with pytest.raises(ModelError, match="allow_import=True"):
        open_model(text)
    model = open_model(text, allow_import=True, weights=model_files.path("conv_bn", "state_dict"))
    assert model.format == "module" and model.can_run
    np.testing.assert_array_equal(model.layer("bn1").running_mean,
                                  model_files.module("conv_bn").bn1.running_mean.numpy())
    model = open_model(text + "(channels=4)", allow_import=True)
    assert model.layer("bn1").channels == 4
    assert {f.code for f in model.layer("bn1").flags} >= {"never_trained"}
    with pytest.raises(ModelError, match="do not fit"):
        open_model(text + "(channels=4)", allow_import=True, weights=model_files.path("conv_bn", "state_dict"))
    with pytest.raises(ModelError, match="literals"):
        open_model(text + "(channels=__import__('os'))", allow_import=True)
    with pytest.raises(ModelError, match="importing"):
        open_model("no_such_package_here.models:net", allow_import=True)
    with pytest.raises(ModelError, match="weights= goes with"):
        open_model(model_files.path("conv_bn", "state_dict"), weights=model_files.path("conv_bn", "state_dict"))


def test_builtin_architectures_build():
    model = open_model(ARCHITECTURES["resnet50"].build())
    assert len(model.layers) == 53 and model.layers[0].name == "bn1"
    assert model.layer("layer1.0.downsample.1").kind == "BatchNorm2d"
    assert sum(p.numel() for p in ARCHITECTURES["resnet50"].build().parameters()) == 25_557_032  # torchvision's


def test_importing_kernels_models_loads_no_torch_or_onnx():
    out = run_fresh("""
        import sys, kernels, kernels.models
        from kernels.models import open_model, NormLayer
        print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'onnx', 'onnxruntime', 'safetensors',
                                                                'PySide6'}))
    """)
    assert out.strip() == "[]"
