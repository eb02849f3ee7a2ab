"""Figures: any widget to PNG (chosen size and DPI) or SVG (vector paths through QSvgGenerator,
since pyqtgraph 0.14's SVGExporter fails on ordinary plots), or the clipboard. Every file is
written atomically. The numbers (CSV, .npy) are in explorer.data_files, without Qt."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsView, QWidget

from .atomic import SaveError, atomic_path

SCREEN_DPI = 96.0


def render_image(widget: QWidget, size: QSize | None = None, dpi: float = SCREEN_DPI) -> QImage:
    """The widget drawn into an image of `size` pixels (default: its own size at `dpi`).
    The widget is laid out at size / (dpi/96) logical pixels, so text keeps its size in points."""
    scale = dpi / SCREEN_DPI
    if size is None:
        size = QSize(round(widget.width() * scale), round(widget.height() * scale))
    logical = QSize(max(1, round(size.width() / scale)), max(1, round(size.height() / scale)))
    image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QColor("white"))
    dots_per_meter = round(dpi / 0.0254)
    image.setDotsPerMeterX(dots_per_meter)
    image.setDotsPerMeterY(dots_per_meter)
    with _laid_out_at(widget, logical):
        painter = QPainter(image)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.scale(size.width() / logical.width(), size.height() / logical.height())
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
    """Vector SVG: the widget paints through QSvgGenerator, so lines and text stay paths/text."""
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


def save_widget(widget: QWidget, path, size: QSize | None = None, dpi: float = SCREEN_DPI):
    """PNG or SVG by the file's extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        save_png(widget, path, size, dpi)
    elif suffix == ".svg":
        if size is not None:
            with _laid_out_at(widget, size):
                save_svg(widget, path)
        else:
            save_svg(widget, path)
    else:
        raise ValueError(f"unknown image extension {suffix or '(none)'!r}: use .png or .svg")


def copy_widget(widget: QWidget):
    QGuiApplication.clipboard().setImage(render_image(widget))
