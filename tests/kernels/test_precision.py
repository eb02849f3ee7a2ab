"""kernels.precision: each classic effect on a constructed input, the arithmetic model against
NumPy's own float16/float32 and the float64 reference, and torch's half-precision kernels reproduced."""

import numpy as np
import pytest

from kernels import NormError, normalize
from kernels import precision as P
from kernels.inputs import generate


def test_round_to_matches_numpy_and_torch_bfloat16():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.standard_normal(1000) * 10.0 ** rng.integers(-40, 38, 1000), [0.0, -0.0, 65504.0,
                                                                                           65520.0, 1e39, np.nan]])
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(P.round_to(a, "float16"), a.astype(np.float16).astype(np.float64))
        np.testing.assert_array_equal(P.round_to(a, "float32"), a.astype(np.float32).astype(np.float64))
    torch = pytest.importorskip("torch")
    finite = a[np.isfinite(a) & (np.abs(a) < 3e38)]
    expected = torch.from_numpy(finite.astype(np.float32)).to(torch.bfloat16).to(torch.float64).numpy()
    np.testing.assert_array_equal(P.round_to(finite, "bfloat16"), expected)
    assert np.isinf(P.round_to(np.array([1e39]), "bfloat16")[0])


def test_ulp_is_the_types_spacing():
    for dtype, np_type in (("float16", np.float16), ("float32", np.float32), ("float64", np.float64)):
        v = np.array([1.0, 3.5, 1000.0, 1e-3], dtype=np_type)
        np.testing.assert_array_equal(P.ulp(v, dtype), np.spacing(v).astype(np.float64))
    assert P.ulp(np.array([1.0]), "bfloat16")[0] == 2.0 ** -7
    assert P.ulp(np.array([0.0]), "float16")[0] == 2.0 ** -24  # the smallest subnormal


@pytest.mark.parametrize("method,params", [("layer", {}), ("group", {"groups": 2}), ("batch", {}), ("rms", {}),
                                           ("custom", {"axes": "NW"}), ("channel", {})])
def test_float64_emulation_equals_normalize(method, params):
    """In float64 throughout, every algorithm is normalize's result (to float64 rounding)."""
    x = generate("shifted", (3, 4, 5, 6), seed=3).astype(np.float64)
    ref = normalize(x, method, **params).output
    for algorithm in P.ALGORITHMS:
        out = P.emulate(x, method, storage="float64", accumulate="float64", algorithm=algorithm, **params).output
        np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(P.reference(x, method, **params)[0], ref, rtol=1e-12, atol=1e-12)


def test_float32_two_pass_is_within_a_few_ulps_on_an_ordinary_input():
    x = generate("normal", (4, 8, 6, 6), seed=1)
    st = P.study(x, "layer", pairs=(("float32", "float32"),), torch_types=())
    for cell in st.cells:
        assert cell.errors.max_ulps < 8 and cell.errors.nan == 0, cell.sentence


def test_catastrophic_cancellation_in_one_pass():
    """A large mean and a small spread: E[x²] − E[x]² in float32 loses the variance; two-pass and
    Welford keep it, and float64 accumulation saves one-pass too."""
    x, params, words = P.preset("cancellation", (4, 8, 8, 8), method="layer")
    assert "10000" in words and not params
    st = P.study(x, "layer", torch_types=())
    one = st.cell("float32", "float32", "one_pass")
    assert one.effect == "cancellation" and "cancels" in one.sentence
    two, welford = st.cell("float32", "float32", "two_pass"), st.cell("float32", "float32", "welford")
    assert one.errors.max_ulps > 1000 * max(two.errors.max_ulps, welford.errors.max_ulps)
    e = P.emulate(x, "layer", storage="float32", accumulate="float32", algorithm="one_pass")
    true_var = P.reference(x, "layer", storage="float32")[1]
    assert np.max(np.abs(e.var - true_var) / true_var) > 0.5  # the variance itself is wrong
    assert st.cell("float32", "float64", "one_pass").errors.max_ulps <= 1
    assert any("cancels" in s for s in st.summary)


def test_float16_sum_of_squares_overflows():
    """50·N(0, 1) is representable in float16 but its sum of squares passes 65504: var = inf and the
    outputs collapse to 0; float32 accumulation (what torch does) is fine."""
    x, _, _ = P.preset("overflow", (4, 8, 8, 8), method="layer")
    assert np.all(np.abs(x) < 65504) and np.sum(x[0].astype(np.float64) ** 2) > 65504
    e = P.emulate(x, "layer", storage="float16", accumulate="float16", algorithm="two_pass")
    assert e.overflow and np.all(np.isinf(e.var))
    assert np.all(e.output == 0)
    st = P.study(x, "layer", torch_types=())
    half = st.cell("float16", "float16", "two_pass")
    assert half.effect == "overflow" and "overflows float16" in half.sentence
    assert st.cell("float16", "float32", "two_pass").errors.max_ulps <= 0.5 + 1e-9


def test_eps_underflows_in_float16_and_a_constant_input_gives_nan():
    x, params, words = P.preset("eps_underflow", (2, 4, 3, 3), method="layer")
    assert params == {"eps": 1e-8} and np.all(x == x.flat[0])
    assert P.round_to(np.array([1e-8]), "float16")[0] == 0.0
    e = P.emulate(x, "layer", storage="float16", accumulate="float16", **params)
    assert e.eps_used == 0.0 and np.all(np.isnan(e.output))
    st = P.study(x, "layer", torch_types=(), **params)
    cell = st.cell("float16", "float16", "two_pass")
    assert cell.effect == "eps_underflow" and cell.errors.nan == x.size and "rounds to 0" in cell.sentence
    ok = st.cell("float16", "float32", "two_pass")  # eps = 1e-8 survives in float32: the output is 0, not NaN
    assert ok.errors.nan == 0 and ok.errors.max_ulps == 0
    rms_x, rms_params, _ = P.preset("eps_underflow", (2, 4, 3, 3), method="rms")
    assert np.all(rms_x == 0)  # x / √(mean square) needs 0 for 0/0
    assert np.all(np.isnan(P.emulate(rms_x, "rms", storage="float16", accumulate="float16", **rms_params).output))


CASES = [("layer", {}), ("group", {"groups": 4}), ("channel", {}), ("rms", {}), ("batch", {}), ("instance", {})]


@pytest.mark.parametrize("method,params", CASES)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_torch_half_kernels_reproduced(method, params, dtype):
    """torch's own CPU kernels on half types, against emulate() with torch_model(method): within one ulp
    of the half type at the value (bfloat16 batch_norm/instance_norm: two). Below 2^-10 in magnitude the
    ulp is taken at 2^-10: an output that is exactly 0 in one and 7e-9 in the other differs by float32's
    rounding of the mean, not by the half type's."""
    pytest.importorskip("torch")
    bound = 2.0 if dtype == "bfloat16" and method in ("batch", "instance") else 1.0
    for name, seed in (("normal", 0), ("shifted", 1), ("heavy_tailed", 2)):
        x = 3 * generate(name, (4, 8, 6, 5), seed=seed)
        out = P.torch_half(x, method, "NCHW", dtype, **params)
        model = P.emulate(x, method, "NCHW", dtype, **P.torch_model(method), **params).output
        assert P.agreement(out, model, dtype) <= bound, (name, method, dtype)
        big = np.abs(out) >= P.AGREEMENT_FLOOR
        assert np.max(np.abs(out - model)[big] / P.ulp(np.abs(out[big]), dtype)) <= bound
    st = P.study(x, method, pairs=(), **params)
    cell = next(c for c in st.torch if c.dtype == dtype)
    assert cell.errors is not None and cell.agreement <= bound and "torch's" in cell.sentence


def test_torch_half_in_another_layout_and_eps_underflow():
    """torch keeps eps in float32: the constant input that gives NaN in pure float16 gives 0."""
    pytest.importorskip("torch")
    x, params, _ = P.preset("eps_underflow", (2, 3, 3, 4), "NHWC", method="group")
    out = P.torch_half(x, "group", "NHWC", "float16", groups=2, **params)
    assert out.shape == x.shape and np.all(out == 0)
    x = generate("shifted", (2, 5, 4, 6), "NHWC", seed=1)
    out = P.torch_half(x, "layer", "NHWC", "float16")
    model = P.emulate(x, "layer", "NHWC", "float16", **P.torch_model("layer")).output
    assert P.agreement(out, model, "float16") <= 1


def test_refusals_are_one_line():
    x = generate("normal", (2, 4, 3, 3))
    with pytest.raises(NormError, match="precision study covers"):
        P.emulate(x, "lrn")
    with pytest.raises(ValueError, match="storage='float8'"):
        P.emulate(x, "layer", storage="float8")
    with pytest.raises(ValueError, match="algorithm="):
        P.emulate(x, "layer", algorithm="kahan")
    with pytest.raises(ValueError, match="torch has no op for pixel"):
        P.torch_half(x, "pixel")
    with pytest.raises(ValueError, match="unknown preset"):
        P.preset("nope", (2, 4, 3, 3))
    with pytest.raises(NormError, match="groups"):
        P.study(x, "group", groups=3)


def test_study_reports_progress_and_stops_when_cancelled():
    x = generate("normal", (2, 4, 3, 3))
    seen = []
    st = P.study(x, "layer", progress=lambda done, total: seen.append((done, total)), torch_types=())
    assert seen[-1][0] == seen[-1][1] == len(st.cells) == len(P.PAIRS) * len(P.ALGORITHMS)
    with pytest.raises(P.Cancelled):
        P.study(x, "layer", cancelled=lambda: True)


def test_precision_is_exported_and_imports_no_torch():
    import subprocess
    import sys
    code = ("import sys, kernels; from kernels import precision; "
            "precision.study(__import__('numpy').ones((2, 3, 2, 2)), 'layer', torch_types=()); "
            "print('precision' in kernels.__all__, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]


# -- normalize(..., compute_dtype=...) --------------------------------------------------------------

def test_normalize_with_compute_dtype_float64_equals_torch_in_float64():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).normal(3, 2, size=(4, 8, 5, 5))
    res = normalize(x, "group", groups=2, compute_dtype="float64", weight=np.linspace(0.5, 2, 8), bias=0.25)
    expected = torch.nn.functional.group_norm(torch.from_numpy(x), 2, torch.linspace(0.5, 2, 8, dtype=torch.float64),
                                              torch.full((8,), 0.25, dtype=torch.float64))
    np.testing.assert_allclose(res.output, expected.numpy(), rtol=1e-12, atol=1e-12)
    assert res.stats["compute_dtype"] == "float64" and res.warnings == []


def test_normalize_with_compute_dtype_names_each_effect():
    shifted = (10000 + np.random.default_rng(0).normal(size=(4, 8, 8, 8))).astype(np.float32)
    one_pass = normalize(shifted, "layer", compute_dtype="float32", variance="one_pass")
    assert "catastrophic cancellation" in one_pass.warnings[0]
    assert normalize(shifted, "layer", compute_dtype="float32", variance="welford").warnings == []
    wide = np.random.default_rng(1).normal(0, 50, size=(4, 8, 8, 8)).astype(np.float16)
    assert "sum of squares overflowed float16" in normalize(wide, "layer", compute_dtype="float16").warnings[0]
    constant = normalize(np.full((2, 4, 3, 3), 3, np.float16), "layer", compute_dtype="float16", eps=1e-8)
    assert "is 0 in float16" in constant.warnings[0] and np.isnan(constant.output).all()
    assert constant.output.dtype == np.float16


def test_normalize_with_compute_dtype_float32_on_half_storage_is_torchs_half_result_within_one_ulp():
    torch = pytest.importorskip("torch")
    x = torch.randn(4, 8, 6, 6).half()
    res = normalize(x, "layer", compute_dtype="float32")
    expected = torch.nn.functional.layer_norm(x, x.shape[1:]).numpy()
    assert res.output.dtype == np.float16
    assert P.agreement(res.output, expected, "float16") <= 1


def test_normalize_with_compute_dtype_refuses_what_it_cannot_emulate():
    x = np.zeros((2, 4, 3, 3), np.float32)
    with pytest.raises(NormError, match="covers the methods normalized by a group's mean"):
        normalize(x, "lrn", compute_dtype="float16")
    with pytest.raises(NormError, match="eval mode with running statistics"):
        normalize(x, "batch", training=False, compute_dtype="float16")
    with pytest.raises(NormError, match="variance='three_pass' is not one of two_pass, one_pass, welford"):
        normalize(x, "layer", compute_dtype="float16", variance="three_pass")
