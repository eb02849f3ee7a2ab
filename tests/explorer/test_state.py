"""AppState: update -> resultChanged or error; stale results dropped; the result is exactly
kernels.normalize of the settings; the highlight is kernels.shared_mask."""

import numpy as np
import pytest

from kernels import METHODS, shared_mask

from .conftest import RESULT_TIMEOUT, as_numpy, fresh_result, update_and_wait


def test_first_result_and_defaults(state):
    assert state.error is None
    assert state.result.method == "batch" and state.shape == (4, 8, 8, 8)
    np.testing.assert_array_equal(as_numpy(state.result.output), as_numpy(fresh_result(state).output))


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_computes_like_kernels(qtbot, state, name):
    update_and_wait(qtbot, state, method=name)
    assert state.result.method == name
    np.testing.assert_array_equal(as_numpy(state.result.output), as_numpy(fresh_result(state).output))
    np.testing.assert_array_equal(state.highlight, shared_mask(name, state.shape, state.selected,
                                                               layout=state.layout, **state.params))


def test_update_without_changes_still_emits(qtbot, state):
    update_and_wait(qtbot, state)
    update_and_wait(qtbot, state, seed=state.seed)


def test_invalid_groups_sets_error_and_keeps_last_result(qtbot, state):
    update_and_wait(qtbot, state, method="group", params={"groups": 4})
    good = state.result
    state.update(params={"groups": 3})
    assert state.error == "C=8 is not divisible by groups=3"
    assert state.result is good
    update_and_wait(qtbot, state, params={"groups": 2})
    assert state.error is None and state.result.params["groups"] == 2


def test_bad_values_are_errors_not_exceptions(state):
    for changes, needle in [({"layout": "NCHX"}, "unknown axis letter"), ({"shape": (4, 8, 8)}, "3 axes"),
                            ({"method": "nope"}, "unknown method"), ({"input": "gauss"}, "unknown input"),
                            ({"shape": (4096, 4096, 64, 64)}, "more than"), ({"device": "cuda:3"}, "not available"),
                            ({"params": {"eps": -1}}, "must be at least 0")]:
        state.update(**changes)
        assert state.error and needle in state.error, (changes, state.error)
        state.update(method="batch", layout="NCHW", shape=(4, 8, 8, 8), input="normal", device="cpu", params={})
        assert state.error is None
    with pytest.raises(ValueError, match="unknown key"):
        state.update(colour="red")


def test_rapid_updates_coalesce_to_the_latest(qtbot, state):
    seen = []
    state.resultChanged.connect(lambda: seen.append(state.result.params["eps"]))
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        for k in range(30):
            state.update(params={"eps": 1e-5 * (k + 1)})
    qtbot.waitUntil(lambda: seen and seen[-1] == pytest.approx(3e-4), timeout=RESULT_TIMEOUT)
    assert len(seen) < 30  # stale requests were dropped


def test_layout_change_keeps_sizes_by_axis_and_selection(qtbot, state):
    update_and_wait(qtbot, state, shape=(2, 3, 5, 7), selected=(1, 2, 4, 6))
    update_and_wait(qtbot, state, layout="NHWC")
    assert state.shape == (2, 5, 7, 3) and state.selected == (1, 4, 6, 2)
    update_and_wait(qtbot, state, layout="NLC")
    assert state.shape[0] == 2 and state.shape[2] == 3 and len(state.selected) == 3


def test_method_change_keeps_shared_params(qtbot, state):
    update_and_wait(qtbot, state, method="group", params={"groups": 2, "eps": 1e-3})
    update_and_wait(qtbot, state, method="layer")
    assert state.params == {"eps": 1e-3}


def test_default_groups_fit_a_new_channel_count(qtbot, state):
    update_and_wait(qtbot, state, method="group", params={})
    update_and_wait(qtbot, state, shape=(4, 6, 8, 8))
    assert 6 % state.result.params["groups"] == 0


def test_eval_uses_warmed_running_statistics(qtbot, state):
    update_and_wait(qtbot, state, method="batch", training=False)
    rm, rv = state.scene.running_used
    assert not np.allclose(rm, 0) and not np.allclose(rv, 1)
    np.testing.assert_array_equal(as_numpy(state.result.output), as_numpy(fresh_result(state).output))
    update_and_wait(qtbot, state, running="fresh")
    np.testing.assert_allclose(state.scene.running_used[1], 1)


def test_torch_backend_gives_the_same_histograms(qtbot, state):
    pytest.importorskip("torch")
    update_and_wait(qtbot, state, method="group", backend="numpy", shape=(4, 8, 16, 16))
    h_np = state.scene.hist
    update_and_wait(qtbot, state, backend="torch", device="cpu")
    assert state.result.backend == "torch"
    h_t = state.scene.hist
    np.testing.assert_allclose(h_np.edges_before, h_t.edges_before, rtol=1e-6)
    np.testing.assert_allclose(h_np.edges_after, h_t.edges_after, rtol=1e-5, atol=1e-6)
    assert np.abs(h_np.counts_before - h_t.counts_before).sum() <= 2
    assert np.abs(h_np.counts_after - h_t.counts_after).sum() <= 4


def test_file_input_fixes_the_shape(qtbot, state):
    data = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 4, 5, 3)
    with qtbot.waitSignal(state.resultChanged, timeout=RESULT_TIMEOUT):
        state.set_file(data, "NHWC", "mine.npy")
    assert state.shape == (2, 4, 5, 3) and state.input == "file"
    np.testing.assert_array_equal(state.scene.x, data)
    state.update(shape=(2, 4, 5, 4))
    assert "fixed by the loaded file" in state.error
    update_and_wait(qtbot, state, layout="NCHW")
    np.testing.assert_array_equal(state.scene.x, data.transpose(0, 3, 1, 2))
    update_and_wait(qtbot, state, input="normal", shape=(2, 3, 4, 4))


def test_a_click_or_a_histogram_option_reuses_the_normalization(qtbot, state):
    update_and_wait(qtbot, state, seed=2)
    result = state.result
    update_and_wait(qtbot, state, selected=(0, 1, 2, 3))
    update_and_wait(qtbot, state, bins=32, shared_bins=False)
    assert state.result is result and len(state.scene.hist.counts_after) == 32
    update_and_wait(qtbot, state, params={"eps": 1e-3})
    assert state.result is not result


def test_a_refused_update_changes_nothing(qtbot, state):
    before = state.settings
    for changes, needle in [({"bins": 1}, "bins=1 must be between 2 and 1000"),
                            ({"layout": "NCL", "shape": (1, 2)}, "2 axes but layout NCL names 3"),
                            ({"seed": -1}, "seed=-1 must be between"), ({"seed": "abc"}, "seed='abc' is not an"),
                            ({"selected": (100, 0, 0, 0)}, "outside the shape"),
                            ({"layout": "NCDHW"}, "3 spatial axes"), ({"training": "maybe"}, "not true or false")]:
        state.update(**changes)
        assert needle in state.error, (changes, state.error)
        assert state.settings == before, changes
    update_and_wait(qtbot, state, method="layer")  # not locked by the refused values
    assert state.error is None


def test_switching_method_drops_settings_that_would_break_it(qtbot, state):
    update_and_wait(qtbot, state, method="group", params={"groups": 4, "eps": 1e-3})
    update_and_wait(qtbot, state, method="custom")
    assert state.params == {"eps": 1e-3} and state.result.params["axes"] == "NHW"


def test_controls_show_the_given_parameters_while_an_error_stands(qtbot, window):
    s = window.state
    update_and_wait(qtbot, s, method="custom", params={})
    s.update(params={"axes": "HW", "groups": 2})
    assert "must include C" in s.error
    assert s.resolved_params["axes"] == "HW" and s.resolved_params["groups"] == 2
    assert not window.findChild(object, "check_axis_N").isChecked()
    assert window.findChild(object, "check_axis_H").isChecked()
