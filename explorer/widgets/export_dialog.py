"""The export dialog (File > Export, Ctrl+E) and the right-click menu every view gets: PNG at a
chosen layout size and DPI (the DPI changes the pixels, not the layout), vector SVG or PDF, or
the clipboard. Dialogs and menus are deleted when closed (each export used to leave one alive)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ..atomic import SaveError
from ..export import copy_widget, save_widget

IMAGE_FILTER = "PNG image (*.png);;SVG vector image (*.svg);;PDF document (*.pdf)"


def settle_window(widget: QWidget):
    """Bring the panels of widget's main window up to its latest result before it is drawn."""
    settle = getattr(widget.window(), "settle", None)  # MainWindow.settle; other windows have none
    if settle is not None:
        settle()


def export_view(parent: QWidget, widget: QWidget, title: str, path: str | None = None):
    """Ask for a file (unless given) and write `widget` there; failures are one message, nothing lost."""
    if path is None:
        path, _ = QFileDialog.getSaveFileName(parent, f"Export {title}", f"{title.lower().replace(' ', '_')}.png",
                                              IMAGE_FILTER)
        if not path:
            return False
    try:
        settle_window(widget)
        save_widget(widget, path)
    except (SaveError, ValueError) as exc:
        QMessageBox.warning(parent, "Export failed", str(exc))
        return False
    return True


def install_export_menu(widget: QWidget, title: str, target: QWidget | None = None):
    """A right-click menu on `widget` that exports or copies `target` (default: the widget)."""
    target = target or widget
    widget.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def show(pos):
        menu = QMenu(widget)
        menu.addAction(f"Export {title} as PNG/SVG/PDF…", lambda: export_view(widget.window(), target, title))
        menu.addAction("Copy to clipboard", lambda: copy_widget(target))
        menu.exec(widget.mapToGlobal(pos))
        menu.deleteLater()

    widget.customContextMenuRequested.connect(show)


class ExportDialog(QDialog):
    """Pick a view, a file (.png, .svg or .pdf), the layout size and, for PNG, the DPI."""

    def __init__(self, targets: dict, parent=None, current: str | None = None):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # gone once closed, not kept by the window
        self.setWindowTitle("Export figure")
        self.targets = targets
        form = QFormLayout(self)
        self.combo_target = QComboBox(objectName="combo_export_target")
        self.combo_target.addItems(list(targets))
        if current in targets:
            self.combo_target.setCurrentText(current)
        self.combo_target.currentTextChanged.connect(self._default_size)
        form.addRow("view", self.combo_target)
        row = QHBoxLayout()
        self.edit_path = QLineEdit(objectName="edit_export_path")
        self.edit_path.setPlaceholderText("figure.png, figure.svg or figure.pdf")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.edit_path, 1)
        row.addWidget(browse)
        form.addRow("file", row)
        self.spin_width = QSpinBox(objectName="spin_export_width")
        self.spin_height = QSpinBox(objectName="spin_export_height")
        for spin in (self.spin_width, self.spin_height):
            spin.setRange(16, 20000)
            spin.setSuffix(" px")
            spin.valueChanged.connect(self._show_pixels)
        size_row = QHBoxLayout()
        size_row.addWidget(self.spin_width)
        size_row.addWidget(self.spin_height)
        form.addRow("layout size", size_row)
        self.spin_dpi = QSpinBox(objectName="spin_export_dpi")
        self.spin_dpi.setRange(48, 1200)
        self.spin_dpi.setValue(192)
        self.spin_dpi.setToolTip("The PNG's pixel density: 192 doubles the pixels and keeps the layout; 96 is the "
                                 "screen")
        self.spin_dpi.valueChanged.connect(self._show_pixels)
        form.addRow("PNG DPI", self.spin_dpi)
        self.label_pixels = QLabel(objectName="label_export_pixels")
        form.addRow(self.label_pixels)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._default_size(self.combo_target.currentText())

    def _default_size(self, name):
        widget = self.targets.get(name)
        if widget is not None:
            self.spin_width.setValue(widget.width())
            self.spin_height.setValue(widget.height())

    def _show_pixels(self, *_):
        scale = self.spin_dpi.value() / 96
        self.label_pixels.setText(f"a PNG of {round(self.spin_width.value() * scale)} × "
                                  f"{round(self.spin_height.value() * scale)} pixels; SVG and PDF are vectors")

    def _browse(self):
        path, _ = QFileDialog.getSaveFileName(self, "Export figure", self.edit_path.text() or "figure.png",
                                              IMAGE_FILTER)
        if path:
            self.edit_path.setText(path)

    def save(self):
        path = self.edit_path.text().strip()
        if not path:
            QMessageBox.warning(self, "Export", "Choose a file name ending in .png, .svg or .pdf")
            return
        widget = self.targets[self.combo_target.currentText()]
        size = QSize(self.spin_width.value(), self.spin_height.value())
        try:
            settle_window(widget)
            save_widget(widget, path, size, self.spin_dpi.value())
        except (SaveError, ValueError) as exc:
            QMessageBox.warning(self, "Export failed", str(exc))
            return
        self.accept()
