"""Where the normalization goes in a transformer (Xiong et al. 2020): post-LN, pre-LN, RMSNorm
pre-norm, sandwich, DeepNorm and none; the residual stream's norm and each block's gradient norm at
initialization, and a toy task trained with and without a learning-rate warm-up."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QVBoxLayout, QWidget

from kernels.experiments import PLACEMENTS, TransformerConfig, run_transformer

from ..widgets.common import SciSpinBox, blocked
from .real_base import RealExperimentView
from .real_parts import DASH, SOLID, fill_table, fmt, log_decades, log_ticks, make_table, pen, plot_cell, series_color
from .real_runs import transformer_csv
from .view_parts import add_legend, caption, make_plot, show_outcome

LABELS = {"post": "post-LN", "pre": "pre-LN", "rms_pre": "RMSNorm pre-norm", "sandwich": "sandwich",
          "deepnorm": "DeepNorm", "none": "no norm"}
MODES = {"constant": "constant learning rate", "warmup": "linear warm-up"}
EXPLANATION = (
    "A stack of residual blocks (self-attention and MLP) on token sequences, with the LayerNorm after the "
    "residual addition (post-LN, the original transformer), before each sublayer (pre-LN, GPT-2), as RMSNorm "
    "(LLaMA), on both sides (sandwich) or after a scaled residual (DeepNorm). At initialization post-LN keeps "
    "the stream at √C but its gradients are largest near the output, so Adam at full learning rate from step 0 "
    "can wreck it: it needs a warm-up. Pre-LN's stream grows with depth and its gradients shrink toward the "
    "output: it trains either way. The task: reverse a sequence of tokens.")


def placement_color(p: str):
    return series_color(PLACEMENTS.index(p))


class TransformerView(RealExperimentView):
    """objectName view_transformer. `result` is the latest kernels TransformerResult."""

    NEEDS = ("torch",)
    DEFAULT_TIME = "the default, 6 placements × 2 schedules × 150 steps, takes about 20–25 s on 2 cores"

    def __init__(self, parent=None, autorun: bool = True):
        super().__init__("transformer", parent)
        layout = QHBoxLayout(self)
        layout.addWidget(self._build_controls())
        layout.addLayout(self._build_plots(), 1)
        self._built(autorun)

    def _build_controls(self) -> QWidget:
        box = QGroupBox("Transformer stack")
        box.setFixedWidth(300)
        form = QFormLayout()
        self.checks = {}
        checks = QGridLayout()
        for k, p in enumerate(PLACEMENTS):
            check = QCheckBox(LABELS[p], objectName=f"check_{p}")
            check.setChecked(True)
            check.setToolTip(f"Compare {LABELS[p]}")
            check.toggled.connect(self.schedule)
            self.checks[p] = check
            checks.addWidget(check, k // 2, k % 2)
        form.addRow(checks)
        self.spin_layers = self._spin("layers", 1, 48, 6, "Residual blocks")
        self.spin_width = self._spin("width", 4, 256, 32, "C: the width of the residual stream")
        self.spin_heads = self._spin("heads", 1, 16, 4, "Attention heads (must divide the width)")
        self.combo_block = self._combo("block", [("attention + MLP", "attention"), ("MLP only", "mlp")],
                                       "What each block holds (MLP only learns a per-token map instead of reversing)")
        self.spin_steps = self._spin("steps", 0, 2000, 150, "Adam steps of training (0: initialization only)")
        self.spin_lr = SciSpinBox(log=True, minimum=1e-6, maximum=10.0)
        self.spin_lr.setObjectName("spin_lr")
        self.spin_lr.setValue(1e-2)
        self.spin_lr.setToolTip("Adam's learning rate (β = 0.9, 0.98, as Xiong et al.)")
        self.spin_lr.valueChanged.connect(self.schedule)
        self.spin_warmup = self._spin("warmup", 1, 2000, 50, "Warm-up steps: the rate rises linearly to lr")
        self.spin_inits = self._spin("inits", 1, 10, 3, "Initializations averaged for the norms at initialization")
        self.spin_seed = self._spin("seed", 0, 2 ** 31 - 1, 0, "Seed of the weights and the data")
        for label, widget in (("blocks", self.spin_layers), ("width C", self.spin_width), ("heads", self.spin_heads),
                              ("block", self.combo_block), ("train steps", self.spin_steps), ("lr", self.spin_lr),
                              ("warm-up steps", self.spin_warmup), ("inits", self.spin_inits),
                              ("seed", self.spin_seed)):
            form.addRow(label, widget)
        self._control_column(box, form)
        return box

    def _build_plots(self):
        grid = QGridLayout()
        self.plot_stream = make_plot("plot_transformer_stream", "residual stream at initialization", "block",
                                     "mean ‖x‖ per token")
        self.plot_grad = make_plot("plot_transformer_grad", "gradient norm at initialization", "block",
                                   "‖∂loss/∂θ_block‖ (log)")
        self.plot_grad.setLogMode(y=True)
        self.plot_loss = {}
        for mode, title in MODES.items():
            plot = make_plot(f"plot_transformer_loss_{mode}", f"training loss, {title}", "step", "loss (log)")
            plot.setLogMode(y=True)
            self.plot_loss[mode] = plot
        self.plot_lr = make_plot("plot_transformer_lr", "learning-rate schedules", "step", "learning rate")
        self.table = make_table("table_transformer", "Accuracy on held-out sequences after training, per "
                                                     "placement and schedule")
        self.plot_stream.setLogMode(y=True)
        self.plot_stream.setLabel("left", "mean ‖x‖ per token (log)")
        add_legend(self.plot_lr, offset=(-5, -5))
        self.label_legend = caption("", "label_transformer_legend")
        plot_cell(grid, 0, 0, self.plot_stream, "Post-LN and DeepNorm re-normalize after every block (‖x‖ = √C, "
                  "one line over the other); pre-LN adds every sublayer's output to a stream that is never "
                  "normalized, so it grows with depth.", "caption_transformer_stream")
        plot_cell(grid, 0, 1, self.plot_grad, "Xiong et al.'s comparison: post-LN's gradients are as large or "
                  "larger near the output; pre-LN's shrink toward it. No norm: the stream and its gradients blow up.",
                  "caption_transformer_grad")
        plot_cell(grid, 0, 2, self.plot_lr, "The same Adam steps with the full rate from step 0, or a linear "
                  "warm-up.", "caption_transformer_lr")
        plot_cell(grid, 1, 0, self.plot_loss["constant"], "Without warm-up post-LN stalls at chance (its large "
                  "early updates), while the pre-norm placements learn.", "caption_transformer_loss_constant")
        plot_cell(grid, 1, 1, self.plot_loss["warmup"], "With a warm-up post-LN learns too.",
                  "caption_transformer_loss_warmup")
        plot_cell(grid, 1, 2, self.table, "Accuracy on 256 held-out sequences after training without and with "
                  "the warm-up (chance: 1 in 16); grad ratio: the last block's gradient norm over the first's at "
                  "initialization.", "caption_transformer_table")
        column = QVBoxLayout()
        column.addWidget(caption(EXPLANATION, "label_explanation"))
        column.addWidget(self.label_placeholder)
        column.addWidget(self.label_legend)
        column.addLayout(grid, 1)
        return column

    # -- settings ----------------------------------------------------------------------------------
    def config(self) -> TransformerConfig:
        placements = tuple(p for p in PLACEMENTS if self.checks[p].isChecked())
        if not placements:
            raise ValueError("choose at least one placement")
        return TransformerConfig(placements=placements, layers=self.spin_layers.value(),
                                 width=self.spin_width.value(), heads=self.spin_heads.value(),
                                 block=self.combo_block.currentData(), train_steps=self.spin_steps.value(),
                                 lr=self.spin_lr.value(), warmup_steps=self.spin_warmup.value(),
                                 inits=self.spin_inits.value(), seed=self.spin_seed.value())

    def set_config(self, **values):
        """Set controls without triggering runs: placements (names), layers, width, heads, block,
        train_steps, lr, warmup_steps, inits, seed."""
        spins = dict(layers=self.spin_layers, width=self.spin_width, heads=self.spin_heads,
                     train_steps=self.spin_steps, lr=self.spin_lr, warmup_steps=self.spin_warmup,
                     inits=self.spin_inits, seed=self.spin_seed)
        with blocked(*spins.values(), *self.checks.values(), self.combo_block):
            for key, value in values.items():
                if key == "placements":
                    for p, check in self.checks.items():
                        check.setChecked(p in value)
                elif key == "block":
                    self.combo_block.setCurrentIndex(max(0, self.combo_block.findData(value)))
                elif key in spins:
                    spins[key].setValue(value)
                else:
                    raise ValueError(f"unknown setting {key!r}")

    def compute(self, cfg, progress, cancelled):
        return run_transformer(cfg, progress, cancelled)

    # -- drawing -----------------------------------------------------------------------------------
    def show_result(self, res):
        cfg = res.config
        show_outcome(self.label_status, f"{len(cfg.placements)} placements, {cfg.layers} blocks of width {cfg.width}, "
                                        f"task '{res.task}', {cfg.train_steps} steps per schedule: "
                                        f"{res.seconds:.1f} s")
        show_outcome(self.label_warnings, "\n".join(res.warnings), "warning")
        self.label_legend.setText("Colours: " + " · ".join(
            f"<span style='color:{placement_color(p).name()}'><b>{LABELS[p]}</b></span>" for p in cfg.placements))
        blocks = np.arange(cfg.layers + 1)
        self.plot_stream.clear()
        self.plot_grad.clear()
        for p in cfg.placements:
            color = placement_color(p)
            self.plot_stream.plot(blocks, res.stream_norm[p], pen=pen(color, 2), symbol="o", symbolSize=5,
                                  symbolBrush=color, symbolPen=None, name=LABELS[p])
            self.plot_grad.plot(blocks[1:], res.grad_norm[p], pen=pen(color, 2), symbol="o", symbolSize=5,
                                symbolBrush=color, symbolPen=None)
        log_decades(self.plot_grad, np.concatenate([res.grad_norm[p] for p in cfg.placements]))
        log_ticks(self.plot_stream, np.concatenate([res.stream_norm[p] for p in cfg.placements]))
        self.plot_lr.clear()
        for k, (mode, lrs) in enumerate(res.lr.items()):
            self.plot_lr.plot(np.arange(len(lrs)), lrs, pen=pen(series_color(6 + k), 2, DASH if k else SOLID),
                              name=MODES[mode])
        losses = []
        for mode, plot in self.plot_loss.items():
            plot.clear()
            if mode not in cfg.warmups or cfg.train_steps == 0:
                plot.setTitle(f"training loss, {MODES[mode]}: not trained", size="10pt")
                continue
            plot.setTitle(f"training loss, {MODES[mode]}", size="10pt")
            for p in cfg.placements:
                loss = res.loss[p][mode]
                ok = np.isfinite(loss) & (loss > 0)
                plot.plot(np.arange(len(loss))[ok], loss[ok], pen=pen(placement_color(p), 1.6), name=LABELS[p])
                losses.append(loss[ok])
        if losses:
            values = np.concatenate(losses)
            for plot in self.plot_loss.values():
                log_decades(plot, values)
        header = ["placement"] + [{"constant": "no warm-up", "warmup": "warm-up"}[m] for m in cfg.warmups] + \
            ["grad ratio"]
        rows = []
        for p in cfg.placements:
            g = res.grad_norm[p]
            accs = [fmt(100 * res.final_accuracy[p][m], 3) + " %" if np.isfinite(res.final_accuracy[p][m])
                    else "diverged" for m in cfg.warmups]
            rows.append([LABELS[p], *accs, float(g[-1] / g[0]) if g[0] > 0 else float("nan")])
        fill_table(self.table, header, rows)

    def csv_text(self, result) -> str:
        return transformer_csv(result)
