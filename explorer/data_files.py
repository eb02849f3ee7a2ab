"""The numbers behind a view, as files: the per-group statistics as CSV and tensors as .npy
(never pickled). Written atomically; no Qt."""

from __future__ import annotations

import csv
import io

import numpy as np

from .atomic import write_bytes, write_text


def stats_csv(groups, layout: str) -> str:
    """One row per statistics group: its index along each axis of a statistic, element count,
    mean and biased variance before and after."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["group"] + [f"index_{a}" for a in layout]
                    + ["count", "mean_before", "var_before", "mean_after", "var_after"])
    for row in range(len(groups)):
        writer.writerow([row, *groups.coordinates(row), int(groups.count[row]),
                         *(repr(float(a[row])) for a in (groups.mean_before, groups.var_before, groups.mean_after,
                                                         groups.var_after))])
    return buffer.getvalue()


def save_stats_csv(groups, layout: str, path):
    write_text(path, stats_csv(groups, layout))


def save_npy(array: np.ndarray, path):
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    write_bytes(path, buffer.getvalue())
