"""The distributed BatchNorm view on a real gloo group of 2 processes (started once for the module: the
view keeps its group between runs): the blocks, histograms, table and checks against the kernels'
result, reruns on the same processes, exports, and no process left behind once the view shuts down."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import csv
import multiprocessing

import numpy as np
import pytest

from explorer.experiments.real_parts import data_items
from explorer.experiments.sync_view import SyncView, parse_shards
from explorer.export import save_widget
from kernels import normalize

pytestmark = pytest.mark.torch
pytest.importorskip("torch")

TIMEOUT = 240000  # a cold start of two interpreters importing torch on a loaded 2-core machine


@pytest.fixture(scope="module")
def view(qapp):
    v = SyncView(autorun=False)
    v.resize(1300, 850)
    v.show()
    v.set_config(devices=2, shape=(6, 3, 2, 2), seed=1)
    yield v
    v.shutdown()
    v.close()


def _run(qtbot, view):
    with qtbot.waitSignal(view.runner.finished, timeout=TIMEOUT):
        view.run()
    assert view.error is None


def test_first_show_starts_no_processes(qtbot):
    v = SyncView(autorun=False)
    qtbot.addWidget(v)
    v.first_show()
    assert not v.busy and v.group is None and "press Run" in v.label_placeholder.text()
    v.shutdown()


def test_runs_on_two_processes_and_draws_the_result(qtbot, view, tmp_path):
    _run(qtbot, view)
    run = view.result
    assert view.group is not None and view.group.alive and view.group.devices == 2
    x = run.input
    np.testing.assert_allclose(run.sync.output, normalize(x, "batch", "NCHW").output, atol=1e-12)
    assert run.sync_error < 1e-12 and run.local_error < 1e-12
    # the blocks: samples coloured by device, one group per channel (sync) or per channel and device
    assert list(view.blocks.device) == [0, 0, 0, 1, 1, 1] == list(run.device)
    assert view.blocks.groups("sync") == [(c, 0, 6) for c in range(3)]
    assert view.blocks.groups("local") == [(c, a, b) for c in range(3) for a, b in ((0, 3), (3, 6))]
    # the means plot: each device's own shard mean, and the synchronized one
    items = data_items(view.plot_means)
    for k in range(2):
        np.testing.assert_array_equal(items[k].getData()[1], run.local.mean[k])
        np.testing.assert_allclose(items[k].getData()[1], x[3 * k:3 * k + 3].mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_array_equal(items[2].getData()[1], run.sync.global_mean)
    # the table: per device, channel 0
    assert view.table.rowCount() == 3 and view.table.item(0, 1).text() == "3"
    assert view.table.item(1, 3).text() == f"{run.sync.shard_stats[1].mean[0]:.4g}"
    assert "all_gather" in view.label_costs.text() and f"{run.sync_error:.1e}" in view.label_costs.text()
    save_widget(view, tmp_path / "sync.png")
    view.export_csv(tmp_path / "sync.csv")
    with open(tmp_path / "sync.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 3
    assert [float(r["shard_mean"]) for r in rows if r["device"] == "1"] == list(run.sync.shard_stats[1].mean)
    assert [float(r["local_running_var"]) for r in rows if r["channel"] == "2"] == \
        list(run.local.device_running_var[:, 2])


def test_unequal_shards_rerun_on_the_same_processes(qtbot, view):
    group = view.group
    view.set_config(shard_sizes=(4, 2))
    _run(qtbot, view)
    assert view.group is group and view.result.sync.shard_sizes == (4, 2)
    assert view.result.sync.startup_seconds is None  # nothing started
    assert view.blocks.groups("local")[:2] == [(0, 0, 4), (0, 4, 6)]
    view.set_config(shard_sizes=None)


def test_bad_shards_are_one_line():
    with pytest.raises(ValueError, match="one size per device"):
        parse_shards("1,2,3", 2)
    with pytest.raises(ValueError, match="whole numbers"):
        parse_shards("1;2", 2)
    assert parse_shards(" equal ", 4) is None and parse_shards("3, 1", 2) == (3, 1)


def test_shutdown_leaves_no_process(view):
    assert multiprocessing.active_children()  # the group's two workers
    view.shutdown()
    assert view.group is None and not view.worker.is_alive()
    assert multiprocessing.active_children() == []
    psutil = pytest.importorskip("psutil")
    workers = [p for p in psutil.Process().children(recursive=True)
               if p.is_running() and "spawn_main" in " ".join(p.cmdline())]  # not the semaphores' resource tracker
    assert workers == []
