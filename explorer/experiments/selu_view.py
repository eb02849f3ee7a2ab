"""SELU's self-normalization (Klambauer et al. 2017): the map from one layer's input mean and variance
to its output's, as arrows over (μ, ν) (the paper's Figure 2), iterated from a start to its fixed
point (0, 1), beside a torch network measuring the same; dropout and unnormalized weights move it."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QVBoxLayout, QWidget

from kernels.experiments import SeluConfig, run_selu

from ..palette import AFTER, SELECTED
from ..widgets.common import blocked
from .real_base import RealExperimentView
from .real_parts import BLACK, DASH, pen, plot_cell
from .real_runs import selu_csv
from .view_parts import add_legend, caption, make_plot, show_outcome

ARROWS = pg.mkColor("#8a8a8a")
IDEAL = pg.mkColor("#6b6b6b")
DROPOUTS = (("none", "none"), ("standard (nn.Dropout)", "standard"), ("alpha (nn.AlphaDropout)", "alpha"))
EXPLANATION = (
    "A dense layer with weights whose sums are ω = Σwᵢ and τ = Σwᵢ² turns inputs of mean μ and variance ν into "
    "pre-activations of mean μω and variance ντ; SELU then maps them to a new (μ, ν). With normalized weights "
    "(ω = 0, τ = 1, LeCun normal) that map has an attracting fixed point at (0, 1): layer after layer the "
    "activations normalize themselves, no BatchNorm needed. Standard dropout or weights with τ ≠ 1 move the "
    "fixed point (or remove it); alpha dropout keeps it.")


def quiver(means, variances, dmean, dvar):
    """(x, y) pairs of line segments drawing an arrow from every grid point along (dmean, dvar)[var, mean],
    lengths in grid cells growing as the square root of the step, for a PlotCurveItem(connect='pairs')."""
    hm = (means[-1] - means[0]) / max(1, len(means) - 1)
    hv = (variances[-1] - variances[0]) / max(1, len(variances) - 1)
    u, w = dmean / hm, dvar / hv  # in cells
    size = np.hypot(u, w)
    top = np.nanmax(size) if np.isfinite(size).any() and np.nanmax(size) > 0 else 1.0
    length = 0.85 * np.clip(np.sqrt(size / top), 0.15, 1.0)
    ux, uy = np.divide(u, size, out=np.zeros_like(u), where=size > 0), np.divide(w, size, out=np.zeros_like(w),
                                                                                  where=size > 0)
    m, v = np.meshgrid(means, variances)
    ex, ey = m + ux * length * hm, v + uy * length * hv
    xs, ys = [m, ex], [v, ey]
    for angle in (2.6, -2.6):  # the head: two short strokes back from the tip
        c, s = np.cos(angle), np.sin(angle)
        hx, hy = ux * c - uy * s, ux * s + uy * c
        xs += [ex, ex + hx * 0.3 * length * hm]
        ys += [ey, ey + hy * 0.3 * length * hv]
    ok = np.isfinite(ex) & np.isfinite(ey) & (size > 0)
    x = np.stack([a[ok] for a in xs], axis=-1).ravel()
    y = np.stack([a[ok] for a in ys], axis=-1).ravel()
    return x, y


class SeluView(RealExperimentView):
    """objectName view_selu. `result` is the latest kernels SeluResult."""

    NEEDS = ("torch",)
    DECIMALS = 3
    AUTORUN = True
    RERUN_ON_CHANGE = True

    def __init__(self, parent=None, autorun: bool = True):
        super().__init__("selu", parent)
        layout = QHBoxLayout(self)
        layout.addWidget(self._build_controls())
        layout.addLayout(self._build_plots(), 1)
        self._built(autorun)

    def _build_controls(self) -> QWidget:
        box = QGroupBox("SELU layers")
        box.setFixedWidth(300)
        form = QFormLayout()
        self.spin_start_mean = self._double("start_mean", -10.0, 10.0, 1.0, "μ: the first layer's input mean")
        self.spin_start_var = self._double("start_var", 0.0, 100.0, 3.0, "ν: the first layer's input variance")
        self.spin_layers = self._spin("layers", 1, 200, 16, "SELU layers iterated")
        self.spin_omega = self._double("omega", -3.0, 3.0, 0.0, "ω = Σ wᵢ per unit (normalized weights: 0)")
        self.spin_tau = self._double("tau", 0.01, 10.0, 1.0, "τ = Σ wᵢ² per unit (normalized: 1, LeCun normal)")
        self.spin_dropout = self._double("dropout", 0.0, 0.9, 0.0, "Dropout rate on every layer's inputs", 0.05)
        self.combo_dropout = self._combo("dropout_kind", DROPOUTS, "Standard dropout rescales the kept units; "
                                         "alpha dropout sets dropped units to SELU's floor and keeps (0, 1)")
        self.combo_weights = self._combo("weights", [("normal", "normal"), ("uniform", "uniform")],
                                         "The torch network's weight distribution (same mean and variance)")
        self.spin_width = self._spin("width", 16, 2048, 512, "Units per layer of the torch network")
        self.spin_seed = self._spin("seed", 0, 2 ** 31 - 1, 0, "Seed of the torch network's inputs and weights")
        for label, widget in (("start μ", self.spin_start_mean), ("start ν", self.spin_start_var),
                              ("layers", self.spin_layers), ("ω = Σw", self.spin_omega), ("τ = Σw²", self.spin_tau),
                              ("dropout", self.spin_dropout), ("dropout kind", self.combo_dropout),
                              ("weights", self.combo_weights), ("width", self.spin_width), ("seed", self.spin_seed)):
            form.addRow(label, widget)
        self._control_column(box, form)
        return box

    def _build_plots(self):
        grid = QGridLayout()
        self.plot_field = make_plot("plot_selu_field", "the mean/variance map", "mean μ", "variance ν")
        add_legend(self.plot_field, offset=(5, -5))  # bottom left: the trajectories come from the top
        self.plot_mean = make_plot("plot_selu_mean", "mean per layer", "layer", "mean μ")
        self.plot_var = make_plot("plot_selu_var", "variance per layer", "layer", "variance ν")
        for plot in (self.plot_mean, self.plot_var):
            add_legend(plot)
        plot_cell(grid, 0, 0, self.plot_field, "Each arrow points from (μ, ν) toward where one SELU layer takes it "
                  "(longer: a bigger step). Blue: the closed-form map iterated from the start; orange: a torch "
                  "network measured; black star: the fixed point.", "caption_selu_field", rowspan=2)
        plot_cell(grid, 0, 1, self.plot_mean, "Blue: the map for these weights and dropout; grey dashed: "
                  "normalized weights without dropout; orange dots: the torch network, whose units have ω = 0 only "
                  "on average (so its variance starts higher while the mean is far from 0).", "caption_selu_mean")
        plot_cell(grid, 1, 1, self.plot_var, "The variance settles at the fixed point's ν*: 1 for normalized "
                  "weights, elsewhere (or nowhere) otherwise.", "caption_selu_var")
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        column = QVBoxLayout()
        column.addWidget(caption(EXPLANATION, "label_explanation"))
        column.addWidget(self.label_placeholder)
        column.addLayout(grid, 1)
        return column

    # -- settings ----------------------------------------------------------------------------------
    def config(self) -> SeluConfig:
        return SeluConfig(start_mean=self.spin_start_mean.value(), start_var=self.spin_start_var.value(),
                          layers=self.spin_layers.value(), omega=self.spin_omega.value(), tau=self.spin_tau.value(),
                          dropout=self.spin_dropout.value(), dropout_kind=self.combo_dropout.currentData(),
                          weights=self.combo_weights.currentData(), width=self.spin_width.value(),
                          seed=self.spin_seed.value())

    def set_config(self, **values):
        """Set controls without triggering runs: start_mean, start_var, layers, omega, tau, dropout,
        dropout_kind, weights, width, seed."""
        spins = dict(start_mean=self.spin_start_mean, start_var=self.spin_start_var, layers=self.spin_layers,
                     omega=self.spin_omega, tau=self.spin_tau, dropout=self.spin_dropout, width=self.spin_width,
                     seed=self.spin_seed)
        combos = dict(dropout_kind=self.combo_dropout, weights=self.combo_weights)
        with blocked(*spins.values(), *combos.values()):
            for key, value in values.items():
                if key in spins:
                    spins[key].setValue(value)
                elif key in combos:
                    index = combos[key].findData(value)
                    if index < 0:
                        raise ValueError(f"unknown {key} {value!r}")
                    combos[key].setCurrentIndex(index)
                else:
                    raise ValueError(f"unknown setting {key!r}")

    def compute(self, cfg, progress, cancelled):
        return run_selu(cfg, progress, cancelled)

    # -- drawing -----------------------------------------------------------------------------------
    def show_result(self, res):
        cfg = res.config
        if res.fixed_point is None:
            text = "no attracting fixed point for these weights and dropout"
        else:
            eig = " and ".join(f"{abs(complex(e)):.2f}" for e in res.eigenvalues)
            attracts = "it attracts" if max(abs(complex(e)) for e in res.eigenvalues) < 1 else "it repels"
            text = (f"fixed point (μ*, ν*) = ({res.fixed_point[0]:.3f}, {res.fixed_point[1]:.3f}); the map's "
                    f"Jacobian there has eigenvalues of size {eig}: {attracts}")
        last = res.trajectory[-1]
        sim = res.simulated[-1]
        show_outcome(self.label_status, f"{text}. After {cfg.layers} layers: the map ({last[0]:.3f}, {last[1]:.3f}), "
                                        f"the torch network ({sim[0]:.3f}, {sim[1]:.3f})")
        show_outcome(self.label_warnings, "\n".join(res.warnings), "warning")
        self._draw_field(res)
        layers = np.arange(len(res.trajectory))
        for plot, k in ((self.plot_mean, 0), (self.plot_var, 1)):
            plot.clear()
            plot.plot(layers, res.ideal[:, k], pen=pen(IDEAL, 1.5, DASH), name="normalized weights")
            plot.plot(layers, res.trajectory[:, k], pen=pen(SELECTED, 2.2), name="map")
            plot.plot(layers, res.simulated[:, k], pen=None, symbol="o", symbolSize=6, symbolBrush=AFTER,
                      symbolPen=None, name="torch network")
            if res.fixed_point is not None:
                plot.addItem(pg.InfiniteLine(res.fixed_point[k], angle=0, pen=pen(BLACK, 1, DASH)))

    def _draw_field(self, res):
        plot = self.plot_field
        plot.clear()
        x, y = quiver(res.field_mean, res.field_var, res.field_dmean, res.field_dvar)
        plot.addItem(pg.PlotCurveItem(x, y, connect="pairs", pen=pen(ARROWS, 1.1)))
        t, s = res.trajectory, res.simulated
        ok, sok = np.all(np.isfinite(t), axis=1), np.all(np.isfinite(s), axis=1)
        plot.plot(t[ok, 0], t[ok, 1], pen=pen(SELECTED, 2.2), symbol="o", symbolSize=6, symbolBrush=SELECTED,
                  symbolPen=None, name="map, layer by layer")
        plot.plot(s[sok, 0], s[sok, 1], pen=pen(AFTER, 1.2, DASH), symbol="o", symbolSize=5, symbolBrush=AFTER,
                  symbolPen=None, name="torch network")
        plot.plot([t[0, 0]], [t[0, 1]], pen=None, symbol="s", symbolSize=10, symbolBrush=None,
                  symbolPen=pen(BLACK, 1.5), name="start")
        if res.fixed_point is not None:
            plot.plot([res.fixed_point[0]], [res.fixed_point[1]], pen=None, symbol="star", symbolSize=18,
                      symbolBrush=BLACK, symbolPen=None, name="fixed point")
        cfg = res.config
        xs = np.concatenate([cfg.field_mean, t[ok, 0], s[sok, 0]])
        ys = np.concatenate([cfg.field_var, t[ok, 1], s[sok, 1]])
        plot.setXRange(max(xs.min(), -10.0), min(xs.max(), 10.0), padding=0.04)
        plot.setYRange(max(ys.min(), 0.0), min(ys.max(), 20.0), padding=0.04)

    def csv_text(self, result) -> str:
        return selu_csv(result)
