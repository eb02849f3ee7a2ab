"""The pipeline's displayed numbers equal the ones computed directly from the output, whether they
come from a pass over the output or from each group's line a·(x − c) + b."""

import numpy as np
import pytest

from explorer.pipeline import Pipeline
from explorer.settings import Settings
from kernels import METHODS
from kernels.summaries import group_moments, summarize


def Request(method, layout, shape, params, selected=None, **settings):
    """Settings as the tests name them: the method, layout, shape and (name, value) parameters."""
    selected = selected or tuple(min(1, n - 1) for n in shape)
    return Settings().replace(method=method, layout=layout, shape=shape, params=dict(params), selected=selected,
                              **settings)

CASES = [(name, ()) for name in METHODS] + [
    ("layer", (("bias", 0.5), ("weight", 2.0))), ("batch", (("weight", -2.0),)), ("group", (("groups", 2),)),
    ("minmax", (("clip", True),)), ("frn", (("tlu", False),))]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name,params", CASES)
def test_displayed_group_statistics_are_the_outputs(name, params, backend):
    c = Pipeline().run(Request(name, "NHWC", (4, 5, 5, 6), params, backend=backend, selected=(1, 2, 3, 4)))
    direct = group_moments(c.output, c.sharing)
    np.testing.assert_allclose(c.groups.mean_after, direct.mean, atol=2e-6)
    np.testing.assert_allclose(c.groups.var_after, direct.var, rtol=1e-5, atol=1e-6)
    exact = summarize(c.output)
    assert c.summary_after.mean == pytest.approx(exact.mean, abs=1e-5)
    assert c.summary_after.std == pytest.approx(exact.std, rel=1e-4, abs=1e-6)
    assert (c.summary_after.min, c.summary_after.max) == pytest.approx((exact.min, exact.max))


def test_batchnorm_with_one_value_per_channel_displays_exact_zeros():
    c = Pipeline().run(Request("batch", "NCHW", (1, 4, 1, 1), (), selected=(0, 0, 0, 0)))
    assert np.all(c.groups.mean_after == 0) and np.all(c.groups.var_after == 0) and c.summary_after.std == 0


def _same_views(a, b):
    """Every number the views draw, equal."""
    assert np.array_equal(a.output, b.output)
    for name in ("edges_before", "counts_before", "edges_after", "counts_after"):
        assert np.array_equal(getattr(a.hist, name), getattr(b.hist, name)), name
    assert a.summary_before == b.summary_before and a.summary_after == b.summary_after
    assert [o.row for o in a.overlays] == [o.row for o in b.overlays]
    for oa, ob in zip(a.overlays, b.overlays):
        assert np.array_equal(oa.before, ob.before) and np.array_equal(oa.after, ob.after)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name,params", [("batch", ()), ("group", (("groups", 4),)), ("layer", (("weight", -1.5),)),
                                         ("lrn", ()), ("rms", ())])
def test_a_pipeline_that_reuses_the_inputs_numbers_shows_what_a_fresh_one_shows(name, params, backend):
    """Reused: the input's moments, ranges, sample and overlay positions (eps changes between runs)."""
    shape = (8, 16, 24, 24)  # 73,728 elements: histograms and overlays are sampled
    pipeline = Pipeline()
    for eps in (1e-5, 0.3, 2.0):
        req = Request(name, "NCHW", shape, params + (("eps", eps),) if name != "lrn" else params, backend=backend,
                      selected=(1, 2, 3, 4))
        _same_views(pipeline.run(req), Pipeline().run(req))


def test_overlays_are_the_groups_histograms():
    """Small groups are counted whole: the overlay is the histogram of the group's own values."""
    c = Pipeline().run(Request("group", "NCHW", (2, 8, 6, 6), (("groups", 4),), selected=(1, 5, 0, 0)))
    part = c.sharing
    assert c.overlays and c.overlays[0].row == np.ravel_multi_index(part.group_of((1, 5, 0, 0)), part.stat_shape)
    for row, before, after in ((o.row, o.before, o.after) for o in c.overlays):
        box = part.group_box(np.unravel_index(row, part.stat_shape))
        for values, edges, counts in ((c.x[box], c.hist.edges_before, before), (c.output[box], c.hist.edges_after,
                                                                                    after)):
            expected, _ = np.histogram(values, bins=edges)
            np.testing.assert_array_equal(counts, expected)


def test_an_output_that_overflows_float32_is_counted_as_nonfinite():
    """A huge weight pushes some outputs to inf: the histograms leave them out and the range is
    the finite values', not the float64 line ends beyond float32."""
    c = Pipeline().run(Request("batch", "NCHW", (4, 3, 8, 8), (("weight", 2e38),)))
    infinite = int(np.count_nonzero(~np.isfinite(c.output)))
    assert infinite > 0
    assert c.hist.counts_after.sum() == c.output.size - infinite
    finite = c.output[np.isfinite(c.output)]
    assert (c.summary_after.min, c.summary_after.max) == (float(finite.min()), float(finite.max()))
    part = c.sharing
    for o in c.overlays:  # each group counted whole (256 values): its finite ones
        values = c.output[part.group_box(np.unravel_index(o.row, part.stat_shape))]
        assert o.after.sum() == np.count_nonzero(np.isfinite(values))
