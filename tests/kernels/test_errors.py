"""Bad arguments raise ValueError with one line naming the method, shape and layout."""

import numpy as np
import pytest

from kernels import NormError, normalize, prepare, shared_mask

X = np.zeros((2, 6, 4, 4), np.float32)


@pytest.mark.parametrize("call,needle", [
    (lambda: normalize(X, "batchnorm"), "unknown method 'batchnorm'"),
    (lambda: normalize(X, "custom", axes="NHZ"), "Z not in layout NCHW"),
    (lambda: normalize(X, "custom", axes="L"), "L not in layout NCHW"),
    (lambda: normalize(X, "batch", layout="NCL"), "x has 4 axes but layout NCL names 3"),
    (lambda: normalize(X, "layer", eps=-1e-5), "eps=-1e-05 must be at least 0"),
    (lambda: normalize(X, "group", groups=4), "C=6 is not divisible by groups=4"),
    (lambda: normalize(X, "batch", backend="torch", device="cuda:7"),
     "device 'cuda:7' is not available here; devices: cpu"),
    (lambda: normalize(X, "batch", device="cuda"), "numpy backend runs on cpu only"),
    (lambda: normalize(X, "batch", backend="jax"), "unknown backend 'jax'"),
    (lambda: normalize(X, "layer", groups=2), "unknown parameter(s) groups"),
    (lambda: normalize(X, "batch", layout="NCHQ"), "unknown axis letter(s) Q"),
    (lambda: normalize(X, "batch", layout="NCHH"), "repeats an axis letter"),
    (lambda: normalize(X, "group", groups=2.5), "groups=2.5 is not a valid int"),
    (lambda: normalize(X, "group", groups=0), "groups=0 must be at least 1"),
    (lambda: normalize(X, "lrn", alpha=float("nan")), "alpha=nan must be a finite number"),
    (lambda: normalize(X, "ghost_batch", virtual_batch=3), "N=2 is not divisible by virtual_batch=3"),
    (lambda: normalize(X, "batch", momentum=None, momentum_convention="keras"), "no Keras counterpart"),
    (lambda: normalize(X, "batch", momentum_convention="tf"), "momentum_convention='tf' is not one of"),
    (lambda: normalize(X, "batch", weight=np.ones(5)), "fits neither one value per channel (C=6)"),
    (lambda: normalize(X, "batch", running_mean=np.zeros(4), running_var=np.ones(4)), "one value per channel (C=6)"),
    (lambda: normalize(X, "batch", running_mean=np.zeros(6), running_var=-np.ones(6)), "negative"),
    (lambda: normalize(X.astype(np.complex64), "batch"), "real number type"),
    (lambda: normalize(X, "layer", nonfinite="ignore"), "nonfinite='ignore'"),
    (lambda: normalize(X, "minmax", feature_range=(1, 0)), "low < high"),
    (lambda: normalize(X, "custom", axes="HW", groups=2), "must include C"),
    (lambda: shared_mask("batch", (2, 6, 4, 4), (2, 0, 0, 0)), "index (2, 0, 0, 0) is outside the shape"),
    (lambda: shared_mask("batch", (2, 6, 4, 4), ("a", 0, 0, 0)), "is not a tuple of integers"),
    (lambda: normalize(X, "group", groups=float("inf")), "groups=inf must be a finite number"),
    (lambda: normalize(X, "minmax", feature_range=(0, float("inf"))), "must be a finite number"),
    (lambda: normalize(X, "minmax", feature_range=(0, 1, 2)), "needs two numbers"),
    (lambda: normalize(X, "frn", tlu=2), "tlu=2 is not true or false"),
    (lambda: normalize(X, "batch", num_batches_tracked="a"), "num_batches_tracked='a' must be a count"),
    (lambda: normalize(X, "batch", num_batches_tracked=-1), "must be a count"),
    (lambda: prepare("batch", None), "shape None is not a sequence"),
    (lambda: shared_mask("group", (2, 6, 4), (0, 0, 0), groups=4), "shape has 3 axes but layout NCHW names 4"),
])
def test_bad_arguments(call, needle):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert needle in message
    assert "\n" not in message
    assert isinstance(info.value, NormError)
    if "unknown method" not in needle and "shape None" not in needle:
        assert "layout" in message


def test_error_names_method_shape_and_layout():
    with pytest.raises(NormError) as info:
        normalize(np.zeros((2, 4, 4, 6)), "group", layout="NHWC", groups=4)
    err = info.value
    assert str(err) == "group: C=6 is not divisible by groups=4 (shape (2, 4, 4, 6), layout NHWC)"
    assert (err.method, err.shape, err.layout, err.reason) == ("group", (2, 4, 4, 6), "NHWC",
                                                               "C=6 is not divisible by groups=4")


def test_numpy_backend_without_torch_asking_for_torch_explains(monkeypatch):
    import kernels.backend as backend
    monkeypatch.setattr(backend, "_import_torch", lambda: (None, "torch is not installed (test)"))
    with pytest.raises(NormError, match="backend 'torch' is unavailable: torch is not installed"):
        normalize(X, "batch", backend="torch")


def test_a_method_name_that_is_not_a_string():
    with pytest.raises(NormError, match="unknown method"):
        normalize(X, ["batch"])


def test_big_endian_and_longdouble_inputs_on_both_backends():
    import torch
    x = np.random.default_rng(0).standard_normal((2, 6, 4, 4))
    expected = normalize(x, "layer").output
    for arr in (x.astype(">f8"), x.astype(np.longdouble)):
        for backend in ("numpy", "torch"):
            out = normalize(arr, "layer", backend=backend).output
            out = out.numpy() if isinstance(out, torch.Tensor) else out
            np.testing.assert_allclose(np.asarray(out, np.float64), expected, rtol=1e-12, atol=1e-12)
