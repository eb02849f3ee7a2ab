"""kernels.explain: the arithmetic of one element equals normalize for every method, layout family
and backend; its statistics are torch's for the element's group; its numbers add up."""

import numpy as np
import pytest

from kernels import METHODS, available_backends, explain, generate, normalize

from .references import torch

LAYOUTS = [("NCHW", (3, 6, 4, 5)), ("NHWC", (3, 4, 5, 6)), ("NLC", (3, 7, 6))]
SETTINGS = {"group": {"groups": 3}, "custom": {"axes": "NC"}, "lrn": {"size": 3, "alpha": 0.5},
            "layer": {"weight": 1.5, "bias": -0.25}}


def _index(shape):
    return tuple(min(2, n - 1) for n in shape)


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("layout,shape", LAYOUTS)
@pytest.mark.parametrize("name", list(METHODS))
def test_output_equals_normalize(name, layout, shape, backend):
    x = generate("shifted", shape, layout, seed=3)
    params = SETTINGS.get(name, {})
    index = _index(shape)
    e = explain(x, name, index, layout=layout, backend=backend, **params)
    res = normalize(x, name, layout=layout, backend=backend, **params)
    out = res.output if isinstance(res.output, np.ndarray) else res.output.numpy()
    assert e.output == float(out[index])  # exactly: the same backend's number
    assert e.value == float(x[index]) and e.step("output").value == e.output


@pytest.mark.parametrize("name", ["batch", "layer", "instance", "group", "channel", "ghost_batch", "custom"])
def test_mean_and_variance_are_torchs_for_the_group(name):
    """The gathered box is the element's statistics group; mean and biased variance are torch.var_mean's of it."""
    x = generate("shifted", (4, 6, 5, 5), seed=1).astype(np.float64)
    index = (1, 4, 2, 3)
    e = explain(x, name, index, **SETTINGS.get(name, {}))
    values = torch.from_numpy(x[e.box])
    var, mean = torch.var_mean(values, unbiased=False)
    assert e.count == values.numel()
    assert e.step("mean").value == pytest.approx(float(mean), rel=1e-12, abs=1e-12)
    assert e.step("variance").value == pytest.approx(float(var), rel=1e-12)


def test_the_steps_add_up_to_the_output():
    x = generate("shifted", (4, 8, 6, 6), seed=2)
    e = explain(x, "group", (1, 5, 3, 2), groups=2, weight=2.0, bias=0.5)
    mean, var = e.step("mean").value, e.step("variance").value
    y = (e.value - mean) / np.sqrt(var + 1e-5) * 2.0 + 0.5
    assert y == pytest.approx(e.output, rel=1e-5)
    assert [s.kind for s in e.steps][:4] == ["gather", "mean", "deviation", "variance"]
    assert "√(" in e.step("normalize").text and "2 · " in e.step("affine").text


def test_eval_mode_uses_the_channels_running_statistics():
    x = generate("normal", (4, 3, 5, 5), seed=0)
    rm, rv = np.array([0.5, -1.0, 2.0]), np.array([4.0, 0.25, 1.0])
    e = explain(x, "batch", (2, 1, 0, 3), training=False, running_mean=rm, running_var=rv)
    assert e.box is None and "running statistics" in e.steps[0].text
    assert e.step("mean").value == -1.0 and e.step("variance").value == 0.25
    t = torch.nn.functional.batch_norm(torch.from_numpy(x), torch.tensor(rm, dtype=torch.float32),
                                       torch.tensor(rv, dtype=torch.float32), training=False)
    assert e.output == pytest.approx(float(t[2, 1, 0, 3]), rel=1e-6)


def test_running_update_is_torchs():
    x = generate("shifted", (4, 3, 5, 5), seed=4)
    bn = torch.nn.BatchNorm2d(3, momentum=0.3).double()
    bn(torch.from_numpy(x.astype(np.float64)))
    e = explain(x.astype(np.float64), "batch", (0, 2, 1, 1), momentum=0.3, running_mean=np.zeros(3),
                running_var=np.ones(3))
    assert e.step("running").value == pytest.approx(float(bn.running_mean[2]), rel=1e-12)
    assert f"{float(bn.running_var[2]):.4g}" in e.step("running").text


def test_lrn_window_and_divisor_are_torchs():
    x = generate("normal", (2, 7, 3, 3), seed=5)
    e = explain(x, "lrn", (1, 0, 2, 1), size=4, alpha=0.3)
    assert e.box[1] == slice(0, 2)  # torch's window for channel 0, size 4: channels 0-2 clipped to 0 ... 1
    t = torch.nn.functional.local_response_norm(torch.from_numpy(x), 4, alpha=0.3)
    assert e.output == pytest.approx(float(t[1, 0, 2, 1]), rel=1e-6)
    assert x[1, 0, 2, 1] / e.step("normalize").value == pytest.approx(e.output, rel=1e-5)


def test_bad_index_is_one_line():
    x = generate("normal", (2, 3, 4, 4))
    with pytest.raises(ValueError, match="outside the shape"):
        explain(x, "batch", (5, 0, 0, 0))
