"""One name for each view: the command line's `--view NAME`, and the title that tabs, menus, the
export dialog and file names use. (Qt-free: the command line reads it.)"""

from __future__ import annotations

#: name on the command line -> title everywhere else
VIEWS = {
    "groups": "Statistics groups",  # the block picture of which elements share statistics
    "values": "Values",
    "modes": "Train vs eval",
    "precision": "Precision",  # float16 / bfloat16 / float32 / float64 and the variance algorithms
    "histograms": "Histograms",
    "group-stats": "Per-group statistics",
    "arithmetic": "Arithmetic",
    "compare": "Compare",
    "window": "Whole window",
}


#: The experiments, in the Experiments tab's order: name (`norm-explorer gui --tab NAME`, the command
#: of the same name) -> title (the tab's list, the export dialog)
EXPERIMENTS = {
    "depth": "Depth",
    "steps": "Training steps",
    "weights": "Weights",
    "train": "Digits training",
    "sync": "Distributed BatchNorm",
    "transformer": "Transformer placement",
    "iris": "Iris scaling",
    "selu": "SELU",
    "padding": "Padded sequences",
}


#: The commands that load the experiments' or the models' code, with their one-line help: the command line
#: lists them from here and builds a command's options only when it runs (`--help` and `info` stay quick)
HEAVY_COMMANDS = {
    "depth": "a signal through a deep stack (the seed article)",
    "steps": "BatchNorm over training steps and batch sizes",
    "weights": "weight normalization, spectral norm, weight standardization",
    "train": "a CNN trained on the digits with each normalization (torch)",
    "sync": "distributed BatchNorm on a real gloo process group (torch)",
    "transformer": "post-LN, pre-LN, RMSNorm, sandwich, DeepNorm (torch)",
    "iris": "logistic regression on raw vs scaled iris features (scikit-learn)",
    "selu": "SELU's mean/variance map and its fixed point (torch)",
    "padding": "BatchNorm and LayerNorm on padded sequences, with and without a mask",
    "model": "a real model's normalization layers: table, flags, gaps, folding",
}


def file_stem(name: str) -> str:
    """The default file name of a view's export: 'statistics_groups' for groups."""
    return VIEWS[name].lower().replace(" ", "_").replace("-", "_")
