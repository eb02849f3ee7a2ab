"""Inputs torch accepts beyond an ordinary batch (empty axes, unbatched tensors, InstanceNorm with
running statistics) and the faults found by trying to break the API (meta tensors, huge LRN
windows and masks, γ/β that would reshape x, NaN/Inf arguments, outputs that overflow): each
computed as torch computes it, or refused in one line, never a silent NaN."""

import numpy as np
import pytest

from kernels import NormError, normalize, shared_mask

torch = pytest.importorskip("torch")
F = torch.nn.functional

RNG = np.random.default_rng(0)
X = RNG.normal(1.0, 2.0, size=(3, 4, 5, 5)).astype(np.float32)


@pytest.mark.parametrize("shape", [(0, 4, 3, 3), (2, 4, 0, 3), (2, 0, 3, 3)])
@pytest.mark.parametrize("method,call", [
    ("batch", lambda x: F.batch_norm(x, None, None, training=True)),
    ("layer", lambda x: F.layer_norm(x, x.shape[1:])),
    ("instance", lambda x: F.instance_norm(x)),
    ("group", lambda x: F.group_norm(x, 2 if x.shape[1] else 1)),
    ("rms", lambda x: F.rms_norm(x, x.shape[1:])),
    ("lrn", lambda x: F.local_response_norm(x, 3)),
])
def test_an_empty_axis_gives_an_empty_output_as_in_torch(shape, method, call):
    x = torch.zeros(shape)
    params = {"groups": 2 if shape[1] else 1} if method == "group" else {}
    res = normalize(x.numpy(), method, **params)
    assert tuple(res.output.shape) == tuple(call(x).shape) == shape
    assert res.mean is None and "empty" in res.warnings[0]


def test_running_statistics_of_an_empty_batch_stay_as_in_torch():
    rm, rv = torch.full((4,), 0.5), torch.full((4,), 2.0)
    F.batch_norm(torch.zeros(0, 4, 3, 3), rm, rv, training=True)
    res = normalize(np.zeros((0, 4, 3, 3), np.float32), "batch", running_mean=np.full(4, 0.5),
                    running_var=np.full(4, 2.0))
    np.testing.assert_array_equal(res.running_mean, rm.numpy())
    np.testing.assert_array_equal(res.running_var, rv.numpy())


@pytest.mark.parametrize("layout,module", [("CL", lambda c: torch.nn.InstanceNorm1d(c)),
                                           ("CHW", lambda c: torch.nn.InstanceNorm2d(c))])
def test_unbatched_instance_norm_equals_torch(layout, module):
    x = X[0] if layout == "CHW" else X[0, :, :, 0]
    res = normalize(x, "instance", layout=layout)
    expected = module(4)(torch.from_numpy(x))
    assert res.output.shape == x.shape and res.layout == layout
    np.testing.assert_allclose(res.output, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_unbatched_layer_norm_and_rms_norm_equal_torch():
    x = X[0]
    np.testing.assert_allclose(normalize(x, "layer", layout="CHW").output,
                               F.layer_norm(torch.from_numpy(x), x.shape).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(normalize(x, "rms", layout="CHW").output,
                               F.rms_norm(torch.from_numpy(x), x.shape).numpy(), rtol=1e-5, atol=1e-5)


def test_batchnorm_still_needs_a_batch_axis():
    with pytest.raises(NormError, match="needs both a batch axis N"):
        normalize(X[0], "batch", layout="CHW")


@pytest.mark.parametrize("momentum", [0.3, 0.1, None])
def test_instance_norm_with_running_statistics_equals_torch_in_training_and_eval(momentum):
    module = torch.nn.InstanceNorm2d(4, track_running_stats=True, momentum=momentum, affine=True)
    with torch.no_grad():
        module.running_mean.fill_(0.5)
        module.running_var.fill_(2.0)
        module.weight.copy_(torch.linspace(0.5, 2, 4))
        module.bias.copy_(torch.linspace(-1, 1, 4))
    w, b = module.weight.detach().numpy().copy(), module.bias.detach().numpy().copy()
    expected = module(torch.from_numpy(X)).detach().numpy()
    res = normalize(X, "instance", running_mean=np.full(4, 0.5), running_var=np.full(4, 2.0), momentum=momentum,
                    weight=w, bias=b)
    np.testing.assert_allclose(res.output, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(res.running_mean, module.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.running_var, module.running_var.numpy(), rtol=1e-5, atol=1e-6)
    assert res.num_batches_tracked == int(module.num_batches_tracked) == 0
    module.eval()
    evaluated = normalize(X, "instance", training=False, running_mean=res.running_mean, running_var=res.running_var,
                          weight=w, bias=b)
    np.testing.assert_allclose(evaluated.output, module(torch.from_numpy(X)).detach().numpy(), rtol=1e-5, atol=1e-5)
    assert evaluated.method == "instance"


def test_a_one_dimensional_weight_is_never_read_along_the_wrong_axis():
    x = RNG.normal(size=(2, 8, 8, 8)).astype(np.float32)
    with pytest.raises(NormError, match="ambiguous: one per channel"):
        normalize(x, "layer", weight=np.arange(1.0, 9.0))
    per_channel = np.arange(1.0, 9.0).reshape(8, 1, 1)
    expected = F.layer_norm(torch.from_numpy(x), (8, 8, 8), torch.from_numpy(np.broadcast_to(
        per_channel, (8, 8, 8)).astype(np.float32).copy()))
    np.testing.assert_allclose(normalize(x, "layer", weight=per_channel).output, expected.numpy(), rtol=1e-5,
                               atol=1e-5)
    # GroupNorm's γ is per channel in torch whatever the other sizes: no ambiguity
    np.testing.assert_allclose(normalize(x, "group", groups=2, weight=np.arange(1.0, 9.0)).output,
                               F.group_norm(torch.from_numpy(x), 2, torch.arange(1.0, 9.0)).numpy(), rtol=1e-5,
                               atol=1e-5)


def test_a_meta_tensor_is_refused_in_one_line():
    with pytest.raises(NormError, match="meta tensor"):
        normalize(torch.empty(2, 4, 3, 3, device="meta"), "batch", backend="torch")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("size", [9, 10**7, 10**9])
def test_any_lrn_window_costs_what_2c_minus_1_does_and_equals_torch(backend, size):
    """A window of 10**9 channels used to allocate 33 GiB: beyond 2C − 1 it covers every channel from
    every c, so torch's result equals one with size 2C − 1 and alpha scaled to keep alpha/size."""
    x = torch.from_numpy(X)
    wide = 2 * 4 - 1
    expected = F.local_response_norm(x, min(size, wide), alpha=1e-4 * min(size, wide) / size, beta=0.75, k=1.0)
    res = normalize(X, "lrn", backend=backend, size=size, alpha=1e-4, beta=0.75, k=1.0)
    out = res.output.numpy() if backend == "torch" else res.output
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-6, atol=1e-6)
    if size <= wide:  # the window means (the statistics shown) are torch's too
        np.testing.assert_allclose(np.asarray(res.var), F.avg_pool3d(
            (x * x).unsqueeze(1), (size, 1, 1), stride=1, padding=(size // 2, 0, 0))[:, 0, :4].numpy(), rtol=1e-5)


def test_shared_mask_refuses_a_shape_over_its_budget():
    with pytest.raises(NormError, match="box_of"):
        shared_mask("batch", (10**6, 10**3, 10**3, 10**3), (0, 0, 0, 0))


def test_gamma_or_beta_that_would_reshape_x_are_refused():
    x = RNG.normal(size=(3, 4, 1)).astype(np.float32)
    with pytest.raises(NormError, match=r"bias of shape \(5,\) fits neither"):
        normalize(x, "group", layout="NCL", groups=2, bias=np.arange(5.0))
    with pytest.raises(RuntimeError):  # what torch says to the same
        F.group_norm(torch.from_numpy(x), 2, bias=torch.arange(5.0))


@pytest.mark.parametrize("name", ["weight", "bias", "running_mean", "running_var"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_arguments_are_refused_by_name(name, bad):
    values = np.ones(4)
    values[2] = bad
    kwargs = {name: values}
    if name.startswith("running"):
        kwargs.update(training=False)
    with pytest.raises(NormError, match=f"{name} holds 1 NaN/Inf value"):
        normalize(X, "batch", **kwargs)


@pytest.mark.parametrize("case", ["minmax_float64", "minmax_float16", "frn_tau", "eval_zero_var"])
def test_finite_inputs_that_overflow_are_said_never_silent(case):
    if case == "minmax_float64":
        res = normalize(X.astype(np.float64), "minmax", feature_range=(-1e308, 1e308))
    elif case == "minmax_float16":
        res = normalize(X.astype(np.float16), "minmax", feature_range=(0, 1e5))
    elif case == "frn_tau":
        res = normalize(X, "frn", tau=1e308)
    else:
        x = np.full((2, 4, 2, 2), 3e38, np.float32)
        res = normalize(x, "batch", training=False, running_mean=np.zeros(4), running_var=np.zeros(4))
        expected = F.batch_norm(torch.from_numpy(x), torch.zeros(4), torch.zeros(4), training=False)
        assert not torch.isfinite(expected).any()  # torch overflows too, silently
        assert "1/√(running_var + eps) = 316" in " ".join(res.warnings)
    assert not np.isfinite(np.asarray(res.output, dtype=np.float64)).all()
    assert any("overflows" in w for w in res.warnings), res.warnings


def test_nan_inputs_in_eval_follow_the_nonfinite_policy():
    x = X.copy()
    x[0, 1, 2, 3] = np.nan
    rm, rv = np.linspace(-1, 1, 4), np.linspace(0.5, 2, 4)
    expected = F.batch_norm(torch.from_numpy(x), torch.from_numpy(rm).float(), torch.from_numpy(rv).float(),
                            training=False).numpy()
    omitted = normalize(x, "batch", training=False, running_mean=rm, running_var=rv)
    assert omitted.output[0, 1, 2, 3] == 0 and "set to 0" in omitted.warnings[-1]
    finite = np.isfinite(expected)
    np.testing.assert_allclose(omitted.output[finite], expected[finite], rtol=1e-5, atol=1e-6)
    propagated = normalize(x, "batch", training=False, running_mean=rm, running_var=rv, nonfinite="propagate")
    assert np.isnan(propagated.output[0, 1, 2, 3]) and "propagate" in propagated.warnings[-1]


def test_lrn_with_inf_and_propagate_warns_like_the_others():
    x = X.copy()
    x[1, 0, 0, 0] = np.inf
    res = normalize(x, "lrn", nonfinite="propagate")
    assert any("nonfinite='propagate'" in w for w in res.warnings)


def test_standardizing_in_training_is_not_read_twice_and_stays_finite():
    """Samuelson's bound: a standardized value is within ±√(n − 1), so these need no output check and
    get no warning; a γ near the float16 limit does get one."""
    res = normalize(X, "group", groups=2)
    assert res.warnings == [] and np.isfinite(res.output).all()
    half = normalize(X.astype(np.float16), "layer", weight=60000.0)
    assert any("overflows float16" in w for w in half.warnings)
