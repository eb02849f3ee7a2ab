"""torch and scikit-learn for the experiments that train, spawn processes or load bundled data sets:
imported when a run starts (never when kernels.experiments is imported), with a one-line ValueError
when one is missing, and a context that keeps a run's random numbers to itself."""

from __future__ import annotations

import contextlib
import functools
import threading

from ..backend import torch_missing_reason, torch_or_none


def require_torch(what: str):
    """The torch module, or ValueError('<what> needs torch: <why it is missing>')."""
    torch = torch_or_none()
    if torch is None:
        raise ValueError(f"{what} needs torch: {torch_missing_reason()}")
    return torch


@functools.cache
def _import_datasets():
    try:
        from sklearn import datasets
    except Exception as exc:  # ImportError, or a broken install raising anything else
        return None, f"scikit-learn is not installed ({type(exc).__name__}: {exc})"
    return datasets, ""


def require_datasets(what: str):
    """sklearn.datasets (its bundled digits and iris need no download), or a one-line ValueError."""
    datasets, reason = _import_datasets()
    if datasets is None:
        raise ValueError(f"{what} needs scikit-learn for its bundled data: {reason}")
    return datasets


@contextlib.contextmanager
def seeded(torch, seed: int):
    """torch's global generator seeded with `seed` inside the block and restored after it, so a
    run is reproducible for its seed and leaves the caller's random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


_threads_lock = threading.Lock()
_threads_depth = 0
_threads_saved = 1


@contextlib.contextmanager
def one_thread(torch):
    """torch's intra-op threads set to 1 inside the block (restored when the last such block ends).
    The experiments' models are tiny: on a busy 2-core machine two threads waiting on each other
    made training 2 to 13 times slower than one."""
    global _threads_depth, _threads_saved
    with _threads_lock:
        if _threads_depth == 0:
            _threads_saved = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_depth += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_depth -= 1
            if _threads_depth == 0:
                torch.set_num_threads(_threads_saved)
