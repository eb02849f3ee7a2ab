"""The equivalent code shown for each method runs and gives the method's output."""

import numpy as np
import pytest

from kernels import METHODS, normalize, prepare
from kernels.code import code_for
from kernels.inputs import generate

from .references import torch

CASES = [("NCHW", (4, 6, 5, 3)), ("NHWC", (4, 5, 3, 6)), ("NLC", (4, 7, 6))]
SETTINGS = {"group": {"groups": 3}, "lrn": {"size": 3, "alpha": 0.5}, "custom": {"axes": "NC"},
            "batch_renorm": {"rmax": 1.5, "dmax": 0.5}}
EXTRA = [("custom", "NCHW", (4, 6, 5, 3), {"axes": "CHW", "groups": 2}, True),
         ("custom", "NHWC", (4, 5, 3, 6), {"axes": "NCW", "groups": 3}, True),
         ("batch", "NHWC", (4, 5, 3, 6), {"weight": 2.0, "bias": 0.5}, True),
         ("group", "NCHW", (4, 6, 5, 3), {"groups": 2, "weight": -1.5}, True),
         ("layer", "NLC", (4, 7, 6), {"bias": 0.25}, True),
         ("batch", "NCHW", (4, 6, 5, 3), {}, False),
         ("ghost_batch", "NCHW", (4, 6, 5, 3), {"virtual_batch": 2}, False),
         ("batch_renorm", "NHWC", (4, 5, 3, 6), {}, False)]


def _run(name, layout, shape, settings, training):
    x = generate("shifted", shape, layout, seed=1, dtype=np.float64)
    _, params, _, _ = prepare(name, shape, layout, **settings)
    code = code_for(name, layout, shape, params, training)
    for text in code.values():
        compile(text, f"<{name} code>", "exec")  # every snippet is at least valid Python
    assert "PyTorch" in code, f"{name} shows no PyTorch code"
    channels = shape[layout.index("C")]
    scope = {"x": torch.from_numpy(x).float(), "running_mean": torch.zeros(channels),
             "running_var": torch.ones(channels)}
    exec(code["PyTorch"], scope)
    expected = normalize(x.astype(np.float32), name, layout=layout, training=training, **settings).output
    np.testing.assert_allclose(scope["y"].detach().numpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout,shape", CASES)
@pytest.mark.parametrize("name", list(METHODS))
def test_pytorch_code_reproduces_the_output(name, layout, shape):
    _run(name, layout, shape, SETTINGS.get(name, {}), True)


@pytest.mark.parametrize("name,layout,shape,settings,training", EXTRA)
def test_pytorch_code_with_groups_affine_and_eval(name, layout, shape, settings, training):
    _run(name, layout, shape, settings, training)


def test_keras_code_names_the_layout_axis_and_the_mode():
    _, params, _, _ = prepare("batch", (2, 5, 5, 8), "NHWC")
    keras = code_for("batch", "NHWC", (2, 5, 5, 8), params)["Keras"]
    assert "axis=3" in keras and "momentum=0.9" in keras and "epsilon=1e-05" in keras
    assert "training=True" in keras
    assert "training=False" in code_for("batch", "NHWC", (2, 5, 5, 8), params, training=False)["Keras"]
