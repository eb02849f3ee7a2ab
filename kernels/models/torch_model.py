"""A torch module: its normalization modules as NormLayers, their real inputs through forward hooks,
and BatchNorm folded into the convolution or linear layer that feeds it.

A module comes from an object, a built-in architecture (`architectures`), or an import path a
person typed ('package.module:factory', imported only with allow_import=True); weights are read
with the same safe readers as a state_dict file.
"""

from __future__ import annotations

import ast
import copy
import importlib
import weakref
from pathlib import Path

import numpy as np

from ..experiments._common import Loop
from ._common import ModelError, need_torch, to_numpy
from .layers import GapStats, NormLayer, assumption
from .model import DTYPES, IMPORT_PATH, Capture, FoldReport, FoldRow, Model, _not_foldable_reason, over_budget


class _Stop(Exception):
    """Every chosen layer is captured: the rest of the forward pass is not needed."""


def norm_layers(module) -> list:
    """NormLayers for the normalization modules of a torch module, in registration order."""
    torch = need_torch("reading a module")
    nn = torch.nn
    out = []
    kinds = [(nn.modules.batchnorm._BatchNorm, "batch"), (nn.modules.instancenorm._InstanceNorm, "instance"),
             (nn.GroupNorm, "group"), (nn.LayerNorm, "layer"), (nn.LocalResponseNorm, "lrn")]
    if hasattr(nn, "RMSNorm"):
        kinds.append((nn.RMSNorm, "rms"))
    for name, mod in module.named_modules():
        family = next((fam for cls, fam in kinds if isinstance(mod, cls)), None)
        if family is None:
            continue
        base = next(cls for cls, fam in kinds if fam == family)
        layer = _layer_of(name or "(module)", mod, family)
        if type(mod).forward is not _base_forward(type(mod), base):
            assumption(layer, f"{type(mod).__name__} overrides forward(): the explorer reproduces torch's "
                              f"{base.__name__ if family != 'batch' else 'BatchNorm'}, which may not be what "
                              f"{type(mod).__name__} computes")
        layer.index, layer.source = len(out), "module"
        out.append(layer)
    return out


def _base_forward(cls, base):
    """The forward of the first torch.nn class in cls's ancestry (BatchNorm2d's is _BatchNorm's)."""
    for klass in cls.__mro__:
        if klass.__module__.startswith("torch.nn.") and "forward" in vars(klass):
            return vars(klass)["forward"]
    return base.forward


def _layer_of(name, mod, family) -> NormLayer:
    kind = type(mod).__name__
    common = dict(name=name, family=family, kind=kind, weight=to_numpy(getattr(mod, "weight", None)),
                  bias=to_numpy(getattr(mod, "bias", None)))
    if family in ("batch", "instance"):
        track = getattr(mod, "track_running_stats", False) and mod.running_mean is not None
        nbt = getattr(mod, "num_batches_tracked", None)
        layer = NormLayer(eps=float(mod.eps), momentum=None if mod.momentum is None else float(mod.momentum),
                          running_mean=to_numpy(mod.running_mean) if track else None,
                          running_var=to_numpy(mod.running_var) if track else None,
                          num_batches_tracked=int(nbt.item()) if track and nbt is not None else None,
                          batch_stats_in_eval=family == "batch" and not track, **common)
        if family == "instance":
            layer.momentum = None
        layer.rank_hint = {"1d": 2 if family == "batch" else 3, "2d": 4, "3d": 5}.get(kind[-2:].lower())
        return layer
    if family == "group":
        return NormLayer(eps=float(mod.eps), groups=int(mod.num_groups), **common)
    if family == "lrn":
        return NormLayer(eps=None, lrn=dict(size=int(mod.size), alpha=float(mod.alpha), beta=float(mod.beta),
                                            k=float(mod.k)), **common)
    eps = getattr(mod, "eps", None)
    return NormLayer(eps=None if eps is None else float(eps), normalized_ndim=len(mod.normalized_shape), **common)


def _parse_call(text: str) -> tuple:
    """(module, attribute path, args, kwargs) of 'package.module:factory(literal arguments)'."""
    m = IMPORT_PATH.match(text)
    if not m:
        raise ModelError(f"{text!r} is not an import path such as package.module:factory")
    module, attr, call = m.group(1), m.group(2), m.group(3)
    args, kwargs = (), {}
    if call:
        try:
            node = ast.parse(f"f{call}", mode="eval").body
            args = tuple(ast.literal_eval(a) for a in node.args)
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        except (SyntaxError, ValueError):
            raise ModelError(f"{text!r}: the arguments must be Python literals (numbers, strings, tuples...)") from None
    return module, attr, args, kwargs


class TorchModel(Model):
    """A runnable torch module."""

    format = "module"
    can_run = True

    def __init__(self, module, source: str, notes=(), input_shape=None):
        torch = need_torch("a torch module")
        if not isinstance(module, torch.nn.Module):
            raise ModelError(f"{source} is a {type(module).__name__}, not a torch.nn.Module")
        self.module = module
        self.owned = False  # built here (architecture, import path): its memory layout may be changed for speed
        super().__init__(source, norm_layers(module), notes, input_shape)
        if not self.layers:
            self.notes.append("no normalization module found (BatchNorm, LayerNorm, GroupNorm, InstanceNorm, RMSNorm, "
                              "LocalResponseNorm or a subclass)")

    @classmethod
    def from_module(cls, module, weights=None, input_shape=None, source=None):
        if weights is not None:
            load_weights(module, weights)
        shape = input_shape if input_shape is not None else getattr(module, "input_shape", None)
        return cls(module, source or type(module).__name__, input_shape=shape)

    @classmethod
    def from_import_path(cls, text, weights=None, args=(), kwargs=None, input_shape=None):
        module_name, attr, call_args, call_kwargs = _parse_call(text)
        try:
            obj = importlib.import_module(module_name)
        except Exception as exc:  # the person's code may raise anything while importing
            raise ModelError(f"importing {module_name} failed: {type(exc).__name__}: {str(exc)[:160]}") from None
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise ModelError(f"{module_name} has no {attr}")
            obj = getattr(obj, part)
        if not callable(obj):
            raise ModelError(f"{text} is not callable")
        try:
            module = obj(*call_args, *tuple(args), **call_kwargs, **(kwargs or {}))
        except Exception as exc:
            raise ModelError(f"calling {attr} failed: {type(exc).__name__}: {str(exc)[:160]}") from None
        model = cls.from_module(module, weights, input_shape, source=text.strip())
        model.owned = True
        return model

    @classmethod
    def from_architecture(cls, name, weights=None, input_shape=None):
        from .architectures import ARCHITECTURES
        if name not in ARCHITECTURES:
            raise ModelError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}")
        arch = ARCHITECTURES[name]
        module = arch.build()
        source = name if weights is None else f"{Path(str(weights)).name} ({name})"
        model = cls.from_module(module, weights, input_shape or arch.input_shape, source=source)
        model.owned = True
        return model

    # -- capture ------------------------------------------------------------------------------------

    def _capture(self, x, names, *, budget, keep, statistics, progress, cancelled) -> Capture:
        torch = need_torch("running a module")
        mods = dict(self.module.named_modules())
        by_name = {layer.name: layer for layer in self.layers}
        wanted = set(names)
        stats_for = {n for n, lay in by_name.items() if statistics and lay.family == "batch"
                     and lay.has_running_stats and not lay.batch_stats_in_eval}
        cap = Capture()
        used = [0]
        loop = Loop(len(by_name), progress, cancelled)
        loop.check()

        def keep_array(store, name, t):
            arr = to_numpy(t).copy() if hasattr(t, "detach") else None
            if arr is None:
                return
            used[0] += arr.nbytes
            if used[0] > budget:
                raise over_budget(name, used[0], budget)
            store[name] = arr

        def finished():
            need_out = keep in ("output", "both")
            return (wanted <= set(cap.shapes) and (not need_out or wanted <= set(cap.outputs))
                    and stats_for <= set(cap.statistics))

        def pre_hook(name):
            def hook(mod, args):
                if name in cap.shapes or not args or not hasattr(args[0], "shape"):
                    return
                t = args[0]
                cap.shapes[name] = tuple(int(s) for s in t.shape)
                if name in wanted and keep in ("input", "both"):
                    keep_array(cap, name, t)
                if name in stats_for:
                    cap.statistics[name] = _batch_stats(torch, t, by_name[name])
            return hook

        def post_hook(name):
            def hook(mod, args, output):
                if name in wanted and keep in ("output", "both") and name not in cap.outputs:
                    keep_array(cap.outputs, name, output)
                loop.tick()
                if finished():
                    raise _Stop
            return hook

        handles = []
        was_training = self.module.training
        try:
            for name in by_name:
                mod = mods.get(name if name != "(module)" else "")
                handles.append(mod.register_forward_pre_hook(pre_hook(name)))
                handles.append(mod.register_forward_hook(post_hook(name)))
            self.module.eval()
            t = torch.from_numpy(x).to(_param_dtype(torch, self.module))
            if self.owned and t.dim() == 4 and any(isinstance(m, torch.nn.Conv2d) for m in mods.values()):
                # channels-last convolutions run about 1.5× faster on CPU; the values are the same
                self.module.to(memory_format=torch.channels_last)
                t = t.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                try:
                    self.module(t)
                except _Stop:
                    pass
                except ModelError:
                    raise
                except Exception as exc:
                    if type(exc).__name__ == "Cancelled":
                        raise
                    raise ModelError(f"running {self.name} on an input of shape {x.shape} failed: "
                                     f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                                     ) from None
        finally:
            for h in handles:
                h.remove()
            self.module.train(was_training)
        missing = wanted - set(cap.shapes)
        if missing:
            cap.notes = [f"{', '.join(sorted(missing))} did not run on this input"]
        if progress is not None:
            progress(loop.total, loop.total)
        return cap

    # -- folding ------------------------------------------------------------------------------------

    def fold_batchnorm(self, x=None, *, batch: int = 2, seed: int = 0, dtypes=DTYPES) -> FoldReport:
        torch = need_torch("folding")
        arr = self._resolve_input(x, batch, seed)
        pairs, feeders, rows_diffs = self._find_pairs(torch, arr, dtypes)
        rows = []
        for layer in self.layers:
            if layer.name in pairs:
                rows.append(FoldRow(layer.name, layer.kind, into=pairs[layer.name], foldable=True,
                                    diffs=rows_diffs.get(layer.name, {})))
            else:
                reason = _not_foldable_reason(layer)
                if not reason:
                    reason = feeders.get(layer.name, "it did not run on this input")
                rows.append(FoldRow(layer.name, layer.kind, foldable=False, reason=reason))
        folded = copy.deepcopy(self.module)
        mods = dict(folded.named_modules())
        for bn_name, conv_name in pairs.items():
            _fold_into(torch, mods[conv_name], mods[bn_name])
            _replace(folded, bn_name, torch.nn.Identity())
        output_diff, reference_diff, notes = {}, {}, []
        t = torch.from_numpy(arr)
        with torch.inference_mode():
            was = self.module.training
            self.module.eval()
            folded.eval()
            try:
                ref = _output(self.module(t)).float()
                for d in dtypes:
                    dt = getattr(torch, d)
                    try:
                        a = _output(copy.deepcopy(self.module).to(dt)(t.to(dt))).float()
                        b = _output(copy.deepcopy(folded).to(dt)(t.to(dt))).float()
                    except Exception as exc:  # an op without a kernel for this dtype on this device
                        notes.append(f"{d}: the model does not run in {d} here ({type(exc).__name__}: "
                                     f"{str(exc)[:120]})")
                        continue
                    output_diff[d] = float((a - b).abs().max())
                    reference_diff[d] = float((a - ref).abs().max())
            finally:
                self.module.train(was)
        return FoldReport(rows=rows, output_diff=output_diff, reference_diff=reference_diff, notes=notes,
                          folded=folded)

    def _find_pairs(self, torch, arr, dtypes) -> tuple:
        """One forward pass in eval mode: which BatchNorm's input is exactly the output of a convolution or
        linear module, what feeds the others, and each pair's output difference per dtype (folded conv
        against conv then BatchNorm, both in that dtype, on the conv's real input)."""
        nn = torch.nn
        foldable_types = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
        mods = dict(self.module.named_modules())
        bns = {layer.name for layer in self.layers if layer.family == "batch" and layer.has_running_stats
               and not layer.batch_stats_in_eval}
        produced = {}  # id(output) -> (module name, module type, weak reference to the output)
        last = {}  # the most recent foldable module's name, module and input (strong: it feeds the pair)
        pairs, feeders, diffs = {}, {}, {}

        def leaf_hook(name):
            def hook(mod, args, output):
                last.clear()
                if hasattr(output, "shape"):
                    produced[id(output)] = (name, type(mod).__name__, weakref.ref(output))
                    if isinstance(mod, foldable_types) and args:
                        last.update(name=name, mod=mod, x=args[0], out=weakref.ref(output))
            return hook

        def bn_hook(name):
            def hook(mod, args):
                if name in pairs or name in feeders or not args:
                    return
                x = args[0]
                src = produced.get(id(x))
                if src is not None and src[2]() is not x:
                    src = None
                if src is None:
                    feeders[name] = ("its input comes from an operation outside any module (a function such as "
                                     "torch.relu, an addition, a reshape), not directly from a convolution or "
                                     "linear layer")
                elif not last or last["out"]() is not x:
                    feeders[name] = (f"its input is the output of {src[0]} ({src[1]}), not of a convolution or "
                                     f"linear layer")
                elif isinstance(last["mod"], nn.Linear) and x.dim() != 2:
                    feeders[name] = f"{src[0]} is a Linear layer whose output is not (N, C)"
                else:
                    pairs[name] = src[0]
                    diffs[name] = _pair_diffs(torch, last["mod"], mod, last["x"], dtypes)
            return hook

        handles = []
        was = self.module.training
        try:
            for name, mod in mods.items():
                if name in bns:
                    handles.append(mod.register_forward_pre_hook(bn_hook(name)))
                if not list(mod.children()):
                    handles.append(mod.register_forward_hook(leaf_hook(name)))
            self.module.eval()
            with torch.inference_mode():
                try:
                    self.module(torch.from_numpy(arr))
                except Exception as exc:
                    raise ModelError(f"running {self.name} failed: {type(exc).__name__}: {str(exc)[:160]}") from None
        finally:
            for h in handles:
                h.remove()
            self.module.train(was)
        return pairs, feeders, diffs


def _param_dtype(torch, module):
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _output(out):
    """The first tensor of a module's output (a tensor, a tuple or a dict)."""
    if hasattr(out, "float"):
        return out
    if isinstance(out, dict):
        out = list(out.values())
    for item in out:
        if hasattr(item, "float"):
            return item
    raise ModelError("the model's output holds no tensor")


def _batch_stats(torch, t, layer) -> GapStats:
    """Per-channel mean and biased variance of a BatchNorm's input (torch's var_mean is Welford's: float32 is
    accurate, and no float64 copy of the activation is made)."""
    dims = [d for d in range(t.dim()) if d != 1]
    x = t.detach() if t.is_floating_point() and t.element_size() >= 4 else t.detach().float()
    var, mean = torch.var_mean(x, dim=dims, correction=0)
    count = t.numel() // t.shape[1]
    return GapStats(batch_mean=mean.double().numpy(), batch_var=var.double().numpy(),
                    running_mean=layer.running_mean.astype(np.float64),
                    running_var=layer.running_var.astype(np.float64), eps=float(layer.eps), count=int(count))


def folded_parameters(torch, weight, bias, bn):
    """(weight, bias) of a convolution or linear layer with the BatchNorm after it folded in:
    scale = γ / √(running_var + eps); W' = W·scale per output channel; b' = (b − running_mean)·scale + β."""
    scale = (bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)) / torch.sqrt(
        bn.running_var + bn.eps)
    shift = bn.bias if bn.bias is not None else torch.zeros_like(bn.running_mean)
    b = bias if bias is not None else torch.zeros_like(bn.running_mean)
    w = weight * scale.reshape((-1,) + (1,) * (weight.dim() - 1)).to(weight.dtype)
    return w, ((b - bn.running_mean) * scale + shift).to(weight.dtype)


def _fold_into(torch, conv, bn):
    with torch.no_grad():
        w, b = folded_parameters(torch, conv.weight, conv.bias, bn)
        conv.weight.copy_(w)
        if conv.bias is None:
            conv.bias = torch.nn.Parameter(b)
        else:
            conv.bias.copy_(b)


def _pair_diffs(torch, conv, bn, x, dtypes) -> dict:
    """Largest |conv then BatchNorm − folded conv| on the conv's real input x, per dtype."""
    out = {}
    if x is None:
        return out
    for d in dtypes:
        dt = getattr(torch, d)
        try:
            c = copy.deepcopy(conv).to(dt)
            b = copy.deepcopy(bn).to(dt).eval()
            f = copy.deepcopy(conv)
            _fold_into(torch, f, copy.deepcopy(bn).float())
            f = f.to(dt)
            xd = x.to(dt)
            out[d] = float((b(c(xd)).float() - f(xd).float()).abs().max())
        except Exception:  # no kernel for this dtype here: left out of the row
            continue
    return out


def _replace(root, name, new):
    parent_name, _, leaf = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, leaf, new)


def load_weights(module, weights) -> None:
    """Load a .pt/.pth/.safetensors state_dict (or a dict of tensors) into module, strictly."""
    torch = need_torch("loading weights")
    if isinstance(weights, dict):
        state = weights
    else:
        from .weights import read_safetensors, read_torch
        path = Path(str(weights))
        if path.suffix.lower() == ".safetensors":
            arrays, dtypes = read_safetensors(path)
            state = {k: (torch.from_numpy(np.array(a)).view(torch.bfloat16) if dtypes[k] == "BF16"
                         else torch.from_numpy(np.array(a))) for k, a in arrays.items()}
        else:
            state, _ = read_torch(path)
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        first = str(exc).split("\n\t")[1] if "\n\t" in str(exc) else str(exc)
        raise ModelError(f"the weights do not fit the module: {first.strip()[:200]}") from None
    problems = []
    if result.missing_keys:
        problems.append(f"{len(result.missing_keys)} missing (e.g. {result.missing_keys[0]})")
    if result.unexpected_keys:
        problems.append(f"{len(result.unexpected_keys)} unexpected (e.g. {result.unexpected_keys[0]})")
    if problems:
        raise ModelError(f"the weights do not fit the module: keys {'; '.join(problems)}")
