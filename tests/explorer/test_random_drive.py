"""A few hundred random control changes and clicks: no exception, no NaN in a displayed
statistic, and the final result equals a fresh kernels.normalize of the final settings."""

import random

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QSpinBox

from .conftest import as_numpy, fresh_result, wait_until_computed


def _random_step(rng, window, qtbot):
    s = window.state
    kind = rng.random()
    if kind < 0.12:
        combo = window.findChild(QComboBox, "combo_method")
        rows = [i for i in range(combo.count()) if combo.itemData(i, Qt.ItemDataRole.UserRole)]
        combo.setCurrentIndex(rng.choice(rows))
    elif kind < 0.2:
        window.findChild(QComboBox, "combo_layout").setCurrentText(rng.choice(["NCHW", "NHWC", "NCL", "NLC", "CHWN"]))
    elif kind < 0.45:
        letter = rng.choice(list(s.layout))
        window.findChild(QSpinBox, f"spin_{letter}").setValue(rng.randint(1, 12))
    elif kind < 0.6:
        spins = [w for w in window.controls.params.findChildren(QSpinBox) if w.isEnabled()]
        doubles = [w for w in window.controls.params.findChildren(object) if type(w).__name__ == "SciSpinBox"
                   and w.isEnabled()]
        pick = rng.choice(spins + doubles) if spins + doubles else None
        if pick is not None:
            if isinstance(pick, QSpinBox):
                pick.setValue(rng.randint(1, 8))
            else:
                pick.stepBy(rng.choice([-2, -1, 1, 2]))
    elif kind < 0.68:
        checks = [c for c in window.controls.findChildren(QCheckBox) if c.isVisibleTo(window)]
        if checks:
            c = rng.choice(checks)
            c.setChecked(not c.isChecked())
    elif kind < 0.76:
        combo = window.findChild(QComboBox, "combo_input")
        combo.setCurrentIndex(rng.randrange(combo.count()))
    elif kind < 0.82:
        window.findChild(QComboBox, "combo_mode").setCurrentText(rng.choice(["train", "eval"]))
    elif kind < 0.86:
        window.findChild(QSpinBox, "spin_seed").setValue(rng.randint(0, 50))
    else:
        view = window.tensor_view
        view.grab()
        pos = QPoint(rng.randint(0, view.width() - 1), rng.randint(0, view.height() - 1))
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=pos)


def _assert_displayed_numbers_finite(window):
    c = window.state.scene
    for summary in (c.summary_before, c.summary_after):
        assert all(np.isfinite([summary.mean, summary.std, summary.min, summary.max, summary.beyond_3sigma]))
    g = c.groups
    for a in (g.mean_before, g.var_before, g.mean_after, g.var_after):
        assert np.all(np.isfinite(a))
    assert np.all(np.isfinite(c.hist.counts_before)) and np.all(np.isfinite(c.hist.edges_after))
    for label in ("label_summary_before", "label_summary_after"):
        assert "nan" not in window.findChild(object, label).text().lower()


def test_random_drive(qtbot, window):
    rng = random.Random(1234)
    s = window.state
    for step in range(300):
        _random_step(rng, window, qtbot)
        if step % 25 == 0 or step == 299:
            wait_until_computed(qtbot, s)
            _assert_displayed_numbers_finite(window)
    if s.error:  # make the final settings computable, then compare
        s.update(params={}, shape=tuple(min(v, 6) for v in s.shape))
    wait_until_computed(qtbot, s)
    assert s.error is None, s.error
    _assert_displayed_numbers_finite(window)
    np.testing.assert_array_equal(as_numpy(s.result.output), as_numpy(fresh_result(s).output))
