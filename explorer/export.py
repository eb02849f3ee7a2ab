"""Figures: any widget to PNG, SVG or PDF, or the clipboard. Every file is written atomically.
The numbers (CSV, .npy) are in explorer.data_files, without Qt.

`size` is always the layout size (logical pixels: what the widget is laid out at) and `dpi` the
pixel density of a PNG: 192 dpi doubles the pixels and keeps the layout, so a figure looks the
same at any resolution. SVG and PDF are vectors: QSvgGenerator and QPdfWriter (pyqtgraph 0.14's
SVGExporter fails on ordinary plots). Qt writes pyqtgraph's cosmetic lines as strokes inside a
stretched transform with vector-effect="non-scaling-stroke", which Qt honours and rsvg-convert or
ImageMagick do not (they draw huge bands): `flatten_svg` moves those coordinates out of the
transform instead, so the file renders the same everywhere.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from PySide6.QtCore import QMarginsF, QPoint, QRect, QSize, QSizeF
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsView, QWidget

from .atomic import SaveError, atomic_path

SCREEN_DPI = 96.0
FIGURES = (".png", ".svg", ".pdf")
SVG_NS = "http://www.w3.org/2000/svg"


def render_image(widget: QWidget, size: QSize | None = None, dpi: float = SCREEN_DPI) -> QImage:
    """The widget laid out at `size` (default: its own size) and drawn at `dpi`: an image of
    size × dpi/96 pixels. The layout, and so every label's room, does not depend on the dpi."""
    scale = dpi / SCREEN_DPI
    logical = size or widget.size()
    pixels = QSize(max(1, round(logical.width() * scale)), max(1, round(logical.height() * scale)))
    image = QImage(pixels, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QColor("white"))
    dots_per_meter = round(dpi / 0.0254)
    image.setDotsPerMeterX(dots_per_meter)
    image.setDotsPerMeterY(dots_per_meter)
    with _laid_out_at(widget, logical):
        painter = QPainter(image)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.scale(pixels.width() / logical.width(), pixels.height() / logical.height())
            _paint(widget, painter)
        finally:
            painter.end()
    return image


def _paint(widget: QWidget, painter: QPainter):
    """The widget and its children through QWidget.render (QGraphicsView overrides render to draw
    its scene instead). pyqtgraph views first bring their items up to date, and their cached
    background is switched off, so an SVG holds no bitmap of it."""
    views = [v for v in [widget, *widget.findChildren(QGraphicsView)] if isinstance(v, QGraphicsView)]
    modes = [v.cacheMode() for v in views]
    for v in views:
        if hasattr(v.scene(), "prepareForPaint"):
            v.scene().prepareForPaint()
        v.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
        v.resetCachedContent()
    try:
        QWidget.render(widget, painter, QPoint())
    finally:
        for v, mode in zip(views, modes):
            v.setCacheMode(mode)


class _laid_out_at:
    """Temporarily resize a widget (and lay it out) for rendering, then put it back."""

    def __init__(self, widget, size):
        self.widget, self.size, self.old = widget, size, widget.size()

    def __enter__(self):
        if self.size != self.old:
            self.widget.resize(self.size)
            if self.widget.layout() is not None:
                self.widget.layout().activate()

    def __exit__(self, *exc):
        if self.size != self.old:
            self.widget.resize(self.old)
            if self.widget.layout() is not None:
                self.widget.layout().activate()


def save_png(widget: QWidget, path, size: QSize | None = None, dpi: float = SCREEN_DPI):
    image = render_image(widget, size, dpi)
    with atomic_path(path, ".png") as tmp:
        if not image.save(tmp, "PNG"):
            raise SaveError(f"cannot save {path}: the PNG encoder failed")


def save_svg(widget: QWidget, path, title: str = "Norm Explorer"):
    """Vector SVG: the widget paints through QSvgGenerator (lines and text stay paths and text),
    then its cosmetic strokes are flattened (see the module docstring)."""
    with atomic_path(path, ".svg") as tmp:
        generator = QSvgGenerator()
        generator.setFileName(tmp)
        generator.setSize(widget.size())
        generator.setViewBox(QRect(0, 0, widget.width(), widget.height()))
        generator.setTitle(title)
        generator.setDescription("Exported from Norm Explorer")
        painter = QPainter(generator)
        try:
            _paint(widget, painter)
        finally:
            painter.end()
        text = Path(tmp).read_text(encoding="utf-8")
        Path(tmp).write_text(flatten_svg(text), encoding="utf-8")


def save_pdf(widget: QWidget, path, title: str = "Norm Explorer"):
    """Vector PDF, one page the size of the widget (1 logical pixel = 1/96 inch)."""
    with atomic_path(path, ".pdf") as tmp:
        writer = QPdfWriter(tmp)
        writer.setTitle(title)
        writer.setCreator("Norm Explorer")
        writer.setResolution(round(SCREEN_DPI))
        inches = QSizeF(widget.width() / SCREEN_DPI, widget.height() / SCREEN_DPI)
        writer.setPageLayout(QPageLayout(QPageSize(inches, QPageSize.Unit.Inch), QPageLayout.Orientation.Portrait,
                                         QMarginsF(0, 0, 0, 0)))
        painter = QPainter(writer)
        try:
            _paint(widget, painter)
        finally:
            painter.end()


def save_widget(widget: QWidget, path, size: QSize | None = None, dpi: float = SCREEN_DPI):
    """PNG, SVG or PDF by the file's extension; `size` is the layout size, `dpi` a PNG's density."""
    suffix = Path(path).suffix.lower()
    if suffix not in FIGURES:
        raise ValueError(f"unknown image extension {suffix or '(none)'!r}: use .png, .svg or .pdf")
    if suffix == ".png":
        save_png(widget, path, size, dpi)
        return
    with _laid_out_at(widget, size or widget.size()):
        (save_svg if suffix == ".svg" else save_pdf)(widget, path)


def copy_widget(widget: QWidget):
    QGuiApplication.clipboard().setImage(render_image(widget))


# -- SVG that renders the same everywhere -----------------------------------------------------------

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_MATRIX = re.compile(r"matrix\(([^)]*)\)")


def _matrix(text: str):
    match = _MATRIX.fullmatch(text.strip())
    if not match:
        return None
    values = [float(v) for v in _NUMBER.findall(match.group(1))]
    return values if len(values) == 6 else None


def _apply(m, x: float, y: float) -> tuple:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


def _points(values: str, m) -> str:
    numbers = [float(v) for v in _NUMBER.findall(values)]
    pairs = (_apply(m, x, y) for x, y in zip(numbers[::2], numbers[1::2]))
    return " ".join(f"{x:.6g},{y:.6g}" for x, y in pairs)


def _path(d: str, m) -> str:
    """Path data with every coordinate pair mapped through m (QSvgGenerator writes absolute
    M, L, C and Z commands only)."""
    out = []
    for command, args in re.findall(r"([MLCQZmlcqz])([^MLCQZmlcqz]*)", d):
        if command in "Zz":
            out.append("Z")
            continue
        if command.islower():
            return d  # relative commands never come from Qt; leave such a path as it is
        out.append(f"{command}{_points(args, m)}")
    return " ".join(out)


def flatten_svg(text: str) -> str:
    """QSvgGenerator output with the cosmetic strokes (vector-effect="non-scaling-stroke") moved
    out of their transforms: each such group's paths, polylines, polygons and rects get their
    coordinates mapped through the group's matrix, and the matrix goes. Stroke widths are already
    in device units there, so the picture is unchanged for Qt and now right for every renderer."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    root = ET.fromstring(text)
    tag = lambda name: f"{{{SVG_NS}}}{name}"  # noqa: E731
    shapes = {tag("path"), tag("polyline"), tag("polygon"), tag("rect")}
    for group in root.iter(tag("g")):
        m = _matrix(group.get("transform", ""))
        children = list(group)
        if m is None or not children or any(c.tag not in shapes for c in children):
            continue
        stroked = group.get("stroke", "none") != "none"
        if stroked and not all(c.get("vector-effect") == "non-scaling-stroke" for c in children):
            continue  # a scaling stroke: its width belongs to the transform
        for child in children:
            _flatten(child, m, tag)
        del group.attrib["transform"]
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _flatten(element, m, tag):
    element.attrib.pop("vector-effect", None)
    if element.tag == tag("path"):
        element.set("d", _path(element.get("d", ""), m))
    elif element.tag in (tag("polyline"), tag("polygon")):
        element.set("points", _points(element.get("points", ""), m))
    else:  # a rect becomes the polygon of its four corners (a transform may rotate or flip it)
        x, y = float(element.get("x", 0)), float(element.get("y", 0))
        w, h = float(element.get("width", 0)), float(element.get("height", 0))
        corners = f"{x},{y} {x + w},{y} {x + w},{y + h} {x},{y + h}"
        element.tag = tag("polygon")
        for key in ("x", "y", "width", "height", "rx", "ry"):
            element.attrib.pop(key, None)
        element.set("points", _points(corners, m))
