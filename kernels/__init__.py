"""Norm Explorer's math: every normalization by named axes, on NumPy or torch, without Qt.

    from kernels import METHODS, normalize, shared_mask
    res = normalize(x, "group", layout="NCHW", groups=4)
    mask = shared_mask("group", shape=(4, 8, 5, 5), index=(1, 3, 0, 2), groups=4)
"""

from .backend import available_backends, available_devices, torch_missing_reason
from .layouts import COMMON_LAYOUTS, all_layouts
from .methods import METHODS
from .normalize import NormError, Result, normalize, prepare, shared_mask

__all__ = ["METHODS", "normalize", "shared_mask", "prepare", "Result", "NormError", "available_backends",
           "available_devices", "torch_missing_reason", "COMMON_LAYOUTS", "all_layouts"]
