"""The steps view's three sub-tabs: running statistics over steps, batch size, and freezing
BatchNorm while fine-tuning. Each plot has a caption saying what to notice."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from kernels import METHODS
from kernels.experiments import FREEZE_MODES

from ..palette import AFTER, BEFORE, OVERLAY_COLORS, SELECTED
from .view_parts import add_legend, caption, common_edges, hist_item, make_plot, two_line_title

TRUE, RENORM = pg.mkColor("#222222"), OVERLAY_COLORS[3]
DASH, DOT = Qt.PenStyle.DashLine, Qt.PenStyle.DotLine
METHOD_COLORS = {"batch": SELECTED, "group": OVERLAY_COLORS[2], "layer": AFTER}


def _cell(grid: QGridLayout, row: int, col: int, plot, text: str, name: str):
    box = QVBoxLayout()
    box.addWidget(plot, 1)
    box.addWidget(caption(text, name))
    grid.addLayout(box, row, col)


def _pen(color, width=2.0, style=Qt.PenStyle.SolidLine):
    return pg.mkPen(color, width=width, style=style)


def _faint(color, alpha=90):
    c = pg.mkColor(color)
    c.setAlpha(alpha)
    return c


def _log_decades(plot, values):
    """Log-scale y range of whole decades (at least one), so the axis always has labels."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size:
        lo, hi = np.floor(np.log10(v.min())), np.ceil(np.log10(v.max()))
        plot.setYRange(lo, max(hi, lo + 1), padding=0.02)


def _pair_title(title: str, train, evaluated) -> str:
    """A title whose second, smaller line names the two histograms in their colours (mean ± std)."""
    return two_line_title(title, (f"train {train.mean:.2f} ± {train.std:.2f}", SELECTED),
                          (f"eval {evaluated.mean:.2f} ± {evaluated.std:.2f}", AFTER))


class RunningTab(QWidget):
    """Running vs true vs batch statistics, train vs eval on a held-out batch, and the mismatch."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        self.plot_mean = make_plot("plot_steps_mean", "mean of one channel", "training step", "mean")
        self.plot_var = make_plot("plot_steps_var", "variance of one channel", "training step", "variance")
        self.plot_heldout = make_plot("plot_steps_heldout", "held-out batch after the last step",
                                      "BatchNorm output", "density")
        self.plot_mismatch = make_plot("plot_steps_mismatch", "train/eval mismatch", "training step",
                                       "mean |train − eval output| (log)")
        self.plot_mismatch.setLogMode(y=True)
        for plot in (self.plot_mean, self.plot_var):
            add_legend(plot, offset=(-5, -5))
        add_legend(self.plot_mismatch)
        _cell(grid, 0, 0, self.plot_mean, "The running mean (orange) follows the true mean (black, dashed) with a "
              "lag of about 1/momentum steps after the drift; each batch's own mean (dots) scatters around it "
              "(Batch Renormalization's running statistics update the same way).",
              "caption_steps_mean")
        _cell(grid, 0, 1, self.plot_var, "The same for the variance: torch stores the unbiased batch variance "
              "in running_var (Keras the biased one), and it too lags a drift.", "caption_steps_var")
        _cell(grid, 1, 0, self.plot_heldout, "Train mode (blue) normalizes a held-out batch with its own "
              "statistics (mean 0, std 1); eval mode (orange) uses the running ones, so it is off while they lag "
              "the data (drift near the last step, or a small momentum).", "caption_steps_heldout")
        _cell(grid, 1, 1, self.plot_mismatch, "How much model.eval() would change the output on each step's "
              "batch: Batch Renormalization corrects the batch statistics toward the running ones (r, d), so "
              "its gap stays far below BatchNorm's.", "caption_steps_mismatch")

    def draw(self, res, channel: int):
        cfg = res.config
        t = np.arange(cfg.steps)
        for plot, key in ((self.plot_mean, "mean"), (self.plot_var, "var")):
            plot.clear()
            plot.plot(t, getattr(res, f"batch_{key}")[:, channel], pen=None, symbol="o", symbolSize=3,
                      symbolBrush=_faint(AFTER, 110), symbolPen=None, name="batch")
            plot.plot(t, getattr(res, f"running_{key}")[:, channel], pen=_pen(AFTER, 2.5), name="BatchNorm running")
            plot.plot(t, getattr(res, f"true_{key}")[:, channel], pen=_pen(TRUE, 1.5, DASH), name="true")
            plot.setTitle(f"{'mean' if key == 'mean' else 'variance'} of channel {channel}", size="10pt")
            if cfg.drift != "none" and cfg.drift_step < cfg.steps:
                plot.addItem(pg.InfiniteLine(cfg.drift_step, angle=90, pen=_pen("#999", 1, DASH),
                                             label="drift", labelOpts=dict(position=0.95, color="#666")))
        self.plot_heldout.clear()
        edges = common_edges([res.held_train.values, res.held_eval.values], bins=60)
        self.plot_heldout.addItem(hist_item(res.held_train.values, edges, SELECTED))
        self.plot_heldout.addItem(hist_item(res.held_eval.values, edges, AFTER))
        self.plot_heldout.setTitle(_pair_title("held-out batch after the last step", res.held_train, res.held_eval),
                                   size="10pt")
        self.plot_mismatch.clear()
        for key, color, label in (("batch", AFTER, "BatchNorm"), ("batch_renorm", RENORM, "Batch Renormalization")):
            y = np.asarray(res.mismatch[key], dtype=float)
            ok = y > 0
            self.plot_mismatch.plot(t[ok], y[ok], pen=_pen(color, 2), name=label)
        _log_decades(self.plot_mismatch, np.concatenate([res.mismatch["batch"], res.mismatch["batch_renorm"]]))


class BatchSizeTab(QWidget):
    """Batch-statistics noise vs batch size, a fixed sample's dependence on its batch mates,
    and the ((n − 1)/n)^k shrink of eval variance."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        self.plot_noise = make_plot("plot_steps_noise", "noise of the batch statistics", "batch size (log)",
                                    "spread over batches (log)")
        self.plot_noise.setLogMode(x=True, y=True)
        self.plot_dependence = make_plot("plot_steps_dependence", "one fixed sample, batch mates redrawn",
                                         "batch size", "output of the sample's first value")
        self.plot_shrink = make_plot("plot_steps_shrink", "unbiased running_var: eval variance",
                                     "BatchNorm layers stacked (k)", "eval-mode output variance")
        for plot in (self.plot_noise, self.plot_dependence, self.plot_shrink):
            add_legend(plot)
        self.caption_noise = caption("", "caption_steps_noise")
        box = QVBoxLayout()
        box.addWidget(self.plot_noise, 1)
        box.addWidget(self.caption_noise)
        grid.addLayout(box, 0, 0)
        _cell(grid, 0, 1, self.plot_dependence, "BatchNorm's output for the same sample (blue) moves with "
              "whatever else is in the batch, less as the batch grows; GroupNorm's and LayerNorm's never look "
              "at the other samples, so theirs stays put.", "caption_steps_dependence")
        self.caption_shrink = caption("", "caption_steps_shrink")
        box = QVBoxLayout()
        box.addWidget(self.plot_shrink, 1)
        box.addWidget(self.caption_shrink)
        grid.addLayout(box, 0, 2)
        grid.setRowStretch(0, 1)

    def draw(self, noise, dependence, shrink):
        self.plot_noise.clear()
        sizes = noise.sizes.astype(float)
        for key, color, label in (("mean", SELECTED, "batch mean"), ("var", AFTER, "batch variance")):
            measured, theory = getattr(noise, f"{key}_spread"), getattr(noise, f"{key}_spread_theory")
            ok = measured > 0
            self.plot_noise.plot(sizes[ok], measured[ok], pen=_pen(color, 2), symbol="o", symbolSize=6,
                                 symbolBrush=color, symbolPen=None, name=f"{label}: measured")
            ok = theory > 0
            self.plot_noise.plot(sizes[ok], theory[ok], pen=_pen(color, 1.5, DASH), name=f"{label}: theory")
        per = int(noise.values_per_channel[0] // max(1, noise.sizes[0]))
        self.caption_noise.setText(f"Each channel's batch statistics come from n × {per} values; their spread "
                                   f"falls like 1/√(values) (dashed: theory for normal data), so small batches "
                                   f"normalize with noisy statistics.")
        self.plot_dependence.clear()
        n_sizes = len(dependence.sizes)
        for k, method in enumerate(dependence.spread):
            xs, ys = [], []
            for i, values in enumerate(dependence.values[method]):
                jitter = np.linspace(-0.07, 0.07, len(values)) if len(values) > 1 else np.zeros(1)
                xs.append(i + (k - 1) * 0.25 + jitter)
                ys.append(values)
            color = METHOD_COLORS.get(method, BEFORE)
            self.plot_dependence.addItem(pg.ScatterPlotItem(np.concatenate(xs), np.concatenate(ys), size=4,
                                                            brush=_faint(color, 150), pen=None,
                                                            name=METHODS[method].label))
        self.plot_dependence.getAxis("bottom").setTicks([[(i, str(int(s))) for i, s in enumerate(dependence.sizes)]])
        self.plot_dependence.setXRange(-0.6, n_sizes - 0.4, padding=0)
        self.plot_shrink.clear()
        self.plot_shrink.plot(shrink.layers, shrink.predicted, pen=_pen(TRUE, 1.5, DASH),
                              name="predicted ((n−1)/n)^k")
        self.plot_shrink.plot(shrink.layers, shrink.measured, pen=None, symbol="o", symbolSize=7,
                              symbolBrush=AFTER, symbolPen=None, name="measured")
        self.caption_shrink.setText(f"running_var keeps the unbiased n/(n−1)·σ² (n = {shrink.n} values per "
                                    f"channel) but training divides by the biased σ², so in eval every BatchNorm "
                                    f"layer leaves a variance of (n−1)/n: ((n−1)/n)^k after k layers.")


MODE_TEXT = {
    "update": ("keep training BatchNorm", "Batch statistics, running statistics follow the new data: eval output "
               "settles at mean 0, std 1."),
    "frozen": ("frozen (BN in eval mode)", "The old data's running statistics are used and kept: train and eval "
               "agree, but the new data stays shifted and scaled."),
    "batch_only": ("batch stats, no running update", "Training looks normalized, but eval still uses the old "
                   "statistics: the classic train/eval gap."),
}


class FreezeTab(QWidget):
    """Fine-tuning on the drifted data under each of FREEZE_MODES, side by side."""

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        self.label_freeze = QLabel(objectName="label_freeze")
        self.label_freeze.setWordWrap(True)
        outer.addWidget(self.label_freeze)
        grid = QGridLayout()
        outer.addLayout(grid, 1)
        self.plots, self.hists = {}, {}
        for col, mode in enumerate(FREEZE_MODES):
            title, text = MODE_TEXT[mode]
            plot = make_plot(f"plot_freeze_{mode}", title, "fine-tuning step", "output mean / std")
            if col == 0:  # one legend for the row: the three plots draw the same series
                add_legend(plot)
            hist = make_plot(f"plot_freeze_hist_{mode}", "held-out batch after fine-tuning", "output", "density")
            self.plots[mode], self.hists[mode] = plot, hist
            grid.addWidget(plot, 0, col)
            grid.addWidget(hist, 1, col)
            grid.addWidget(caption(text, f"caption_freeze_{mode}"), 2, col)

    def draw(self, res, cfg, channel: int):
        for widget in list(self.plots.values()) + list(self.hists.values()):
            widget.clear()
        if res is None:
            self.label_freeze.setText("Fine-tuning needs a drift: choose shift or new domain, with the drift step "
                                      "between 1 and the number of steps − 1.")
            return
        self.label_freeze.setText(f"BatchNorm's running statistics are learnt on steps 0–{cfg.drift_step - 1}, then "
                                  f"it is fine-tuned on the drifted data for {len(res.steps)} steps three ways. "
                                  f"Lines: channel {channel}, solid = eval mode on a held-out batch, dashed = the "
                                  f"training output; the target is mean 0, std 1. "
                                  f"Histograms: train and eval mode output, titled mean ± std.")
        edges = common_edges([v.values for d in (res.held_train, res.held_eval) for v in d.values()], bins=50)
        for mode in FREEZE_MODES:
            plot = self.plots[mode]
            for key, color in (("mean", SELECTED), ("std", AFTER)):
                plot.plot(res.steps, getattr(res, f"eval_{key}")[mode][:, channel], pen=_pen(color, 2.2),
                          name=f"eval {key}")
                plot.plot(res.steps, getattr(res, f"train_{key}")[mode][:, channel], pen=_pen(color, 1.3, DASH),
                          name=f"train {key}")
            for level in (0.0, 1.0):
                plot.addItem(pg.InfiniteLine(level, angle=0, pen=_pen("#aaa", 1, DOT)))
            hist = self.hists[mode]
            hist.addItem(hist_item(res.held_train[mode].values, edges, SELECTED))
            hist.addItem(hist_item(res.held_eval[mode].values, edges, AFTER))
            hist.setTitle(_pair_title("held-out batch after fine-tuning", res.held_train[mode], res.held_eval[mode]),
                          size="10pt")
