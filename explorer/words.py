"""Words the views and the command line share: counts with their nouns, and statistics groups
named by the axes they index (no Qt)."""

from __future__ import annotations

import numpy as np


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """'1 group', '8 groups', '2,048 elements'."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def group_axes(table) -> list:
    """(position in the layout, name) of each axis a statistics group is indexed by: the kept axes
    by their letter in lower case, C split into groups as 'g', N split into virtual batches as 'vb'."""
    out = []
    for i, (axis, size) in enumerate(zip(table.layout, table.stat_shape)):
        if axis not in table.reduce:
            out.append((i, axis.lower()))
        elif size > 1 or (axis == "C" and table.groups > 1) or (axis == "N" and table.virtual_batch):
            out.append((i, "g" if axis == "C" else "vb"))
    return out


def group_header(table) -> str:
    """The group column's title: 'group (n, g)'; 'group' alone for one group over everything."""
    names = [name for _, name in group_axes(table)]
    return f"group ({', '.join(names)})" if names else "group"


def group_label(table, row: int) -> str:
    """Row `row` of the table as the indices it stands for: 'n=1, g=0' ('all' for a single group)."""
    coords = np.unravel_index(row, table.stat_shape)
    names = group_axes(table)
    return ", ".join(f"{name}={int(coords[i])}" for i, name in names) if names else "all"
