"""The pipeline's displayed numbers equal the ones computed directly from the output, whether they
come from a pass over the output or from each group's line a·(x − c) + b."""

import numpy as np
import pytest

from explorer.pipeline import Pipeline, Request
from kernels import METHODS
from kernels.summaries import group_moments, summarize

CASES = [(name, ()) for name in METHODS] + [
    ("layer", (("bias", 0.5), ("weight", 2.0))), ("batch", (("weight", -2.0),)), ("group", (("groups", 2),)),
    ("minmax", (("clip", True),)), ("frn", (("tlu", False),))]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name,params", CASES)
def test_displayed_group_statistics_are_the_outputs(name, params, backend):
    c = Pipeline().run(Request(name, "NHWC", (4, 5, 5, 6), params, backend=backend, selected=(1, 2, 3, 4)))
    direct = group_moments(c.output, c.result.sharing)
    np.testing.assert_allclose(c.groups.mean_after, direct.mean, atol=2e-6)
    np.testing.assert_allclose(c.groups.var_after, direct.var, rtol=1e-5, atol=1e-6)
    exact = summarize(c.output)
    assert c.summary_after.mean == pytest.approx(exact.mean, abs=1e-5)
    assert c.summary_after.std == pytest.approx(exact.std, rel=1e-4, abs=1e-6)
    assert (c.summary_after.min, c.summary_after.max) == pytest.approx((exact.min, exact.max))


def test_batchnorm_with_one_value_per_channel_displays_exact_zeros():
    c = Pipeline().run(Request("batch", "NCHW", (1, 4, 1, 1), (), selected=(0, 0, 0, 0)))
    assert np.all(c.groups.mean_after == 0) and np.all(c.groups.var_after == 0) and c.summary_after.std == 0
