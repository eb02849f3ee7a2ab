"""BatchNorm over training steps and batch sizes: running vs batch vs true statistics, train vs
eval output, Batch Renormalization, batch-size noise, the unbiased-variance shrink, freezing."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QTabWidget,
    QWidget,
)

from kernels.experiments import StepsConfig

from ..widgets.common import blocked
from .runs import StepsBundle, compute_bundle, steps_csv, write_csv
from .steps_plots import BatchSizeTab, FreezeTab, RunningTab
from .view_base import ExperimentView
from .view_parts import show_outcome

DRIFTS = (("none", "none"), ("shift (mean + 1, std × 2)", "shift"), ("new domain", "domain"))
class StepsView(ExperimentView):
    """objectName view_steps. `result` is the latest kernels StepsResult; `bundle` holds it with the
    batch-size, shrink and freeze results (None before the first run)."""

    def __init__(self, parent=None, autorun: bool = True):
        super().__init__("steps", parent)
        self.bundle = None
        self.tabs = QTabWidget(objectName="tabs_steps")
        self.tab_running, self.tab_batch, self.tab_freeze = RunningTab(), BatchSizeTab(), FreezeTab()
        self.tabs.addTab(self.tab_running, "Running statistics")
        self.tabs.addTab(self.tab_batch, "Batch size")
        self.tabs.addTab(self.tab_freeze, "Fine-tuning: freeze BatchNorm?")
        layout = QHBoxLayout(self)
        layout.addWidget(self._build_controls())
        layout.addWidget(self.tabs, 1)
        self._built(autorun)

    @property
    def result(self):
        return None if self.bundle is None else self.bundle.steps

    def _build_controls(self) -> QWidget:
        box = QGroupBox("Training stream")
        box.setFixedWidth(300)
        form = QFormLayout()
        self.spin_steps = self._spin("steps", 1, 5000, 200, "Training steps (batches) fed to BatchNorm")
        self.spin_batch_size = self._spin("batch_size", 1, 4096, 32, "Samples per batch; each has 4×4 positions")
        self.spin_channels = self._spin("channels", 1, 64, 3, "Channels, each normal with its own mean and std")
        self.combo_drift = QComboBox(objectName="combo_drift")
        for label, data in DRIFTS:
            self.combo_drift.addItem(label, data)
        self.combo_drift.setCurrentIndex(1)
        self.combo_drift.setToolTip("How the data changes from the drift step on: shift moves every mean by 1 and "
                                    "doubles every std; new domain draws new means and stds (like fine-tuning "
                                    "on another data set)")
        self.combo_drift.currentIndexChanged.connect(self.schedule)
        self.spin_drift_step = self._spin("drift_step", 0, 5000, 100, "The first step drawn from the drifted data")
        self.spin_momentum = QDoubleSpinBox(objectName="spin_momentum")
        self.spin_momentum.setRange(0.0, 1.0)
        self.spin_momentum.setDecimals(3)
        self.spin_momentum.setSingleStep(0.01)
        self.spin_momentum.setValue(0.1)
        self.spin_momentum.setKeyboardTracking(False)
        self.spin_momentum.setToolTip("torch: running = (1 − m)·running + m·batch; keras: running = m·running + "
                                      "(1 − m)·batch")
        self.spin_momentum.valueChanged.connect(self.schedule)
        self.check_cumulative = QCheckBox("cumulative (None)", objectName="check_cumulative")
        self.check_cumulative.setToolTip("torch momentum=None: the running statistics are the plain average of "
                                         "every batch so far (torch convention only)")
        self.check_cumulative.toggled.connect(self._on_cumulative)
        self.combo_convention = QComboBox(objectName="combo_convention")
        self.combo_convention.addItems(["torch", "keras"])
        self.combo_convention.setToolTip("torch stores the unbiased running variance; Keras the biased one, and its "
                                         "momentum weighs the old value (0.99 there is 0.01 in torch)")
        self.combo_convention.currentTextChanged.connect(self._on_convention)
        self.spin_seed = self._spin("seed", 0, 2 ** 31 - 1, 0, "Seed of the channel means/stds and every batch")
        self.spin_channel = self._spin("channel", 0, 2, 0, "The channel the running-statistics plots show "
                                       "(drawing only, no rerun)", rerun=False)
        for label, widget in (("steps", self.spin_steps), ("batch size", self.spin_batch_size),
                              ("channels", self.spin_channels), ("drift", self.combo_drift),
                              ("drift at step", self.spin_drift_step), ("momentum", self.spin_momentum),
                              ("", self.check_cumulative), ("convention", self.combo_convention),
                              ("seed", self.spin_seed), ("plot channel", self.spin_channel)):
            form.addRow(label, widget)
        self._control_column(box, form)
        return box

    # -- settings ------------------------------------------------------------------------------
    def _on_cumulative(self, checked: bool):
        self.spin_momentum.setEnabled(not checked)
        self.schedule()

    def _on_convention(self, convention: str):
        # the same averaging in the other convention: torch m is Keras 1 − m
        with blocked(self.spin_momentum, self.check_cumulative):
            self.spin_momentum.setValue(round(1.0 - self.spin_momentum.value(), 6))
            if convention == "keras":
                self.check_cumulative.setChecked(False)
                self.spin_momentum.setEnabled(True)
        self.check_cumulative.setEnabled(convention == "torch")
        self.schedule()

    def config(self) -> StepsConfig:
        return StepsConfig(steps=self.spin_steps.value(), batch_size=self.spin_batch_size.value(),
                           channels=self.spin_channels.value(), drift=self.combo_drift.currentData(),
                           drift_step=self.spin_drift_step.value(),
                           momentum=None if self.check_cumulative.isChecked() else self.spin_momentum.value(),
                           momentum_convention=self.combo_convention.currentText(), seed=self.spin_seed.value())

    def set_config(self, **values):
        """Set controls without triggering runs: steps, batch_size, channels, drift, drift_step,
        momentum (None: cumulative), convention, seed."""
        spins = dict(steps=self.spin_steps, batch_size=self.spin_batch_size, channels=self.spin_channels,
                     drift_step=self.spin_drift_step, seed=self.spin_seed)
        with blocked(*spins.values(), self.combo_drift, self.combo_convention, self.spin_momentum,
                     self.check_cumulative):
            for key, value in values.items():
                if key in spins:
                    spins[key].setValue(int(value))
                elif key == "drift":
                    self.combo_drift.setCurrentIndex(max(0, self.combo_drift.findData(value)))
                elif key == "convention":
                    self.combo_convention.setCurrentText(value)
                elif key == "momentum":
                    self.check_cumulative.setChecked(value is None)
                    if value is not None:
                        self.spin_momentum.setValue(float(value))
                else:
                    raise ValueError(f"unknown setting {key!r}")
        self.spin_momentum.setEnabled(not self.check_cumulative.isChecked())
        self.check_cumulative.setEnabled(self.combo_convention.currentText() == "torch")

    def job(self):
        cfg = self.config()
        return lambda progress, cancelled: compute_bundle(cfg, progress, cancelled)

    # -- results -------------------------------------------------------------------------------
    def _on_finished(self, bundle: StepsBundle):
        self.bundle, self.error = bundle, None
        cfg = bundle.steps.config
        with blocked(self.spin_channel):
            self.spin_channel.setMaximum(cfg.channels - 1)
        show_outcome(self.label_status, f"{cfg.steps} steps of {cfg.batch_size} × {cfg.channels} × 4 × 4 · "
                                        f"held-out eval output std {bundle.steps.held_eval.std:.3g} (train 1)")
        warnings = list(bundle.steps.warnings) + list(bundle.noise.warnings[:2])
        show_outcome(self.label_warnings, "\n".join(warnings), "warning")
        self.redraw()

    def redraw(self, *_):
        if self.bundle is None:
            return
        channel = min(self.spin_channel.value(), self.bundle.steps.config.channels - 1)
        self.tab_running.draw(self.bundle.steps, channel)
        self.tab_batch.draw(self.bundle.noise, self.bundle.dependence, self.bundle.shrink)
        self.tab_freeze.draw(self.bundle.freeze, self.bundle.steps.config, channel)

    # -- app hooks -------------------------------------------------------------------------------
    def export_csv(self, path):
        """The per-step numbers to `path` (SaveError on failure, ValueError before the first run)."""
        if self.result is None:
            raise ValueError("nothing to export yet: the experiment has not finished a run")
        write_csv(path, steps_csv(self.result))
