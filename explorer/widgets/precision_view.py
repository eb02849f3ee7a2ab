"""Precision: the current method and settings computed with the input stored in float16, bfloat16,
float32 or float64 and the statistics accumulated apart, by each variance algorithm, against a
float64 reference (kernels.precision); torch's own half-precision kernels beside them. Presets
build the three classic inputs. Computed on the state's worker (channel "precision") while the
tab is shown; the view only draws the PrecisionScene."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from kernels import precision

from ..palette import AFTER, BEFORE, SELECTED

#: the bar colour of each variance algorithm
ALGO_COLORS = {"two_pass": AFTER, "one_pass": BEFORE, "welford": SELECTED}
BUTTONS = (("", "current tensor", "The tensor the other views show"),
           ("cancellation", "large mean, small spread", precision.PRESETS["cancellation"]),
           ("overflow", "float16 overflow", precision.PRESETS["overflow"]),
           ("eps_underflow", "eps underflow", precision.PRESETS["eps_underflow"]))
SHORT_ALGO = {"two_pass": "two-pass", "one_pass": "one-pass", "welford": "Welford"}
SHORT = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64"}


def cell_text(errors) -> str:
    """A table cell: max error in ulps, and NaN / inf counts when there are any."""
    if errors is None:
        return "—"
    text = "NaN/inf" if not np.isfinite(errors.max_ulps) else f"{errors.max_ulps:.3g}"
    extra = ", ".join(f"{n} {what}" for n, what in ((errors.nan, "NaN"), (errors.inf, "inf")) if n)
    return text + (f" ({extra})" if extra else "")


class PrecisionView(QWidget):
    """objectName view_precision. Follows `state` while visible; `scene` is the PrecisionScene drawn."""

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.setObjectName("view_precision")
        self.main = state
        self.scene, self.error, self.computed_for, self.preset = None, None, None, None
        self._pending = None
        self._channel = state.worker.channel("precision")
        self._channel.finished.connect(self._on_finished)
        self._channel.failed.connect(self._on_failed)
        self._channel.cancelled.connect(self._on_cancelled)
        self._channel.progress.connect(self._on_progress)
        self._channel.busyChanged.connect(self._on_busy)

        row = QHBoxLayout()
        row.addWidget(QLabel("input:"))
        self.buttons = {}
        for key, text, tip in BUTTONS:
            button = QPushButton(text, objectName=f"button_precision_{key or 'current'}")
            button.setCheckable(True)
            button.setToolTip(tip)
            button.clicked.connect(lambda checked=False, k=key: self.use_preset(k or None))
            row.addWidget(button)
            self.buttons[key or None] = button
        row.addStretch(1)
        self.progress = QProgressBar(objectName="progress_precision")
        self.progress.setMaximumWidth(140)
        self.progress.hide()
        self.button_cancel = QPushButton("Cancel", objectName="button_precision_cancel")
        self.button_cancel.clicked.connect(self._channel.cancel)
        self.button_cancel.hide()
        row.addWidget(self.progress)
        row.addWidget(self.button_cancel)

        self.caption = QLabel(objectName="label_precision")
        self.caption.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("plot_precision")
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("left", "max error, ulps")
        self.table = QTableWidget(objectName="table_precision")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.effects = QTextBrowser(objectName="text_precision_effects")
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.table)
        lower.addWidget(self.effects)
        lower.setSizes([480, 280])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plot)
        split.addWidget(lower)
        split.setSizes([200, 260])
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.caption)
        layout.addWidget(split, 1)
        self._check_buttons()
        state.settingsChanged.connect(self.sync)

    # -- computing --------------------------------------------------------------------------------
    def showEvent(self, event):
        super().showEvent(event)
        self.sync()

    def use_preset(self, preset: str | None):
        """Study one of kernels.precision.PRESETS (None: the current tensor)."""
        self.preset = preset
        self._check_buttons()
        self.computed_for = None
        self.sync()

    def _check_buttons(self):
        for key, button in self.buttons.items():
            button.setChecked(key == self.preset)

    def sync(self):
        key = (self.main.settings, self.preset)
        if not self.isVisible() or self.computed_for == key or self.main.settings.problem():
            return
        self._pending = key
        settings, preset = key
        self._channel.submit(self.main.pipeline_job(
            lambda pipeline: self._job(pipeline, settings, preset)))

    @staticmethod
    def _job(pipeline, settings, preset):
        return pipeline.run_precision(settings, preset)

    def ready(self) -> bool:
        return self.computed_for == (self.main.settings, self.preset) and not self._channel.busy

    def _on_busy(self, busy: bool):
        self.progress.setVisible(busy)
        self.button_cancel.setVisible(busy)
        self.progress.setRange(0, 0)

    def _on_progress(self, done: int, total: int):
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _on_failed(self, message: str):
        self.computed_for, self.scene, self.error = self._pending, None, message
        self.plot.clear()
        self.table.setRowCount(0)
        self.effects.setHtml("")
        self.caption.setText(f"<span style='color:#b71c1c'><b>Not computed:</b> {html.escape(message)}</span>")

    def _on_cancelled(self, message: str):
        self.caption.setText("Cancelled: the study stops at the next cell. Choose an input to run it again.")

    # -- drawing ------------------------------------------------------------------------------------
    def _on_finished(self, scene):
        self.computed_for, self.scene, self.error = self._pending, scene, None
        st = scene.study
        s = scene.settings
        eps = "finfo(storage).eps" if st.eps is None else f"{st.eps:g}"
        self.caption.setText(
            f"<b>{html.escape(s.spec.label)}</b> on {html.escape(scene.input_note)}, "
            f"{' × '.join(map(str, st.shape))} ({st.group_size:,} per group), eps = {eps}. Max error in ulps of the "
            f"storage type against float64 on the same stored input.")
        self.caption.setToolTip("Each operation is rounded to the accumulation type; the input to the storage type "
                                "first. Values below 1 are counted at 1 (a normalized output is of order 1). "
                                "Train-mode statistics, no affine step (kernels.precision).")
        self._draw_plot(st)
        self._fill_table(st)
        items = "".join(f"<li>{html.escape(t, quote=False)}</li>" for t in st.summary)
        torch_items = "".join(f"<li>{html.escape(c.sentence or c.reason, quote=False)}</li>" for c in st.torch)
        self.effects.setHtml(f"<b>What dominates</b><ul>{items}</ul><b>torch's own kernels</b><ul>{torch_items}</ul>")

    def _pairs(self, st) -> list:
        seen = []
        for c in st.cells:
            if (c.storage, c.accumulate) not in seen:
                seen.append((c.storage, c.accumulate))
        return seen

    def _draw_plot(self, st):
        self.plot.clear()
        pairs = self._pairs(st)
        algorithms = [a for a in precision.ALGORITHMS if any(c.algorithm == a for c in st.cells)]
        width = 0.8 / max(1, len(algorithms))
        finite = [c.errors.max_ulps for c in st.cells if np.isfinite(c.errors.max_ulps)]
        top = max([1.0, *finite]) * 10  # NaN/inf bars reach here, red
        for k, algorithm in enumerate(algorithms):
            xs, heights, brushes = [], [], []
            for i, pair in enumerate(pairs):
                cell = st.cell(*pair, algorithm)
                value = cell.errors.max_ulps
                xs.append(i + (k - (len(algorithms) - 1) / 2) * width)
                heights.append(np.log10(max(value if np.isfinite(value) else top, 1e-2)) + 2)
                color = pg.mkColor("#b71c1c") if not np.isfinite(value) else pg.mkColor(ALGO_COLORS[algorithm])
                brushes.append(color)
            bars = pg.BarGraphItem(x=xs, y0=0, height=heights, width=width, brushes=brushes,
                                   brush=pg.mkColor(ALGO_COLORS[algorithm]),
                                   pen=pg.mkPen(ALGO_COLORS[algorithm]))
            self.plot.addItem(bars)
        axis = self.plot.getAxis("bottom")
        axis.setTicks([[(i, f"{SHORT[a]} in {SHORT[b]}") for i, (a, b) in enumerate(pairs)]])
        left = self.plot.getAxis("left")
        step = 1 if np.log10(top) < 5 else 2
        left.setTicks([[(e + 2, f"1e{e}") for e in range(-2, int(np.log10(top)) + 2, step)]])
        self.plot.setYRange(0, np.log10(top) + 2.3, padding=0)
        key = " ".join(f"<span style='color:{pg.mkColor(ALGO_COLORS[a]).name()}'>■ {SHORT_ALGO[a]}</span>"
                       for a in algorithms)
        self.plot.setLabel("bottom", f"{key} · stored in … accumulated in (red: NaN or inf)")

    def _fill_table(self, st):
        algorithms = [a for a in precision.ALGORITHMS if any(c.algorithm == a for c in st.cells)]
        pairs = self._pairs(st)
        headers = ["stored", "accumulated", *(SHORT_ALGO[a] for a in algorithms)]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        for j, a in enumerate(algorithms):
            self.table.horizontalHeaderItem(2 + j).setToolTip(f"{precision.ALGORITHMS[a]}: max error in ulps")
        self.table.setRowCount(len(pairs) + len(st.torch))
        for i, (storage, accumulate) in enumerate(pairs):
            self.table.setItem(i, 0, QTableWidgetItem(storage))
            self.table.setItem(i, 1, QTableWidgetItem(accumulate))
            for j, algorithm in enumerate(algorithms):
                cell = st.cell(storage, accumulate, algorithm)
                item = QTableWidgetItem(cell_text(cell.errors))
                item.setToolTip(cell.sentence)
                if cell.effect not in ("rounding",):
                    item.setForeground(pg.mkColor("#b71c1c" if cell.effect != "inaccurate" else "#8a5a00"))
                self.table.setItem(i, 2 + j, item)
        for k, t in enumerate(st.torch):
            row = len(pairs) + k
            self.table.setItem(row, 0, QTableWidgetItem(t.dtype))
            self.table.setItem(row, 1, QTableWidgetItem(f"torch {t.op}" if t.op else "torch"))
            item = QTableWidgetItem(cell_text(t.errors) if t.errors is not None else t.reason)
            item.setToolTip(t.sentence or t.reason)
            self.table.setItem(row, 2, item)
            if len(algorithms) > 1:
                self.table.setSpan(row, 2, 1, len(algorithms))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
