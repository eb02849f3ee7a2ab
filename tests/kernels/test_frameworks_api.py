"""kernels.frameworks without any framework installed: the registry is complete, the default stays
torch with the very same numbers, arguments are checked, and importing loads no framework."""

import numpy as np
import pytest

from kernels import METHODS, NormError, normalize
from kernels.frameworks import FRAMEWORK_NAMES, FRAMEWORKS, code, compare, offered, translate
from kernels.inputs import generate

from ..fresh import run_fresh


def test_every_method_has_an_offer_or_a_reason_in_every_framework():
    assert tuple(FRAMEWORKS) == FRAMEWORK_NAMES == ("torch", "keras", "flax", "onnx", "mlx", "tensorflow")
    for fw in FRAMEWORKS.values():
        assert set(fw.offers) == set(METHODS)
        for method, o in fw.offers.items():
            assert o.framework == fw.name and o.method == method
            assert o.offered or o.reason, f"{fw.name}/{method}: neither offered nor a reason"
            assert o.computed or o.reason
    assert all(FRAMEWORKS["torch"].offers[m].offered for m in METHODS)
    assert offered("lrn") == ("torch", "onnx", "tensorflow")


@pytest.mark.parametrize("method", list(METHODS))
def test_framework_torch_is_the_plain_call_bit_for_bit(method):
    x = generate("heavy_tailed", (4, 6, 5, 3), seed=2)
    a, b = normalize(x, method), normalize(x, method, framework="torch")
    np.testing.assert_array_equal(a.output, b.output)
    assert a.framework == b.framework == "torch" and a.framework_params is None


def test_framework_parameters_are_in_the_frameworks_meaning():
    x = generate("shifted", (4, 6, 5, 3), seed=1)
    rm, rv = np.zeros(6), np.ones(6)
    keras = normalize(x, "batch", framework="keras", momentum=0.99, running_mean=rm, running_var=rv)
    torch = normalize(x, "batch", momentum=0.99, momentum_convention="keras", eps=1e-3, running_mean=rm,
                      running_var=rv)
    np.testing.assert_array_equal(keras.running_mean, torch.running_mean)
    assert keras.framework_params == {"eps": 1e-3, "momentum": 0.99, "weight": None, "bias": None}
    assert keras.params["momentum_convention"] == "keras"


def test_bad_arguments_are_one_line_errors_naming_them():
    x = np.ones((2, 4, 3, 3), np.float32)
    cases = [(dict(framework="caffe"), "framework='caffe'"), (dict(framework="keras", size=3), "size"),
             (dict(framework="mlx"), "does not offer lrn")]
    for kwargs, word in cases[:2]:
        with pytest.raises(NormError, match=word) as err:
            normalize(x, "batch", **kwargs)
        assert "\n" not in str(err.value)
    with pytest.raises(NormError, match=cases[2][1]):
        normalize(x, "lrn", **cases[2][0])
    with pytest.raises(NormError, match="momentum=None"):
        normalize(x, "batch", framework="flax", momentum=None)
    with pytest.raises(NormError, match="opset"):
        normalize(x, "group", framework="onnx", groups=2, opset=20)
    with pytest.raises(NormError, match="depth_radius"):
        normalize(x, "lrn", framework="tensorflow", depth_radius=-1)


def test_mlx_groups_are_a_channel_permutation_of_torchs():
    x = generate("shifted", (2, 6, 4, 4), seed=3)
    y = normalize(x, "group", framework="mlx", groups=3).output
    order = [0, 3, 1, 4, 2, 5]  # c % 3 == 0, then 1, then 2
    expected = np.empty_like(x)
    expected[:, order] = normalize(x[:, order], "group", groups=3).output
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_compare_names_the_causes():
    x = generate("shifted", (4, 6, 5, 3), seed=4)
    d = compare(x, "layer", "keras")
    assert d.sentence.startswith("Keras 3 defaults: max |Δ| = ") and "eps 0.001 vs 1e-05" in d.sentence
    assert d.max_abs == pytest.approx(np.abs(d.result.output - d.torch_result.output).max())
    assert compare(x, "layer", "onnx").max_abs == 0.0
    assert "strided" in compare(x, "group", "mlx", torch_params={"groups": 3}).sentence


def test_translations_convert_momentum_and_carry_eps():
    t = translate("batch", "keras", "onnx")
    assert t.params == {"eps": 1e-3, "momentum": 0.99} and t.exact
    t = translate("batch", "torch", "mlx", momentum=0.2)
    assert t.params == {"eps": 1e-5, "momentum": 0.2} and t.exact and t.difference < 1e-6
    t = translate("rms", "torch", "keras")
    assert t.params["eps"] == pytest.approx(float(np.finfo(np.float32).eps))
    with pytest.raises(NormError, match="does not offer"):
        translate("frn", "torch", "keras")


def test_code_is_valid_python_for_every_offer():
    for fw in FRAMEWORKS.values():
        for method, o in fw.offers.items():
            if o.offered and o.computed:
                kw = {"depth_radius": 1} if (fw.name, method) == ("tensorflow", "lrn") else {}
                kw = {"groups": 3} if method == "group" else kw
                compile(code(method, fw.name, "NCHW", (4, 6, 5, 3), **kw), f"{fw.name}/{method}", "exec")


def test_seed_article_torch_layernorm_after_a_3x3_conv_fails():
    """LayerNorm((32, 28, 28)) after a 3×3 convolution on a 28×28 input meets a 26×26 map."""
    torch = pytest.importorskip("torch")
    h = torch.nn.Conv2d(1, 32, 3)(torch.zeros(2, 1, 28, 28))
    assert tuple(h.shape) == (2, 32, 26, 26)
    with pytest.raises(RuntimeError, match="normalized_shape"):
        torch.nn.LayerNorm((32, 28, 28))(h)
    with pytest.raises(NormError, match="weight"):
        normalize(h.detach().numpy(), "layer", weight=np.ones((32, 28, 28)))


def test_importing_kernels_frameworks_loads_no_framework():
    out = run_fresh("""
        import sys, kernels, kernels.frameworks
        from kernels.frameworks import FRAMEWORKS, translate
        translate("batch", "torch", "keras", momentum=0.1)
        heavy = ('torch', 'jax', 'flax', 'keras', 'onnx', 'onnxruntime', 'mlx', 'tensorflow', 'PySide6')
        print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))
    """)
    assert out.strip() == "[]"
