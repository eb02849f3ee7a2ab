"""Normalizing weights instead of activations: weight normalization, spectral normalization and
weight standardization on a conv weight, which weights share a norm, and the effect on a layer."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QVBoxLayout, QWidget

from kernels.experiments import weight_shared_mask

from ..palette import AFTER, BEFORE
from ..widgets.common import blocked
from .runs import WeightsResult, compute_weights, weights_csv, write_csv
from .view_base import ExperimentView
from .view_parts import (
    add_legend,
    caption,
    common_edges,
    hist_item,
    make_plot,
    show_outcome,
    status_label,
    two_line_title,
)
from .weight_tiles import WeightTiles

KINDS = (("weight_norm", "Weight normalization"), ("spectral_norm", "Spectral normalization"),
         ("weight_standardization", "Weight standardization"))
DIMS = (("0: one norm per output channel", 0), ("1: per input channel", 1), ("2: per kernel row", 2),
        ("3: per kernel column", 3), ("None: one norm for the whole weight", None))
EXPLAIN = {
    "weight_norm": "Weight normalization (Salimans & Kingma 2016): w = g · v / ‖v‖, the norm over every axis but "
                   "dim; here g = 1, so every outlined group has unit norm. torch starts from g = ‖v‖ (w = v).",
    "spectral_norm": "Spectral normalization (Miyato et al. 2018): the whole weight, as an O × (I·kH·kW) matrix, "
                     "is divided by its largest singular value σ, estimated by power iteration (torch runs one "
                     "iteration per training step, from the previous step's vectors).",
    "weight_standardization": "Weight standardization (Qiao et al. 2019): each output channel's weights (one row "
                              "of tiles) get mean 0 and std 1: ŵ = (w − μ) / (σ + eps), σ unbiased as in the "
                              "paper.",
}


class WeightsView(ExperimentView):
    """objectName view_weights. `result` is the latest kernels result of the chosen normalization
    (WeightNormResult, SpectralNormResult or StandardizedWeight); `computed` adds the weight and the
    layer effect. `selected` is the (o, i, h, w) element whose norm group is outlined."""

    def __init__(self, parent=None, autorun: bool = True):
        super().__init__("weights", parent)
        self.computed: WeightsResult | None = None
        self.selected = (0, 0, 0, 0)
        self.label_explanation = caption("", "label_explanation")
        layout = QHBoxLayout(self)
        layout.addWidget(self._build_controls())
        layout.addLayout(self._build_plots(), 1)
        self._built(autorun)

    @property
    def result(self):
        return None if self.computed is None else self.computed.normalized

    def _build_controls(self) -> QWidget:
        box = QGroupBox("Weight normalization")
        box.setFixedWidth(300)
        form = QFormLayout()
        self.combo_kind = QComboBox(objectName="combo_kind")
        for name, label in KINDS:
            self.combo_kind.addItem(label, name)
        self.combo_kind.setToolTip("Which normalization of the weight to apply")
        self.combo_kind.currentIndexChanged.connect(self._on_kind)
        self.spin_out = self._spin("out", 1, 32, 8, "O: output channels (rows of tiles)")
        self.spin_in = self._spin("in", 1, 32, 4, "I: input channels (columns of tiles)")
        self.spin_kh = self._spin("kh", 1, 7, 3, "kH: kernel height")
        self.spin_kw = self._spin("kw", 1, 7, 3, "kW: kernel width")
        self.combo_dim = QComboBox(objectName="combo_dim")
        for label, dim in DIMS:
            self.combo_dim.addItem(label, dim)
        self.combo_dim.setToolTip("Weight normalization's dim: the axis that keeps one norm per index "
                                  "(torch's default 0: one per output channel)")
        self.combo_dim.currentIndexChanged.connect(self.schedule)
        self.spin_iterations = self._spin("iterations", 0, 100, 1, "Spectral normalization's power iterations "
                                                                   "(torch: n_power_iterations, default 1)")
        self.spin_seed = self._spin("seed", 0, 2 ** 31 - 1, 0, "Seed of the weight, the input batch and the "
                                                               "power iteration's start vectors")
        for label, widget in (("method", self.combo_kind), ("O (out)", self.spin_out), ("I (in)", self.spin_in),
                              ("kH", self.spin_kh), ("kW", self.spin_kw), ("dim", self.combo_dim),
                              ("power iterations", self.spin_iterations), ("seed", self.spin_seed)):
            form.addRow(label, widget)
        self.label_selected = status_label("label_selected")
        self._control_column(box, form, labels=(self.label_selected,))
        self._on_kind(run=False)
        return box

    def _build_plots(self):
        self.tiles_before = WeightTiles("tiles_weight_before")
        self.tiles_after = WeightTiles("tiles_weight_after")
        for tiles in (self.tiles_before, self.tiles_after):
            tiles.clicked.connect(self.select)
        top = QHBoxLayout()
        top.addWidget(self.tiles_before)
        top.addWidget(self.tiles_after)
        self.plot_sigma = make_plot("plot_weights_sigma", "σ estimate vs power iterations", "iterations", "σ")
        self.plot_norms = make_plot("plot_weights_norms", "‖w‖ per output channel", "output channel", "‖w‖₂")
        self.plot_channel_std = make_plot("plot_weights_channel_std", "layer output std per channel",
                                          "output channel", "output std")
        self.plot_output = make_plot("plot_weights_output", "layer output values", "output value", "density")
        add_legend(self.plot_sigma, offset=(-5, -5))
        bottom = QGridLayout()
        for col, plot in enumerate((self.plot_sigma, self.plot_norms, self.plot_channel_std, self.plot_output)):
            bottom.addWidget(plot, 0, col)
        self.label_no_effect = caption("", "label_no_effect")
        self.label_no_effect.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bottom.addWidget(self.label_no_effect, 0, 1, 1, 3)
        self.label_caption = caption("Tiles: each row is an output channel, each column an input channel, each tile "
                                     "its kH×kW kernel (blue negative, red positive, own scale per panel). Outlined: "
                                     "the weights that share a norm with the selected one (dark frame; click any "
                                     "cell). Below: the same conv layer (zero padding) on a batch of normal inputs, "
                                     "before (grey) and after (orange) normalizing its weight.", "label_caption")
        column = QVBoxLayout()
        column.addWidget(self.label_explanation)
        column.addLayout(top, 3)
        column.addLayout(bottom, 2)
        column.addWidget(self.label_caption)
        return column

    # -- settings ------------------------------------------------------------------------------
    def _on_kind(self, *_, run=True):
        kind = self.combo_kind.currentData()
        self.combo_dim.setEnabled(kind == "weight_norm")
        self.spin_iterations.setEnabled(kind == "spectral_norm")
        self.label_explanation.setText(EXPLAIN[kind])
        if run:
            self.schedule()

    def settings(self) -> dict:
        return dict(kind=self.combo_kind.currentData(), shape=(self.spin_out.value(), self.spin_in.value(),
                                                               self.spin_kh.value(), self.spin_kw.value()),
                    dim=self.combo_dim.currentData(), iterations=self.spin_iterations.value(),
                    seed=self.spin_seed.value())

    def set_config(self, kind=None, shape=None, dim="keep", iterations=None, seed=None):
        """Set controls without triggering runs."""
        spins = (self.spin_out, self.spin_in, self.spin_kh, self.spin_kw)
        with blocked(self.combo_kind, self.combo_dim, self.spin_iterations, self.spin_seed, *spins):
            if kind is not None:
                index = self.combo_kind.findData(kind)
                if index < 0:
                    raise ValueError(f"unknown weight normalization {kind!r}")
                self.combo_kind.setCurrentIndex(index)
            if shape is not None:
                for spin, size in zip(spins, shape):
                    spin.setValue(int(size))
            if dim != "keep":
                self.combo_dim.setCurrentIndex(self.combo_dim.findData(dim))
            if iterations is not None:
                self.spin_iterations.setValue(int(iterations))
            if seed is not None:
                self.spin_seed.setValue(int(seed))
        self._on_kind(run=False)

    def job(self):
        settings = self.settings()
        return lambda progress, cancelled: compute_weights(**settings)

    def select(self, index):
        """Outline the weights that share a norm with weight[index] (no recomputation)."""
        index = tuple(int(i) for i in index)
        if self.computed is None:
            self.selected = index  # kept (clamped to the shape) for the first result
        elif len(index) == 4 and all(0 <= i < n for i, n in zip(index, self.computed.shape)):
            self.selected = index
            self._draw_tiles()

    # -- results -------------------------------------------------------------------------------
    def _on_finished(self, computed: WeightsResult):
        self.computed, self.error = computed, None
        self.selected = tuple(min(i, n - 1) for i, n in zip(self.selected, computed.shape))
        e = computed.effect
        if e is None:
            show_outcome(self.label_status, computed.effect_reason, "warning")
        else:
            show_outcome(self.label_status, f"layer output std {e.output_before.std:.3g} → "
                                            f"{e.output_after.std:.3g} · largest singular value σ "
                                            f"{e.sigma_before:.3g} → {e.sigma_after:.3g}")
        show_outcome(self.label_warnings, "\n".join(computed.normalized.warnings), "warning")
        self._draw_tiles()
        self._draw_plots()

    def _draw_tiles(self):
        c = self.computed
        mask = weight_shared_mask(c.kind, c.shape, self.selected, dim=c.dim)
        self.tiles_before.set_weight(c.weight, mask, self.selected, "before")
        self.tiles_after.set_weight(c.normalized.weight, mask, self.selected, "after")
        count = int(mask.sum())
        self.label_selected.setText(f"selected w[{', '.join(map(str, self.selected))}] = "
                                    f"{c.weight[self.selected]:.4g} → {c.normalized.weight[self.selected]:.4g}; "
                                    f"it shares its norm with {count - 1} other weight(s)")

    def _draw_plots(self):
        c, e = self.computed, self.computed.effect
        for plot in (self.plot_sigma, self.plot_norms, self.plot_channel_std, self.plot_output):
            plot.clear()
        n = c.normalized
        self.plot_sigma.setVisible(c.kind == "spectral_norm")
        if c.kind == "spectral_norm":
            its = np.arange(len(n.sigmas))
            self.plot_sigma.plot(its, n.sigmas, pen=pg.mkPen(AFTER, width=2), symbol="o", symbolSize=6,
                                 symbolBrush=AFTER, symbolPen=None, name="estimate uᵀWv")
            self.plot_sigma.addItem(pg.InfiniteLine(n.true_sigma, angle=0, pen=pg.mkPen("#222", width=1.5,
                                                                                        style=Qt.PenStyle.DashLine)))
            self.plot_sigma.plot([], [], pen=pg.mkPen("#222", width=1.5, style=Qt.PenStyle.DashLine),
                                 name=f"true σ = {n.true_sigma:.4g}")
        for plot in (self.plot_norms, self.plot_channel_std, self.plot_output):
            plot.setVisible(e is not None)
        self.label_no_effect.setVisible(e is None)
        if e is None:
            self.label_no_effect.setText(f"No layer effect: {c.effect_reason}.")
            return
        channels = np.arange(len(e.weight_norm_before))
        for plot, before, after in ((self.plot_norms, e.weight_norm_before, e.weight_norm_after),
                                    (self.plot_channel_std, e.channel_std_before, e.channel_std_after)):
            plot.addItem(pg.BarGraphItem(x=channels - 0.2, height=before, width=0.38, brush=BEFORE))
            plot.addItem(pg.BarGraphItem(x=channels + 0.2, height=after, width=0.38, brush=AFTER))
        edges = common_edges([e.output_before.values, e.output_after.values], bins=60)
        self.plot_output.addItem(hist_item(e.output_before.values, edges, BEFORE))
        self.plot_output.addItem(hist_item(e.output_after.values, edges, AFTER))
        self.plot_output.setTitle(two_line_title("layer output values", (f"before: std {e.output_before.std:.3g}",
                                                                         BEFORE),
                                                 (f"after: std {e.output_after.std:.3g}", AFTER)), size="10pt")
        for plot, title in ((self.plot_norms, "‖w‖ per output channel"),
                            (self.plot_channel_std, "layer output std per channel")):
            plot.setTitle(two_line_title(title, ("before", BEFORE), ("after", AFTER)), size="10pt")

    # -- app hooks -------------------------------------------------------------------------------
    def export_csv(self, path):
        """One row per weight element (SaveError on failure, ValueError before the first run)."""
        if self.computed is None:
            raise ValueError("nothing to export yet: the experiment has not finished a run")
        write_csv(path, weights_csv(self.computed, self.selected))
