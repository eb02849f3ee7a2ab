"""Seeded, reproducible input tensors: the distributions the explorer starts from.

Each generator fills an (N, C, *spatial) array; `generate` returns it in the asked layout.
The sample image is procedural (no download), shipped as package data: kernels/data/sample_image.npy.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backend import PARALLEL_ELEMENTS, _inner_buffer, _thread_pool
from .layouts import canonical_order, check_layout, permutation

SAMPLE_IMAGE = Path(__file__).resolve().parent / "data" / "sample_image.npy"  # package data: in a wheel too


@dataclass(frozen=True)
class Generator:
    name: str
    label: str
    doc: str
    fill: Callable  # (seed, canonical shape) -> float32 array


#: Inputs of at least this many elements are generated in blocks of about BLOCK elements: whole
#: (sample, channel) rows of the canonical (N, C, *spatial) array, block b drawn from its own
#: stream SeedSequence(seed, spawn_key=(1, b)) and numbers drawn once per row from
#: SeedSequence(seed, spawn_key=(0,)). The blocks fill on a few threads at once (NumPy's
#: generators release the GIL), and a seed gives the same values on any number of cores.
#: Smaller inputs are one stream, np.random.default_rng(seed), as before blocks existed.
BLOCKS_FROM = 1 << 20
BLOCK = 1 << 18


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _in_blocks(fill_rows, per_row=None):
    """A generator's fill from fill_rows(rng, out, draws): out is a (rows, spatial size) block of
    the canonical array, to be filled with the values of those (sample, channel) rows; draws are
    per_row(rng, N·C), numbers drawn once per row (before the values, from the same stream when
    there is one stream), sliced to the block's rows."""
    def fill(seed, shape):
        out = np.empty(shape, np.float32)
        rows = out.reshape(shape[0] * shape[1], -1)
        if out.size < BLOCKS_FROM:
            rng = np.random.default_rng(seed)
            fill_rows(rng, rows, per_row(rng, rows.shape[0]) if per_row else None)
            return out
        draws = per_row(_rng(seed, 0), rows.shape[0]) if per_row else None
        step = max(1, BLOCK // rows.shape[1])
        starts = range(0, rows.shape[0], step)

        def work(b):
            block = slice(starts[b], starts[b] + step)
            fill_rows(_rng(seed, 1, b), rows[block], None if draws is None else [d[block] for d in draws])

        _parallel(work, len(starts), out.size)
        return out
    return fill


def _parallel(work, n: int, size: int):
    """work(0), ..., work(n - 1), on the kernels' threads when there is enough to share."""
    if n == 1 or size < PARALLEL_ELEMENTS:
        for b in range(n):
            work(b)
        return
    futures = [_thread_pool().submit(work, b) for b in range(1, n)]
    try:
        work(0)
    finally:
        for future in futures:
            future.result()


def _normal(rng, out, draws):
    rng.standard_normal(out=out, dtype=np.float32)


def _offsets_and_scales(rng, rows: int) -> tuple:
    """The 'shifted' input's offset and scale of each (sample, channel) row."""
    offset = rng.uniform(-3.0, 3.0, (rows, 1)).astype(np.float32)
    return offset, np.exp(rng.uniform(-1.0, 1.5, (rows, 1))).astype(np.float32)


def _shifted(rng, out, draws):
    """Each sample and channel gets its own offset and scale, like images of differing brightness and contrast."""
    offset, scale = draws
    rng.standard_normal(out=out, dtype=np.float32)
    with _inner_buffer(out.shape[1]):
        out *= scale
        out += offset


def _uniform(rng, out, draws):
    rng.random(out=out, dtype=np.float32)


def _bimodal(rng, out, draws):
    side = rng.random(out.shape, dtype=np.float32) < 0.5
    rng.standard_normal(out=out, dtype=np.float32)
    out *= np.float32(0.5)
    out += np.where(side, np.float32(-2.0), np.float32(2.0))


def _heavy(rng, out, draws):
    """Student t (3 degrees of freedom) plus 0.5% outliers at ten times the scale."""
    out[...] = rng.standard_t(3, out.shape)
    out[rng.random(out.shape) < 0.005] *= 10.0


def _constant(seed, shape):
    return np.full(shape, 1.0, np.float32)


def _image(seed, shape):
    """The sample image as a batch: each sample a different crop and flip, channels cycling RGB.
    Sequences (N, C, L) get an image row, volumes repeat the image along depth."""
    rng = np.random.default_rng(seed)
    n, c, spatial = shape[0], shape[1], shape[2:]
    h, w = spatial[-2:] if len(spatial) >= 2 else (1, spatial[0] if spatial else 1)
    img = sample_image().astype(np.float32) / 255.0  # (3, H0, W0)
    out = np.empty(shape, np.float32)
    for i in range(n):
        frac = rng.uniform(0.5, 1.0)
        ch, cw = max(2, int(img.shape[1] * frac)), max(2, int(img.shape[2] * frac))
        top = rng.integers(0, img.shape[1] - ch + 1)
        left = rng.integers(0, img.shape[2] - cw + 1)
        crop = _resize(img[:, top:top + ch, left:left + cw], h, w)
        if rng.random() < 0.5:
            crop = crop[:, :, ::-1]
        rgb = crop if c != 1 else crop.mean(axis=0, keepdims=True)
        gains = [1.0 if k < 3 else 0.5 + 0.5 * rng.random() for k in range(c)]
        chans = np.stack([rgb[k % rgb.shape[0]] * gains[k] for k in range(c)])  # (c, h, w)
        out[i] = chans.reshape((c,) + (1,) * (len(spatial) - 2) + (h, w)) if len(spatial) >= 2 \
            else chans.reshape((c,) + spatial)
    return out


def _resize(img, h, w):
    """Bilinear resize of a (C, H, W) array."""
    ys = np.linspace(0, img.shape[1] - 1, h)
    xs = np.linspace(0, img.shape[2] - 1, w)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, img.shape[1] - 1), np.minimum(x0 + 1, img.shape[2] - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = img[:, y0][:, :, x0] * (1 - fx) + img[:, y0][:, :, x1] * fx
    bottom = img[:, y1][:, :, x0] * (1 - fx) + img[:, y1][:, :, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


GENERATORS = {g.name: g for g in [
    Generator("normal", "Standard normal", "Independent N(0, 1) values.", _in_blocks(_normal)),
    Generator("shifted", "Per-channel shift and scale",
              "N(0, 1) scaled and shifted by a random amount per sample and channel, as real images differ "
              "in brightness and contrast.", _in_blocks(_shifted, _offsets_and_scales)),
    Generator("uniform", "Uniform [0, 1)", "Independent uniform values, like the seed's input features.",
              _in_blocks(_uniform)),
    Generator("bimodal", "Bimodal", "Half the values near −2, half near +2 (std 0.5 each).", _in_blocks(_bimodal)),
    Generator("heavy_tailed", "Heavy-tailed with outliers",
              "Student t with 3 degrees of freedom and 0.5% outliers ten times larger.", _in_blocks(_heavy)),
    Generator("constant", "All constant", "Every value 1.0: the variance is 0 everywhere.", _constant),
    Generator("image", "Sample image", "The bundled sample image as a batch: random crops and flips per "
                                       "sample, RGB cycling over the channels, values in [0, 1].", _image),
]}


def generate(name: str, shape, layout: str = "NCHW", seed: int = 0, dtype=np.float32) -> np.ndarray:
    """A reproducible input of `shape` (in `layout` order) from generator `name`."""
    if name not in GENERATORS:
        raise ValueError(f"unknown input {name!r}; choose one of {', '.join(GENERATORS)}")
    layout = check_layout(layout)
    shape = tuple(int(s) for s in shape)
    if len(shape) != len(layout) or min(shape) < 1:
        raise ValueError(f"input shape {shape} does not fit layout {layout}")
    canon = canonical_order(layout)
    canon_shape = tuple(shape[layout.index(a)] for a in canon)
    x = GENERATORS[name].fill(seed, canon_shape)
    x = np.ascontiguousarray(x.transpose(permutation(canon, layout))) if canon != layout else x
    return x.astype(dtype, copy=False)


@functools.lru_cache(maxsize=1)
def sample_image() -> np.ndarray:
    """The bundled (3, H, W) uint8 sample image (made by `make_sample_image` if the file is missing)."""
    if SAMPLE_IMAGE.exists():
        return np.load(SAMPLE_IMAGE, allow_pickle=False)
    return make_sample_image()


def make_sample_image(size: int = 160) -> np.ndarray:
    """A procedural landscape: sky gradient, sun, two ranges of hills, a textured meadow and a
    red-roofed house, so every channel has its own statistics."""
    rng = np.random.default_rng(2018)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size
    img = np.zeros((3, size, size))
    sky = np.stack([0.35 + 0.4 * y, 0.55 + 0.35 * y, 0.95 - 0.1 * y])
    img[:] = sky
    sun = (x - 0.75) ** 2 + (y - 0.2) ** 2 < 0.008
    img[:, sun] = np.array([1.0, 0.9, 0.5])[:, None]
    far = y > 0.45 + 0.06 * np.sin(9 * x) + 0.03 * np.sin(23 * x + 1)
    img[:, far] = (np.array([0.35, 0.4, 0.6])[:, None, None] * (1 - 0.3 * y))[:, far]
    near = y > 0.6 + 0.05 * np.sin(5 * x + 2)
    grass = np.array([0.25, 0.55, 0.2])[:, None, None] * (0.8 + 0.4 * rng.random((1, size, size)))
    img[:, near] = grass[:, near]
    wall = (x > 0.18) & (x < 0.38) & (y > 0.58) & (y < 0.78)
    img[:, wall] = np.array([0.85, 0.8, 0.7])[:, None]
    roof = (y > 0.46) & (y <= 0.58) & (np.abs(x - 0.28) < (y - 0.46) * 1.1)
    img[:, roof] = np.array([0.7, 0.15, 0.1])[:, None]
    door = (x > 0.26) & (x < 0.31) & (y > 0.68) & (y < 0.78)
    img[:, door] = np.array([0.3, 0.2, 0.1])[:, None]
    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)


if __name__ == "__main__":  # python -m kernels.inputs: (re)write the shipped sample image
    SAMPLE_IMAGE.parent.mkdir(exist_ok=True)
    np.save(SAMPLE_IMAGE, make_sample_image())
    print(f"wrote {SAMPLE_IMAGE}")
