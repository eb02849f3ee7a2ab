"""The digits view's sub-tabs, one per mode: the GroupNorm paper's Figure 1 (error against batch size),
error against the learning rate, validation curves, fine-tuning on shifted digits, and a batch size
switched mid-training. Each draws a `TrainOutcome` (explorer.experiments.real_runs)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QWidget

from kernels.experiments import FINETUNE_MODES, TRAIN_NORMS

from .real_parts import DASH, band, color_key, fresh, log_decades, note, pen, plot_cell, series_color
from .view_parts import add_legend, caption, make_plot

NORM_LABELS = {"none": "no normalization", "batch": "BatchNorm", "batch_renorm": "Batch Renorm", "group": "GroupNorm",
               "layer": "LayerNorm", "instance": "InstanceNorm", "rms": "RMSNorm", "frn": "FRN + TLU"}
FINETUNE_LABELS = {"update": "statistics updated", "frozen": "statistics frozen", "eval": "BatchNorm in eval mode",
                   "adapt": "statistics re-estimated only (AdaBN)"}
LOG_FLOOR = 0.2  # % error: the log axis's floor (an error of 0 is drawn there)
LOG_TICKS = (0.2, 0.5, 1, 2, 5, 10, 20, 50, 100)
TRAIN_MODE_NOTE = "training mode: each validation batch normalized with its own statistics"
EVAL_MODE_NOTE = "eval mode: running statistics"


def norm_color(norm: str):
    return series_color(TRAIN_NORMS.index(norm))


def _ticks(plot, positions, labels):
    plot.getAxis("bottom").setTicks([list(zip(positions, labels))])


class SweepTab(QWidget):
    """Error (×100) against the batch size (log2 axis) or the learning rate (log10 axis), one line per
    normalization with a ±std band over the seeds; `train_mode` picks the evaluation."""

    def __init__(self, over: str, parent=None):
        super().__init__(parent)
        self.over = over  # "batch" or "lr"
        grid = QGridLayout(self)
        if over == "batch":
            self.plot = make_plot("plot_train_figure1", "validation error against batch size", "batch size (log₂)",
                                  "validation error (%)")
            text = ("The GroupNorm paper's Figure 1, on digits. In eval mode BatchNorm copes even at batch 2 here "
                    "(8×8 maps give every channel 64 values per image); in training mode, where each batch is "
                    "normalized with its own statistics, its error grows as the batch shrinks. Batch-independent "
                    "norms stay flat; at large batches a fixed number of epochs gives them few steps.")
        else:
            self.plot = make_plot("plot_train_lr", "validation error against the learning rate",
                                  "learning rate at batch 32 (log₁₀)", "validation error (%)")
            text = ("BatchNorm's tolerance of large learning rates: with it the network trains from 0.01 to 3; "
                    "without normalization it barely trains at small rates and diverges at large ones (a diverged "
                    "run counts as chance, 90 %).")
        self.key = caption("", f"label_train_{over}_key")
        grid.addWidget(self.key, 0, 0)
        plot_cell(grid, 1, 0, self.plot, text, f"caption_train_{over}")
        grid.setRowStretch(1, 1)

    def draw(self, outcome, train_mode: bool, log: bool = False):
        """The sweep's mean error per normalization; train_mode: evaluated with batch statistics; log: a log
        error axis (the small errors apart from the large ones)."""
        sweep = outcome.sweep if outcome is not None else None
        if sweep is None:
            note(self.plot, "not run yet: press Run")
            self.key.setText("")
            return
        fresh(self.plot)
        c = sweep.config
        mean = sweep.mean_error_train_mode if train_mode else sweep.mean_error
        std = sweep.std_error_train_mode if train_mode else sweep.std_error
        if self.over == "batch":
            values = np.asarray(c.batch_sizes, float)
            x, labels = np.log2(values), [str(v) for v in c.batch_sizes]
            mean, std = mean[:, :, 0], std[:, :, 0]
        else:
            values = np.asarray(c.lrs, float)
            x, labels = np.log10(values), [f"{v:g}" for v in c.lrs]
            mean, std = mean[:, 0, :], std[:, 0, :]
        def y(v):
            v = np.clip(v, LOG_FLOOR if log else 0.0, 100.0)
            return np.log10(v) if log else v

        for i, norm in enumerate(c.norms):
            color = norm_color(norm)
            m, s = 100 * mean[i], 100 * std[i]
            if len(c.seeds) > 1:
                band(self.plot, x, y(m - s), y(m + s), color)
            self.plot.plot(x, y(m), pen=pen(color, 2.2), symbol="o", symbolSize=6, symbolBrush=color, symbolPen=None,
                           name=NORM_LABELS[norm])
        self.key.setText(color_key((NORM_LABELS[n], norm_color(n)) for n in c.norms))
        _ticks(self.plot, x, labels)
        self.plot.setXRange(x.min() - 0.25, x.max() + 0.25, padding=0)
        top = float(np.nanmax(100 * (mean + std))) if np.isfinite(mean).any() else 100.0
        top = min(100.0, max(5.0, top * 1.05))
        self.plot.setLabel("left", "validation error (%, log)" if log else "validation error (%)")
        if log:
            low = max(LOG_FLOOR, float(np.nanmin(100 * mean)) / 1.5) if np.isfinite(mean).any() else LOG_FLOOR
            self.plot.getAxis("left").setTicks([[(np.log10(v), f"{v:g}") for v in LOG_TICKS if low <= v <= top]])
            self.plot.setYRange(np.log10(low), np.log10(top), padding=0.02)
        else:
            self.plot.setYRange(0, top, padding=0)
        seeds = f"mean ± std over {len(c.seeds)} seeds" if len(c.seeds) > 1 else "one seed"
        self.plot.setTitle(f"validation error, {TRAIN_MODE_NOTE if train_mode else EVAL_MODE_NOTE}<br>"
                           f"<span style='font-size:8pt'>{c.base.epochs} epochs, {seeds}</span>", size="10pt")


class CurvesTab(QWidget):
    """Validation accuracy over optimizer steps in eval mode (solid) and training mode (dashed), the
    training loss of every step, and the validation loss, one colour per normalization."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        self.plot_acc = make_plot("plot_train_acc", "validation accuracy", "optimizer step", "accuracy (%)")
        self.plot_loss = make_plot("plot_train_step_loss", "training loss of every step", "optimizer step",
                                   "cross-entropy (log)")
        self.plot_loss.setLogMode(y=True)
        self.plot_val_loss = make_plot("plot_train_val_loss", "validation loss", "optimizer step",
                                       "cross-entropy")
        add_legend(self.plot_acc, offset=(-5, -5))
        plot_cell(grid, 0, 0, self.plot_acc, "Solid: eval mode (running statistics); dashed: training mode (each "
                  "validation batch's own statistics). Without running statistics the two are one.",
                  "caption_train_acc", colspan=2)
        plot_cell(grid, 1, 0, self.plot_loss, "Each step's loss on its own batch (a moving average of 10 steps).",
                  "caption_train_step_loss")
        plot_cell(grid, 1, 1, self.plot_val_loss, "The validation loss after each epoch, eval mode.",
                  "caption_train_val_loss")

    def draw(self, outcome):
        if outcome is None or not outcome.runs:
            for plot in (self.plot_acc, self.plot_loss, self.plot_val_loss):
                note(plot, "not run yet: press Run")
            return
        for plot in (self.plot_acc, self.plot_loss, self.plot_val_loss):
            fresh(plot)
        losses = []
        for norm, run in outcome.runs.items():
            color = norm_color(norm)
            self.plot_acc.plot(run.steps, 100 * run.val_acc, pen=pen(color, 2.2), symbol="o", symbolSize=5,
                               symbolBrush=color, symbolPen=None, name=NORM_LABELS[norm])
            self.plot_acc.plot(run.steps, 100 * run.val_acc_train_mode, pen=pen(color, 1.6, DASH))
            loss = np.asarray(run.step_loss, float)
            if loss.size:
                k = min(10, loss.size)
                smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
                ok = np.isfinite(smooth) & (smooth > 0)
                steps = np.arange(k, loss.size + 1)
                self.plot_loss.plot(steps[ok], smooth[ok], pen=pen(color, 1.6))
                losses.append(smooth[ok])
            self.plot_val_loss.plot(run.steps, run.val_loss, pen=pen(color, 2), symbol="o", symbolSize=5,
                                    symbolBrush=color, symbolPen=None)
        if losses:
            log_decades(self.plot_loss, np.concatenate(losses))
        self.plot_acc.setYRange(0, 100, padding=0.02)
        first = next(iter(outcome.runs.values())).config
        self.plot_acc.setTitle(f"validation accuracy<br><span style='font-size:8pt'>batch {first.batch_size}, "
                               f"lr {first.lr:g} at batch 32, {first.epochs} epochs, seed {first.seed}</span>",
                               size="10pt")


class FinetuneTab(QWidget):
    """Fine-tuning a pretrained network on shifted digits with BatchNorm updated, frozen, in eval mode
    or re-estimated: accuracy on the shifted and the original digits, and the running mean's drift."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        self.plot_shifted = make_plot("plot_finetune_shifted", "accuracy on the shifted digits",
                                      "fine-tuning epoch", "accuracy (%)")
        self.plot_original = make_plot("plot_finetune_original", "accuracy on the original digits",
                                       "fine-tuning epoch", "accuracy (%)")
        self.plot_drift = make_plot("plot_finetune_drift", "how far the running mean moved", "fine-tuning epoch",
                                    "‖running mean − pretrained‖ (1st BN)")
        key = " · ".join(f"<span style='color:{series_color(FINETUNE_MODES.index(m)).name()}'><b>{label}</b></span>"
                         for m, label in FINETUNE_LABELS.items())
        plot_cell(grid, 0, 0, self.plot_shifted, f"{key}. Solid: eval mode (what a deployed model does); dashed: "
                  f"training mode. Frozen statistics learn weights for statistics eval mode no longer matches.",
                  "caption_finetune_shifted", colspan=2)
        for plot in (self.plot_shifted, self.plot_original, self.plot_drift):
            plot.getAxis("bottom").setTickSpacing(1, 1)  # whole epochs
        plot_cell(grid, 1, 0, self.plot_original, "What fine-tuning costs on the original domain.",
                  "caption_finetune_original")
        plot_cell(grid, 1, 1, self.plot_drift, "Updated and re-estimated statistics move to the new domain; frozen "
                  "and eval-mode ones stay.", "caption_finetune_drift")

    def draw(self, outcome):
        res = outcome.finetune if outcome is not None else None
        if res is None:
            for plot in (self.plot_shifted, self.plot_original, self.plot_drift):
                note(plot, "not run yet: press Run")
            return
        for plot in (self.plot_shifted, self.plot_original, self.plot_drift):
            fresh(plot)
        for mode in res.config.modes:
            color = series_color(FINETUNE_MODES.index(mode))
            e = np.arange(len(res.shifted_acc[mode]))
            kw = dict(symbol="o", symbolSize=5, symbolBrush=color, symbolPen=None)
            self.plot_shifted.plot(e, 100 * res.shifted_acc[mode], pen=pen(color, 2.2), **kw)
            self.plot_shifted.plot(e, 100 * res.shifted_acc_train_mode[mode], pen=pen(color, 1.5, DASH))
            self.plot_original.plot(e, 100 * res.original_acc[mode], pen=pen(color, 2.2), **kw)
            self.plot_drift.plot(e, res.stats_drift[mode], pen=pen(color, 2.2), **kw)
        for plot in (self.plot_shifted, self.plot_original):
            plot.setYRange(0, 100, padding=0.02)
        pre = res.pretrained.config
        shift = "inverted digits" if res.config.shift == "invert" else f"brightness + {res.config.brightness:g}"
        self.plot_shifted.setTitle(
            f"accuracy on {shift}<br><span style='font-size:8pt'>{NORM_LABELS[pre.norm]} pretrained {pre.epochs} "
            f"epochs: {100 * res.before['original']:.0f} % on the original digits, "
            f"{100 * res.before['shifted']:.0f} % on the shifted ones before fine-tuning</span>", size="10pt")


class SwitchTab(QWidget):
    """The batch size changed mid-training: eval-mode and training-mode validation accuracy per epoch,
    one line per run ('norm A→B'), the switch marked."""

    def __init__(self, parent=None):
        super().__init__(parent)
        grid = QGridLayout(self)
        self.plot_eval = make_plot("plot_switch_eval", "validation accuracy, eval mode", "epoch", "accuracy (%)")
        self.plot_train = make_plot("plot_switch_train", "validation accuracy, training mode", "epoch",
                                    "accuracy (%)")
        add_legend(self.plot_eval, offset=(-5, -5))
        for plot in (self.plot_eval, self.plot_train):
            plot.getAxis("bottom").setTickSpacing(1, 1)  # whole epochs
        plot_cell(grid, 0, 0, self.plot_eval, "Eval mode barely notices the switch: the running statistics average "
                  "over many batches either way.", "caption_switch_eval")
        plot_cell(grid, 0, 1, self.plot_train, "Training-mode BatchNorm follows the batch it is given: a switch to "
                  "a small batch costs accuracy at once, a switch to a large one recovers it.",
                  "caption_switch_train")

    def draw(self, outcome):
        if outcome is None or not outcome.runs:
            for plot in (self.plot_eval, self.plot_train):
                note(plot, "not run yet: press Run")
            return
        for plot in (self.plot_eval, self.plot_train):
            fresh(plot)
        norms = list(dict.fromkeys(r.config.norm for r in outcome.runs.values()))
        for k, (label, run) in enumerate(outcome.runs.items()):
            color = norm_color(run.config.norm)
            style = DASH if k % 2 else None
            e = np.arange(len(run.val_acc))
            for plot, acc in ((self.plot_eval, run.val_acc), (self.plot_train, run.val_acc_train_mode)):
                p = pen(color, 2.2) if style is None else pen(color, 2.2, style)
                plot.plot(e, 100 * acc, pen=p, symbol="o" if style is None else "s", symbolSize=5, symbolBrush=color,
                          symbolPen=None, name=label if plot is self.plot_eval else None)
        first = next(iter(outcome.runs.values())).config
        switch, a, b = first.switch_epoch, first.batch_size, first.switch_batch_size
        for plot in (self.plot_eval, self.plot_train):
            plot.addItem(pg.InfiniteLine(switch, angle=90, pen=pen("#999", 1, DASH), label="switch",
                                         labelOpts=dict(position=0.1, color="#666")))
            plot.setYRange(0, 100, padding=0.02)
        self.plot_eval.setTitle(f"validation accuracy, eval mode<br><span style='font-size:8pt'>"
                                f"{', '.join(NORM_LABELS[n] for n in norms)}; solid: batch {a} → {b}, dashed: "
                                f"{b} → {a}</span>", size="10pt")
