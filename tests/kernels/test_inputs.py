"""Input generators: reproducible, laid out as asked, with the promised character."""

import numpy as np
import pytest

from kernels.inputs import GENERATORS, generate, make_sample_image, sample_image


@pytest.mark.parametrize("name", list(GENERATORS))
def test_reproducible_and_layout_is_a_transpose(name):
    a = generate(name, (3, 4, 6, 5), "NCHW", seed=11)
    b = generate(name, (3, 4, 6, 5), "NCHW", seed=11)
    c = generate(name, (3, 6, 5, 4), "NHWC", seed=11)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    assert np.array_equal(a.transpose(0, 2, 3, 1), c)
    assert np.all(np.isfinite(a))
    seq = generate(name, (2, 3, 7), "NLC", seed=1)
    assert seq.shape == (2, 3, 7)


def test_seeds_differ_and_characters_hold():
    assert not np.array_equal(generate("normal", (2, 2, 4, 4), seed=0), generate("normal", (2, 2, 4, 4), seed=1))
    shifted = generate("shifted", (8, 4, 16, 16), seed=0)
    per_channel_means = shifted.mean(axis=(2, 3))
    assert per_channel_means.std() > 1.0  # each sample and channel has its own offset
    assert np.all(generate("constant", (2, 2, 2, 2)) == 1.0)
    u = generate("uniform", (2, 2, 8, 8))
    assert u.min() >= 0 and u.max() < 1
    heavy = generate("heavy_tailed", (4, 4, 32, 32), seed=0)
    kurtosis = ((heavy - heavy.mean()) ** 4).mean() / heavy.var() ** 2
    assert kurtosis > 6  # a normal distribution has 3
    bimodal = generate("bimodal", (4, 4, 32, 32), seed=0)
    assert np.mean(np.abs(bimodal) < 0.5) < 0.01


def test_sample_image_is_shipped_and_reproducible():
    img = sample_image()
    assert img.dtype == np.uint8 and img.shape[0] == 3
    assert np.array_equal(img, make_sample_image())  # kernels/data/sample_image.npy is this function's output
    batch = generate("image", (2, 3, 32, 48), seed=0)
    assert batch.shape == (2, 3, 32, 48) and batch.min() >= 0 and batch.max() <= 1
    assert len({round(float(batch[0, c].mean()), 3) for c in range(3)}) == 3  # channels differ
    gray = generate("image", (1, 1, 8, 8), seed=0)
    assert gray.shape == (1, 1, 8, 8)


def test_unknown_generator():
    with pytest.raises(ValueError, match="unknown input 'gauss'"):
        generate("gauss", (1, 1, 1, 1))


@pytest.mark.parametrize("name", ["normal", "shifted", "uniform", "bimodal", "heavy_tailed"])
def test_large_inputs_come_in_blocks_that_do_not_depend_on_the_threads(name, monkeypatch):
    import kernels.inputs as ki
    monkeypatch.setattr(ki, "BLOCKS_FROM", 1 << 14)  # blocks from 16K elements, so the test stays small
    monkeypatch.setattr(ki, "BLOCK", 1 << 12)
    shape = (4, 6, 32, 40)
    threaded = generate(name, shape, seed=5)
    monkeypatch.setattr(ki, "PARALLEL_ELEMENTS", 1 << 30)  # one thread
    alone = generate(name, shape, seed=5)
    assert np.array_equal(threaded, alone) and threaded.dtype == np.float32
    assert np.array_equal(generate(name, (4, 32, 40, 6), "NHWC", seed=5), threaded.transpose(0, 2, 3, 1))
    assert not np.array_equal(generate(name, shape, seed=6), threaded)
    rows = threaded.reshape(24, -1)
    assert not np.array_equal(rows[0], rows[4])  # blocks are different streams, not repeats
    if name == "normal":
        assert abs(threaded.mean()) < 0.02 and abs(threaded.std() - 1) < 0.02
    if name == "shifted":
        assert threaded.mean(axis=(2, 3)).std() > 1.0
