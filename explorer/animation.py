"""The step-through as pictures for slides: one frame per step (the block view with the step's
elements lit up, beside the steps with the current one highlighted), saved as an animated GIF or
APNG (Pillow), and the frames as PNG files beside it. Every file is written atomically."""

from __future__ import annotations

import io
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QRectF, QSize
from PySide6.QtGui import QColor, QImage, QPainter, QTextDocument

from .atomic import SaveError, atomic_path
from .export import render_image
from .geometry import canonical_spans
from .widgets.arithmetic import steps_html

FRAME_SIZE = (1280, 560)
STEP_MS = 1400
ANIMATIONS = (".gif", ".apng", ".png")


def step_spans(scene, k: int):
    """What step k lights up, as (n0, n1, c0, c1, h0, h1, w0, w1): the elements it reads, or the
    selected element itself for a step that reads only it; None for k < 0."""
    if k < 0 or scene is None or scene.explanation is None:
        return None
    step = scene.explanation.steps[k]
    s = scene.settings
    box = step.box if step.box is not None else tuple(slice(i, i + 1) for i in s.selected)
    return canonical_spans(box, s.layout, s.shape)


def frames(view, scene, size=FRAME_SIZE) -> list:
    """One QImage per step: `view` (a TensorView showing `scene`) lit for the step, and the steps."""
    out = []
    width, height = size
    left = QSize(round(width * 0.56), height)
    try:
        for k in range(len(scene.explanation.steps)):
            view.set_lit(step_spans(scene, k))
            picture = render_image(view, left)
            frame = QImage(width, height, QImage.Format.Format_RGB32)
            frame.fill(QColor("white"))
            painter = QPainter(frame)
            painter.drawImage(0, 0, picture)
            doc = QTextDocument()
            doc.setHtml(steps_html(scene.explanation, k, scene.settings.layout))
            doc.setTextWidth(width - left.width() - 24)
            painter.translate(left.width() + 12, 12)
            doc.drawContents(painter, QRectF(0, 0, width - left.width() - 24, height - 24))
            painter.end()
            out.append(frame)
    finally:
        view.set_lit(None)
    return out


def _png_bytes(image: QImage) -> bytes:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data())


def save_animation(images: list, path, ms: int = STEP_MS) -> list:
    """The frames as an animation (.gif, or APNG for .apng/.png) and, in `<name>-frames/` beside it,
    as numbered PNG files. Returns the paths written."""
    from PIL import Image

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ANIMATIONS:
        raise SaveError(f"cannot save {path.name}: use .gif, .apng or .png for an animation")
    if not images:
        raise SaveError("nothing to save: the selected element has no steps")
    pngs = [_png_bytes(image) for image in images]
    pictures = [Image.open(io.BytesIO(data)).convert("RGB") for data in pngs]
    buffer = io.BytesIO()
    if suffix == ".gif":
        pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=ms, loop=0)
    else:
        pictures[0].save(buffer, format="PNG", save_all=True, append_images=pictures[1:], duration=ms, loop=0)
    written = [path]
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())
    folder = path.with_name(f"{path.stem}-frames")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise SaveError(f"cannot save the frames in {folder}: {exc.strerror or exc}") from None
    for k, data in enumerate(pngs, 1):
        frame = folder / f"step_{k:02d}.png"
        with atomic_path(frame) as tmp:
            Path(tmp).write_bytes(data)
        written.append(frame)
    return written
