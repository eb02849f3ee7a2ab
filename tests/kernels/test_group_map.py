"""Result.group_map: where a method reports output = a·(x − c) + b per statistics group, that line
reproduces its output exactly; where the map is not a line per group it reports None."""

import numpy as np
import pytest

from kernels import METHODS, normalize
from kernels.inputs import generate

CASES = [(name, {}) for name in METHODS] + [
    ("batch", {"weight": np.arange(1.0, 7.0), "bias": 0.5}), ("group", {"groups": 2, "weight": 2.0, "bias": -1.0}),
    ("layer", {"weight": np.arange(1.0, 7.0)}), ("batch_renorm", {"rmax": 1.5, "dmax": 0.5}),
    ("frn", {"tlu": False}), ("minmax", {"clip": True}), ("standardize", {"with_mean": False}),
]
LINEAR = {"batch", "layer", "instance", "group", "rms", "pixel", "channel", "ghost_batch", "batch_renorm", "custom",
          "standardize", "minmax", "adain", "sample_group"}


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name,settings", CASES)
def test_group_map_reproduces_the_output(name, settings, training):
    x = generate("shifted", (4, 6, 3, 5), seed=2, dtype=np.float64)
    running = dict(running_mean=np.linspace(-1, 1, 6), running_var=np.linspace(0.5, 2, 6))
    res = normalize(x, name, training=training, **running, **settings)
    expect_line = (name in LINEAR and not settings.get("clip") and not (name == "layer" and "weight" in settings)
                   ) or (name == "frn" and not settings.get("tlu", True))
    assert (res.group_map is not None) == expect_line, name
    if res.group_map is None:
        return
    part = res.sharing
    a, c, b = (np.broadcast_to(v, part.stat_shape).reshape(part.expanded_stat_shape) for v in res.group_map)
    line = ((x.reshape(part.expanded_shape) - c) * a + b).reshape(x.shape)
    np.testing.assert_allclose(line, res.output, rtol=1e-9, atol=1e-9)


def test_no_group_map_when_nonfinite_inputs_are_set_to_zero():
    x = generate("normal", (2, 3, 4, 4), seed=0)
    x[0, 0, 0, 0] = np.nan
    assert normalize(x, "layer").group_map is None
