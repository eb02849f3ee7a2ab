"""The capture controls: which input the model runs on (the bundled sample image, scikit-learn's digits,
random data of the input shape, or the person's own .npy or image), the batch size, seed, memory budget,
and the input shape when the model does not say it."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from kernels.models import INPUT_KINDS

from .jobs import CaptureRequest

INPUTS = (("image", "sample image"), ("digits", "scikit-learn digits"), ("random", "random data"),
          ("file", "my file (.npy or image)…"))
INPUT_FILTER = "Arrays and images (*.npy *.png *.jpg *.jpeg *.bmp);;All files (*)"


def ask_input_file(parent) -> str:
    """The file dialog (a module function, so tests can answer it)."""
    return QFileDialog.getOpenFileName(parent, "Model input", "", INPUT_FILTER)[0]


class CapturePanel(QWidget):
    """captureRequested when the Capture button is pressed; request() reads the controls."""

    captureRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("panel_model_capture")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.combo_input = QComboBox(objectName="combo_model_input")
        for key, text in INPUTS:
            self.combo_input.addItem(text, key)
            if key in INPUT_KINDS:
                self.combo_input.setItemData(self.combo_input.count() - 1, INPUT_KINDS[key], 3)  # ToolTipRole
        self.combo_input.currentIndexChanged.connect(self._on_input)
        form.addRow("input", self.combo_input)
        row = QHBoxLayout()
        self.edit_path = QLineEdit(objectName="edit_model_input_path")
        self.edit_path.setPlaceholderText("a .npy of the model's input shape, or a PNG/JPEG")
        self.button_browse = QPushButton("…", objectName="button_model_input_browse")
        self.button_browse.setMaximumWidth(32)
        self.button_browse.clicked.connect(self._browse)
        row.addWidget(self.edit_path, 1)
        row.addWidget(self.button_browse)
        self.row_path = QWidget()
        self.row_path.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        form.addRow("file", self.row_path)
        self.spin_batch = self._spin("spin_model_batch", 1, 1024, 8, "samples in the batch (generated inputs)")
        self.spin_seed = self._spin("spin_model_seed", 0, 2 ** 31 - 1, 0, "seed of the generated input")
        self.spin_budget = self._spin("spin_model_budget", 16, 65536, 512,
                                      "memory the kept layer inputs may take, in MB (a capture beyond it stops)")
        self.spin_budget.setSuffix(" MB")
        batch_row = QHBoxLayout()
        batch_row.addWidget(self.spin_batch)
        batch_row.addWidget(self.spin_seed)
        form.addRow("batch, seed", batch_row)
        form.addRow("memory budget", self.spin_budget)
        self.edit_shape = QLineEdit(objectName="edit_model_shape")
        self.edit_shape.setPlaceholderText("the model's input shape, when it does not say: e.g. 8,3,32,32")
        self.edit_shape.setToolTip("Needed for an import path whose module declares no input_shape; the first size "
                                   "is the batch")
        form.addRow("input shape", self.edit_shape)
        self.button_capture = QPushButton("Capture", objectName="button_model_capture")
        self.button_capture.setToolTip("Run the model on this input in eval mode: every BatchNorm's batch statistics "
                                       "against its running ones (the gap plot) and the selected layer's input")
        self.button_capture.clicked.connect(self.captureRequested)
        form.addRow(self.button_capture)
        self._on_input()

    def _spin(self, name, lo, hi, value, tip) -> QSpinBox:
        spin = QSpinBox(objectName=name)
        spin.setRange(lo, hi)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    def _on_input(self, *_):
        is_file = self.combo_input.currentData() == "file"
        self.row_path.setEnabled(is_file)
        self.spin_batch.setEnabled(not is_file)
        self.spin_seed.setEnabled(not is_file)
        if is_file and not self.edit_path.text():
            self._browse()

    def _browse(self):
        path = ask_input_file(self)
        if path:
            self.edit_path.setText(path)

    def set_kind(self, kind: str):
        self.combo_input.setCurrentIndex(max(0, self.combo_input.findData(kind)))

    def request(self) -> CaptureRequest:
        """The controls as a CaptureRequest (ValueError naming what is wrong)."""
        shape = None
        text = self.edit_shape.text().strip()
        if text:
            try:
                shape = tuple(int(v) for v in text.replace("x", ",").split(","))
            except ValueError:
                raise ValueError(f"input shape {text!r} is not a comma-separated list of sizes, e.g. 8,3,32,32") \
                    from None
        return CaptureRequest(kind=self.combo_input.currentData(), path=self.edit_path.text().strip(),
                              batch=self.spin_batch.value(), seed=self.spin_seed.value(),
                              budget_mb=self.spin_budget.value(), shape=shape)
