"""GUI tests run offscreen, with settings in a temporary file, and wait for results with signals."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kernels import normalize  # noqa: E402

RESULT_TIMEOUT = 20000


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("NORM_EXPLORER_SETTINGS", str(tmp_path / "settings.ini"))


@pytest.fixture
def window(qtbot):
    from explorer.main_window import MainWindow
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.state.result is not None, timeout=RESULT_TIMEOUT)
    return w


@pytest.fixture
def state(window):
    return window.state


def update_and_wait(qtbot, state, **changes):
    """state.update(**changes) and wait for the result (fails on an error)."""
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        state.update(**changes)
    assert state.error is None, state.error


def fresh_result(state):
    """kernels.normalize with the state's settings, computed from scratch."""
    c = state.computed
    req = c.request
    running = dict(zip(("running_mean", "running_var"), c.running_used)) if c.running_used else {}
    return normalize(c.x, req.method, layout=req.layout, backend=req.backend, device=req.device,
                     training=req.training, **running, **req.param_dict)


def as_numpy(a):
    return a if isinstance(a, np.ndarray) else a.detach().cpu().numpy()
