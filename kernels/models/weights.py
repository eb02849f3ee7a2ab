"""Reading weights files safely, and finding the normalization layers in a bare state_dict.

.pt/.pth: `torch.load(weights_only=True, mmap=True)` after the zip directory is checked (no zip
bombs); .safetensors: parsed here (an 8-byte header size, a JSON header, raw little-endian data)
and memory-mapped, every offset checked against the file. A state_dict holds tensors and names,
nothing else: layer kinds are inferred from key names and shapes and every guess is said.
"""

from __future__ import annotations

import json
import re
import struct
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..registry import largest_divisor
from ._common import MAX_FILE_BYTES, MAX_TENSOR_BYTES, MAX_ZIP_RATIO, ModelError, megabytes, need_torch, to_numpy
from .layers import NormLayer, assumption

#: containers that hold a state_dict inside a checkpoint, tried in this order
NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "module", "weights", "params")
DEFAULT_EPS, DEFAULT_MOMENTUM = 1e-5, 0.1


def check_file(path: Path) -> None:
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise ModelError(f"{path.name} is empty")
    if size > MAX_FILE_BYTES:
        raise ModelError(f"{path.name} is {megabytes(size)}, above the {megabytes(MAX_FILE_BYTES)} the explorer reads")


def check_zip(path: Path) -> None:
    """Refuse a zip whose directory promises more than it can hold: an entry that inflates more than
    MAX_ZIP_RATIO times (torch stores its entries uncompressed), or more bytes in all than allowed."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile:
        raise ModelError(f"{path.name} is truncated or not a readable torch file (its zip directory is "
                         f"damaged)") from None
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > 1024 ** 2 and info.file_size > MAX_ZIP_RATIO * max(1, info.compress_size):
            raise ModelError(f"{path.name} looks like a zip bomb: {info.filename} inflates from "
                             f"{megabytes(info.compress_size)} to {megabytes(info.file_size)}; not opened")
    if total > MAX_FILE_BYTES:
        raise ModelError(f"{path.name} unpacks to {megabytes(total)}, above the {megabytes(MAX_FILE_BYTES)} the "
                         f"explorer reads")


def read_torch(path) -> tuple:
    """(OrderedDict name -> tensor, note): the state_dict in a .pt/.pth file, never unpickling code."""
    path = Path(path)
    check_file(path)
    torch = need_torch(f"reading {path.name}")
    is_zip = zipfile.is_zipfile(path)
    if is_zip:
        check_zip(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except Exception as exc:  # weights_only refuses pickled code; damaged files raise anything
        text = str(exc)
        if "Unsupported global" in text:
            raise ModelError(f"{path.name} holds pickled Python objects beyond tensors (a whole saved module, or "
                             f"code); it is never unpickled: save model.state_dict() instead, or open the module by "
                             f"its import path") from None
        if "WeightsUnpickler" in text or "Unsupported operand" in text:
            raise ModelError(f"{path.name} is damaged or holds pickled Python objects that torch's weights-only "
                             f"loader refuses; nothing in it was run (share weights as model.state_dict())") from None
        first = text.splitlines()[0][:120] if text else type(exc).__name__
        raise ModelError(f"{path.name} is truncated or not a readable torch file ({first})") from None
    state, note = _find_state(obj, torch)
    if not state:
        raise ModelError(f"{path.name} holds no tensors")
    return state, note


def _find_state(obj, torch) -> tuple:
    if isinstance(obj, torch.Tensor):
        return OrderedDict([("tensor", obj)]), "the file holds a single tensor, not a state_dict"
    if not isinstance(obj, dict):
        return OrderedDict(), ""
    if any(isinstance(v, torch.Tensor) for v in obj.values()):
        return _flatten(obj, torch), ""
    for key in NESTED_KEYS:
        if isinstance(obj.get(key), dict):
            found, _ = _find_state(obj[key], torch)
            if found:
                others = ", ".join(repr(k) for k in obj if k != key)
                return found, f"the state_dict is the checkpoint's {key!r} entry" + (f" (beside {others})"
                                                                                     if others else "")
    return _flatten(obj, torch), ""


def _flatten(obj, torch, prefix="") -> OrderedDict:
    out = OrderedDict()
    for k, v in obj.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, torch.Tensor):
            out[name] = v
        elif isinstance(v, dict):
            out.update(_flatten(v, torch, name))
    return out


SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
                      "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?", "U16": "<u2", "U32": "<u4", "U64": "<u8"}


def read_safetensors(path) -> tuple:
    """(OrderedDict name -> numpy array (memory-mapped; bfloat16 kept as raw uint16), {name: dtype name})."""
    path = Path(path)
    check_file(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ModelError(f"{path.name} is truncated (no safetensors header)")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, 100 * 1024 ** 2):
            raise ModelError(f"{path.name} is not a safetensors file or is truncated (its header claims {n:,} bytes)")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ModelError(f"{path.name} is not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise ModelError(f"{path.name} is not a safetensors file (its header is not a JSON object)")
    header.pop("__metadata__", None)
    data_start, data_size = 8 + n, size - 8 - n
    arrays, dtypes = OrderedDict(), {}
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=data_start, shape=(data_size,)) if data_size else None
    for name, info in sorted(header.items(), key=lambda kv: _offsets(kv[1], path)[0]):
        begin, end = _offsets(info, path)
        dtype = info.get("dtype") if isinstance(info, dict) else None
        shape = info.get("shape") if isinstance(info, dict) else None
        if dtype not in SAFETENSORS_DTYPES or not isinstance(shape, list) or not all(
                isinstance(s, int) and s >= 0 for s in shape):
            raise ModelError(f"{path.name}: tensor {name!r} has an unsupported dtype or shape ({dtype}, {shape})")
        item = np.dtype(SAFETENSORS_DTYPES[dtype]).itemsize
        count = 1
        for s in shape:
            count *= s
        if count * item > MAX_TENSOR_BYTES:
            raise ModelError(f"{path.name}: tensor {name!r} declares {megabytes(count * item)}, above the "
                             f"{megabytes(MAX_TENSOR_BYTES)} allowed")
        if end - begin != count * item or end > data_size:
            raise ModelError(f"{path.name} is truncated or damaged: tensor {name!r} needs {count * item:,} bytes at "
                             f"{begin:,}..{end:,} but the data holds {data_size:,}")
        arr = raw[begin:end].view(SAFETENSORS_DTYPES[dtype]).reshape(shape) if count else \
            np.zeros(shape, SAFETENSORS_DTYPES[dtype])
        arrays[name], dtypes[name] = arr, dtype
    if not arrays:
        raise ModelError(f"{path.name} holds no tensors")
    return arrays, dtypes


def _offsets(info, path) -> tuple:
    try:
        begin, end = (int(v) for v in info["data_offsets"])
    except (TypeError, KeyError, ValueError):
        raise ModelError(f"{path.name} is not a safetensors file (a tensor has no data_offsets)") from None
    if not 0 <= begin <= end:
        raise ModelError(f"{path.name} is damaged (data_offsets {begin}..{end})")
    return begin, end


def widen(arr, dtype_name: str = "") -> np.ndarray:
    """A safetensors array as float32 (bfloat16 from its raw bits) or a torch tensor as numpy."""
    if dtype_name == "BF16":
        return (np.asarray(arr, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
    return to_numpy(arr)


# -- a state_dict's normalization layers ------------------------------------------------------

_HINTS = {
    "batch": ("bn", "batchnorm", "batch"),
    "group": ("gn", "groupnorm", "group"),
    "instance": ("in", "instancenorm", "instance", "inorm"),
    "rms": ("rms", "rmsnorm"),
    "layer": ("ln", "layernorm", "layer", "norm", "lnorm"),
}


def _hint(prefix: str) -> str:
    """The family a key prefix's last component names ('conv1_BN' -> batch, 'ln_f' -> layer), or ''."""
    last = prefix.rsplit(".", 1)[-1].lower()
    tokens = [t for t in re.split(r"[^a-z]+", last) if t]
    for family, words in _HINTS.items():
        if any(t in words for t in tokens) or any(last.replace("_", "").startswith(w) for w in words if len(w) > 4):
            return family
    return ""


def layers_from_state(state, source: str, convert=widen, dtypes=None, ordered: bool = True) -> list:
    """NormLayers for every normalization a state_dict's names and shapes reveal, in key order (ordered=False:
    the keys' order means nothing, as in safetensors files: in natural name order)."""
    dtypes = dtypes or {}
    groups: OrderedDict = OrderedDict()
    order = list(state) if ordered else sorted(state, key=natural_key)
    for key in order:
        prefix, _, leaf = key.rpartition(".")
        groups.setdefault(prefix, {})[leaf] = key
    layers = []
    for prefix, leaves in groups.items():
        layer = _layer_of(prefix, leaves, state, convert, dtypes, order, ordered)
        if layer is not None:
            layer.index, layer.source = len(layers), source
            layers.append(layer)
    return layers


def _shape(t) -> tuple:
    return tuple(int(s) for s in t.shape)


def natural_key(key: str) -> list:
    """'layer10.2.bn1' after 'layer2.0.bn1': numbers compare as numbers."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", key) if t]


def _preceding_weight(prefix: str, order: list, state, channels: int, ordered: bool = True) -> tuple:
    """(key, ndim) of the weight that probably feeds `prefix`: with the file's order, the last weight of ndim >= 2
    before it whose first axis has `channels` entries; without (safetensors), the one whose name shares the most
    with `prefix` ('layer1.0.conv2' for 'layer1.0.bn2')."""
    def fits(key):
        return key.endswith(".weight") and len(_shape(state[key])) >= 2 and _shape(state[key])[0] == channels

    if ordered:
        first = next(i for i, k in enumerate(order) if k.rpartition(".")[0] == prefix)
        key = next((k for k in reversed(order[:first]) if fits(k)), "")
        return key, len(_shape(state[key])) if key else 0
    parts = prefix.split(".")

    def score(key):
        other = key.rpartition(".")[0].split(".")
        common = next((i for i, (a, b) in enumerate(zip(parts, other)) if a != b), min(len(parts), len(other)))
        digits = re.sub(r"\D", "", parts[-1]) == re.sub(r"\D", "", other[-1]) if other else False
        return common, digits

    candidates = [k for k in order if fits(k) and k.rpartition(".")[0] != prefix]
    key = max(candidates, key=score, default="")
    return key, len(_shape(state[key])) if key else 0


def _layer_of(prefix, leaves, state, convert, dtypes, order, ordered):
    def get(leaf):
        key = leaves.get(leaf)
        return None if key is None else convert(state[key], dtypes.get(key, ""))

    has = set(leaves)
    name = prefix or "(top level)"
    hint = _hint(prefix)
    if {"running_mean", "running_var"} <= has:
        rm = get("running_mean")
        if rm.ndim != 1:
            return None
        family = "instance" if hint == "instance" else "batch"
        nbt = leaves.get("num_batches_tracked")
        layer = NormLayer(name=name, family=family, kind="BatchNorm" if family == "batch" else "InstanceNorm",
                          eps=DEFAULT_EPS, momentum=DEFAULT_MOMENTUM if family == "batch" else None,
                          weight=get("weight"), bias=get("bias"), running_mean=rm, running_var=get("running_var"),
                          num_batches_tracked=None if nbt is None else int(np.asarray(convert(state[nbt], "")).item()))
        assumption(layer, f"eps={DEFAULT_EPS:g} assumed: a state_dict does not store eps (torch's default; Keras "
                          f"converts often use 1e-3)")
        if family == "batch":
            assumption(layer, f"momentum={DEFAULT_MOMENTUM:g} assumed (torch's default): a state_dict does not store "
                              f"it")
        _assume_rank(layer, prefix, order, state, rm.shape[0], ordered)
        return layer
    weight_key, bias_key = leaves.get("weight"), leaves.get("bias")
    if weight_key is None or has - {"weight", "bias"}:
        return None
    wshape = _shape(state[weight_key])
    if bias_key is not None and _shape(state[bias_key]) != wshape:
        return None
    if not wshape or (len(wshape) > 1 and hint not in ("layer", "rms")):
        return None
    if bias_key is None and hint not in ("rms", "layer"):
        return None  # a lone 1-D weight (PReLU, a scale) is not a normalization without a name saying so
    w, b = get("weight"), get("bias")
    if bias_key is None:
        layer = NormLayer(name=name, family="rms", kind="RMSNorm", eps=None, weight=w, normalized_ndim=len(wshape))
        assumption(layer, "RMSNorm assumed (a weight without bias under a 'norm' name, as LLaMA and T5 store it); "
                          "it may be a LayerNorm(bias=False); eps=None assumed (torch: the dtype's machine epsilon)")
        return layer
    family = hint if hint in ("batch", "group", "instance") else "layer"
    layer = NormLayer(name=name, family=family, kind={"batch": "BatchNorm", "group": "GroupNorm",
                                                      "instance": "InstanceNorm", "layer": "LayerNorm"}[family],
                      eps=DEFAULT_EPS, weight=w, bias=b)
    others = "GroupNorm or an affine InstanceNorm" if family == "layer" else "LayerNorm"
    why = "by its name" if hint == family else "as the most common"
    assumption(layer, f"{layer.kind} assumed {why}: a state_dict stores weight and bias alike for LayerNorm, GroupNorm "
                      f"and affine InstanceNorm, so it may be {others}; eps={DEFAULT_EPS:g} assumed")
    if family == "batch":
        layer.batch_stats_in_eval, layer.momentum = True, DEFAULT_MOMENTUM
        _assume_rank(layer, prefix, order, state, wshape[0], ordered)
    elif family == "group":
        layer.groups = largest_divisor(wshape[0], 32)
        assumption(layer, f"groups={layer.groups} assumed (the largest divisor of C={wshape[0]} up to 32, the "
                          f"paper's G=32): a state_dict does not store the number of groups")
    elif family == "instance":
        _assume_rank(layer, prefix, order, state, wshape[0], ordered)
    else:
        layer.normalized_ndim = len(wshape)
    return layer


def _assume_rank(layer, prefix, order, state, channels, ordered):
    key, ndim = _preceding_weight(prefix, order, state, channels, ordered)
    if key and 2 <= ndim <= 5:
        layer.kind += {2: "1d", 3: "1d", 4: "2d", 5: "3d"}[ndim] if layer.family in ("batch", "instance") else ""
        layer.input_shape = None
        layer.notes.append(f"input rank {ndim} taken from the preceding weight {key} {_shape(state[key])}")
        layer.rank_hint = ndim
    else:
        assumption(layer, "an (N, C, H, W) input assumed: no preceding convolution or linear weight says otherwise")
