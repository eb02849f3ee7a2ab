"""How a model is opened: a file (.pt/.pth/.bin state_dict, .safetensors, .onnx) read as it is or as the
weights of a built-in architecture, or a PyTorch module named by an import path that the person types
(imported only after a dialog that says code will run), with an optional weights file."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton, QWidget

from kernels.models import ARCHITECTURES, SUFFIXES

MODEL_FILTER = f"Models ({' '.join('*' + s for s in SUFFIXES)});;All files (*)"
WEIGHTS_FILTER = "Weights (*.pt *.pth *.bin *.safetensors);;All files (*)"
AS_IS = "as the file says"


def ask_model_file(parent) -> str:
    """The file dialog (a module function, so tests can answer it)."""
    return QFileDialog.getOpenFileName(parent, "Open model", "", MODEL_FILTER)[0]


def ask_weights_file(parent) -> str:
    return QFileDialog.getOpenFileName(parent, "Weights for the import path", "", WEIGHTS_FILTER)[0]


def confirm_import(parent, text: str) -> bool:
    """Ask before importing: the person's answer (a module function, so tests can answer it)."""
    module = text.split(":", 1)[0].strip()
    box = QMessageBox(QMessageBox.Icon.Warning, "Import and run code?",
                      f"Opening {text!r} imports the Python module {module!r} and calls the factory: that runs its "
                      f"code with your permissions, as `python -c \"import {module}\"` would.\n\nOnly continue for "
                      f"code you trust. (Model files never run code: they are read as data.)",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, parent)
    box.button(QMessageBox.StandardButton.Yes).setText("Import and run it")
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    try:
        return box.exec() == QMessageBox.StandardButton.Yes
    finally:
        box.deleteLater()


class OpenBar(QWidget):
    """fileRequested(path, architecture or '') and importRequested(import path, weights or '')."""

    fileRequested = Signal(str, str)
    importRequested = Signal(str, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.button_open = QPushButton("Open model…", objectName="button_model_open")
        self.button_open.setToolTip("A PyTorch state_dict (.pt/.pth/.bin, read with weights_only=True), a "
                                    ".safetensors file or an ONNX model: read as data, no code runs")
        self.button_open.clicked.connect(self.choose_file)
        self.combo_architecture = QComboBox(objectName="combo_model_architecture")
        self.combo_architecture.addItem(AS_IS, "")
        for name, arch in ARCHITECTURES.items():
            self.combo_architecture.addItem(f"weights of {name}", name)
            self.combo_architecture.setItemData(self.combo_architecture.count() - 1, arch.doc, 3)  # ToolTipRole
        self.combo_architecture.setToolTip("A bare state_dict holds no network: name its built-in architecture to "
                                           "run it (capture, fold) and to get eps and momentum from the architecture")
        self.edit_import = QLineEdit(objectName="edit_model_import")
        self.edit_import.setPlaceholderText("or an import path: package.module:factory(args)")
        self.edit_import.setToolTip("A PyTorch module built by calling factory with literal arguments; opening it "
                                    "imports and runs that code, so you are asked first")
        self.edit_import.returnPressed.connect(self.request_import)
        self.edit_weights = QLineEdit(objectName="edit_model_weights")
        self.edit_weights.setPlaceholderText("weights for it (optional)")
        browse = QPushButton("…", objectName="button_model_weights_browse")
        browse.setMaximumWidth(32)
        browse.clicked.connect(self._browse_weights)
        self.button_import = QPushButton("Open import path…", objectName="button_model_import")
        self.button_import.clicked.connect(self.request_import)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button_open)
        row.addWidget(QLabel("read as"))
        row.addWidget(self.combo_architecture)
        row.addSpacing(16)
        row.addWidget(self.edit_import, 2)
        row.addWidget(self.edit_weights, 1)
        row.addWidget(browse)
        row.addWidget(self.button_import)

    @property
    def architecture(self) -> str:
        return self.combo_architecture.currentData() or ""

    def choose_file(self):
        path = ask_model_file(self)
        if path:
            self.fileRequested.emit(path, self.architecture)

    def request_import(self):
        text = self.edit_import.text().strip()
        if text:
            self.importRequested.emit(text, self.edit_weights.text().strip())

    def _browse_weights(self):
        path = ask_weights_file(self)
        if path:
            self.edit_weights.setText(path)
