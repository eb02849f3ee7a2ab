"""The equivalent code shown for each method runs and gives the method's output."""

import numpy as np
import pytest

from kernels import METHODS, normalize
from kernels.inputs import generate
from kernels.normalize import prepare

from .references import torch

CASES = [("NCHW", (4, 6, 5, 3)), ("NHWC", (4, 5, 3, 6)), ("NLC", (4, 7, 6))]
SETTINGS = {"group": {"groups": 3}, "lrn": {"size": 3, "alpha": 0.5}, "custom": {"axes": "NC"},
            "batch_renorm": {"rmax": 1.5, "dmax": 0.5}}


@pytest.mark.parametrize("layout,shape", CASES)
@pytest.mark.parametrize("name", list(METHODS))
def test_pytorch_code_reproduces_the_output(name, layout, shape):
    settings = SETTINGS.get(name, {})
    x = generate("shifted", shape, layout, seed=1, dtype=np.float64)
    _, params, _, _ = prepare(name, shape, layout, **settings)
    code = METHODS[name].code(layout, shape, params)
    for text in code.values():
        compile(text, f"<{name} code>", "exec")  # every snippet is at least valid Python
    if "PyTorch" not in code:
        pytest.fail(f"{name} shows no PyTorch code")
    scope = {"x": torch.from_numpy(x).float(), "running_mean": torch.zeros(shape[layout.index("C")]),
             "running_var": torch.ones(shape[layout.index("C")])}
    exec(code["PyTorch"], scope)
    expected = normalize(x.astype(np.float32), name, layout=layout, **settings).output
    np.testing.assert_allclose(scope["y"].detach().numpy(), expected, rtol=1e-4, atol=1e-4)


def test_keras_code_names_the_layout_axis():
    _, params, _, _ = prepare("batch", (2, 5, 5, 8), "NHWC")
    keras = METHODS["batch"].code("NHWC", (2, 5, 5, 8), params)["Keras"]
    assert "axis=3" in keras and "momentum=0.9" in keras and "epsilon=1e-05" in keras
