"""shared_mask against autograd: x[j] shares statistics with x[i] exactly when the torch
reference's output at i depends on x[j]. Plus the words that describe each partition."""

import numpy as np
import pytest

from kernels import METHODS, normalize, prepare, shared_mask
from kernels.inputs import generate
from kernels.layouts import canonical_order, permutation

from .references import REFERENCES, torch

SHAPES = {"NCHW": (4, 6, 3, 2), "NHWC": (4, 3, 2, 6), "NLC": (4, 5, 6)}
SETTINGS = {"group": {"groups": 3}, "lrn": {"size": 4, "alpha": 1.0}, "frn": {"tlu": False},
            "ghost_batch": {"virtual_batch": 2}, "custom": {"axes": "NC"}}
INDICES = {"NCHW": [(1, 4, 2, 1), (0, 0, 0, 0)], "NHWC": [(3, 1, 0, 5)], "NLC": [(2, 4, 1), (0, 0, 5)]}


def _dependence(name, x, layout, index, params):
    """Where the reference output at `index` has a nonzero derivative with respect to x."""
    canonical = canonical_order(layout)
    t = torch.from_numpy(x).requires_grad_(True)
    y = REFERENCES[name](t.permute(permutation(layout, canonical)), params, canonical)
    y.permute(permutation(canonical, layout))[index].backward()
    return t.grad.numpy() != 0


@pytest.mark.parametrize("layout", list(SHAPES))
@pytest.mark.parametrize("name", [m for m in METHODS if m not in ("minmax", "standardize")])
def test_mask_is_where_the_output_depends_on_x(name, layout):
    shape = SHAPES[layout]
    settings = dict(SETTINGS.get(name, {}))
    if name == "custom" and "L" in layout:
        settings = {"axes": "NL"}
    x = generate("heavy_tailed", shape, layout, seed=7, dtype=np.float64)
    params = prepare(name, shape, layout, **settings)[1]
    if params.get("eps", 0) is None:
        params["eps"] = 1e-6
    for index in INDICES[layout]:
        expected = _dependence(name, x, layout, index, params)
        np.testing.assert_array_equal(shared_mask(name, shape, index, layout=layout, **settings), expected,
                                      err_msg=f"{name} {layout} {index}")


@pytest.mark.parametrize("name", ["minmax", "standardize"])
def test_data_scaling_mask_by_perturbation(name):
    """x[j] enters a feature's statistics when changing it a lot changes the output at index."""
    shape, index = (5, 3, 2, 2), (2, 1, 0, 1)
    x = generate("normal", shape, seed=1, dtype=np.float64)
    base = normalize(x, name).output[index]
    changed = np.zeros(shape, bool)
    for j in np.ndindex(shape):
        if j == index:
            changed[j] = True
            continue
        x2 = x.copy()
        x2[j] += 100.0
        changed[j] = not np.isclose(normalize(x2, name).output[index], base)
    np.testing.assert_array_equal(shared_mask(name, shape, index), changed)


@pytest.mark.parametrize("name,settings,expected", [
    ("batch", {}, "per channel, over all samples and all positions (H, W)"),
    ("layer", {}, "per sample, over all channels and all positions (H, W)"),
    ("instance", {}, "per sample and channel, over all positions (H, W)"),
    ("group", {"groups": 2}, "per sample, over channels in groups of 4 (2 groups) and all positions (H, W)"),
    ("channel", {}, "per sample and position (H, W), over all channels"),
    ("ghost_batch", {"virtual_batch": 2}, "per virtual batch of 2 samples and channel, over the 2 samples of its "
                                          "virtual batch and all positions (H, W)"),
    ("custom", {"axes": "NCHW"}, "one group for the whole tensor, over all samples, all channels and all "
                                 "positions (H, W)"),
    ("custom", {"axes": "H"}, "per sample, channel and W index, over all of H"),
])
def test_partition_in_words(name, settings, expected):
    _, _, sharing, _ = prepare(name, (4, 8, 5, 5), "NCHW", **settings)
    assert sharing.describe() == expected


def test_lrn_window_in_words_and_group_counts():
    _, _, window, _ = prepare("lrn", (2, 8, 3, 3), "NCHW", size=4)
    assert "c-2 ... c+1" in window.describe()
    _, _, part, _ = prepare("group", (4, 8, 5, 5), "NCHW", groups=2)
    assert (part.n_groups, part.group_size, part.stat_shape) == (8, 100, (4, 2, 1, 1))
    labels = part.labels()
    assert labels.shape == (4, 8, 5, 5) and len(np.unique(labels)) == 8
    assert np.array_equal(labels == labels[1, 5, 2, 2], part.mask((1, 5, 2, 2)))


@pytest.mark.parametrize("channels,groups", [(8, 2), (6, 3), (16, 4), (32, 8), (64, 32), (256, 32), (96, 32), (12, 3),
                                             (7, 1), (2, 1), (1, 1), (4, 2)])
def test_default_groups_show_groupnorm(channels, groups):
    """Neither LayerNorm (G=1) nor InstanceNorm (G=C) when C allows it: the paper's 32 from C=64 up,
    else groups of 4 channels (or 2)."""
    _, params, _, _ = prepare("group", (2, channels, 4, 4))
    assert params["groups"] == groups
    if groups > 1:
        assert 1 < groups < channels
