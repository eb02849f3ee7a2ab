"""`open_model` and what every format's model offers: the layer list, health, captures of real
activations, and BatchNorm folding. The formats live in `weights` (state_dict, safetensors),
`torch_model` (a module) and `onnx_model`; this module imports none of torch, onnx or onnxruntime
until a file needs them."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._common import DEFAULT_BUDGET, ModelError, megabytes
from .data import INPUT_KINDS, check_shape, model_input
from .layers import NormLayer

TORCH_SUFFIXES = (".pt", ".pth", ".bin")  # .bin: Hugging Face's pytorch_model.bin is a torch zip too
SAFETENSORS_SUFFIXES = (".safetensors",)
ONNX_SUFFIXES = (".onnx",)
SUFFIXES = TORCH_SUFFIXES + SAFETENSORS_SUFFIXES + ONNX_SUFFIXES
#: "package.module:factory" or "package.module:factory(literal arguments)"
IMPORT_PATH = re.compile(r"^\s*([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*(\(.*\))?\s*$",
                         re.S)
DTYPES = ("float32", "float16", "bfloat16")


class Capture(dict):
    """{layer name: its input as a float32 numpy array} for the chosen layers.

    outputs: {layer name: its output} when asked for (keep='output' or 'both').
    statistics: {layer name: GapStats} for every BatchNorm with running statistics the run passed
    (also layers not chosen: per-channel numbers only).
    shapes: {layer name: input shape} for every normalization layer the run passed.
    input: what the model ran on; seconds: how long the run took; notes: sentences (layers that did not run).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outputs: dict = {}
        self.statistics: dict = {}
        self.shapes: dict = {}
        self.input = None
        self.seconds = 0.0
        self.notes: list = []

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.values()) + sum(a.nbytes for a in self.outputs.values())


@dataclass
class FoldRow:
    """One BatchNorm: where it folds (`into`, a conv or linear layer), whether it can (`foldable`:
    None when it cannot be known, as in a bare state_dict), why not, and the largest |difference|
    of that layer's output folded against unfolded, per dtype, on the given input."""

    name: str
    kind: str
    into: str = ""
    foldable: bool | None = False
    reason: str = ""
    diffs: dict = field(default_factory=dict)


@dataclass
class FoldReport:
    """What folding BatchNorm does. rows: one per normalization layer, in model order.
    output_diff: {dtype: largest |folded − original| of the model's output, both run in that dtype};
    reference_diff: {dtype: largest |original in dtype − original in float32|}, the scale of
    rounding itself; folded: the folded model (a torch module or an onnx ModelProto) or None."""

    rows: list
    output_diff: dict = field(default_factory=dict)
    reference_diff: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    folded: object = None

    @property
    def folded_names(self) -> list:
        return [r.name for r in self.rows if r.foldable]

    def table(self) -> list:
        return [dict(name=r.name, kind=r.kind, into=r.into, foldable={True: "yes", False: "no", None: "unknown"}[
            r.foldable], reason=r.reason, **{f"diff_{d}": r.diffs.get(d, "") for d in DTYPES}) for r in self.rows]


class Model:
    """A model's normalization layers, and what can be done with them.

    format: 'state_dict', 'safetensors', 'onnx' or 'module'; source: the path or import path;
    layers: NormLayers in model order; notes: sentences about the model as a whole;
    input_shape: the model's input shape (None for an axis of free size; None when unknown);
    can_run: whether `capture` and `fold_batchnorm` can run it.
    """

    format = ""
    can_run = False

    def __init__(self, source: str, layers: list, notes=(), input_shape=None, input_dtype="float32"):
        self.source, self.layers, self.notes = str(source), list(layers), list(notes)
        self.input_shape = None if input_shape is None else tuple(None if s is None else int(s) for s in input_shape)
        self.input_dtype = input_dtype
        for i, layer in enumerate(self.layers):
            layer.index = i

    def __repr__(self):
        return f"<{type(self).__name__} {self.source!r}: {len(self.layers)} normalization layers>"

    @property
    def name(self) -> str:
        return Path(self.source).name if self.format != "module" else self.source

    def layer(self, name: str) -> NormLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ModelError(f"{self.name} has no normalization layer {name!r}")

    def table(self) -> list:
        """The layer table: one dict per layer (the CSV export's rows)."""
        return [layer.row() for layer in self.layers]

    def strip(self) -> list:
        """(name, health, family) per layer in order: the strip picture, coloured by health."""
        return [(layer.name, layer.health, layer.family) for layer in self.layers]

    def gaps(self) -> list:
        """Per-layer gap numbers from the latest capture (the 'train fine, eval wrong' plot): one dict per
        BatchNorm that has them: index, name, shift_rms, shift_max, ratio_median, ratio_worst, count."""
        return [dict(index=layer.index, name=layer.name, **layer.gap.row()) for layer in self.layers
                if layer.gap is not None]

    # -- running ----------------------------------------------------------------------------------

    def full_input_shape(self, batch: int = 8, shape=None) -> tuple:
        """The input shape with the batch axis (and only it) filled in when free."""
        if shape is not None:
            return check_shape(shape)
        if self.input_shape is None:
            raise ModelError(f"{self.name}: the input shape is unknown; give one (shape=...)")
        filled = [batch if s is None and i == 0 else s for i, s in enumerate(self.input_shape)]
        if any(s is None for s in filled):
            raise ModelError(f"{self.name}: input axis {filled.index(None)} has no fixed size; give a full shape")
        return check_shape(filled)

    def example_input(self, kind: str = "random", batch: int = 8, seed: int = 0, shape=None) -> np.ndarray:
        """An input for the model: kind is one of INPUT_KINDS ('image', 'digits', 'random') or a .npy path."""
        if isinstance(kind, (str, Path)) and str(kind).lower().endswith(".npy"):
            return model_input(kind, self.input_shape if shape is None else shape)
        return model_input(kind, self.full_input_shape(batch, shape), seed)

    def _resolve_input(self, x, batch, seed):
        if x is None or isinstance(x, (str, Path)):
            kind = "random" if x is None else x
            if isinstance(kind, str) and kind not in INPUT_KINDS and not kind.lower().endswith(".npy"):
                raise ModelError(f"unknown input {kind!r}; choose one of {', '.join(INPUT_KINDS)}, a .npy file or "
                                 f"an array")
            return self.example_input(kind, batch=batch, seed=seed)
        arr = x if hasattr(x, "detach") else np.asarray(x)
        if hasattr(arr, "detach"):
            arr = arr.detach().cpu().float().numpy()
        if arr.dtype.kind not in "fiub":
            raise ModelError(f"the input has dtype {arr.dtype}; real numbers are needed")
        if self.input_shape is not None and (arr.ndim != len(self.input_shape) or any(
                s is not None and s != a for s, a in zip(self.input_shape, arr.shape))):
            want = tuple("?" if s is None else s for s in self.input_shape)
            raise ModelError(f"{self.name} takes inputs of shape {want}, not {arr.shape}")
        return np.ascontiguousarray(arr, dtype=np.float32)

    def _names(self, layers) -> list:
        if layers is None:
            return [layer.name for layer in self.layers]
        if isinstance(layers, str):
            layers = [layers]
        names = []
        for item in layers:
            name = item.name if isinstance(item, NormLayer) else str(item)
            self.layer(name)
            names.append(name)
        return names

    def capture(self, x=None, layers=None, *, batch: int = 8, seed: int = 0, budget: int = DEFAULT_BUDGET,
                keep: str = "input", statistics: bool = True, progress=None, cancelled=None) -> Capture:
        """Run the model on x and keep the chosen layers' inputs.

        x: an array (or tensor) of the model's input shape, one of 'image', 'digits', 'random' (of the
        model's input shape with `batch` samples), or a .npy path; None: 'random'.
        layers: names (or NormLayers) to keep; None: every normalization layer.
        budget: bytes the kept arrays may take; a run that would keep more stops with ModelError.
        keep: 'input', 'output' or 'both' (outputs land in capture.outputs).
        statistics: also measure every BatchNorm's batch statistics against its running ones (sets
        layer.gap and the 'gap' flag); False lets the run stop after the last chosen layer.
        progress(done, total) and cancelled() as kernels.experiments: Cancelled when cancelled() is True.
        The model runs in eval mode and is left unchanged.
        """
        if not self.can_run:
            raise ModelError(self._cannot_run())
        if keep not in ("input", "output", "both"):
            raise ModelError(f"keep={keep!r} is not one of input, output, both")
        budget = int(budget)
        names = self._names(layers)
        arr = self._resolve_input(x, batch, seed)
        start = time.perf_counter()
        cap = self._capture(arr, names, budget=budget, keep=keep, statistics=statistics, progress=progress,
                            cancelled=cancelled)
        cap.input, cap.seconds = arr, time.perf_counter() - start
        for name, shape in cap.shapes.items():
            self.layer(name).input_shape = tuple(shape)
        for name, gap in cap.statistics.items():
            self.layer(name).gap = gap
        return cap

    def _cannot_run(self) -> str:
        return f"{self.name} cannot be run"

    def _capture(self, x, names, **kw) -> Capture:  # pragma: no cover - every runnable format overrides it
        raise NotImplementedError

    def fold_batchnorm(self, x=None, *, batch: int = 2, seed: int = 0, dtypes=DTYPES) -> FoldReport:
        """Fold every BatchNorm that directly follows a convolution or linear layer into it, and
        measure the largest |folded − original| of each folded layer's output and of the model's
        output in each dtype, on x (as in `capture`; default: random data, `batch` samples)."""
        raise ModelError(self._cannot_run())


def over_budget(name: str, used: int, budget: int) -> ModelError:
    return ModelError(f"keeping {name}'s input would take {megabytes(used)} in all, above the budget of "
                      f"{megabytes(budget)}: choose fewer layers, a smaller batch or a larger budget")


class WeightsModel(Model):
    """A bare state_dict (.pt/.pth) or .safetensors file: tensors and names, no computation."""

    def __init__(self, source, layers, fmt, notes=(), state=None, dtypes=None):
        super().__init__(source, layers, notes)
        self.format = fmt
        self.ordered = fmt != "safetensors"
        self._state, self._dtypes = state or {}, dtypes or {}

    def _cannot_run(self) -> str:
        return (f"{self.name} is a bare {self.format}: weights without the network's code, so it cannot run; open "
                f"it with its architecture (architecture='resnet50', or an import path with weights=) to capture "
                f"activations or fold")

    def fold_batchnorm(self, x=None, **kw) -> FoldReport:
        """What a state_dict allows: for each BatchNorm the weight that probably precedes it (the last
        earlier weight with as many output channels); whether they are adjacent is unknown."""
        from .weights import _preceding_weight, natural_key
        order = list(self._state) if self.ordered else sorted(self._state, key=natural_key)
        rows = []
        for layer in self.layers:
            reason = _not_foldable_reason(layer)
            if reason:
                rows.append(FoldRow(layer.name, layer.kind, foldable=False, reason=reason))
                continue
            key, _ = _preceding_weight(layer.name, order, self._state, layer.channels or 0, self.ordered) \
                if layer.name in {k.rpartition(".")[0] for k in order} else ("", 0)
            rows.append(FoldRow(layer.name, layer.kind, into=key.rpartition(".")[0], foldable=None,
                                reason=("a state_dict holds no graph: " + (
                                    f"{key.rpartition('.')[0]} has matching output channels and comes earlier, so "
                                    f"it probably precedes this layer, but whether nothing lies between them is "
                                    f"unknown" if key else "no earlier weight has matching output channels"))))
        notes = ["A bare state_dict cannot be folded and measured: open it with its architecture (import path and "
                 "weights) or as an ONNX export."]
        return FoldReport(rows=rows, notes=notes)


def _not_foldable_reason(layer) -> str:
    if layer.family == "batch" and (layer.batch_stats_in_eval or not layer.has_running_stats):
        return "no running statistics: it normalizes with each batch's statistics, not a fixed affine map"
    if layer.family == "batch":
        return ""
    if layer.family == "instance" and layer.has_running_stats:
        return "InstanceNorm: per-sample statistics in training; not folded here"
    label = {"layer": "LayerNorm", "group": "GroupNorm", "instance": "InstanceNorm", "rms": "RMSNorm",
             "lrn": "LocalResponseNorm"}[layer.family]
    return (f"{label} normalizes with statistics of each input (per sample or position), computed at run time: there "
            f"is no fixed scale and shift to fold")


def open_model(source, *, allow_import: bool = False, weights=None, architecture: str | None = None,
               args=(), kwargs=None, input_shape=None) -> Model:
    """Open a model and find its normalization layers.

    source: a .pt/.pth state_dict, a .safetensors file or an .onnx model (read without running any
    code a file carries); an import path 'package.module:factory' (or 'package.module:factory(literal
    arguments)') that a person typed, which needs allow_import=True because it imports and runs that
    code; or a torch nn.Module object.
    weights: a .pt/.pth/.safetensors state_dict loaded into the module (import path, module or
    architecture); architecture: a built-in architecture name (see ARCHITECTURES) whose weights are
    `source`; args/kwargs: the factory's arguments; input_shape: the module's input shape (None
    for the batch axis) when neither the architecture nor the factory says it.
    Raises ModelError (a ValueError) with one line for anything that cannot be opened.
    """
    if hasattr(source, "named_modules"):
        from .torch_model import TorchModel
        return TorchModel.from_module(source, weights=weights, input_shape=input_shape)
    if architecture is not None:
        from .torch_model import TorchModel
        return TorchModel.from_architecture(architecture, weights=source if weights is None else weights,
                                            input_shape=input_shape)
    text = str(source)
    path = Path(text)
    suffix = path.suffix.lower()
    if weights is not None and not IMPORT_PATH.match(text):
        raise ModelError("weights= goes with an import path, a module or architecture=; a file is opened as it is")
    if suffix in SUFFIXES or path.exists():
        if suffix in TORCH_SUFFIXES + SAFETENSORS_SUFFIXES:
            return open_weights(path)
        if suffix in ONNX_SUFFIXES:
            from .onnx_model import OnnxModel
            return OnnxModel.open(path)
        raise ModelError(f"{path.name}: unsupported file type {suffix or '(no extension)'}; use "
                         f"{', '.join(SUFFIXES)} or an import path")
    if IMPORT_PATH.match(text):
        if not allow_import:
            raise ModelError(f"{text!r} is an import path: opening it imports and runs that code, so it needs an "
                             f"explicit allow_import=True (the command line's --allow-import)")
        from .torch_model import TorchModel
        return TorchModel.from_import_path(text, weights=weights, args=args, kwargs=kwargs, input_shape=input_shape)
    raise ModelError(f"{text}: no such file, and not an import path such as package.module:factory")


def open_weights(path) -> WeightsModel:
    from .weights import layers_from_state, read_safetensors, read_torch, widen

    path = Path(path)
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        state, dtypes = read_safetensors(path)
        layers = layers_from_state(state, "safetensors", widen, dtypes, ordered=False)
        fmt, notes = "safetensors", ["safetensors keeps no module order: layers are listed in name order, and the "
                                     "convolution before each BatchNorm is guessed from names and shapes"]
    else:
        state, note = read_torch(path)
        dtypes = {}
        layers = layers_from_state(state, "state_dict")
        fmt, notes = "state_dict", [note] if note else []
    if not layers:
        notes.append("no normalization layer found: no running statistics, and no weight and bias of matching shape")
    notes.append("layers without parameters (LocalResponseNorm, InstanceNorm or LayerNorm without affine weights) "
                 "leave nothing in a state_dict, so they cannot be listed from it")
    return WeightsModel(str(path), layers, fmt, notes, state=state, dtypes=dtypes)
