"""What the Model tab's worker runs, without Qt: opening a model, capturing its layers' inputs on a
chosen input, folding BatchNorm. Each `*_job` returns a job(progress, cancelled) for explorer.worker;
failures are one line (ModelError and LoadError are ValueErrors, an OSError becomes one)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.models import INPUT_KINDS, ModelError, open_model, read_npy

#: Suffixes of an input file that is an image (read through Qt, resized to the model's input).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass(frozen=True)
class OpenRequest:
    """A model file (or an import path, allowed only after the person confirmed), the built-in
    architecture its weights belong to, and weights for an import path."""

    source: str
    architecture: str | None = None
    weights: str | None = None
    allow_import: bool = False


@dataclass(frozen=True)
class CaptureRequest:
    """The input: kind is one of INPUT_KINDS or 'file' (path: a .npy or an image); batch samples, seed,
    the memory budget in MB, and the full input shape when the model does not say it."""

    kind: str = "image"
    path: str = ""
    batch: int = 8
    seed: int = 0
    budget_mb: int = 512
    shape: tuple | None = None

    @property
    def label(self) -> str:
        if self.kind == "file":
            from pathlib import Path
            return Path(self.path).name
        return {"image": "the sample image", "digits": "scikit-learn digits", "random": "random data"}.get(
            self.kind, self.kind) + f" ×{self.batch}"


@dataclass
class Captured:
    """A finished capture: for which model and request, the kernels Capture."""

    model: object
    request: CaptureRequest
    capture: object


@dataclass
class Folded:
    model: object
    report: object


def open_job(request: OpenRequest):
    def job(progress, cancelled):
        progress(0, 1)
        try:
            model = open_model(request.source, architecture=request.architecture or None,
                               weights=request.weights or None, allow_import=request.allow_import)
        except OSError as exc:
            raise ModelError(f"cannot read {request.source}: {exc.strerror or exc}") from None
        for layer in model.layers:  # the flags once here, off the GUI thread (they are computed on access)
            layer.flags  # noqa: B018
        progress(1, 1)
        return model
    return job


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(C, h, w) to (C, height, width), bilinear."""
    c, h, w = image.shape
    ys, xs = np.linspace(0, h - 1, height), np.linspace(0, w - 1, width)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (ys - y0)[None, :, None], (xs - x0)[None, None, :]
    top = image[:, y0][:, :, x0] * (1 - wx) + image[:, y0][:, :, x1] * wx
    bottom = image[:, y1][:, :, x0] * (1 - wx) + image[:, y1][:, :, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def image_input(path, shape) -> np.ndarray:
    """A person's image as one sample of an (N, C, H, W) model input: resized to H×W, grey or RGB to C."""
    from ..file_loading import load  # reads images through Qt
    if shape is None or len(shape) != 4 or shape[2] is None or shape[3] is None or shape[1] not in (1, 3):
        raise ModelError(f"an image fits a model whose input is (N, 1 or 3, H, W); this one takes "
                         f"{_shape_text(shape)}")
    img = load(path)[0]  # (c, h, w) in [0, 1]
    if img.shape[0] != shape[1]:
        img = img.mean(axis=0, keepdims=True) if shape[1] == 1 else np.repeat(img[:1], 3, axis=0)
    return _resize(img, shape[2], shape[3])[None]


def _shape_text(shape) -> str:
    return "an unknown shape" if shape is None else "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"


def make_input(model, request: CaptureRequest) -> np.ndarray:
    """The array a capture runs on."""
    if request.kind == "file":
        if not request.path:
            raise ModelError("choose an input file (.npy or an image)")
        if request.path.lower().endswith(IMAGE_SUFFIXES):
            return image_input(request.path, request.shape or model.input_shape)
        return read_npy(request.path, request.shape or model.input_shape)
    if request.kind not in INPUT_KINDS:
        raise ModelError(f"unknown input {request.kind!r}; choose one of {', '.join(INPUT_KINDS)} or a file")
    return model.example_input(request.kind, batch=request.batch, seed=request.seed, shape=request.shape)


def capture_job(model, request: CaptureRequest, layers=(), statistics: bool = True):
    """Run the model on the request's input: the inputs of `layers` and, with statistics, every BatchNorm's gap
    statistics (the whole forward pass; without them a torch module stops after the last chosen layer)."""
    def job(progress, cancelled):
        x = make_input(model, request)
        cap = model.capture(x, layers=list(layers), budget=int(request.budget_mb) * 1024 ** 2, statistics=statistics,
                            progress=progress, cancelled=cancelled)
        return Captured(model, request, cap)
    return job


#: Samples of the latest capture's input that folding runs on (each dtype runs the model twice, and float16 and
#: bfloat16 convolutions are slow on a CPU: a ResNet-50 at 224×224 takes about 20 s a sample on 2 cores).
FOLD_SAMPLES = 1


def fold_input(model, x):
    """The first FOLD_SAMPLES samples of x where the model's batch axis is free; x itself otherwise."""
    if x is None:
        return None
    free = model.input_shape is None or model.input_shape[0] is None
    return np.ascontiguousarray(x[:FOLD_SAMPLES]) if free and len(x) > FOLD_SAMPLES else x


def fold_job(model, x=None):
    """Fold BatchNorm, on the latest capture's input when there is one (random data otherwise)."""
    def job(progress, cancelled):
        progress(0, 1)
        report = model.fold_batchnorm(fold_input(model, x))
        progress(1, 1)
        return Folded(model, report)
    return job
