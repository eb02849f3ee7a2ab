"""The one worker: one-line errors, stale jobs dropped, channels independent, progress and cancel."""

import threading

from explorer.worker import Worker

TIMEOUT = 20000


def test_one_line_errors_and_results(qtbot):
    worker = Worker("test")
    channel = worker.channel()

    def bad(progress, cancelled):
        raise ValueError("layers=80 must be between 1 and 50\nsecond line")

    with qtbot.waitSignal(channel.failed, timeout=TIMEOUT) as blocker:
        channel.submit(bad)
    assert blocker.args == ["layers=80 must be between 1 and 50"]
    with qtbot.waitSignal(channel.finished, timeout=TIMEOUT) as blocker:
        channel.submit(lambda progress, cancelled: 42)
    assert blocker.args == [42] and not channel.busy
    worker.shutdown()
    assert not worker.is_alive()


def test_newest_job_wins_and_stale_results_are_dropped(qtbot):
    worker = Worker("test")
    channel = worker.channel()
    seen = []
    channel.finished.connect(seen.append)
    for k in range(5):
        channel.submit(lambda progress, cancelled, k=k: k)
    qtbot.waitUntil(lambda: not channel.busy, timeout=TIMEOUT)
    assert seen == [4]
    worker.shutdown()


def test_a_running_job_sees_itself_cancelled_by_a_newer_one(qtbot):
    worker = Worker("test")
    channel = worker.channel()
    started, saw_cancel = threading.Event(), []

    def long(progress, cancelled):
        started.set()
        while not cancelled():
            threading.Event().wait(0.001)
        saw_cancel.append(True)
        return "long"

    seen = []
    channel.finished.connect(seen.append)
    channel.submit(long)
    assert started.wait(5)
    with qtbot.waitSignal(channel.finished, timeout=TIMEOUT):
        channel.submit(lambda progress, cancelled: "short")
    assert seen == ["short"] and saw_cancel == [True]
    worker.shutdown()


def test_channels_are_independent(qtbot):
    """A new job in one channel leaves another channel's job alone (Compare beside Explore)."""
    worker = Worker("test")
    a, b = worker.channel("a"), worker.channel("b")
    got = {}
    a.finished.connect(lambda r: got.setdefault("a", r))
    b.finished.connect(lambda r: got.setdefault("b", r))
    a.submit(lambda progress, cancelled: "first")
    b.submit(lambda progress, cancelled: "second")
    qtbot.waitUntil(lambda: len(got) == 2, timeout=TIMEOUT)
    assert got == {"a": "first", "b": "second"}
    worker.shutdown()


def test_progress_and_cancel(qtbot):
    worker = Worker("test")
    channel = worker.channel()
    go_on = threading.Event()

    def steps(progress, cancelled):
        for k in range(1000):
            progress(k, 1000)
            go_on.wait(5)
            if cancelled():
                from kernels.experiments import Cancelled
                raise Cancelled(f"cancelled after {k} of 1000 steps")
        return "done"

    with qtbot.waitSignal(channel.progress, timeout=TIMEOUT):
        channel.submit(steps)
    with qtbot.waitSignal(channel.cancelled, timeout=TIMEOUT) as blocker:
        channel.cancel()
        go_on.set()
    assert blocker.args[0].startswith("cancelled after") and not channel.busy
    worker.shutdown()


def test_a_bug_is_one_line_and_the_worker_goes_on(qtbot, capsys):
    worker = Worker("test")
    channel = worker.channel()
    with qtbot.waitSignal(channel.failed, timeout=TIMEOUT) as blocker:
        channel.submit(lambda progress, cancelled: {}["missing"])
    assert blocker.args[0].startswith("internal error (KeyError") and "\n" not in blocker.args[0]
    assert "Traceback" in capsys.readouterr().err  # the details go to stderr
    with qtbot.waitSignal(channel.finished, timeout=TIMEOUT):
        channel.submit(lambda progress, cancelled: 1)
    worker.shutdown()
