"""The speed bar, measured on the real window (offscreen): latency from AppState.update to
resultChanged with both histograms repainted, p50 and p95 per shape and backend, and how long
the GUI thread is blocked while a slider is dragged over a 25M-element tensor.

    python -m explorer.bench [--quick] [--backends numpy,torch] [--shapes 32K,2.1M] [--changes eps,seed] [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

SHAPES = {"32K": (8, 16, 16, 16), "262K": (16, 32, 32, 16), "2.1M": (32, 64, 32, 32), "8.4M": (32, 64, 64, 64)}
DRAG_SHAPE = (32, 64, 112, 112)  # 25.7M elements


def _percentiles(samples) -> tuple:
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 95))


class Recorder:
    """Times of resultChanged (connected once: the views' own slots stay connected) and of the paint
    events of both histogram plots."""

    def __init__(self, window):
        from PySide6.QtCore import QEvent, QEventLoop, QObject

        class PaintWatcher(QObject):
            def eventFilter(watcher, obj, event):
                if event.type() == QEvent.Type.Paint:
                    self.painted.add(obj)
                return False

        self.times, self.painted = [], set()
        self.loop = QEventLoop()
        self.viewports = [plot.viewport() for plot in window.histograms.plots.values()]
        self.watcher = PaintWatcher()
        for viewport in self.viewports:
            viewport.installEventFilter(self.watcher)
        window.state.resultChanged.connect(self._record)
        window.state.errorChanged.connect(lambda message: message and self.loop.quit())

    def _record(self):
        self.times.append(time.perf_counter())
        self.painted.clear()
        self.loop.quit()


def update_latency(window, app, recorder, changes: dict) -> float:
    """Milliseconds from update(**changes) to the result stored and both histograms repainted."""
    state = window.state
    recorder.times.clear()
    start = time.perf_counter()
    state.update(**changes)
    if not state.error:  # wait in an event loop, as the app does: a busy loop would hold the GIL
        recorder.loop.exec()
    while not state.error and not all(v in recorder.painted for v in recorder.viewports):
        app.processEvents()  # until both histograms have painted the new result
    end = time.perf_counter()
    if state.error:
        raise RuntimeError(state.error)
    return (end - start) * 1000


#: What each benchmark update changes: eps (a slider drag: the input and its grouping stay, so
#: their statistics are reused) or the seed (a new input: generated, and every statistic anew).
CHANGES = {"eps": lambda k: dict(params={"eps": 1e-5 * (1 + (k % 7))}), "seed": lambda k: dict(seed=k + 1)}
WARMUP = 3  # updates before timing: the first ones grow the heap (page faults) for this shape


def measure(window, app, recorder, shape, backend: str, repeats: int, change: str = "eps") -> tuple:
    state = window.state
    update_latency(window, app, recorder, dict(method="batch", shape=shape, backend=backend, device="cpu", params={},
                                               seed=0))
    samples, computes, normalizes = [], [], []
    for k in range(-WARMUP, repeats):
        latency = update_latency(window, app, recorder, CHANGES[change](k + WARMUP))
        if k >= 0:
            samples.append(latency)
            computes.append(state.scene.total_ms)
            normalizes.append(state.scene.normalize_ms)
    return _percentiles(samples) + (float(np.median(computes)), float(np.median(normalizes)))


def drag_blocking(window, app, recorder, seconds: float = 3.0) -> tuple:
    """Drag the eps 'slider' (an update every 16 ms) over a 25M-element tensor; a 2 ms timer on the
    GUI thread records the longest gap between its ticks. Returns (longest gap ms, updates, results)."""
    from PySide6.QtCore import QEventLoop, QTimer
    state = window.state
    update_latency(window, app, recorder, dict(method="batch", shape=DRAG_SHAPE, backend="numpy", params={}))
    ticks = []
    recorder.times.clear()
    probe = QTimer(interval=2)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    updates = [0]

    def drag():
        updates[0] += 1
        state.update(params={"eps": 1e-5 * (1 + updates[0] % 50)})

    slider = QTimer(interval=16)
    slider.timeout.connect(drag)
    probe.start()
    slider.start()
    drag_loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), drag_loop.quit)
    drag_loop.exec()
    slider.stop()
    probe.stop()
    gaps = np.diff(ticks) * 1000 if len(ticks) > 1 else np.array([seconds * 1000])
    return float(gaps.max()), updates[0], len(recorder.times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--backends", default="numpy,torch")
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"which of {', '.join(SHAPES)}")
    parser.add_argument("--changes", default=",".join(CHANGES), help="what each update changes: eps (a slider "
                        "drag over the same input), seed (a new input each time)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no 25M drag")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from kernels import available_backends

    from .main_window import MainWindow
    from .state import AppState

    app = QApplication.instance() or QApplication(sys.argv[:1])
    state = AppState()
    window = MainWindow(state)
    window.resize(1480, 940)
    window.show()
    recorder = Recorder(window)
    repeats = 5 if args.quick else args.repeats
    for change in args.changes.split(","):
        print(f"\nlatency from AppState.update({'params={eps: ...}' if change == 'eps' else 'seed=...'}) to "
              f"resultChanged with both histograms repainted (BatchNorm, NCHW, {repeats} updates each after "
              f"{WARMUP} untimed, {os.cpu_count()} CPU cores); worker: the computation off the GUI thread "
              f"(median), normalize: the kernels.normalize call in it")
        print(f"{'elements':>9} {'shape':>18} {'backend':>8} {'p50 ms':>8} {'p95 ms':>8} {'worker ms':>10} "
              f"{'normalize ms':>13}")
        for label, shape in SHAPES.items():
            if label not in args.shapes.split(","):
                continue
            for backend in args.backends.split(","):
                if backend not in available_backends():
                    continue
                p50, p95, worker, norm = measure(window, app, recorder, shape, backend,
                                                 repeats if label != "8.4M" else max(5, repeats // 2), change)
                print(f"{label:>9} {str(shape):>18} {backend:>8} {p50:8.1f} {p95:8.1f} {worker:10.1f} {norm:13.1f}")
    if not args.quick:
        gap, updates, results = drag_blocking(window, app, recorder)
        print(f"\ndragging eps over {int(np.prod(DRAG_SHAPE)):,} elements for 3 s (numpy): {updates} updates, "
              f"{results} results shown (stale work dropped), longest GUI-thread block {gap:.0f} ms")
    window.close()
    state.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
