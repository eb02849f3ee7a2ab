"""The speed bar, measured on the real window (offscreen): start-up (launch to the main window's
first paint and to the first result drawn, each in a fresh process; the headless commands against
`python -c "import numpy"`), latency from AppState.update to resultChanged with both histograms
repainted, p50 and p95 per shape and backend (a slider drag: eps; a new input: seed), and how long
the GUI thread is blocked while a slider is dragged over a 25M-element tensor.

    python -m explorer.bench [--quick] [--backends numpy,torch] [--shapes 32K,2.1M] [--changes eps,seed] [--repeats 30]
                             [--device cuda]
    python -m explorer.bench --startup [--importtime]      # start-up only (and where its imports go)
    python -m explorer.bench --no-startup ...              # latency only
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def measure(window, app, recorder, shape, backend: str, repeats: int, change: str = "eps",
            device: str = "cpu") -> tuple:
    state = window.state
    device = device if backend == "torch" else "cpu"
    update_latency(window, app, recorder, dict(method="batch", shape=shape, backend=backend, device=device, params={},
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


# -- start-up ------------------------------------------------------------------------------------

#: Runs in a fresh interpreter: opens the window as `norm-explorer` does (explorer.cli.main), and
#: prints time.monotonic() (one clock for all processes) when the interpreter started, when the
#: main window first painted and when the first result was drawn (the first paint after
#: resultChanged), then leaves without tearing down.
STARTUP_CHILD = r"""
import os, sys, time
started = time.monotonic()
import explorer.main_window as main_window
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

marks = {}

class Watch(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            marks.setdefault("paint", time.monotonic())
            if "result" in marks and "drawn" not in marks:
                marks["drawn"] = time.monotonic()
                print(f"STARTUP {started} {marks['paint']} {marks['drawn']}", flush=True)
                os._exit(0)
        return False

def result():
    marks.setdefault("result", time.monotonic())

show = main_window.MainWindow.show

def watched_show(self):
    self._bench_watch = Watch()
    QApplication.instance().installEventFilter(self._bench_watch)
    self.state.resultChanged.connect(result)
    show(self)

main_window.MainWindow.show = watched_show
from explorer.cli import main
sys.exit(main([]))
"""

WINDOW_GOAL_S, COMMAND_GOAL = 1.5, 2.0


def _median_spread(values) -> str:
    return f"{np.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def window_startup(runs: int) -> list:
    """[(interpreter started, window painted, first result drawn)] in seconds after launch, one
    fresh process each (offscreen, with settings in an empty config directory)."""
    out = []
    with tempfile.TemporaryDirectory() as config:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=config)
        for _ in range(runs):
            launched = time.monotonic()
            done = subprocess.run([sys.executable, "-c", STARTUP_CHILD], env=env, capture_output=True, text=True,
                                  timeout=180)
            line = next((x for x in done.stdout.splitlines() if x.startswith("STARTUP ")), None)
            if line is None:
                raise RuntimeError(f"the window did not start: {done.stderr.strip()[-500:]}")
            out.append(tuple(float(v) - launched for v in line.split()[1:]))
    return out


def _command(*args) -> list:
    script = Path(sys.executable).with_name("norm-explorer")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "explorer", *args]


COMMANDS = {
    'python -c "import numpy"': [sys.executable, "-c", "import numpy"],
    "norm-explorer --version": _command("--version"),
    "norm-explorer --help": _command("--help"),
    "norm-explorer info group": _command("info", "group"),
}


def command_times(runs: int) -> dict:
    """Wall seconds of each command (a fresh process each run), the commands taking turns."""
    times = {name: [] for name in COMMANDS}
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for _ in range(runs):
        for name, cmd in COMMANDS.items():
            start = time.monotonic()
            subprocess.run(cmd, env=env, capture_output=True, timeout=120, check=True)
            times[name].append(time.monotonic() - start)
    return times


def import_profile(code: str, top: int = 12) -> list:
    """(cumulative ms, self ms, module) of the heaviest imports `python -X importtime -c code` makes:
    the top-level packages and the modules that take most themselves."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, QT_QPA_PLATFORM="offscreen"), timeout=120)
    rows = []
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)) / 1000, int(m.group(1)) / 1000, len(m.group(3)) // 2, m.group(4)))
    packages = {}
    for cumulative, _, depth, name in rows:
        root = name.split(".")[0]
        if depth == 0 or name == root:
            packages[root] = max(packages.get(root, 0.0), cumulative)
    heavy = sorted(packages.items(), key=lambda kv: -kv[1])[:top]
    selfish = sorted(((own, name) for _, own, _, name in rows), reverse=True)[:top]
    return heavy, selfish


def startup(runs: int, importtime: bool):
    print(f"\nstart-up (fresh processes, offscreen, {os.cpu_count()} CPU cores, load average "
          f"{_load()}): median (lowest–highest) of {runs} runs, seconds")
    times = command_times(runs)
    base = float(np.median(times['python -c "import numpy"']))
    for name, values in times.items():
        ratio = float(np.median(values)) / base
        verdict = "met" if ratio <= COMMAND_GOAL else "MISSED"
        goal = "" if name.startswith("python") else f"  {ratio:.1f}x numpy: {verdict} (goal ≤ {COMMAND_GOAL}x)"
        print(f"  {name:<28} {_median_spread(values)}{goal}")
    window = window_startup(runs)
    started, painted, drawn = zip(*window)
    print(f"  {'interpreter running after':<28} {_median_spread(started)}")
    print(f"  {'main window first painted':<28} {_median_spread(painted)}  "
          + ("met" if np.median(painted) <= WINDOW_GOAL_S else "MISSED") + f" (goal ≤ {WINDOW_GOAL_S} s)")
    print(f"  {'first result drawn':<28} {_median_spread(drawn)}")
    if importtime:
        version = "from explorer.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass"
        for label, code in (("norm-explorer --version", version),
                            ("the window's modules", "import explorer.app, explorer.main_window")):
            heavy, selfish = import_profile(code)
            print(f"\n  python -X importtime, {label}: packages by cumulative ms: "
                  + ", ".join(f"{name} {ms:.0f}" for name, ms in heavy))
            print("    modules by their own ms: " + ", ".join(f"{name} {ms:.1f}" for ms, name in selfish))


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--backends", default="numpy,torch")
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"which of {', '.join(SHAPES)}")
    parser.add_argument("--changes", default=",".join(CHANGES), help="what each update changes: eps (a slider "
                        "drag over the same input), seed (a new input each time)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no 25M drag")
    parser.add_argument("--device", default="cpu", help="the torch backend's device (cuda: the GPU path)")
    parser.add_argument("--startup", action="store_true", help="only the start-up figures")
    parser.add_argument("--no-startup", action="store_true", help="no start-up figures")
    parser.add_argument("--importtime", action="store_true", help="with the start-up figures, where "
                        "`python -X importtime` says the commands' and the window's imports go")
    args = parser.parse_args(argv)
    if not args.no_startup:
        startup(3 if args.quick else 7, args.importtime)
        if args.startup:
            return 0
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
                                                 repeats if label != "8.4M" else max(5, repeats // 2), change,
                                                 args.device)
                name = backend if backend == "numpy" or args.device == "cpu" else f"{backend}:{args.device}"
                print(f"{label:>9} {str(shape):>18} {name:>8} {p50:8.1f} {p95:8.1f} {worker:10.1f} {norm:13.1f}")
    if not args.quick:
        gap, updates, results = drag_blocking(window, app, recorder)
        print(f"\ndragging eps over {int(np.prod(DRAG_SHAPE)):,} elements for 3 s (numpy): {updates} updates, "
              f"{results} results shown (stale work dropped), longest GUI-thread block {gap:.0f} ms")
    window.close()
    state.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
