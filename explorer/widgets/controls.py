"""The control panel: method, layout and sizes, parameters, train/eval, input, backend and
device, histogram options. Every control writes to AppState; `sync` reads it back."""

from __future__ import annotations

from math import prod

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from kernels import (
    COMMON_LAYOUTS,
    FAMILIES,
    FRAMEWORKS,
    GENERATORS,
    METHODS,
    all_layouts,
    available_backends,
    available_devices,
    torch_missing_reason,
)

from ..frameworks import refusal
from ..settings import FIELDS, FILE_INPUT
from .common import INVALID_STYLE, blocked, error_label, hint_label, mark_invalid, set_value
from .param_editor import ParamEditor

AXIS_NAMES = {"N": "N (batch)", "C": "C (channels)", "H": "H (height)", "W": "W (width)", "L": "L (length)",
              "D": "D (depth)"}
RUNNING_CHOICES = (("warmed", "running stats: 20 steps"), ("fresh", "running stats: fresh"),
                   (FILE_INPUT, "running stats: from the file"))


def method_model() -> QStandardItemModel:
    """Registry methods grouped by family under disabled header rows; item data = method name."""
    model = QStandardItemModel()
    for family, title in FAMILIES.items():
        header = QStandardItem(title)
        header.setFlags(Qt.ItemFlag.NoItemFlags)
        font = QFont()
        font.setBold(True)
        header.setFont(font)
        model.appendRow(header)
        for m in METHODS.values():
            if m.family == family:
                item = QStandardItem("    " + m.label)
                item.setData(m.name, Qt.ItemDataRole.UserRole)
                item.setToolTip(m.summary)
                model.appendRow(item)
    return model


class ControlPanel(QScrollArea):
    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setObjectName("panel_controls")
        body = QWidget()
        body.setStyleSheet(INVALID_STYLE)
        self.setWidget(body)
        column = QVBoxLayout(body)

        # method
        box = QGroupBox("Normalization")
        form = QFormLayout(box)
        self.combo_method = QComboBox(objectName="combo_method")
        self.combo_method.setModel(method_model())
        self.combo_method.setToolTip("The normalization to explore (Ctrl+1 ... Ctrl+9 pick the first ones)")
        self.combo_method.currentIndexChanged.connect(self._on_method)
        form.addRow("method", self.combo_method)
        self.label_method = hint_label()
        self.label_method.setObjectName("label_method")
        form.addRow(self.label_method)
        self.combo_framework = QComboBox(objectName="combo_framework")
        for name, fw in FRAMEWORKS.items():
            self.combo_framework.addItem(fw.label, name)
        self.combo_framework.setToolTip("Whose semantics compute the method: its layer, its defaults, and parameters "
                                        "in its meaning (Keras' momentum 0.99 is torch's 0.01)")
        self.combo_framework.currentIndexChanged.connect(self._on_framework)
        form.addRow("framework", self.combo_framework)
        self.label_framework = hint_label()
        self.label_framework.setObjectName("label_framework")
        form.addRow(self.label_framework)
        self.combo_mode = QComboBox(objectName="combo_mode")
        self.combo_mode.addItems(["train", "eval"])
        self.combo_mode.setToolTip("train: batch statistics (and running-statistics updates); "
                                   "eval: the running statistics")
        self.combo_mode.currentTextChanged.connect(lambda t: state.update(training=t == "train"))
        self.combo_running = QComboBox(objectName="combo_running")
        for key, text in RUNNING_CHOICES:
            self.combo_running.addItem(text, key)
        self.combo_running.setToolTip("Which running statistics eval mode uses: those after 20 training steps on "
                                      "fresh batches of the same input, a fresh module's (mean 0, var 1), or those "
                                      "stored in the loaded .npz (a model layer's, opened from the Model tab)")
        self.combo_running.currentIndexChanged.connect(
            lambda i: state.update(running=self.combo_running.itemData(i)))
        self.row_mode = QWidget()
        mode_row = QHBoxLayout(self.row_mode)
        mode_row.setContentsMargins(0, 0, 0, 0)
        mode_row.addWidget(self.combo_mode)
        mode_row.addWidget(self.combo_running, 1)
        form.addRow("mode", self.row_mode)
        column.addWidget(box)

        # layout and sizes
        box = QGroupBox("Tensor")
        form = QFormLayout(box)
        self.combo_layout = QComboBox(objectName="combo_layout")
        layouts = list(COMMON_LAYOUTS)
        self.combo_layout.addItems(layouts)
        self.combo_layout.insertSeparator(len(layouts))
        self.combo_layout.addItems([lay for lay in all_layouts("NCHW") + all_layouts("NCL") if lay not in layouts])
        self.combo_layout.setToolTip("The order of the tensor's axes; methods reduce over named axes")
        self.combo_layout.currentTextChanged.connect(self._on_layout)
        form.addRow("layout", self.combo_layout)
        self.spins = {}
        for letter in "NCHWL":
            spin = QSpinBox(objectName=f"spin_{letter}")
            spin.setRange(1, 65536)
            spin.setKeyboardTracking(False)
            spin.setAccelerated(True)
            spin.setToolTip(f"size of axis {AXIS_NAMES[letter]}")
            spin.valueChanged.connect(self._on_size)
            form.addRow(AXIS_NAMES[letter], spin)
            self.spins[letter] = spin
        self.form_tensor = form
        self.label_shape = hint_label()
        self.label_shape.setObjectName("label_shape")
        form.addRow(self.label_shape)
        column.addWidget(box)

        # parameters
        box = QGroupBox("Parameters")
        v = QVBoxLayout(box)
        self.params = ParamEditor(state)
        v.addWidget(self.params)
        self.label_error = error_label("label_error")
        v.addWidget(self.label_error)
        column.addWidget(box)

        # input
        box = QGroupBox("Input")
        form = QFormLayout(box)
        self.combo_input = QComboBox(objectName="combo_input")
        for g in GENERATORS.values():
            self.combo_input.addItem(g.label, g.name)
            self.combo_input.setItemData(self.combo_input.count() - 1, g.doc, Qt.ItemDataRole.ToolTipRole)
        self.combo_input.currentIndexChanged.connect(self._on_input)
        form.addRow("values", self.combo_input)
        self.spin_seed = QSpinBox(objectName="spin_seed")
        self.spin_seed.setRange(FIELDS["seed"].low, FIELDS["seed"].high)
        self.spin_seed.setToolTip("Random seed: the same seed gives the same values")
        self.spin_seed.valueChanged.connect(lambda s: state.update(seed=s))
        form.addRow("seed", self.spin_seed)
        self.button_open = QPushButton("Open file…", objectName="button_open")
        self.button_open.setToolTip("Load your own tensor: .npy, .npz, .pt/.pth, PNG or JPEG (Ctrl+O)")
        form.addRow(self.button_open)
        column.addWidget(box)

        # backend
        box = QGroupBox("Compute")
        form = QFormLayout(box)
        self.combo_backend = QComboBox(objectName="combo_backend")
        self.combo_backend.addItems(["numpy", "torch"])
        if "torch" not in available_backends():
            item = self.combo_backend.model().item(1)
            item.setEnabled(False)
            item.setToolTip(torch_missing_reason())
        self.combo_backend.currentTextChanged.connect(self._on_backend)
        form.addRow("backend", self.combo_backend)
        self.combo_device = QComboBox(objectName="combo_device")
        self.combo_device.currentTextChanged.connect(
            lambda d: d and d != state.device and state.update(device=d))
        form.addRow("device", self.combo_device)
        self.label_backend = hint_label(torch_missing_reason())
        self.label_backend.setVisible(bool(torch_missing_reason()))
        form.addRow(self.label_backend)
        column.addWidget(box)

        # histogram options
        box = QGroupBox("Display")
        form = QFormLayout(box)
        self.spin_bins = QSpinBox(objectName="spin_bins")
        self.spin_bins.setRange(FIELDS["bins"].low, FIELDS["bins"].high)
        self.spin_bins.setKeyboardTracking(False)
        self.spin_bins.valueChanged.connect(lambda b: state.update(bins=b))
        form.addRow("bins", self.spin_bins)
        self.check_shared = QCheckBox("same bins before and after", objectName="check_shared_bins")
        self.check_shared.toggled.connect(lambda on: state.update(shared_bins=on))
        self.check_log = QCheckBox("log counts", objectName="check_log_counts")
        self.check_log.toggled.connect(lambda on: state.update(log_counts=on))
        self.check_overlays = QCheckBox("overlay statistics groups", objectName="check_overlays")
        self.check_overlays.setToolTip("Draw the histograms of the selected group and the most extreme ones")
        self.check_overlays.toggled.connect(lambda on: state.update(overlays=on))
        self.check_shared_colors = QCheckBox("one colour scale for the values", objectName="check_shared_colors")
        self.check_shared_colors.setToolTip("The Values view colours before and after on one scale (off: each its own)")
        self.check_shared_colors.toggled.connect(lambda on: state.update(shared_colors=on))
        for w in (self.check_shared, self.check_log, self.check_overlays, self.check_shared_colors):
            form.addRow(w)
        column.addWidget(box)
        column.addStretch(1)

        state.settingsChanged.connect(self.sync)
        state.errorChanged.connect(self._show_error)
        state.resultChanged.connect(self.params.sync)
        self.sync()

    # -- widgets -> state ---------------------------------------------------------------------
    def _on_method(self, index):
        name = self.combo_method.itemData(index, Qt.ItemDataRole.UserRole)
        if name is None:  # a family header
            self.sync()
        elif name != self.state.method:
            self.state.update(method=name)

    def _on_framework(self, index):
        name = self.combo_framework.itemData(index)
        if name and name != self.state.framework:
            self.state.update(framework=name)

    def _sync_framework(self):
        """Each framework's item enabled when it computes the current method (else its reason as the
        tooltip); the chosen framework's layer or op, or why it cannot, under it."""
        s = self.state
        model = self.combo_framework.model()
        for row, name in enumerate(FRAMEWORKS):
            why = refusal(s.method, name)
            item = model.item(row)
            item.setEnabled(not why or name == s.framework)
            item.setToolTip(why or f"{FRAMEWORKS[name].label}: {FRAMEWORKS[name].offers[s.method].api}")
        self.combo_framework.setCurrentIndex(self.combo_framework.findData(s.framework))
        why = refusal(s.method, s.framework)
        offer = FRAMEWORKS[s.framework].offers[s.method]
        self.label_framework.setText(why or (offer.api if s.framework == "torch" else
                                             f"{offer.api} — {'; '.join(offer.conventions[:2])}"))
        mark_invalid(self.combo_framework, bool(why))

    def _on_layout(self, layout):
        if layout and layout != self.state.layout:
            self.state.update(layout=layout)

    def _on_size(self, *_):
        shape = tuple(self.spins[a].value() for a in self.state.layout if a in self.spins)
        if len(shape) == len(self.state.layout) and shape != self.state.shape:
            self.state.update(shape=shape)

    def _on_input(self, index):
        name = self.combo_input.itemData(index)
        if name and name != self.state.input:
            self.state.update(input=name)

    def _on_backend(self, backend):
        if backend and backend != self.state.backend:
            self.state.update(backend=backend, device="cpu")

    # -- state -> widgets ------------------------------------------------------------------------
    def sync(self):
        s = self.state
        spec = s.method_spec
        widgets = [self.combo_method, self.combo_framework, self.combo_layout, self.combo_mode, self.combo_running,
                   self.combo_input, self.spin_seed, self.combo_backend, self.combo_device, self.spin_bins,
                   self.check_shared, self.check_log, self.check_overlays, self.check_shared_colors,
                   *self.spins.values()]
        with blocked(*widgets):
            self.combo_method.setCurrentIndex(self.combo_method.findData(s.method, Qt.ItemDataRole.UserRole))
            self.label_method.setText(spec.summary)
            self._sync_framework()
            if self.combo_layout.findText(s.layout) < 0:  # e.g. NC from a 2-D file
                self.combo_layout.addItem(s.layout)
            self.combo_layout.setCurrentText(s.layout)
            for letter, spin in self.spins.items():
                present = letter in s.layout
                spin.setVisible(present)
                self.form_tensor.labelForField(spin).setVisible(present)
                set_value(spin, s.sizes.get(letter, 1))
                spin.setEnabled(s.input != FILE_INPUT)
            elements = prod(s.shape)
            self.label_shape.setText(f"{' × '.join(map(str, s.shape))} = {elements:,} elements")
            self.row_mode.setVisible(spec.running_stats)
            self.form_mode_label().setVisible(spec.running_stats)
            self.combo_mode.setCurrentText("train" if s.training else "eval")
            self.combo_running.setCurrentIndex(self.combo_running.findData(s.running))
            self.combo_running.setEnabled(not s.training)
            self._sync_input()
            set_value(self.spin_seed, s.seed)
            self.spin_seed.setEnabled(s.input != FILE_INPUT)
            self.combo_backend.setCurrentText(s.backend)
            devices = available_devices(s.backend)
            if [self.combo_device.itemText(i) for i in range(self.combo_device.count())] != devices:
                self.combo_device.clear()
                self.combo_device.addItems(devices)
            self.combo_device.setCurrentText(s.device)
            set_value(self.spin_bins, s.bins)
            self.check_shared.setChecked(s.shared_bins)
            self.check_log.setChecked(s.log_counts)
            self.check_overlays.setChecked(s.overlays)
            self.check_shared_colors.setChecked(s.shared_colors)
        self.params.sync()
        self._show_error(s.error)

    def form_mode_label(self):
        return self.row_mode.parentWidget().layout().labelForField(self.row_mode)

    def _sync_input(self):
        s = self.state
        file_row = self.combo_input.findData(FILE_INPUT)
        if s.file is not None and file_row < 0:
            self.combo_input.addItem("", FILE_INPUT)
            file_row = self.combo_input.count() - 1
        if file_row >= 0 and s.file is not None:
            self.combo_input.setItemText(file_row, f"File: {s.file.label}")
        self.combo_input.setCurrentIndex(self.combo_input.findData(s.input))

    def _show_error(self, message):
        self.label_error.setText(message or "")
        self.label_error.setVisible(bool(message))
        self.params.show_error(message)
        for letter, spin in self.spins.items():
            mark_invalid(spin, bool(message) and (f"{letter}=" in message or "elements" in message))
