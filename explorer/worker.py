"""The one worker class: jobs run off the GUI thread, newest first, with progress, cancel and
errors as one line. The explore view, the Compare tab and the experiments all use it.

A `Worker` is one background thread; its `Channel`s are independent queues of length one: a
job submitted to a channel replaces the one still waiting there, makes the one running there
stale (its `cancelled()` turns True, and whatever it returns is dropped), and leaves the other
channels alone. Jobs are callables job(progress, cancelled) -> result; their outcome reaches
the GUI thread as one of the channel's signals, and only for the channel's latest job.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import OrderedDict

from PySide6.QtCore import QObject, Qt, Signal

from kernels.experiments import Cancelled

from .messages import one_line

PROGRESS_EVERY_S = 0.05  # at most ~20 progress signals a second, however fast the loop


class Channel(QObject):
    """One queue of a Worker. Signals (GUI thread, latest job only): finished(result),
    failed(message), cancelled(message), progress(done, total), busyChanged(busy)."""

    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal(str)
    progress = Signal(int, int)
    busyChanged = Signal(bool)

    def __init__(self, worker: Worker, name: str):
        super().__init__(worker)
        self.worker, self.name = worker, name
        self.generation = 0  # of the latest job submitted
        self.cancelled_generation = -1
        self.busy = False

    def submit(self, job) -> int:
        """Queue job(progress, cancelled) -> result; returns its generation."""
        return self.worker._submit(self, job)

    def cancel(self):
        """Stop the latest job at its next check; `cancelled` follows (nothing when idle)."""
        self.worker._cancel(self)

    def _set_busy(self, busy: bool):
        if busy != self.busy:
            self.busy = busy
            self.busyChanged.emit(busy)


class Worker(QObject):
    """One background thread serving any number of channels (see the module docstring)."""

    _report = Signal(object, int, str, object)  # (channel, generation, kind, payload), from the thread

    def __init__(self, name: str = "worker", parent=None):
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: OrderedDict = OrderedDict()  # channel -> (generation, job), oldest first
        self._stop = False
        self._channels: dict = {}
        self._report.connect(self._on_report, Qt.ConnectionType.QueuedConnection)
        self._thread = threading.Thread(target=self._loop, name=f"norm-explorer-{name}", daemon=True)
        self._thread.start()

    def channel(self, name: str = "main") -> Channel:
        """The channel called `name` (made on first use)."""
        if name not in self._channels:
            self._channels[name] = Channel(self, name)
        return self._channels[name]

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def shutdown(self, timeout: float = 10.0):
        """Stop the thread (a running job stops at its next check) and wait for it."""
        with self._cond:
            self._stop = True
            self._pending.clear()
            self._cond.notify()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        for channel in self._channels.values():
            channel._set_busy(False)

    # -- GUI thread ------------------------------------------------------------------------
    def _submit(self, channel: Channel, job) -> int:
        with self._cond:
            if self._stop:
                return channel.generation
            channel.generation += 1
            self._pending.pop(channel, None)
            self._pending[channel] = (channel.generation, job)
            self._cond.notify()
        channel._set_busy(True)
        return channel.generation

    def _cancel(self, channel: Channel):
        with self._cond:
            if self._pending.pop(channel, None) is not None:  # not started yet: cancelled right away
                self._report.emit(channel, channel.generation, "cancelled", "cancelled before it started")
            channel.cancelled_generation = channel.generation

    def _on_report(self, channel: Channel, generation: int, kind: str, payload):
        if generation != channel.generation or self._stop:
            return  # stale: a newer job was submitted after this one
        if kind == "progress":
            channel.progress.emit(*payload)
            return
        channel._set_busy(False)
        {"finished": channel.finished, "failed": channel.failed, "cancelled": channel.cancelled}[kind].emit(payload)

    # -- worker thread ---------------------------------------------------------------------
    def _loop(self):
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                channel, (generation, job) = self._pending.popitem(last=False)
            self._run(channel, generation, job)

    def _run(self, channel: Channel, generation: int, job):
        def stale() -> bool:
            return self._stop or generation != channel.generation or generation == channel.cancelled_generation

        last = [0.0]

        def progress(done, total):
            now = time.monotonic()
            if done >= total or now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                self._report.emit(channel, generation, "progress", (int(done), int(total)))

        try:
            result = job(progress, stale)
            if stale():
                raise Cancelled("cancelled")
        except Cancelled as exc:
            kind, payload = "cancelled", one_line(exc)
        except (ValueError, TypeError) as exc:  # the kernels' checks: a bad setting, said in one line
            kind, payload = "failed", one_line(exc)
        except MemoryError:
            kind, payload = "failed", "not enough memory for these settings: choose smaller sizes"
        except Exception as exc:  # a bug: one line for the user, the details on stderr
            traceback.print_exc()
            kind, payload = "failed", f"internal error ({type(exc).__name__}: {one_line(exc)}); the previous result " \
                                      f"is kept"
        else:
            kind, payload = "finished", result
        if not self._stop:
            self._report.emit(channel, generation, kind, payload)
