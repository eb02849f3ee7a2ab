"""The Precision view: for the current method, settings and tensor, the error of every storage ×
accumulation type and variance algorithm (kernels.precision.study, recomputed here), torch's own half
kernels, the three classic inputs as presets, and a method the study does not cover said in one line."""

import numpy as np
from PySide6.QtWidgets import QPushButton, QTableWidget, QTextBrowser

from explorer.widgets.precision_view import cell_text
from kernels import precision

from .conftest import RESULT_TIMEOUT, update_and_wait


def shown(qtbot, window):
    window.show_view("precision")
    qtbot.waitUntil(lambda: window.precision_view.ready(), timeout=RESULT_TIMEOUT)
    return window.precision_view


def table_rows(table):
    return [[table.item(r, c).text() if table.item(r, c) else "" for c in range(table.columnCount())]
            for r in range(table.rowCount())]


def test_the_table_is_the_study_of_the_current_tensor(qtbot, window):
    state = window.state
    update_and_wait(qtbot, state, method="group", params={"groups": 2}, shape=(2, 4, 4, 4))
    view = shown(qtbot, window)
    st = precision.study(state.scene.x, "group", "NCHW", groups=2, eps=1e-5)
    rows = table_rows(window.findChild(QTableWidget, "table_precision"))
    assert len(rows) == len(precision.PAIRS) + 2
    for row, (storage, accumulate) in zip(rows, precision.PAIRS):
        assert row[:2] == [storage, accumulate]
        assert row[2:] == [cell_text(st.cell(storage, accumulate, a).errors) for a in precision.ALGORITHMS]
    assert rows[-2][0] == "float16" and "F.group_norm" in rows[-2][1]
    assert rows[-2][2] == cell_text(st.torch[0].errors)
    assert "current tensor" in view.caption.text()
    assert "torch's F.group_norm on float16" in window.findChild(QTextBrowser, "text_precision_effects").toPlainText()


def test_the_presets_show_the_three_effects(qtbot, window):
    state = window.state
    update_and_wait(qtbot, state, method="layer", shape=(2, 4, 6, 6))
    view = shown(qtbot, window)
    effects = window.findChild(QTextBrowser, "text_precision_effects")
    for key, needle in (("cancellation", "cancels in float32"), ("overflow", "overflows float16"),
                        ("eps_underflow", "rounds to 0 in float16")):
        window.findChild(QPushButton, f"button_precision_{key}").click()
        qtbot.waitUntil(view.ready, timeout=RESULT_TIMEOUT)
        assert view.scene.preset == key and needle in effects.toPlainText(), key
        x, params, _ = precision.preset(key, state.shape, "NCHW", "layer", state.seed)
        expected = precision.study(x, "layer", "NCHW", eps=params.get("eps", 1e-5), torch_types=())
        assert [c.errors.max_ulps for c in view.scene.study.cells] == [c.errors.max_ulps for c in expected.cells]
    rows = table_rows(window.findChild(QTableWidget, "table_precision"))
    assert "NaN" in rows[0][2]  # float16 in float16 with eps underflowing: 0/0
    assert "NaN" not in rows[1][2]  # float16 stored, float32 accumulated (what torch does): no NaN
    window.findChild(QPushButton, "button_precision_current").click()
    qtbot.waitUntil(view.ready, timeout=RESULT_TIMEOUT)
    assert view.scene.preset is None


def test_a_method_outside_the_study_says_why(qtbot, window):
    state = window.state
    view = shown(qtbot, window)
    update_and_wait(qtbot, state, method="lrn")
    qtbot.waitUntil(lambda: view.error is not None, timeout=RESULT_TIMEOUT)
    assert "precision study covers" in view.caption.text() and view.table.rowCount() == 0
    update_and_wait(qtbot, state, method="rms")
    qtbot.waitUntil(view.ready, timeout=RESULT_TIMEOUT)
    assert view.table.columnCount() == 3  # no mean: one algorithm
    assert np.isfinite(view.scene.study.cells[0].errors.max_ulps)
