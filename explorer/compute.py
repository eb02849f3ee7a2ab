"""The compute worker: runs pipeline requests on one background thread, newest first.

There is one pending slot, not a queue: a request that arrives while another is computing
replaces any request still waiting, so dragging a slider never piles up work. Results carry
the generation of their request; AppState drops results older than its latest request.
"""

from __future__ import annotations

import threading
import traceback

from PySide6.QtCore import QObject, Signal

from kernels import NormError

from .pipeline import Pipeline, Request


class ComputeWorker(QObject):
    """Emits finished(generation, Computed) or failed(generation, message) on the GUI thread."""

    finished = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pipeline = Pipeline()
        self._cond = threading.Condition()
        self._pending: tuple | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="norm-explorer-compute", daemon=True)
        self._thread.start()

    def submit(self, generation: int, request: Request):
        with self._cond:
            self._pending = (generation, request)
            self._cond.notify()

    def stop(self, timeout: float = 5.0):
        """Stop the thread (after the computation in progress) and wait for it."""
        with self._cond:
            self._stop = True
            self._pending = None
            self._cond.notify()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _loop(self):
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                generation, request = self._pending
                self._pending = None
            try:
                computed = self.pipeline.run(request)
            except NormError as exc:
                message = exc.reason
            except MemoryError:
                message = "not enough memory for this shape: choose smaller sizes"
            except Exception as exc:  # anything else is a bug: say so in one line, keep the details on stderr
                traceback.print_exc()
                message = f"internal error ({type(exc).__name__}: {exc}); the previous result is kept"
            else:
                if not self._stop:
                    self.finished.emit(generation, computed)
                continue
            if not self._stop:
                self.failed.emit(generation, message)
