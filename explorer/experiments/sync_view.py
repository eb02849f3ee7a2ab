"""Distributed BatchNorm on a real process group: K worker processes joined by torch.distributed (gloo,
loopback only), each holding its shard of the batch; synchronized BatchNorm (nn.SyncBatchNorm's
statistics over the whole batch) against per-device BatchNorm (each shard alone, as under DDP).
The view keeps one process group while it lives and closes it when it closes or the devices change."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from kernels import GENERATORS
from kernels.experiments import DistributedConfig, DistributedGroup, run_distributed

from ..palette import AFTER, BEFORE, SELECTED
from ..widgets.common import blocked
from .real_base import RealExperimentView
from .real_parts import BLACK, fill_table, fmt, make_table, pen, plot_cell, series_color
from .real_runs import sync_csv
from .sync_blocks import ShardBlocks
from .view_parts import caption, common_edges, hist_item, make_plot, show_outcome

EXPLANATION = (
    "The batch is split over K processes (devices) that talk through torch.distributed's gloo backend on this "
    "machine. Per-device BatchNorm, what nn.BatchNorm2d does under DistributedDataParallel, normalizes each "
    "shard with its own statistics: every device has a small batch, and its own running statistics. "
    "Synchronized BatchNorm (nn.SyncBatchNorm) exchanges each shard's count, mean and variance with all_gather "
    "and normalizes with the whole batch's: it equals BatchNorm on one device, at the cost of a collective in "
    "every forward pass.")


def parse_shards(text: str, devices: int):
    """None for '' or 'equal', else a tuple of sample counts; ValueError in one line."""
    text = text.strip().lower()
    if text in ("", "equal"):
        return None
    try:
        sizes = tuple(int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise ValueError(f"shard sizes {text!r}: give whole numbers separated by commas, e.g. 6,2,4,4") from None
    if len(sizes) != devices:
        raise ValueError(f"shard sizes {text!r}: give one size per device ({devices})")
    return sizes


class SyncView(RealExperimentView):
    """objectName view_sync. `result` is the latest kernels DistributedRun; `group` the process group
    it keeps (None before the first run and after shutdown)."""

    NEEDS = ("torch",)
    RERUN_ON_CHANGE = True  # once the processes run, a run takes milliseconds
    CACHE = False  # the costs are measured afresh on every run
    DEFAULT_TIME = "starting 4 processes takes about 3–10 s; after that a run takes milliseconds"

    def __init__(self, parent=None, autorun: bool = True):
        super().__init__("sync", parent)
        self.group = None
        layout = QHBoxLayout(self)
        layout.addWidget(self._build_controls())
        layout.addLayout(self._build_plots(), 1)
        self._built(autorun)

    def _build_controls(self) -> QWidget:
        box = QGroupBox("Process group")
        box.setFixedWidth(300)
        form = QFormLayout()
        self.spin_devices = self._spin("devices", 2, 8, 4, "K: worker processes in the gloo group (restarts the "
                                                           "group when it changes)")
        self.spin_n = self._spin("n", 2, 256, 16, "N: samples in the whole batch")
        self.spin_c = self._spin("c", 1, 16, 4, "C: channels")
        self.spin_h = self._spin("h", 1, 32, 4, "H: height")
        self.spin_w = self._spin("w", 1, 32, 4, "W: width")
        self.edit_shards = QLineEdit(objectName="edit_shards")
        self.edit_shards.setPlaceholderText("equal")
        self.edit_shards.setToolTip("Samples per device, e.g. 10,2,2,2 (unequal shards); empty: as equal as "
                                    "possible")
        self.edit_shards.editingFinished.connect(self.schedule)
        self.combo_inputs = self._combo("inputs", [(g.label, name) for name, g in GENERATORS.items()],
                                        "How the batch is drawn")
        with blocked(self.combo_inputs):
            self.combo_inputs.setCurrentIndex(max(0, self.combo_inputs.findData("shifted")))
        self.spin_seed = self._spin("seed", 0, 2 ** 31 - 1, 0, "Seed of the batch")
        self.spin_channel = self._spin("channel", 0, 3, 0, "The channel the histogram and table show (drawing "
                                       "only)", rerun=False)
        for label, widget in (("devices K", self.spin_devices), ("samples N", self.spin_n),
                              ("channels C", self.spin_c), ("height H", self.spin_h), ("width W", self.spin_w),
                              ("shard sizes", self.edit_shards), ("input", self.combo_inputs),
                              ("seed", self.spin_seed), ("plot channel", self.spin_channel)):
            form.addRow(label, widget)
        self._control_column(box, form)
        return box

    def _build_plots(self):
        self.blocks = ShardBlocks()
        grid = QGridLayout()
        self.plot_hist = make_plot("plot_sync_hist", "one channel before and after", "value", "density")
        self.plot_means = make_plot("plot_sync_means", "the mean each device normalizes with", "channel", "mean")
        self.table = make_table("table_sync", "Per device: its shard, the statistics it normalized with, and the "
                                              "running statistics it holds after the step")
        self.table.setMaximumHeight(190)
        plot_cell(grid, 0, 0, self.plot_hist, "Synchronized (blue) equals BatchNorm over the whole batch; per "
                  "device (orange) each shard is standardized alone, so small shards come out differently.",
                  "caption_sync_hist")
        plot_cell(grid, 0, 1, self.plot_means, "Dots, in the devices' colours: each shard's own mean per channel "
                  "(what per-device BatchNorm uses); black: the synchronized mean every device shares.",
                  "caption_sync_means")
        plot_cell(grid, 1, 0, self.table, "Synchronized, every process ends with the same running statistics; per "
                  "device each keeps its own (DDP broadcasts rank 0's at the next forward).", "caption_sync_table",
                  colspan=2)
        grid.setRowStretch(0, 1)
        self.label_costs = caption("", "label_sync_costs")
        column = QVBoxLayout()
        column.addWidget(caption(EXPLANATION, "label_explanation"))
        column.addWidget(self.label_placeholder)
        column.addWidget(self.blocks)
        column.addLayout(grid, 1)
        column.addWidget(self.label_costs)
        return column

    # -- settings ----------------------------------------------------------------------------------
    def config(self) -> DistributedConfig:
        devices = self.spin_devices.value()
        return DistributedConfig(shape=(self.spin_n.value(), self.spin_c.value(), self.spin_h.value(),
                                        self.spin_w.value()), inputs=self.combo_inputs.currentData(),
                                 seed=self.spin_seed.value(), devices=devices,
                                 shard_sizes=parse_shards(self.edit_shards.text(), devices))

    def set_config(self, **values):
        """Set controls without triggering runs: devices, shape (N, C, H, W), shard_sizes (None: equal),
        inputs, seed."""
        spins = dict(devices=self.spin_devices, seed=self.spin_seed)
        with blocked(*spins.values(), self.spin_n, self.spin_c, self.spin_h, self.spin_w, self.edit_shards,
                     self.combo_inputs):
            for key, value in values.items():
                if key in spins:
                    spins[key].setValue(int(value))
                elif key == "shape":
                    for spin, v in zip((self.spin_n, self.spin_c, self.spin_h, self.spin_w), value):
                        spin.setValue(int(v))
                elif key == "shard_sizes":
                    self.edit_shards.setText("" if value is None else ",".join(str(int(v)) for v in value))
                elif key == "inputs":
                    self.combo_inputs.setCurrentIndex(max(0, self.combo_inputs.findData(value)))
                else:
                    raise ValueError(f"unknown setting {key!r}")

    def compute(self, cfg, progress, cancelled):
        """On the worker thread: the group is (re)started for cfg.devices, then both modes run on it."""
        if self.group is not None and self.group.devices != cfg.devices:
            self.group.close()
            self.group = None
        if self.group is None:
            self.group = DistributedGroup(cfg.devices)
        return run_distributed(cfg, progress, cancelled, group=self.group)

    def shutdown(self):
        """Stop the worker (a start or a step in progress is cancelled), then the processes."""
        super().shutdown()
        if self.group is not None:
            self.group.close()
            self.group = None

    # -- drawing -----------------------------------------------------------------------------------
    def show_result(self, run):
        s, loc = run.sync, run.local
        started = "" if s.startup_seconds is None else f"processes started in {s.startup_seconds:.1f} s · "
        show_outcome(self.label_status, f"{run.config.devices} processes ({s.backend}), shards "
                                        f"{', '.join(map(str, s.shard_sizes))} · {started}both modes in "
                                        f"{1000 * (s.seconds + loc.seconds):.0f} ms")
        show_outcome(self.label_warnings, "\n".join(dict.fromkeys([*s.warnings, *loc.warnings])), "warning")
        agree = lambda r: "yes" if r.ranks_agree else "no"  # noqa: E731
        self.label_costs.setText(
            f"Measured on this machine: one all_gather of SyncBatchNorm's 2C + 1 = {s.payload_bytes // 8} numbers "
            f"{fmt(1000 * s.allgather_seconds, 3)} ms, one all_reduce of as many "
            f"{fmt(1000 * s.allreduce_seconds, 3)} ms (medians of {run.config.repeats}); the step's own all_gather "
            f"{fmt(1000 * s.exchange_seconds, 3)} ms. Checks: synchronized − BatchNorm over the whole batch: max "
            f"|Δ| = {run.sync_error:.1e}; per-device − each shard normalized alone (ghost BatchNorm): "
            f"{run.local_error:.1e}. Processes agree on the running statistics: synchronized {agree(s)}, per "
            f"device {agree(loc)}.")
        with blocked(self.spin_channel):
            self.spin_channel.setMaximum(run.config.shape[1] - 1)
        self.redraw()

    def redraw(self, *_):
        run = self.result
        if run is None:
            return
        C = run.config.shape[1]
        c = min(self.spin_channel.value(), C - 1)
        self.blocks.set_run(run.device, C, c)
        values = [np.moveaxis(a, 1, 0)[c].ravel() for a in (run.input, run.sync.output, run.local.output)]
        edges = common_edges(values, bins=40)
        self.plot_hist.clear()
        for v, color in zip(values, (BEFORE, SELECTED, AFTER)):
            self.plot_hist.addItem(hist_item(v, edges, color, fill_alpha=40))
        self.plot_hist.setTitle(f"channel {c}: <span style='color:{BEFORE.name()}'>input</span> · "
                                f"<span style='color:{SELECTED.name()}'>synchronized</span> · "
                                f"<span style='color:{AFTER.name()}'>per device</span>", size="10pt")
        self.plot_means.clear()
        x = np.arange(C)
        for k in range(run.config.devices):
            self.plot_means.plot(x + (k - (run.config.devices - 1) / 2) * 0.06, run.local.mean[k], pen=None,
                                 symbol="o", symbolSize=8, symbolBrush=series_color(k), symbolPen=None,
                                 name=f"device {k}")
        self.plot_means.plot(x, run.sync.global_mean, pen=pen(BLACK, 2), symbol="d", symbolSize=8,
                             symbolBrush=BLACK, name="synchronized")
        self.plot_means.getAxis("bottom").setTicks([[(int(i), f"c{i}") for i in x]])
        s, loc = run.sync, run.local
        header = ["device", "samples", "values per channel", f"shard mean c{c}", f"shard var c{c}",
                  "running mean (sync)", "running mean (per device)", "running var (sync)", "running var (per device)"]
        rows = [[k, int(s.shard_sizes[k]), int(st.count), float(st.mean[c]), float(st.var[c]),
                 float(s.device_running_mean[k, c]), float(loc.device_running_mean[k, c]),
                 float(s.device_running_var[k, c]), float(loc.device_running_var[k, c])]
                for k, st in enumerate(s.shard_stats)]
        rows.append(["all (sync)", int(sum(s.shard_sizes)), int(sum(st.count for st in s.shard_stats)),
                     float(s.global_mean[c]), float(s.global_var[c]), float(s.running_mean[c]), "",
                     float(s.running_var[c]), ""])
        fill_table(self.table, header, rows)

    def csv_text(self, result) -> str:
        return sync_csv(result)
