"""Norm Explorer's math: every normalization by named axes, on NumPy or torch, without Qt.

    from kernels import METHODS, normalize, shared_mask
    res = normalize(x, "group", layout="NCHW", groups=4)
    mask = shared_mask("group", shape=(4, 8, 5, 5), index=(1, 3, 0, 2), groups=4)

`__all__` is the whole surface other packages use (the explorer imports nothing else from
kernels but its `experiments` subpackage):

- the registry: METHODS, FAMILIES, Param, resolve_params, parse_bool; `prepare` checks settings
  without data; `code_for` is a method's equivalent PyTorch / Keras / scikit-learn code;
- computing: normalize, shared_mask, Result, NormError; backends and devices; `explain`, the
  arithmetic of one element step by step (equal to normalize by construction);
- other frameworks: FRAMEWORKS (each framework's offer per method), framework_code (runnable code),
  translate (parameters between frameworks), compare (a framework's result against torch's);
- precision: `precision` (kernels.precision), a normalization with the storage and accumulation
  types and the variance algorithm chosen apart against float64, and torch's own half kernels;
- layouts: axis letters (BATCH, CHANNEL), check_layout, spatial_axes, canonical_order, permutation;
- inputs: GENERATORS, generate;
- what the views show: per-group moments and statistics, histograms, summary numbers, bin_counts.
"""

from . import precision
from .backend import available_backends, available_devices, bin_counts, get_ops, torch_missing_reason
from .code import code_for
from .core import NormError, Result, normalize, prepare, shared_mask
from .explain import STEP_KINDS, Explanation, Step, explain, explain_result, fmt
from .frameworks import FRAMEWORKS, compare, translate
from .frameworks import code as framework_code
from .inputs import GENERATORS, generate
from .layouts import (
                        BATCH,
                        CHANNEL,
                        COMMON_LAYOUTS,
                        all_layouts,
                        canonical_order,
                        check_layout,
                        permutation,
                        spatial_axes,
)
from .methods import METHODS
from .partition import ChannelWindow, Partition
from .registry import FAMILIES, Param, parse_bool, resolve_params
from .summaries import (
                        GroupMoments,
                        GroupStats,
                        Histograms,
                        Summary,
                        finite_range,
                        group_moments,
                        histograms,
                        summarize,
                        summary_from,
)

__all__ = ["explain", "explain_result", "fmt", "Explanation", "Step", "STEP_KINDS", "METHODS", "FAMILIES", "Param",
           "resolve_params", "parse_bool", "prepare", "code_for", "normalize", "shared_mask", "Result", "NormError",
           "available_backends", "available_devices", "torch_missing_reason", "get_ops", "BATCH", "CHANNEL",
           "COMMON_LAYOUTS", "all_layouts", "check_layout", "spatial_axes", "canonical_order", "permutation",
           "GENERATORS", "generate", "Partition", "ChannelWindow", "GroupMoments", "GroupStats", "Histograms",
           "Summary", "group_moments", "histograms", "summarize", "summary_from", "finite_range", "bin_counts",
           "FRAMEWORKS", "framework_code", "translate", "compare", "precision"]
