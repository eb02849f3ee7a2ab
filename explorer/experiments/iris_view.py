"""Feature scaling before a linear model (a seed article's iris example): logistic regression on two
iris features, raw vs standardized vs min-max scaled; decision regions, test points outside the
training range, the loss per gradient-descent step, and the iterations beside scikit-learn's."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QVBoxLayout,
    QWidget,
)

from kernels.experiments import SCALINGS, IrisConfig, run_iris

from ..widgets.common import SciSpinBox, blocked
from .real_base import RealExperimentView
from .real_parts import BLACK, DASH, faint, fill_table, make_table, pen, plot_cell, series_color
from .real_runs import iris_csv
from .view_parts import add_legend, caption, make_plot, show_outcome

FEATURES = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")
TITLES = {"raw": "raw features", "standard": "standardized (StandardScaler)", "minmax": "min-max scaled to [0, 1]"}
OUTSIDE = pg.mkColor("#d62728")
EXPLANATION = (
    "Multinomial logistic regression on two iris features by plain gradient descent, each with the largest "
    "step that is safe for its scaling. On raw features the two directions of the loss have very different "
    "curvatures, so the safe step is small and the slow direction takes thousands of steps; standardized or "
    "min-max scaled, it converges in a few hundred. The scalers are fitted on the training split only and "
    "reused on the test split, so a test flower can land outside [0, 1] after min-max scaling (red rings).")


class IrisView(RealExperimentView):
    """objectName view_iris. `result` is the latest kernels IrisResult."""

    NEEDS = ("sklearn",)
    AUTORUN = True
    RERUN_ON_CHANGE = True

    def __init__(self, parent=None, autorun: bool = True):
        super().__init__("iris", parent)
        layout = QHBoxLayout(self)
        layout.addWidget(self._build_controls())
        layout.addLayout(self._build_plots(), 1)
        self._built(autorun)

    def _build_controls(self) -> QWidget:
        box = QGroupBox("Iris, two features")
        box.setFixedWidth(300)
        form = QFormLayout()
        self.combo_x = self._combo("x", [(f, i) for i, f in enumerate(FEATURES)], "The feature on the x axis")
        self.combo_y = self._combo("y", [(f, i) for i, f in enumerate(FEATURES)], "The feature on the y axis")
        with blocked(self.combo_y):
            self.combo_y.setCurrentIndex(1)
        self.spin_test = QDoubleSpinBox(objectName="spin_test_fraction")
        self.spin_test.setRange(0.1, 0.9)
        self.spin_test.setSingleStep(0.05)
        self.spin_test.setValue(0.3)
        self.spin_test.setKeyboardTracking(False)
        self.spin_test.setToolTip("The share of each class held out for testing (seeded)")
        self.spin_test.valueChanged.connect(self.schedule)
        self.spin_l2 = SciSpinBox(log=True, minimum=0.0, maximum=100.0)
        self.spin_l2.setObjectName("spin_l2")
        self.spin_l2.setValue(1e-2)
        self.spin_l2.setToolTip("L2 penalty l2/2·‖W‖² (scikit-learn's C = 1 / (l2·n))")
        self.spin_l2.valueChanged.connect(self.schedule)
        self.spin_max_iter = self._spin("max_iter", 10, 200000, 20000, "Gradient-descent steps at most")
        self.spin_seed = self._spin("seed", 0, 2 ** 31 - 1, 0, "Seed of the train/test split")
        for label, widget in (("x feature", self.combo_x), ("y feature", self.combo_y),
                              ("test fraction", self.spin_test), ("l2", self.spin_l2),
                              ("max steps", self.spin_max_iter), ("seed", self.spin_seed)):
            form.addRow(label, widget)
        self._control_column(box, form)
        return box

    def _build_plots(self):
        grid = QGridLayout()
        self.plots = {}
        self._drawn: dict = {}  # scaling -> the items drawn over its decision regions
        for col, kind in enumerate(SCALINGS):
            plot = make_plot(f"plot_iris_{kind}", TITLES[kind], FEATURES[0], FEATURES[1])
            image = pg.ImageItem(axisOrder="row-major")
            image.setZValue(-20)
            plot.addItem(image)
            plot.setMinimumHeight(300)
            self.plots[kind] = (plot, image)
            grid.addWidget(plot, 0, col)
        classes = " · ".join(f"<span style='color:{series_color(c).name()}'>{name}</span>"
                             for c, name in enumerate(("setosa", "versicolor", "virginica")))
        self.label_regions = caption(f"Coloured regions: the class predicted at each point ({classes}), in raw "
                                     f"units with the scaler applied. Dots: training flowers; triangles: test "
                                     f"flowers; red rings: test flowers outside the training range (the dashed box, "
                                     f"which min-max scaling maps to [0, 1]²).", "caption_iris_regions")
        grid.addWidget(self.label_regions, 1, 0, 1, 3)
        self.plot_loss = make_plot("plot_iris_loss", "loss per gradient-descent step", "step (log)",
                                   "cross-entropy + l2 penalty")
        self.plot_loss.setLogMode(x=True)
        add_legend(self.plot_loss)
        self.table = make_table("table_iris", "Our gradient descent against scikit-learn's LogisticRegression "
                                              "(lbfgs) on the same scaled data and penalty")
        plot_cell(grid, 2, 0, self.plot_loss, "Raw features crawl: the largest safe step is set by the steep "
                  "direction, so the flat one barely moves. (The l2 penalty acts on each scaling's own weights, so "
                  "the three minima differ.)", "caption_iris_loss")
        self.label_table = caption("lbfgs adapts to the curvature and needs far fewer iterations, yet it too works "
                                   "harder on raw features. Every scaling ends at about the same accuracy: scaling "
                                   "changes how fast plain gradient descent gets there, not where the optimum is.",
                                   "caption_iris_table")
        box = QVBoxLayout()
        box.addWidget(self.table)
        box.addWidget(self.label_table)
        box.addStretch(1)
        grid.addLayout(box, 2, 1, 1, 2)
        self.table.setMaximumHeight(150)
        grid.setRowStretch(0, 5)
        grid.setRowStretch(2, 3)
        column = QVBoxLayout()
        column.addWidget(caption(EXPLANATION, "label_explanation"))
        column.addWidget(self.label_placeholder)
        column.addLayout(grid, 1)
        return column

    # -- settings ----------------------------------------------------------------------------------
    def config(self) -> IrisConfig:
        return IrisConfig(features=(self.combo_x.currentData(), self.combo_y.currentData()),
                          test_fraction=round(self.spin_test.value(), 6), l2=self.spin_l2.value(),
                          max_iter=self.spin_max_iter.value(), seed=self.spin_seed.value())

    def set_config(self, **values):
        """Set controls without triggering runs: features (two indices), test_fraction, l2, max_iter, seed."""
        with blocked(self.combo_x, self.combo_y, self.spin_test, self.spin_l2, self.spin_max_iter, self.spin_seed):
            for key, value in values.items():
                if key == "features":
                    self.combo_x.setCurrentIndex(int(value[0]))
                    self.combo_y.setCurrentIndex(int(value[1]))
                elif key in ("test_fraction", "l2", "max_iter", "seed"):
                    widget = {"test_fraction": self.spin_test, "l2": self.spin_l2, "max_iter": self.spin_max_iter,
                              "seed": self.spin_seed}[key]
                    widget.setValue(value)
                else:
                    raise ValueError(f"unknown setting {key!r}")

    def compute(self, cfg, progress, cancelled):
        return run_iris(cfg, progress, cancelled)

    # -- drawing -----------------------------------------------------------------------------------
    def show_result(self, res):
        fits = res.fits
        parts = [f"{kind} {f.iterations} steps{'' if f.converged else ' (not converged)'}" for kind, f in fits.items()]
        show_outcome(self.label_status, "gradient descent: " + ", ".join(parts))
        show_outcome(self.label_warnings, "\n".join(res.warnings), "warning")
        for kind, (plot, image) in self.plots.items():
            self._draw_regions(res, kind, plot, image)
        self.plot_loss.clear()
        for k, (kind, f) in enumerate(fits.items()):
            steps = np.arange(1, len(f.loss) + 1)  # step 0 drawn at 1 on the log axis
            self.plot_loss.plot(steps, f.loss, pen=pen(series_color(k), 2), name=TITLES[kind].split(" (")[0])
        header = ["scaling", "step size", "steps", "converged", "lbfgs iterations", "train accuracy",
                  "test accuracy", "test points outside"]
        rows = [[kind, f.step, f.iterations, "yes" if f.converged else "no",
                 "—" if f.sklearn_iterations is None else f.sklearn_iterations, f"{100 * f.train_accuracy:.1f} %",
                 f"{100 * f.test_accuracy:.1f} %", f"{int(f.outside.sum())} of {len(f.outside)}"]
                for kind, f in fits.items()]
        fill_table(self.table, header, rows)

    def _draw_regions(self, res, kind, plot, image):
        for item in self._drawn.pop(kind, []):
            plot.removeItem(item)
        drawn = self._drawn[kind] = []
        names = res.feature_names
        plot.setLabel("bottom", names[0])
        plot.setLabel("left", names[1])
        if kind not in res.fits:
            image.clear()
            plot.setTitle(f"{TITLES[kind]}: not fitted", size="10pt")
            return
        f = res.fits[kind]
        colors = np.array([faint(series_color(c), 70).getRgb() for c in range(len(res.class_names))], dtype=np.uint8)
        image.setImage(colors[f.grid_class], levels=None)
        gx, gy = res.grid_x, res.grid_y
        dx, dy = gx[1] - gx[0], gy[1] - gy[0]
        image.setRect(QRectF(gx[0] - dx / 2, gy[0] - dy / 2, gx[-1] - gx[0] + dx, gy[-1] - gy[0] + dy))
        lo, hi = res.x_train.min(axis=0), res.x_train.max(axis=0)
        box = pg.QtWidgets.QGraphicsRectItem(QRectF(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]))
        box.setPen(pen(BLACK, 1.2, DASH))
        plot.addItem(box)
        drawn.append(box)
        for c, name in enumerate(res.class_names):
            color = series_color(c)
            train = res.x_train[res.y_train == c]
            test = res.x_test[res.y_test == c]
            drawn.append(plot.plot(train[:, 0], train[:, 1], pen=None, symbol="o", symbolSize=6, symbolBrush=color,
                                   symbolPen=pen("w", 0.8), name=name))
            drawn.append(plot.plot(test[:, 0], test[:, 1], pen=None, symbol="t", symbolSize=9,
                                   symbolBrush=pg.mkBrush("w"), symbolPen=pen(color, 1.6)))
        out = res.x_test[f.outside]
        drawn.append(plot.plot(out[:, 0], out[:, 1], pen=None, symbol="o", symbolSize=17, symbolBrush=None,
                               symbolPen=pen(OUTSIDE, 2)))
        steps = f"{f.iterations:,} steps{'' if f.converged else ', not converged'}"
        plot.setTitle(f"{TITLES[kind]}<br><span style='font-size:8pt'>{steps} · test {100 * f.test_accuracy:.0f} %"
                      f" · {int(f.outside.sum())} outside</span>", size="10pt")
        plot.setXRange(gx[0], gx[-1], padding=0)
        plot.setYRange(gy[0], gy[-1], padding=0)

    def csv_text(self, result) -> str:
        return iris_csv(result)
