"""Real models: open a network, list its normalization layers with their parameters, running
statistics and health, capture their real inputs, and fold BatchNorm.

    from kernels.models import open_model
    model = open_model("net.onnx")          # .pt/.pth state_dict, .safetensors, .onnx, an nn.Module,
                                            # or "pkg.module:factory" with allow_import=True
    for layer in model.layers:
        print(layer.name, layer.method, layer.layout, layer.flags)
    acts = model.capture("image", layers=[model.layers[0].name])
    res = model.layers[0].normalize(acts[model.layers[0].name], training=False)   # a kernels Result
    report = model.fold_batchnorm()

Formats are readers that produce one list of `NormLayer`s; none runs code a file carries
(torch.load(weights_only=True), safetensors parsed here, ONNX through onnx/onnxruntime). Importing
this package imports neither torch nor onnx: each format imports what it needs when used.
"""

from ._common import DEFAULT_BUDGET, LEVELS, Flag, ModelError
from .architectures import ARCHITECTURES
from .data import INPUT_KINDS, model_input, read_npy
from .layers import FAMILIES, GapStats, NormLayer
from .model import DTYPES, SUFFIXES, Capture, FoldReport, FoldRow, Model, open_model

__all__ = ["open_model", "Model", "NormLayer", "Flag", "ModelError", "Capture", "FoldReport", "FoldRow", "GapStats",
           "ARCHITECTURES", "INPUT_KINDS", "model_input", "read_npy", "FAMILIES", "LEVELS", "DTYPES", "SUFFIXES",
           "DEFAULT_BUDGET"]
