"""Render SVG and PDF files the way people view them (rsvg-convert, headless Chromium, pdftoppm)
and compare pictures: for tests of exports that must open the same everywhere."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

RSVG = shutil.which("rsvg-convert")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOPPM = shutil.which("pdftoppm")
MISSING = "not installed: `make test` installs it where apt-get can (make test-tools), else this is skipped"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def gray(image: QImage) -> np.ndarray:
    """A QImage as a float array of grey levels (0 black to 255 white), alpha over white."""
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    w, h = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * h)
    rgb = data.reshape(h, image.bytesPerLine())[:, :4 * w].reshape(h, w, 4)[..., :3].astype(np.float64)
    return rgb @ np.array([0.114, 0.587, 0.299])  # BGRA in memory


def load(path) -> np.ndarray:
    image = QImage(str(path))
    assert not image.isNull(), f"{path} does not decode"
    return gray(image)


def qt_svg(svg: Path, width: int, height: int) -> np.ndarray:
    image = QImage(width, height, QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    QSvgRenderer(str(svg)).render(painter, QRectF(0, 0, width, height))
    painter.end()
    return gray(image)


def rsvg_svg(svg: Path, width: int, height: int, out: Path) -> np.ndarray:
    subprocess.run([RSVG, "-w", str(width), "-h", str(height), "-b", "white", "-o", str(out), str(svg)], check=True,
                   capture_output=True, timeout=60)
    return load(out)


def chromium_svg(svg: Path, width: int, height: int, folder: Path) -> np.ndarray:
    page = folder / f"{svg.stem}.html"
    page.write_text(f"<html><body style='margin:0;background:white'><img src='{svg.name}' width='{width}' "
                    f"height='{height}' style='display:block'></body></html>")
    shot = folder / f"{svg.stem}-chromium.png"
    subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={folder / 'chromium-profile'}",
                    f"--window-size={width},{height}", f"--screenshot={shot}", page.as_uri()], check=True,
                   capture_output=True, timeout=120)
    return load(shot)


def pdf_page(pdf: Path, dpi: int, out_stem: Path) -> np.ndarray:
    subprocess.run([PDFTOPPM, "-png", "-r", str(dpi), "-singlefile", str(pdf), str(out_stem)], check=True,
                   capture_output=True, timeout=60)
    return load(out_stem.with_suffix(".png"))


def shrink(a: np.ndarray, factor: int) -> np.ndarray:
    """Block averages of factor × factor pixels (what the eye sees from a little further away)."""
    h, w = (a.shape[0] // factor) * factor, (a.shape[1] // factor) * factor
    return a[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


def similarity(a: np.ndarray, b: np.ndarray, factor: int = 4) -> float:
    """1 − mean |difference| / 255 of the two pictures shrunk by `factor` (1: identical)."""
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return 1.0 - float(np.mean(np.abs(shrink(a[:h, :w], factor) - shrink(b[:h, :w], factor)))) / 255.0
