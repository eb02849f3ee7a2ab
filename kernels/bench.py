"""Speed of kernels.normalize against torch.nn.functional in the same process, as ratios
(kernels time / torch time; 1.0 = as fast as torch, 2.0 = twice as slow), checked against the
speed goals; the exit status is 1 when a goal is missed (0 when all are met).

    python -m kernels.bench [--quick] [--shapes 32K 2.1M 25.7M] [--runs 5] [--threads N] [--device cuda]

Each run measures every method at every shape with the three calls interleaved (torch's function,
the NumPy backend, the torch backend; each call `repeats` times in turn, the fastest kept), so a
change in the machine's load hits all three alike; a ratio is the median over the runs, with
their spread (lowest–highest). GB/s counts the least memory traffic a normalization needs (read x,
write the output) against a copy of x measured the same way (torch's clone, NumPy's copy).

Goals (ratios to torch.nn.functional, float32, NCHW; `GOAL_METHODS` only):
  torch backend: geometric mean ≤ 1.1 at 2.1M and 25.7M elements, no method above 1.3;
  NumPy backend at 2.1M: no method above 2, geometric mean ≤ 1, LocalResponseNorm faster than torch;
  NumPy backend at 32K: per-call overhead (its time minus torch's) under 0.1 ms.
The machine must be quiet: on a loaded one torch's two-thread kernels stall (ratios move 5-10x);
the load average is printed before and after each shape.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from functools import partial

import numpy as np

from .backend import torch_or_none
from .core import normalize
from .inputs import generate

SHAPES = {"32K": (8, 16, 16, 16), "2.1M": (32, 64, 32, 32), "25.7M": (32, 64, 112, 112)}
#: the methods the goals are about (pixel and channel are shown too)
GOAL_METHODS = ("batch", "layer", "instance", "group", "rms", "lrn")
METHODS = GOAL_METHODS + ("pixel", "channel")
TORCH_GEOMEAN, TORCH_EACH = 1.1, 1.3
#: Seconds of Python work before each timed call (--gap). 0: back to back, which favours a bare
#: F.* call: repeated alone it finds torch's threads awake and the interpreter's data in the
#: caches, where any call that starts and ends with Python work (kernels.normalize, or an
#: application's) finds neither after a multi-megabyte kernel.
GAP = 0.0
NUMPY_EACH, NUMPY_GEOMEAN, NUMPY_OVERHEAD_MS = 2.0, 1.0, 0.1


def torch_references(torch):
    """Method name -> the torch.nn.functional call it equals (NCHW input)."""
    F = torch.nn.functional

    def channels_last(fn):
        return lambda x: fn(x.movedim(1, -1)).movedim(-1, 1)

    return {
        "batch": lambda x: F.batch_norm(x, None, None, training=True),
        "layer": lambda x: F.layer_norm(x, x.shape[1:]),
        "instance": lambda x: F.instance_norm(x),
        "group": lambda x: F.group_norm(x, min(32, x.shape[1])),
        "rms": lambda x: F.rms_norm(x, x.shape[1:]),
        "lrn": lambda x: F.local_response_norm(x, 5),
        "pixel": channels_last(lambda t: F.rms_norm(t, t.shape[-1:], eps=1e-8)),
        "channel": channels_last(lambda t: F.layer_norm(t, t.shape[-1:])),
    }


def params_for(name: str, shape: tuple) -> dict:
    return {"groups": min(32, shape[1])} if name == "group" else {}


def best_ms(fn, repeats: int) -> float:
    """The fastest of `repeats` calls after one warm-up, in milliseconds (least disturbed by other load)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def interleaved(fns: dict, repeats: int, sync, gap: float = 0.0) -> dict:
    """The fastest call of each function in ms, the functions taking turns (each called twice in
    a row per turn: the second call sees the caches and heap as the function itself left them).
    gap: seconds of idleness before each timed call (see GAP)."""
    best = dict.fromkeys(fns, math.inf)
    for fn in fns.values():
        fn()
    sync()
    for _ in range(repeats):
        for name, fn in fns.items():
            for _ in range(2):
                if gap:
                    busy(gap)
                start = time.perf_counter()
                fn()
                sync()
                best[name] = min(best[name], time.perf_counter() - start)
    return {name: t * 1000 for name, t in best.items()}


def busy(seconds: float):
    """Python work for `seconds` (the core stays busy, as an application's would; torch's idle
    threads go to sleep)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def geomean(values) -> float:
    values = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def spread(values) -> str:
    return f"{min(values):.2f}–{max(values):.2f}" if len(values) > 1 else ""


def repeats_for(size: int, quick: bool) -> int:
    if size >= 1 << 24:
        return 2 if quick else 4
    if size >= 1 << 20:
        return 6 if quick else 15
    return 30 if quick else 100


def measure(args, torch) -> dict:
    """{label: {"shape", "copy", "load", "methods": {name: {"torch_ms": [...], "numpy": [...], "torch": [...],
    "path": str}}}} with one entry per run in each list."""
    refs = torch_references(torch)
    device = args.device
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    out = {}
    for label in args.shapes:
        shape = SHAPES[label]
        size = int(np.prod(shape))
        repeats = args.repeats or repeats_for(size, args.quick)
        x = generate("normal", shape, seed=0)
        t = torch.from_numpy(x).to(device)
        entry = out[label] = {"shape": shape, "load_before": load(), "methods": {}, "copy_torch_ms": [],
                              "copy_numpy_ms": []}
        methods = [m for m in args.methods if m in refs]
        for run in range(args.runs):
            copies = interleaved({"torch": t.clone, "numpy": x.copy}, repeats, sync, args.gap)
            entry["copy_torch_ms"].append(copies["torch"])
            entry["copy_numpy_ms"].append(copies["numpy"])
            for name in methods:
                p = params_for(name, shape)
                fns = {"F": partial(refs[name], t),
                       "torch": partial(normalize, t, name, backend="torch", device=device, **p)}
                if device == "cpu":
                    fns["numpy"] = partial(normalize, x, name, **p)
                ms = interleaved(fns, repeats, sync, args.gap)
                m = entry["methods"].setdefault(name, {"F_ms": [], "numpy": [], "torch": [], "numpy_ms": [],
                                                       "torch_ms": []})
                m["F_ms"].append(ms["F"])
                for backend in ("numpy", "torch"):
                    if backend in ms:
                        m[f"{backend}_ms"].append(ms[backend])
                        m[backend].append(ms[backend] / ms["F"])
                if run == 0:
                    m["path"] = normalize(t, name, backend="torch", device=device, **p).fused or "formula"
        entry["load_after"] = load()
    return out


def report(results: dict, args, torch) -> list:
    """Print the tables; return the missed goals (sentences)."""
    print(f"kernels.normalize time / torch.nn.functional time, float32 NCHW, median of {args.runs} runs "
          f"(spread lowest–highest), torch {torch.__version__} with {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPU cores, device {args.device}, {args.gap * 1000:g} ms of Python before each call")
    missed, notes = [], []
    for label, entry in results.items():
        shape, size = entry["shape"], int(np.prod(entry["shape"]))
        gigabytes = 2 * size * 4 / 1e9  # read x, write the output
        copy_t = statistics.median(entry["copy_torch_ms"])
        copy_n = statistics.median(entry["copy_numpy_ms"])
        print(f"\n{label} {shape}: load average {entry['load_before']} before, {entry['load_after']} after; "
              f"copy bandwidth torch clone {gigabytes / copy_t * 1000:.1f} GB/s ({copy_t:.2f} ms), "
              f"numpy copy {gigabytes / copy_n * 1000:.1f} GB/s ({copy_n:.2f} ms)")
        print(f"{'method':>9} {'torch.nn.F ms':>13} {'GB/s':>6} {'numpy ×':>8} {'spread':>10} {'GB/s':>6} "
              f"{'torch-backend ×':>16} {'spread':>10} {'GB/s':>6}  torch backend path")
        ratios = {"numpy": {}, "torch": {}}
        for name, m in entry["methods"].items():
            f_ms = statistics.median(m["F_ms"])
            cells = []
            for backend in ("numpy", "torch"):
                if m[backend]:
                    r = statistics.median(m[backend])
                    ratios[backend][name] = r
                    gbs = gigabytes / statistics.median(m[f"{backend}_ms"]) * 1000
                    cells.append(f"{r:>{8 if backend == 'numpy' else 16}.2f} {spread(m[backend]):>10} {gbs:6.1f}")
                else:
                    cells.append(f"{'-':>{8 if backend == 'numpy' else 16}} {'':>10} {'':>6}")
            print(f"{name:>9} {f_ms:13.3f} {gigabytes / f_ms * 1000:6.1f} {cells[0]} {cells[1]}  {m['path']}")
        goal = [n for n in GOAL_METHODS if n in ratios["torch"]]
        for backend in ("numpy", "torch"):
            if ratios[backend] and goal:
                g = geomean(ratios[backend][n] for n in goal if n in ratios[backend])
                print(f"{'':>9} geometric mean over {', '.join(goal)}: {backend} {g:.2f}")
                ratios[backend]["geomean"] = g
        missed += check_goals(label, ratios, entry, goal, notes)
    print()
    for line in notes:
        print(line)
    return missed


def check_goals(label, ratios, entry, goal, notes) -> list:
    missed = []

    def judge(ok, text):
        notes.append(f"{'met   ' if ok else 'MISSED'} {label}: {text}")
        if not ok:
            missed.append(f"{label}: {text}")

    t, n = ratios["torch"], ratios["numpy"]
    if label in ("2.1M", "25.7M") and set(goal) == set(GOAL_METHODS):
        judge(t["geomean"] <= TORCH_GEOMEAN, f"torch backend geometric mean {t['geomean']:.2f} ≤ {TORCH_GEOMEAN}")
        worst = max(goal, key=lambda k: t[k])
        judge(t[worst] <= TORCH_EACH, f"torch backend every method ≤ {TORCH_EACH} (highest: {worst} {t[worst]:.2f})")
    if label == "2.1M" and n and set(goal) == set(GOAL_METHODS):
        worst = max(goal, key=lambda k: n[k])
        judge(n[worst] <= NUMPY_EACH, f"numpy backend every method ≤ {NUMPY_EACH} (highest: {worst} {n[worst]:.2f})")
        judge(n["geomean"] <= NUMPY_GEOMEAN, f"numpy backend geometric mean {n['geomean']:.2f} ≤ {NUMPY_GEOMEAN}")
        judge(n["lrn"] < 1.0, f"numpy LocalResponseNorm faster than torch ({n['lrn']:.2f})")
    if label == "32K" and n:
        over = {k: statistics.median(m["numpy_ms"]) - statistics.median(m["F_ms"])
                for k, m in entry["methods"].items() if m["numpy_ms"]}
        worst = max(over, key=over.get)
        judge(over[worst] < NUMPY_OVERHEAD_MS, f"numpy per-call overhead (its time minus torch's) under "
              f"{NUMPY_OVERHEAD_MS} ms (highest: {worst} {over[worst]:.3f} ms)")
    return missed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--runs", type=int, default=None, help="independent runs (default 5, --quick 3)")
    parser.add_argument("--repeats", type=int, default=0, help="calls per function per run (default: by size)")
    parser.add_argument("--quick", action="store_true", help="3 runs with fewer calls each (about a minute)")
    parser.add_argument("--threads", type=int, default=0, help="torch and NumPy-backend threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="the torch backend's and torch.nn.functional's device "
                        "(cuda: no NumPy column)")
    parser.add_argument("--gap", type=float, default=GAP, help="seconds of Python work before each timed call "
                        "(default 0: back to back)")
    parser.add_argument("--json", help="also write the measurements to this file")
    args = parser.parse_args(argv)
    args.runs = args.runs or (3 if args.quick else 5)
    torch = torch_or_none()
    if torch is None:
        print("torch is not installed: there is nothing to compare against")
        return 2
    if args.threads:
        from . import backend
        torch.set_num_threads(args.threads)
        backend._WORKERS = args.threads
    results = measure(args, torch)
    missed = report(results, args, torch)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "torch": torch.__version__, "threads": torch.get_num_threads(),
                       "results": results, "missed": missed}, f, indent=1)
    if args.device != "cpu":
        return 0 if not missed else 1
    print("all goals met" if not missed else f"{len(missed)} goal(s) missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
