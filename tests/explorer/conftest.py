"""GUI tests run offscreen, with settings in a temporary file, and wait for results with signals.
`state` is a bare AppState (no window) for tests of settings, sessions and computation; `window`
builds the whole MainWindow for tests that need it."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from kernels import normalize

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
def state(qtbot):
    """An AppState with its first result, and no window."""
    from explorer.state import AppState
    s = AppState()
    qtbot.waitUntil(lambda: s.result is not None, timeout=RESULT_TIMEOUT)
    yield s
    s.shutdown()


def update_and_wait(qtbot, state, **changes):
    """state.update(**changes) and wait for the result (fails on an error)."""
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        state.update(**changes)
    assert state.error is None, state.error


def wait_until_computed(qtbot, state):
    """Wait until the scene shows the current settings (or they cannot be computed)."""
    qtbot.waitUntil(lambda: state.error is not None or (not state.computing and state.scene.settings == state.settings),
                    timeout=RESULT_TIMEOUT)


def fresh_result(state):
    """kernels.normalize with the scene's settings, computed from scratch."""
    c = state.scene
    s = c.settings
    running = dict(zip(("running_mean", "running_var"), c.running_used)) if c.running_used else {}
    return normalize(c.x, s.method, layout=s.layout, backend=s.backend, device=s.device, training=s.training,
                     **running, **s.kernel_params())


def as_numpy(a):
    return a if isinstance(a, np.ndarray) else a.detach().cpu().numpy()
