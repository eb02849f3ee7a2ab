"""Padded sequences (the seeds' RNN point): BatchNorm and LayerNorm on (N, L, C) tokens of different
lengths, their statistics with and without a padding mask, and how the padded fraction biases them."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QVBoxLayout, QWidget

from kernels.experiments import PaddingConfig, run_padding

from ..palette import AFTER, SELECTED
from ..widgets.common import blocked
from .real_base import RealExperimentView
from .real_parts import BLACK, DASH, fmt, pen, plot_cell
from .real_runs import batch_bias, padding_csv
from .view_parts import add_legend, caption, common_edges, hist_item, make_plot, show_outcome, two_line_title

PAD = (200, 200, 200, 255)
EXPLANATION = (
    "N sequences of different lengths, padded to the longest with a pad value (grey), normalized three ways. "
    "BatchNorm pools every position of every sequence per channel, so the padding enters its mean and variance: "
    "every real token's output moves, and so do the running statistics evaluation will use. A mask (statistics "
    "over the real tokens only, as BatchNorm on a packed sequence) removes the effect. LayerNorm over C never "
    "mixes positions: the padding cannot touch a real token.")


class PaddingView(RealExperimentView):
    """objectName view_padding. `result` is the latest kernels PaddingResult."""

    NEEDS = ()
    AUTORUN = True
    RERUN_ON_CHANGE = True

    def __init__(self, parent=None, autorun: bool = True):
        super().__init__("padding", parent)
        layout = QHBoxLayout(self)
        layout.addWidget(self._build_controls())
        layout.addLayout(self._build_plots(), 1)
        self._built(autorun)

    def _build_controls(self) -> QWidget:
        box = QGroupBox("Padded batch (N, L, C)")
        box.setFixedWidth(300)
        form = QFormLayout()
        self.spin_samples = self._spin("samples", 1, 256, 8, "N: sequences in the batch")
        self.spin_length = self._spin("length", 2, 256, 16, "L: the longest sequence (every sequence is padded to it)")
        self.spin_channels = self._spin("channels", 1, 64, 4, "C: features per token")
        self.spin_min_length = self._spin("min_length", 1, 256, 2, "The shortest a sequence may be (lengths are "
                                          "drawn between this and L; the first sequence is always L long)")
        self.spin_pad = self._double("pad", -100.0, 100.0, 0.0, "The value written into the padding positions")
        self.spin_mean = self._double("mean", -100.0, 100.0, 2.0, "Real tokens: per-channel means drawn around this")
        self.spin_std = self._double("std", 0.01, 100.0, 1.5, "Real tokens: per-channel stds drawn around this")
        self.spin_seed = self._spin("seed", 0, 2 ** 31 - 1, 0, "Seed of the lengths and the tokens")
        self.spin_channel = self._spin("channel", 0, 3, 0, "The channel the picture and the histograms show "
                                       "(drawing only)", rerun=False)
        for label, widget in (("samples N", self.spin_samples), ("length L", self.spin_length),
                              ("channels C", self.spin_channels), ("min length", self.spin_min_length),
                              ("pad value", self.spin_pad), ("token mean", self.spin_mean),
                              ("token std", self.spin_std), ("seed", self.spin_seed),
                              ("plot channel", self.spin_channel)):
            form.addRow(label, widget)
        self._control_column(box, form)
        return box

    def _build_plots(self):
        grid = QGridLayout()
        self.plot_batch = make_plot("plot_padding_batch", "the padded batch", "position l", "sequence n")
        self.plot_batch.getViewBox().invertY(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot_batch.addItem(self.image)
        self.plot_mean = make_plot("plot_padding_mean", "BatchNorm's mean per channel", "channel", "mean")
        self.plot_var = make_plot("plot_padding_var", "BatchNorm's variance per channel", "channel", "variance")
        self.plot_bias_mean = make_plot("plot_padding_bias_mean", "mean against the padded fraction",
                                        "padded fraction f", "BatchNorm mean")
        self.plot_bias_var = make_plot("plot_padding_bias_var", "variance against the padded fraction",
                                       "padded fraction f", "BatchNorm variance")
        self.plot_hist = make_plot("plot_padding_hist", "BatchNorm output of the real tokens", "output", "density")
        for plot in (self.plot_mean, self.plot_var):
            add_legend(plot)
        add_legend(self.plot_bias_var, offset=(5, -5))  # bottom left: the curves fall to the right
        add_legend(self.plot_bias_mean, offset=(5, -5))
        plot_cell(grid, 0, 0, self.plot_batch, "One row per sequence, one column per position: the channel's "
                  "values, padding in grey.", "caption_padding_batch")
        plot_cell(grid, 0, 1, self.plot_mean, "Unmasked BatchNorm (orange) averages the pads in: its mean is "
                  "pulled toward the pad value; masked (blue) is the real tokens' own.", "caption_padding_mean")
        plot_cell(grid, 0, 2, self.plot_var, "The variance grows by f(1 − f)(μ − pad)² when the pads sit away "
                  "from the tokens' mean (and shrinks by (1 − f) when they sit at it).", "caption_padding_var")
        plot_cell(grid, 1, 0, self.plot_bias_mean, "Channel 0 in closed form, (1 − f)·μ + f·pad, for the "
                  "distribution and for this batch's real tokens; the dot, BatchNorm's unmasked mean, lies on it.",
                  "caption_padding_bias_mean")
        plot_cell(grid, 1, 1, self.plot_bias_var, "(1 − f)·σ² + f(1 − f)(μ − pad)²: the bias grows with the "
                  "padding until f = ½ for the second term.", "caption_padding_bias_var")
        plot_cell(grid, 1, 2, self.plot_hist, "Masked, the real tokens come out with mean 0 and std 1; unmasked "
                  "they are shifted and squeezed by statistics that counted the pads.", "caption_padding_hist")
        self.label_change = caption("", "label_padding_change")
        column = QVBoxLayout()
        column.addWidget(caption(EXPLANATION, "label_explanation"))
        column.addWidget(self.label_placeholder)
        column.addLayout(grid, 1)
        column.addWidget(self.label_change)
        return column

    # -- settings ----------------------------------------------------------------------------------
    def config(self) -> PaddingConfig:
        return PaddingConfig(samples=self.spin_samples.value(), max_length=self.spin_length.value(),
                             channels=self.spin_channels.value(),
                             min_length=min(self.spin_min_length.value(), self.spin_length.value()),
                             pad_value=self.spin_pad.value(), mean=self.spin_mean.value(), std=self.spin_std.value(),
                             seed=self.spin_seed.value())

    def set_config(self, **values):
        """Set controls without triggering runs: samples, max_length, channels, min_length, pad_value, mean,
        std, seed."""
        widgets = dict(samples=self.spin_samples, max_length=self.spin_length, channels=self.spin_channels,
                       min_length=self.spin_min_length, pad_value=self.spin_pad, mean=self.spin_mean,
                       std=self.spin_std, seed=self.spin_seed)
        with blocked(*widgets.values()):
            for key, value in values.items():
                if key not in widgets:
                    raise ValueError(f"unknown setting {key!r}")
                widgets[key].setValue(value)

    def compute(self, cfg, progress, cancelled):
        return run_padding(cfg, progress, cancelled)

    # -- drawing -----------------------------------------------------------------------------------
    def show_result(self, res):
        b, t, s = res.batch, res.token_layer, res.sequence_layer
        show_outcome(self.label_status, f"{res.config.samples} sequences, lengths {res.lengths.min()}–"
                                        f"{res.lengths.max()} of {res.config.max_length}: "
                                        f"{100 * res.pad_fraction:.0f} % padding")
        warnings = [w + (" (the pad tokens: all one value, normalized to 0 by LayerNorm over C)"
                         if "variance 0" in w and res.pad_fraction > 0 else "") for w in res.warnings]
        show_outcome(self.label_warnings, "\n".join(warnings), "warning")
        self.label_change.setText(
            f"Largest change a mask makes to a real token's output: BatchNorm {fmt(b.max_change, 3)}, LayerNorm "
            f"over (L, C) {fmt(s.max_change, 3)}, LayerNorm over C {fmt(t.max_change, 3)} (it never mixes "
            f"positions).")
        with blocked(self.spin_channel):
            self.spin_channel.setMaximum(res.config.channels - 1)
        self.redraw()

    def redraw(self, *_):
        res = self.result
        if res is None:
            return
        c = min(self.spin_channel.value(), res.config.channels - 1)
        self._draw_batch(res, c)
        self._draw_stats(res)
        self._draw_bias(res)
        b = res.batch
        real = res.mask
        masked, unmasked = b.output_masked[..., c][real], b.output_unmasked[..., c][real]
        self.plot_hist.clear()
        edges = common_edges([masked, unmasked], bins=24)
        self.plot_hist.addItem(hist_item(masked, edges, SELECTED))
        self.plot_hist.addItem(hist_item(unmasked, edges, AFTER))
        self.plot_hist.setTitle(two_line_title(f"real tokens after BatchNorm, channel {c}",
                                               (f"masked {masked.mean():.2f} ± {masked.std():.2f}", SELECTED),
                                               (f"unmasked {unmasked.mean():.2f} ± {unmasked.std():.2f}", AFTER)),
                                size="10pt")

    def _draw_batch(self, res, c):
        values = res.x[..., c]
        real = values[res.mask]
        lo, hi = (real.min(), real.max()) if real.size else (0.0, 1.0)
        scaled = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
        rgba = (pg.colormap.get("viridis").map(scaled.ravel(), mode="byte")).reshape(*values.shape, 4)
        rgba[~res.mask] = PAD
        self.image.setImage(rgba, levels=None)
        self.image.setRect(-0.5, -0.5, values.shape[1], values.shape[0])
        self.plot_batch.setTitle(f"the padded batch, channel {c}<br><span style='font-size:8pt'>grey: padding "
                                 f"(value {res.config.pad_value:g})</span>", size="10pt")
        self.plot_batch.autoRange(padding=0)

    def _draw_stats(self, res):
        b = res.batch
        x = np.arange(res.config.channels)
        for plot, masked, unmasked, truth in ((self.plot_mean, b.mean_masked, b.mean_unmasked, res.true_mean),
                                              (self.plot_var, b.var_masked, b.var_unmasked, res.true_std ** 2)):
            plot.clear()
            plot.addItem(pg.BarGraphItem(x=x - 0.18, height=masked, width=0.34, brush=SELECTED, name="masked"))
            plot.addItem(pg.BarGraphItem(x=x + 0.18, height=unmasked, width=0.34, brush=AFTER, name="unmasked"))
            plot.plot(x, truth, pen=None, symbol="_", symbolSize=22, symbolPen=pen(BLACK, 2), name="true")
            plot.getAxis("bottom").setTicks([[(int(i), str(int(i))) for i in x]])
            top = float(np.nanmax(np.concatenate([masked, unmasked, truth])))
            plot.setYRange(min(0.0, float(np.nanmin(np.concatenate([masked, unmasked, truth])))), top * 1.45,
                           padding=0)  # room for the legend above the bars

    def _draw_bias(self, res):
        b = res.batch
        own_mean, own_var = batch_bias(res)
        for plot, curve, own, measured in ((self.plot_bias_mean, res.bias_mean, own_mean, b.mean_unmasked[0]),
                                           (self.plot_bias_var, res.bias_var, own_var, b.var_unmasked[0])):
            plot.clear()
            plot.plot(res.fraction, curve, pen=pen(BLACK, 1.5, DASH), name="the tokens' distribution")
            plot.plot(res.fraction, own, pen=pen(AFTER, 2), name="this batch's real tokens")
            plot.plot([res.pad_fraction], [measured], pen=None, symbol="o", symbolSize=10, symbolBrush=AFTER,
                      symbolPen=pen(BLACK, 1), name=f"this batch unmasked (f = {res.pad_fraction:.2f})")
            plot.setXRange(0, 0.9, padding=0.02)

    def csv_text(self, result) -> str:
        return padding_csv(result)
