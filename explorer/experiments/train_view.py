"""Training on real data: a small CNN on scikit-learn's bundled digits with each normalization. One
sub-tab per mode: the GroupNorm paper's Figure 1 (error against batch size), the learning rate,
curves, fine-tuning on shifted digits, and a batch size switched mid-training. Sweeps keep every
finished run (also when cancelled); the trained model can be saved as a state_dict."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from kernels.experiments import TRAIN_NORMS, save_model

from ..messages import one_line
from ..widgets.common import SciSpinBox, blocked
from . import view_parts
from .real_base import RealExperimentView
from .real_runs import (
    MODE_FIELDS as FIELDS,
)
from .real_runs import (
    TRAIN_MODES,
    TrainSettings,
    compute_train,
    full_figure1,
    full_lr,
    run_count,
    saveable_runs,
    train_csv,
    train_plan,
)
from .train_plots import NORM_LABELS, CurvesTab, FinetuneTab, SweepTab, SwitchTab
from .view_parts import caption, show_outcome

TAB_TITLES = {"figure1": "Figure 1: batch size", "lr": "Learning rate", "curves": "Curves",
              "finetune": "Fine-tuning", "switch": "Batch-size switch"}
EXPLANATION = (
    "A three-layer CNN on scikit-learn's 8×8 digits (1,297 training and 500 validation images, nothing "
    "downloaded), with the chosen normalization after every convolution; SGD with momentum, the learning rate "
    "scaled linearly with the batch size and decayed on a cosine. The defaults are small so a run ends within "
    "a minute; 'Full sweep' runs the paper-sized one (minutes) and keeps every finished run.")


def parse_list(text: str, name: str, kind=float) -> tuple:
    """'2, 4,8' -> (2, 4, 8); ValueError naming the field."""
    try:
        values = tuple(kind(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise ValueError(f"{name} {text!r}: give numbers separated by commas") from None
    if not values:
        raise ValueError(f"{name} is empty: give at least one value")
    return values


class TrainView(RealExperimentView):
    """objectName view_train. `results` maps each mode to its latest TrainOutcome; `result` is the
    current sub-tab's. `runs_cache` holds every finished TrainConfig run (kernels' sweep cache)."""

    NEEDS = ("torch", "sklearn")
    DEFAULT_TIME = "the default Figure 1 sweep, 3 norms × 6 batch sizes × 2 seeds × 3 epochs, takes about a minute"

    def __init__(self, parent=None, autorun: bool = True):
        super().__init__("train", parent)
        self.results: dict = {}
        self.runs_cache: dict = {}
        self.tabs = QTabWidget(objectName="tabs_train")
        self.tab_figure1, self.tab_lr = SweepTab("batch"), SweepTab("lr")
        self.tab_curves, self.tab_finetune, self.tab_switch = CurvesTab(), FinetuneTab(), SwitchTab()
        self.mode_tabs = dict(zip(TRAIN_MODES, (self.tab_figure1, self.tab_lr, self.tab_curves, self.tab_finetune,
                                                self.tab_switch)))
        for mode, tab in self.mode_tabs.items():
            self.tabs.addTab(tab, TAB_TITLES[mode])
        self.tabs.currentChanged.connect(self._on_mode)
        layout = QHBoxLayout(self)
        layout.addWidget(self._build_controls())
        column = QVBoxLayout()
        column.addWidget(caption(EXPLANATION, "label_explanation"))
        column.addWidget(self.label_placeholder)
        column.addWidget(self.tabs, 1)
        layout.addLayout(column, 1)
        self._on_mode()
        self._built(autorun)

    # -- building ------------------------------------------------------------------------------------
    def _build_controls(self) -> QWidget:
        box = QGroupBox("Digits CNN")
        box.setFixedWidth(300)
        form = QFormLayout()
        norms = QGridLayout()
        self.check_norms = {}
        for k, norm in enumerate(TRAIN_NORMS):
            check = QCheckBox(NORM_LABELS[norm], objectName=f"check_{norm}")
            check.setChecked(norm in TrainSettings().norms)
            check.setToolTip("Train with this normalization after every convolution (fine-tuning uses the first "
                             "one checked)")
            check.toggled.connect(self.schedule)
            self.check_norms[norm] = check
            norms.addWidget(check, k // 2, k % 2)
        form.addRow(norms)
        d = TrainSettings()
        self.spin_seeds = self._spin("seeds", 1, 5, len(d.seeds), "Seeds per setting: the sweeps show mean ± std "
                                     "(curves, fine-tuning and the switch use one seed)")
        self.spin_seed = self._spin("seed", 0, 10000, d.seeds[0], "The first seed (of the weights and the order "
                                    "of the batches; the validation split is fixed)")
        self.spin_epochs = self._spin("epochs", 1, 50, d.epochs, "Epochs of every run (fine-tuning: of the "
                                      "pretraining)")
        self.edit_batch_sizes = QLineEdit(",".join(map(str, d.batch_sizes)), objectName="edit_batch_sizes")
        self.edit_batch_sizes.setToolTip("Figure 1's batch sizes, 1 to 256, e.g. 2,4,8,16,32,64")
        self.edit_lrs = QLineEdit(",".join(f"{v:g}" for v in d.lrs), objectName="edit_lrs")
        self.edit_lrs.setToolTip("The learning rates swept (at batch size 32, scaled linearly)")
        for edit in (self.edit_batch_sizes, self.edit_lrs):
            edit.editingFinished.connect(self.schedule)
        self.spin_batch_size = self._spin("batch_size", 1, 256, d.batch_size, "Batch size of the runs that do not "
                                          "sweep it")
        self.spin_lr = SciSpinBox(log=True, minimum=1e-5, maximum=10.0)
        self.spin_lr.setObjectName("spin_lr")
        self.spin_lr.setValue(d.lr)
        self.spin_lr.setToolTip("SGD's learning rate at batch size 32 (lr × batch / 32 is used)")
        self.spin_lr.valueChanged.connect(self.schedule)
        self.combo_shift = self._combo("shift", [("inverted digits", "invert"), ("brightness + 0.5", "brightness")],
                                       "The new domain fine-tuning adapts to")
        self.spin_switch_batch_size = self._spin("switch_batch_size", 1, 256, d.switch_batch_size,
                                                 "The batch size after the switch (and before it, in the run the "
                                                 "other way round)")
        self.spin_switch_epoch = self._spin("switch_epoch", 0, 49, 0, "Epochs before the switch (0: half of them)")
        self.rows = {"seeds": self.spin_seeds, "batch_sizes": self.edit_batch_sizes, "lrs": self.edit_lrs,
                     "batch_size": self.spin_batch_size,
                     "lr": self.spin_lr, "shift": self.combo_shift, "switch_batch_size": self.spin_switch_batch_size,
                     "switch_epoch": self.spin_switch_epoch}
        for label, widget in (("seeds", self.spin_seeds), ("first seed", self.spin_seed),
                              ("epochs", self.spin_epochs), ("batch sizes", self.edit_batch_sizes),
                              ("learning rates", self.edit_lrs), ("batch size", self.spin_batch_size),
                              ("lr at batch 32", self.spin_lr), ("domain shift", self.combo_shift),
                              ("switch to batch", self.spin_switch_batch_size),
                              ("switch after epoch", self.spin_switch_epoch)):
            form.addRow(label, widget)
        self.form = form
        self.check_train_mode = QCheckBox("training-mode error", objectName="check_train_mode")
        self.check_train_mode.setToolTip("Sweeps: the error with each validation batch normalized with its own "
                                         "statistics (batch size as in training) instead of the running ones")
        self.check_train_mode.toggled.connect(self.redraw)
        self.check_log = QCheckBox("log error axis", objectName="check_log")
        self.check_log.setToolTip("Sweeps: the error on a log axis, so small errors stay apart next to large ones")
        self.check_log.toggled.connect(self.redraw)
        self.button_full = QPushButton("Full sweep", objectName="button_full")
        self.button_full.clicked.connect(self.run_full)
        self.combo_model = QComboBox(objectName="combo_model")
        self.combo_model.setToolTip("The trained run Save model… writes")
        self.button_save = QPushButton("Save model…", objectName="button_save_model")
        self.button_save.setToolTip("Write the chosen run's state_dict (torch.save; the Model tab opens it)")
        self.button_save.clicked.connect(lambda: self.save_model())
        save = QVBoxLayout()
        save.addWidget(self.combo_model)
        save.addWidget(self.button_save)
        checks = QHBoxLayout()
        checks.addWidget(self.check_train_mode)
        checks.addWidget(self.check_log)
        self._control_column(box, form, extras=(checks, self.button_full), labels=())
        box.layout().insertLayout(box.layout().count() - 1, save)
        return box

    # -- modes ---------------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return TRAIN_MODES[self.tabs.currentIndex()]

    def set_mode(self, mode: str):
        self.tabs.setCurrentIndex(TRAIN_MODES.index(mode))

    def _on_mode(self, *_):
        mode = self.mode
        for name, widget in self.rows.items():
            self.form.setRowVisible(widget, name in FIELDS[mode])
        self.check_train_mode.setVisible(mode in ("figure1", "lr"))
        self.check_log.setVisible(mode in ("figure1", "lr"))
        self.button_full.setVisible(mode in ("figure1", "lr"))
        full = full_figure1() if mode == "figure1" else full_lr()
        self.button_full.setText(f"Full sweep ({run_count(full)} runs, {full.epochs} epochs)")
        self.button_full.setToolTip("training.figure1_config(): 6 norms × 6 batch sizes × 3 seeds, 6 epochs "
                                    "(about 4–5 minutes on 2 cores)" if mode == "figure1" else
                                    "training.lr_config(): none, BatchNorm, GroupNorm × 6 rates × 3 seeds, 6 epochs "
                                    "(about 40 s)")
        self.result = self.results.get(mode)
        self._fill_models()
        if self.result is None and not self.missing and not self.busy:
            show_outcome(self.label_status, f"{TAB_TITLES[mode]}: press Run to train "
                                            f"({self._count_text()})")
        self.redraw()

    def _count_text(self) -> str:
        try:
            n = run_count(self.config())
        except ValueError as exc:
            return one_line(exc)
        return f"{n} run{'s' if n != 1 else ''}, each finished one kept"

    def job(self):
        train_plan(self.config())  # every run's settings checked now: a bad one is a line at once, not after a wait
        return super().job()

    # -- settings ------------------------------------------------------------------------------------
    def config(self) -> TrainSettings:
        mode = self.mode
        norms = tuple(n for n in TRAIN_NORMS if self.check_norms[n].isChecked())
        if not norms:
            raise ValueError("choose at least one normalization")
        seed = self.spin_seed.value()
        fields = FIELDS[mode]
        count = self.spin_seeds.value() if "seeds" in fields else 1  # the others use one seed
        values = dict(mode=mode, norms=norms, seeds=tuple(range(seed, seed + count)), epochs=self.spin_epochs.value())
        if "batch_sizes" in fields:
            values["batch_sizes"] = parse_list(self.edit_batch_sizes.text(), "batch sizes", int)
        if "lrs" in fields:
            values["lrs"] = parse_list(self.edit_lrs.text(), "learning rates", float)
        if "batch_size" in fields:
            values["batch_size"] = self.spin_batch_size.value()
        if "lr" in fields:
            values["lr"] = float(f"{self.spin_lr.value():.6g}")
        if "shift" in fields:
            values["shift"] = self.combo_shift.currentData()
        if "switch_batch_size" in fields:
            values["switch_batch_size"] = self.spin_switch_batch_size.value()
            values["switch_epoch"] = self.spin_switch_epoch.value() or None
        return TrainSettings(**values)

    def set_config(self, settings: TrainSettings):
        """Show `settings` in the controls (its mode's sub-tab) without running."""
        with blocked(*self.check_norms.values(), self.spin_seeds, self.spin_seed, self.spin_epochs,
                     self.edit_batch_sizes, self.edit_lrs, self.spin_batch_size, self.spin_lr, self.combo_shift,
                     self.spin_switch_batch_size, self.spin_switch_epoch):
            for norm, check in self.check_norms.items():
                check.setChecked(norm in settings.norms)
            self.spin_seed.setValue(settings.seeds[0])
            self.spin_seeds.setValue(len(settings.seeds))
            self.spin_epochs.setValue(settings.epochs)
            self.edit_batch_sizes.setText(",".join(map(str, settings.batch_sizes)))
            self.edit_lrs.setText(",".join(f"{v:g}" for v in settings.lrs))
            self.spin_batch_size.setValue(settings.batch_size)
            self.spin_lr.setValue(settings.lr)
            self.combo_shift.setCurrentIndex(max(0, self.combo_shift.findData(settings.shift)))
            self.spin_switch_batch_size.setValue(settings.switch_batch_size)
            self.spin_switch_epoch.setValue(settings.switch_epoch or 0)
        self.set_mode(settings.mode)
        self._on_mode()

    def run_full(self):
        """The paper-sized sweep of the current mode (figure1_config or lr_config), with progress and Cancel."""
        self.set_config(full_figure1() if self.mode == "figure1" else full_lr())
        self.run()

    def compute(self, cfg, progress, cancelled):
        return compute_train(cfg, progress, cancelled, cache=self.runs_cache)

    # -- results -------------------------------------------------------------------------------------
    def _on_finished(self, payload):
        cfg = payload[0]
        self.results[cfg.mode] = payload[1]
        if cfg.mode != self.mode:
            self.set_mode(cfg.mode)
        super()._on_finished(payload)

    def _on_cancelled(self, message: str):
        show_outcome(self.label_status, f"cancelled; {len(self.runs_cache)} finished runs are kept (Run goes on "
                                        f"from them) and the previous result is shown", "warning")

    def show_result(self, outcome):
        s = outcome.settings
        runs = run_count(s)
        fresh = runs - outcome.cached
        show_outcome(self.label_status, f"{TAB_TITLES[s.mode]}: {runs} run{'s' if runs != 1 else ''} "
                                        f"({fresh} trained, {outcome.cached} from the finished runs kept) in "
                                        f"{outcome.seconds:.1f} s")
        warnings = []
        if outcome.finetune is not None:
            warnings = list(outcome.finetune.warnings)
        elif outcome.sweep is not None:
            diverged = int(outcome.sweep.diverged.sum())
            if diverged:
                warnings.append(f"{diverged} run{'s' if diverged != 1 else ''} diverged (counted as chance, 90 % "
                                f"error)")
        show_outcome(self.label_warnings, "\n".join(warnings), "warning")
        self._fill_models()
        self.redraw()

    def redraw(self, *_):
        outcome = self.results.get(self.mode)
        tab = self.mode_tabs[self.mode]
        if isinstance(tab, SweepTab):
            tab.draw(outcome, self.check_train_mode.isChecked(), self.check_log.isChecked())
        else:
            tab.draw(outcome)

    def _fill_models(self):
        runs = saveable_runs(self.result) if self.result is not None else {}
        self._models = runs
        with blocked(self.combo_model):
            self.combo_model.clear()
            self.combo_model.addItems(list(runs))
        self.combo_model.setEnabled(bool(runs))
        self.button_save.setEnabled(bool(runs))

    def save_model(self, path: str | None = None, label: str | None = None) -> bool:
        """Write the chosen run's state_dict (the combo's, or `label`'s) to `path` (asked when None)."""
        label = label or self.combo_model.currentText()
        if label not in getattr(self, "_models", {}):
            return False
        if path is None:
            path = view_parts.ask_save_path(self, "Save model", "digits_model.pt", "PyTorch state_dict (*.pt *.pth)")
            if not path:
                return False
        try:
            save_model(self._models[label], path)
        except (OSError, RuntimeError, ValueError) as exc:
            view_parts.warn(self, f"cannot save {path}: {one_line(exc)}")
            return False
        show_outcome(self.label_status, f"saved {label} to {path} (a state_dict: open it in the Model tab)")
        return True

    def csv_text(self, result) -> str:
        return train_csv(result)
