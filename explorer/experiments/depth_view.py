"""The depth experiment: a signal through L layers of linear → normalization → activation, as in
the seed article (sigmoid saturates without BatchNorm, keeps its spread with it)."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from kernels import METHODS
from kernels.experiments import DepthConfig, article_config, run_depth

from ..palette import AFTER, BEFORE, SELECTED
from ..widgets.common import blocked
from .runs import STAGE_NAMES, depth_csv, write_csv
from .view_base import ExperimentView
from .view_parts import caption, common_edges, hist_item, make_plot, show_outcome, two_line_title

KINDS = ("dense", "conv")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "gelu", "selu")
INITS = ("normal", "xavier", "he", "lecun")
STAGES = tuple(zip(STAGE_NAMES, ("W·x + b (before normalization)", "after normalization", "after the activation"),
                   (BEFORE, AFTER, SELECTED)))

EXPLANATION = (
    "Each layer computes W·x + b, then the normalization (training mode, batch statistics), then the "
    "activation; 100 samples of 20 uniform features go in. The seed article: with standard-normal weights "
    "and a sigmoid, W·x + b spreads far beyond ±5, so most sigmoid outputs sit at 0 or 1 (saturated) and "
    "the gradients shrink toward the first layer. With BatchNorm after every linear step the values are "
    "brought back to mean 0, std 1 before the sigmoid: it stays in its sensitive range, saturation "
    "disappears and the weight gradients come out about the same size in every layer.")

SATURATION = {"sigmoid": "output < 0.01 or > 0.99", "tanh": "|output| > 0.99", "relu": "output = 0 (dead)",
              "gelu": "input < −3 (flat tail)", "selu": "input < ln 0.01 (at its floor)"}


class DepthView(ExperimentView):
    """objectName view_depth. `result` is the latest kernels DepthResult (None before the first run)."""

    def __init__(self, parent=None, autorun: bool = True):
        super().__init__("depth", parent)
        self.result = None
        self._norm_params: dict = {}

        layout = QHBoxLayout(self)
        layout.addWidget(self._build_controls())
        layout.addLayout(self._build_plots(), 1)
        self._built(autorun)

    # -- building ----------------------------------------------------------------------------
    def _build_controls(self) -> QWidget:
        box = QGroupBox("Deep stack")
        box.setFixedWidth(300)
        form = QFormLayout()
        self.spin_layers = self._spin("layers", 1, 50, 5, "Number of layers (linear → normalization → activation)")
        self.combo_kind = self._combo("kind", [("dense", "dense"), ("conv 3×3", "conv")],
                                      "dense: fully connected layers; conv: 3×3 convolutions on 8×8 maps")
        self.spin_width = self._spin("width", 1, 1024, 64, "Units per dense layer, or channels per conv layer")
        self.combo_activation = self._combo("activation", [(a, a) for a in ACTIVATIONS],
                                            "The nonlinearity after every normalization")
        self.combo_init = self._combo("init", [("normal (std 1, the article)", "normal"),
                                               ("Xavier / Glorot", "xavier"), ("He / Kaiming", "he"),
                                               ("LeCun", "lecun")],
                                      "How the weights are drawn: normal is standard normal weights and biases; "
                                      "the others scale the std by the fan-in (and fan-out), biases 0")
        self.combo_norm = self._combo("norm", [("none", None)] + [(m.label, name) for name, m in METHODS.items()],
                                      "The normalization after every linear step, in training mode "
                                      "(dense layers: one position per feature)")
        self.combo_norm.currentIndexChanged.connect(lambda *_: self._norm_params.clear())
        self.spin_seed = self._spin("seed", 0, 2 ** 31 - 1, 0, "Seed of the inputs and weights")
        for label, widget in (("layers", self.spin_layers), ("layer kind", self.combo_kind),
                              ("width", self.spin_width), ("activation", self.combo_activation),
                              ("weight init", self.combo_init), ("normalization", self.combo_norm),
                              ("seed", self.spin_seed)):
            form.addRow(label, widget)
        self.button_article = QPushButton("without BN", objectName="button_article")
        self.button_article.setToolTip("The seed article: 5 dense sigmoid layers of 64, standard-normal weights, "
                                       "no normalization")
        self.button_article.clicked.connect(lambda: self.apply_article(False))
        self.button_article_bn = QPushButton("with BatchNorm", objectName="button_article_bn")
        self.button_article_bn.setToolTip("The same with BatchNorm (γ=1, β=0, eps=1e-8) after every linear step")
        self.button_article_bn.clicked.connect(lambda: self.apply_article(True))
        presets = QHBoxLayout()
        presets.addWidget(self.button_article)
        presets.addWidget(self.button_article_bn)
        self._control_column(box, form, extras=(QLabel("Seed article preset:"), presets))
        return box

    def _build_plots(self):
        self.label_explanation = caption(EXPLANATION, "label_explanation")
        self.ridges = {}
        grid = QGridLayout()
        for col, (stage, title, _) in enumerate(STAGES):
            plot = make_plot(f"plot_depth_hist_{stage}", title, "value", "layer",
                             "One histogram per layer, layer 1 at the top, each scaled to its own peak "
                             "(a single spike, like ReLU's zeros, is clipped)")
            plot.getViewBox().invertY(True)
            plot.showGrid(x=True, y=False)
            self.ridges[stage] = plot
            grid.addWidget(plot, 0, col * 4, 1, 4)
        self.plot_mean = make_plot("plot_depth_mean", "mean per layer", "layer", "mean")
        self.plot_std = make_plot("plot_depth_std", "std per layer", "layer", "std")
        self.plot_saturated = make_plot("plot_depth_saturated", "saturated units", "layer", "fraction saturated")
        self.plot_grad = make_plot("plot_depth_grad", "weight-gradient norm", "layer", "‖∂loss/∂W‖ (log scale)",
                                   "Frobenius norm of the loss gradient for each layer's weight; loss = mean(output²)")
        self.plot_grad.setLogMode(y=True)
        self.plot_saturated.setYRange(0, 1)
        for col, plot in enumerate((self.plot_mean, self.plot_std, self.plot_saturated, self.plot_grad)):
            grid.addWidget(plot, 1, col * 3, 1, 3)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        self.label_caption = caption("Top: how each layer's values are distributed before normalizing, after it and "
                                     "after the activation. Bottom: the same layers as numbers; the saturated "
                                     "fraction counts units in the activation's flat region.", "label_caption")
        column = QVBoxLayout()
        column.addWidget(self.label_explanation)
        column.addLayout(grid, 1)
        column.addWidget(self.label_caption)
        return column

    # -- settings ------------------------------------------------------------------------------
    def config(self) -> DepthConfig:
        """The DepthConfig the controls describe (what `run` computes)."""
        norm = self.combo_norm.currentData()
        return DepthConfig(layers=self.spin_layers.value(), width=self.spin_width.value(), samples=100, features=20,
                           kind=self.combo_kind.currentData(), activation=self.combo_activation.currentData(),
                           init=self.combo_init.currentData(), norm=norm,
                           norm_params=dict(self._norm_params) if norm else {}, inputs="uniform",
                           seed=self.spin_seed.value())

    def set_config(self, norm_params=None, **values):
        """Set controls without triggering runs: layers, width, kind, activation, init, norm, seed;
        norm_params: the normalization's keywords (cleared when norm changes and none are given)."""
        widgets = dict(layers=self.spin_layers, width=self.spin_width, seed=self.spin_seed, kind=self.combo_kind,
                       activation=self.combo_activation, init=self.combo_init, norm=self.combo_norm)
        with blocked(*widgets.values()):
            for key, value in values.items():
                widget = widgets[key]
                if isinstance(widget, QSpinBox):
                    widget.setValue(int(value))
                else:
                    index = widget.findData(value)
                    if index < 0:
                        raise ValueError(f"unknown {key} {value!r}")
                    widget.setCurrentIndex(index)
        if norm_params is not None or "norm" in values:
            self._norm_params = dict(norm_params or {})

    def apply_article(self, batchnorm: bool):
        """The seed article's setting (the seed is kept), with or without BatchNorm; runs it."""
        cfg = article_config(batchnorm=batchnorm)
        self.set_config(layers=cfg.layers, width=cfg.width, kind=cfg.kind, activation=cfg.activation, init=cfg.init,
                        norm=cfg.norm, norm_params=cfg.norm_params)
        self.run()

    def job(self):
        cfg = self.config()
        return lambda progress, cancelled: run_depth(cfg, progress, cancelled)

    # -- results -------------------------------------------------------------------------------
    def _on_finished(self, result):
        self.result, self.error = result, None
        grads = {"torch": "gradients by torch autograd", "numpy": "gradients by the NumPy backward pass"}
        text = f"{len(result.layers)} layers · loss {result.loss:.4g}" if result.loss is not None else \
            f"{len(result.layers)} layers"
        text += " · " + (grads.get(result.gradients) or f"no gradients: {result.gradient_reason}")
        show_outcome(self.label_status, text)
        show_outcome(self.label_warnings, "\n".join(result.warnings), "warning")
        self.redraw()

    def redraw(self):
        res = self.result
        if res is None:
            return
        layers = res.layers
        x = np.arange(1, len(layers) + 1)
        for stage, title, color in STAGES:
            plot = self.ridges[stage]
            plot.clear()
            values = [getattr(r, stage).values for r in layers]
            edges = common_edges(values, bins=60)
            for i, v in enumerate(values):
                plot.addItem(hist_item(v, edges, color, width=1.2, fill_alpha=90, scale=-0.9, offset=i + 1.45))
            step = max(1, int(np.ceil(len(layers) / 12)))
            plot.getAxis("left").setTicks([[(i + 1, str(i + 1)) for i in range(0, len(layers), step)]])
            plot.setYRange(0.4, len(layers) + 0.6, padding=0)
            plot.setXRange(edges[0], edges[-1], padding=0.02)
            same = stage == "normed" and res.config.norm is None
            plot.setTitle(f"{title}{' (none: same as W·x + b)' if same else ''}", size="10pt")
        for plot in (self.plot_mean, self.plot_std):
            plot.clear()
            key = "mean" if plot is self.plot_mean else "std"
            for stage, _, color in STAGES:
                y = np.array([getattr(getattr(r, stage), key) for r in layers])
                dashed = stage == "normed" and res.config.norm is None  # equals W·x + b: keep both visible
                pen = pg.mkPen(color, width=2, style=pg.QtCore.Qt.PenStyle.DashLine if dashed else
                               pg.QtCore.Qt.PenStyle.SolidLine)
                plot.plot(x, y, pen=pen, symbol="o", symbolSize=5, symbolBrush=color,
                          symbolPen=None)
            series = [(label, color) for (_, _, color), label in zip(STAGES, ("W·x + b", "normalized", "activation"))]
            plot.setTitle(two_line_title(f"{key} per layer", *series), size="10pt")
        self.plot_saturated.clear()
        sat = np.array([r.saturated for r in layers])
        self.plot_saturated.addItem(pg.BarGraphItem(x=x, height=sat, width=0.7, brush=pg.mkBrush(SELECTED)))
        self.plot_saturated.setYRange(0, 1)
        self.plot_saturated.setTitle(f"saturated units<br><span style='font-size:8pt'>"
                                     f"{html.escape(SATURATION[res.config.activation])}</span>", size="10pt")
        self.plot_grad.clear()
        grads = np.array([np.nan if r.grad_norm is None else r.grad_norm for r in layers])
        ok = np.isfinite(grads) & (grads > 0)
        if ok.any():
            self.plot_grad.plot(x[ok], grads[ok], pen=pg.mkPen(SELECTED, width=2), symbol="o", symbolSize=6,
                                symbolBrush=SELECTED, symbolPen=None)
            lo, hi = np.log10(grads[ok].min()), np.log10(grads[ok].max())
            # whole decades, at least one, so the log axis always has labelled ticks
            self.plot_grad.setYRange(np.floor(lo), max(np.ceil(hi), np.floor(lo) + 1), padding=0.02)
            self.plot_grad.setTitle("weight-gradient norm", size="10pt")
        else:
            self.plot_grad.setTitle(f"no gradients: {res.gradient_reason or 'all zero'}", size="9pt")

    # -- app hooks -------------------------------------------------------------------------------
    def export_csv(self, path):
        """The per-layer numbers to `path` (SaveError on failure, ValueError before the first run)."""
        if self.result is None:
            raise ValueError("nothing to export yet: the experiment has not finished a run")
        write_csv(path, depth_csv(self.result))
