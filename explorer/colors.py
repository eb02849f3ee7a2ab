"""Colours of statistics groups, without Qt: every group drawn in one picture gets its own colour,
or, when there are more groups than colours tell apart, a hue per group within a sample and a
shade per sample, and the legend says so. Blues are kept for the selected group alone."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

#: The selected group (the blue of the Group Normalization paper's Figure 2) and its outline.
SELECTED_RGB = (52, 120, 246)
SELECTED_EDGE_RGB = (20, 60, 170)
#: Hues (degrees) for the other groups: the blues (195°–265°) are left to the selection.
HUES = (0, 28, 48, 70, 100, 135, 165, 183, 285, 315, 340)
#: (saturation, value) of each shade; the first is the one single-shade pictures use.
SHADES = ((0.42, 0.98), (0.30, 0.90), (0.62, 0.88), (0.55, 0.70))


#: Text colours, each at least 4.5:1 against white and the window's #efefef (WCAG AA).
TEXT_HINT = "#4d4d4d"
TEXT_BEFORE = "#5b6478"  # the grey-blue of "before", dark enough for text
TEXT_AFTER = "#9a4a1a"  # the orange of "after", dark enough for text
TEXT_ERROR = "#b71c1c"


def _rgb(hue: float, saturation: float, value: float) -> tuple:
    r, g, b = colorsys.hsv_to_rgb(hue / 360.0, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


@dataclass(frozen=True)
class GroupColors:
    """How a picture colours its groups. A group is (sample, rest): `sample` numbers its block of
    samples (0 when the statistics span the batch), `rest` the group within a sample (0 ..
    per_sample − 1)."""

    per_sample: int
    samples: int

    @property
    def distinct(self) -> bool:
        """Every group its own hue (no shades needed)."""
        return self.per_sample * self.samples <= len(HUES)

    def rgb(self, sample: int, rest: int) -> tuple:
        if self.distinct:
            return _rgb(HUES[sample * self.per_sample + rest], *SHADES[0])
        return _rgb(HUES[rest % len(HUES)], *SHADES[sample % len(SHADES)])

    def overlay_rgb(self, sample: int, rest: int) -> tuple:
        """The same hue, strong enough for a line on a histogram."""
        if self.distinct:
            return _rgb(HUES[sample * self.per_sample + rest], 0.85, 0.80)
        return _rgb(HUES[rest % len(HUES)], 0.85, (0.85, 0.70, 0.95, 0.55)[sample % len(SHADES)])

    @property
    def legend(self) -> str:
        if self.distinct:
            return "each colour is one statistics group"
        hue = ("a hue per group within a sample" if self.per_sample <= len(HUES) else
               f"a hue per group within a sample (the {len(HUES)} hues repeat, so neighbours differ)")
        if self.samples == 1:
            return hue
        shade = "a shade per sample" if self.samples <= len(SHADES) else \
            f"a shade per sample (the {len(SHADES)} shades repeat every {len(SHADES)} samples)"
        return f"{hue}; {shade}"


def distance(a: tuple, b: tuple) -> float:
    """How far apart two colours look (Euclidean distance weighted for the eye, 0 to ~765)."""
    mean_red = (a[0] + b[0]) / 2
    dr, dg, db = (a[i] - b[i] for i in range(3))
    return ((2 + mean_red / 256) * dr * dr + 4 * dg * dg + (2 + (255 - mean_red) / 256) * db * db) ** 0.5


def luminance(rgb: tuple) -> float:
    """Relative luminance (WCAG 2)."""
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple, b: tuple) -> float:
    """WCAG contrast ratio of two colours (1 to 21; text wants at least 4.5)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
