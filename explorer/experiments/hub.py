"""The Experiments tab: every experiment in one list (on synthetic data; on real data and real
engines), the chosen one on the right. A view is built the first time it is shown, and then runs
its default when that is quick (the long ones wait for Run)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QScrollArea, QStackedWidget, QWidget

from ..vocabulary import EXPERIMENTS
from .depth_view import DepthView
from .iris_view import IrisView
from .padding_view import PaddingView
from .selu_view import SeluView
from .steps_view import StepsView
from .sync_view import SyncView
from .train_view import TrainView
from .transformer_view import TransformerView
from .weights_view import WeightsView

#: name (explorer.vocabulary.EXPERIMENTS) -> view class
VIEW_CLASSES = {"depth": DepthView, "steps": StepsView, "weights": WeightsView, "train": TrainView,
                "sync": SyncView, "transformer": TransformerView, "iris": IrisView, "selu": SeluView,
                "padding": PaddingView}
SECTIONS = (("Synthetic data", ("depth", "steps", "weights")),
            ("Real data, real engines", ("train", "sync", "transformer", "iris", "selu", "padding")))
TIPS = {
    "depth": "A signal through a deep stack of layers: saturation and gradients with and without normalization",
    "steps": "Running statistics over training steps, batch-size noise, train vs eval, freezing BatchNorm",
    "weights": "Weight normalization, spectral normalization and weight standardization of a conv weight",
    "train": "A small CNN trained on scikit-learn's digits with each normalization: the GroupNorm paper's "
             "Figure 1, learning rates, curves, fine-tuning and a batch-size switch (torch; runs on Run)",
    "sync": "Synchronized vs per-device BatchNorm on a real gloo process group of 2 to 8 processes "
            "(torch; runs on Run)",
    "transformer": "Post-LN, pre-LN, RMSNorm, sandwich and DeepNorm: stream and gradient norms per layer, "
                   "training with and without warm-up (torch; runs on Run)",
    "iris": "Logistic regression on iris, raw vs standardized vs min-max scaled (scikit-learn)",
    "selu": "SELU's mean/variance map and its fixed point, with dropout and unnormalized weights (torch)",
    "padding": "BatchNorm and LayerNorm on padded sequences, with and without a padding mask",
}


def view_class(name: str):
    """The view class of experiment `name` (KeyError naming the choices otherwise)."""
    if name not in VIEW_CLASSES:
        raise KeyError(f"unknown experiment {name!r}; choose one of {', '.join(VIEW_CLASSES)}")
    return VIEW_CLASSES[name]


class FitScrollArea(QScrollArea):
    """A scroll area that gives its widget the whole viewport, and scrolls only below the widget's
    minimum size. (QScrollArea's own resizing follows the height-for-width of wrapped labels, which
    made the experiment tabs taller than the window, their bottom rows off-screen.)"""

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._fit()

    def setWidget(self, widget):
        super().setWidget(widget)
        self._fit()

    def _fit(self):
        widget, viewport = self.widget(), self.viewport().size()
        if widget is not None:
            least = widget.minimumSizeHint()
            widget.resize(max(viewport.width(), least.width()), max(viewport.height(), least.height()))


class ExperimentsTab(QWidget):
    """objectName tab_experiments. `views` maps the title of each experiment built so far to its view
    (the window's export dialog lists them); `view(name)` is one of them or None. The list is
    `list_experiments`; `experimentShown(name)` follows a change of experiment."""

    experimentShown = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("tab_experiments")
        self.views: dict = {}
        self.active = False  # the tab has been shown: the current experiment is built
        self.list = QListWidget(objectName="list_experiments")
        self.list.setFixedWidth(190)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._current = "depth"
        self.stack = QStackedWidget(objectName="stack_experiments")
        self.scrolls: dict = {}
        for heading, names in SECTIONS:
            item = QListWidgetItem(heading)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)  # a heading: drawn as text, never selected
            font = item.font()
            font.setBold(True)
            item.setFont(font)
            self.list.addItem(item)
            for name in names:
                item = QListWidgetItem("  " + EXPERIMENTS[name])
                item.setData(Qt.ItemDataRole.UserRole, name)
                item.setToolTip(TIPS[name])
                self.list.addItem(item)
                self.scrolls[name] = FitScrollArea()
                self.stack.addWidget(self.scrolls[name])
        self.list.currentItemChanged.connect(self._on_item)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addWidget(self.stack, 1)
        self.show_experiment("depth")

    def names(self) -> list:
        return list(self.scrolls)

    def current_name(self) -> str:
        return self._current

    def view(self, name: str):
        """The view of experiment `name`, or None when it has not been shown yet."""
        return self.views.get(EXPERIMENTS[name])

    def current_view(self):
        return self.view(self.current_name())

    def show_experiment(self, name: str):
        """Select experiment `name` (built, and run when quick, once the tab is shown)."""
        view_class(name)
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(row)
                return

    def activate(self):
        """The tab is shown: build the current experiment if it is not built yet."""
        self.active = True
        self._ensure(self.current_name())

    def _on_item(self, item, _previous=None):
        name = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if name is None:  # a heading: the list keeps showing the experiment that is shown
            self.show_experiment(self._current)
            return
        self._current = name
        self.stack.setCurrentWidget(self.scrolls[name])
        if self.active:
            self._ensure(name)
        self.experimentShown.emit(name)

    def _ensure(self, name: str):
        title = EXPERIMENTS[name]
        if title in self.views:
            return self.views[title]
        view = self.views[title] = VIEW_CLASSES[name](autorun=False)
        self.scrolls[name].setWidget(view)
        first = getattr(view, "first_show", None)
        if first is not None:
            first()
        else:  # the synthetic experiments compute in a second or two: run their defaults at once
            view.run()
        return view

    def build(self, name: str):
        """Build experiment `name` now (shown or not) and return its view."""
        return self._ensure(name)

    def shutdown(self):
        """Stop every view's worker (and process group) before the window goes."""
        for view in self.views.values():
            view.shutdown()
