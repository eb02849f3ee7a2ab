"""MLX (CPU wheel): every offered method's generated code equals normalize(..., framework="mlx");
torch-style momentum with an unbiased running var, and GroupNorm's strided channel groups."""

import inspect

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core", reason="mlx is not installed or has no wheel for this machine "
                                            "(pip install 'mlx[cpu]' on Linux)")
mnn = pytest.importorskip("mlx.nn")

from kernels import normalize  # noqa: E402
from kernels.frameworks import FRAMEWORKS, translate  # noqa: E402
from kernels.inputs import generate  # noqa: E402

from .frameworks_support import TOL, cases, check_code  # noqa: E402

OFFERS = FRAMEWORKS["mlx"].offers


@pytest.mark.parametrize("method,layout,shape,params", list(cases("mlx")))
def test_generated_code_equals_normalize(method, layout, shape, params):
    check_code("mlx", method, layout, shape, params)


@pytest.mark.parametrize("training,running", [(True, True), (False, False)])
def test_batchnorm_running_statistics_and_eval(training, running):
    check_code("mlx", "batch", "NCHW", (4, 6, 5, 3), {"momentum": 0.3}, training=training, running=running)


def test_defaults_are_the_modules():
    for method, cls in (("batch", mnn.BatchNorm), ("layer", mnn.LayerNorm), ("group", mnn.GroupNorm),
                        ("rms", mnn.RMSNorm), ("instance", mnn.InstanceNorm)):
        assert inspect.signature(cls.__init__).parameters["eps"].default == OFFERS[method].defaults["eps"] == 1e-5
    assert inspect.signature(mnn.BatchNorm.__init__).parameters["momentum"].default == 0.1
    assert inspect.signature(mnn.GroupNorm.__init__).parameters["pytorch_compatible"].default is False


def test_batchnorm_momentum_is_torch_style_with_an_unbiased_running_var():
    torch = pytest.importorskip("torch")
    x = generate("shifted", (4, 5, 3, 3), seed=2)
    bn = mnn.BatchNorm(5, affine=False)
    bn.train()
    bn(mx.array(x.transpose(0, 2, 3, 1)))
    tb = torch.nn.BatchNorm2d(5, affine=False)
    tb(torch.from_numpy(x))
    np.testing.assert_allclose(np.array(bn.running_mean), tb.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(bn.running_var), tb.running_var.numpy(), rtol=1e-5)  # ÷(n − 1)


def test_groupnorm_puts_channel_c_in_group_c_mod_g():
    x = generate("shifted", (2, 4, 4, 6), "NHWC", seed=3)
    y = np.array(mnn.GroupNorm(3, 6, affine=False)(mx.array(x)))
    group0 = x[..., [0, 3]]  # c % 3 == 0
    expected = (group0 - group0.mean(axis=(1, 2, 3), keepdims=True)) / np.sqrt(
        group0.var(axis=(1, 2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(y[..., [0, 3]], expected, **TOL)
    torch_like = normalize(x, "group", "NHWC", groups=3).output
    assert np.max(np.abs(torch_like - y)) > 0.1
    np.testing.assert_allclose(normalize(x, "group", "NHWC", framework="mlx", groups=3).output, y, **TOL)
    y_compat = np.array(mnn.GroupNorm(3, 6, affine=False, pytorch_compatible=True)(mx.array(x)))
    np.testing.assert_allclose(y_compat, torch_like, **TOL)


def test_translation_from_torch_sets_pytorch_compatible():
    t = translate("group", "torch", "mlx", layout="NHWC", shape=(2, 4, 4, 6), groups=3)
    assert t.params["pytorch_compatible"] is True and t.exact and t.difference < 1e-6
    back = translate("group", "mlx", "torch", layout="NHWC", shape=(2, 4, 4, 6), groups=3)
    assert not back.exact and any("strided" in n for n in back.notes) and back.difference > 0.1


def test_not_offered():
    for absent in ("LocalResponseNorm", "BatchRenorm", "FilterResponseNorm"):
        assert not hasattr(mnn, absent)
    for method in ("lrn", "ghost_batch", "batch_renorm", "frn", "standardize", "minmax"):
        assert not OFFERS[method].offered and OFFERS[method].reason
