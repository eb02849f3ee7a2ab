"""Opening a person's own tensor: pick the tensor (a state dict holds many) and say which
layout its axes are in; very large tensors are loaded only after asking."""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QMessageBox

from ..file_loading import ASK_ABOVE_ELEMENTS, candidates, default_layout


def layouts_for(ndim: int) -> list:
    """Layouts with `ndim` axes, the usual ones first."""
    letters = {2: "NC", 3: "NCL", 4: "NCHW"}[ndim]
    common = {2: ["NC", "CN"], 3: ["NCL", "NLC"], 4: ["NCHW", "NHWC"]}[ndim]
    return common + sorted({"".join(p) for p in permutations(letters)} - set(common))


class OpenTensorDialog(QDialog):
    def __init__(self, path, parent=None):
        super().__init__(parent)
        self.path = Path(path)
        self.setWindowTitle(f"Open {self.path.name}")
        self.found = candidates(path)  # LoadError propagates: the caller reports it
        form = QFormLayout(self)
        self.combo_tensor = QComboBox(objectName="combo_file_tensor")
        for c in self.found:
            self.combo_tensor.addItem(c.label())
        self.combo_tensor.currentIndexChanged.connect(self._fill_layouts)
        form.addRow("tensor", self.combo_tensor)
        self.combo_file_layout = QComboBox(objectName="combo_file_layout")
        self.combo_file_layout.setToolTip("What each axis of the file's tensor means: N batch, C channels, "
                                          "H/W height and width, L sequence length")
        form.addRow("its axes are", self.combo_file_layout)
        self.label_size = QLabel()
        form.addRow(self.label_size)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._fill_layouts(0)

    @property
    def candidate(self):
        return self.found[self.combo_tensor.currentIndex()]

    @property
    def layout(self) -> str:
        return self.combo_file_layout.currentText()

    def _fill_layouts(self, _):
        c = self.candidate
        self.combo_file_layout.clear()
        self.combo_file_layout.addItems(layouts_for(len(c.shape)))
        self.combo_file_layout.setCurrentText(default_layout(len(c.shape)))
        self.label_size.setText(f"{c.elements:,} elements, {c.dtype}")

    def accept(self):
        c = self.candidate
        if c.elements > ASK_ABOVE_ELEMENTS:
            answer = QMessageBox.question(
                self, "Large tensor", f"{c.key or self.path.name} has {c.elements:,} elements (about "
                f"{c.elements * 4 / 2**20:,.0f} MB as float32, several times that while computing). Load it?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        super().accept()
