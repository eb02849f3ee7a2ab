"""An ONNX model: its normalization operators (and the decomposed forms torch's exporters emit) as
NormLayers, their real inputs as onnxruntime's intermediate outputs, and BatchNormalization folded
into the Conv or Gemm before it.

Recognised: BatchNormalization, InstanceNormalization, GroupNormalization, LayerNormalization,
RMSNormalization, LRN; GroupNorm as the legacy exporter writes it (Reshape → InstanceNormalization
→ Reshape → Mul → Add); InstanceNorm with running statistics as the dynamo exporter writes it (a
BatchNormalization over a (1, N·C, ...) Reshape with Tiled parameters); RMSNorm as
Pow/ReduceMean/Add/Sqrt/Reciprocal/Mul (dynamo, opset < 23); LayerNorm as ReduceMean/Sub/Pow/
ReduceMean/Add/Sqrt/Div/Mul/Add (legacy exporter, opset < 17); LocalResponseNorm as
Mul/Pad/AveragePool/Mul/Add/Pow/Div (both exporters). Anything else is not listed (see
`Model.notes`).

A file is checked before onnxruntime sees it: every stored tensor's declared size must match its
data, no tensor may declare more than MAX_TENSOR_BYTES, external data must be a file beside the
model. ONNX files carry no code; custom-domain operators are never given an implementation.
"""

from __future__ import annotations

import ast
import os
import threading
from pathlib import Path

import numpy as np

from ..experiments._common import Loop
from ._common import MAX_TENSOR_BYTES, ModelError, megabytes, need_onnx
from .layers import GapStats, NormLayer
from .model import Capture, FoldReport, FoldRow, Model, _not_foldable_reason, over_budget
from .weights import check_file

#: ops a decomposed pattern may pass through between its arithmetic steps
PASS_THROUGH = ("Reshape", "Squeeze", "Unsqueeze", "Pad", "Transpose", "Cast", "CastLike", "Identity")
#: operators whose output has their first input's shape (followed where onnx's shape inference gives up)
SAME_SHAPE = ("BatchNormalization", "InstanceNormalization", "GroupNormalization", "LayerNormalization",
              "RMSNormalization", "LRN", "Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Gelu", "Elu", "Selu",
              "HardSigmoid", "HardSwish", "Softplus", "Clip", "Identity", "Cast", "CastLike", "Dropout", "Softmax",
              "Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal")
#: samples per onnxruntime run when the batch axis is free (progress and cancel between runs)
CHUNK = 4


def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class Graph:
    """Producers, consumers and constant values of an ONNX graph."""

    def __init__(self, model, base_dir: Path):
        onnx = need_onnx("reading ONNX")
        self.model, self.base_dir, self.onnx = model, base_dir, onnx
        g = model.graph
        self.nodes = list(g.node)
        self.init = {t.name: t for t in g.initializer}
        self.producer = {}
        self.consumers = {}
        for node in self.nodes:
            for out in node.output:
                self.producer[out] = node
            for inp in node.input:
                if inp:
                    self.consumers.setdefault(inp, []).append(node)
        self.graph_outputs = {o.name for o in g.output}
        self._const = {}

    def const(self, name):
        """The value of `name` when it is a constant (an initializer, a Constant node, or shape arithmetic on
        them), else None."""
        if not name:
            return None
        if name in self._const:
            return self._const[name]
        value = self._const_uncached(name)
        self._const[name] = value
        return value

    def _const_uncached(self, name):
        from onnx import numpy_helper
        if name in self.init:
            t = self.init[name]
            if t.data_location == self.onnx.TensorProto.EXTERNAL:
                from onnx.external_data_helper import load_external_data_for_tensor
                t2 = self.onnx.TensorProto()
                t2.CopyFrom(t)
                load_external_data_for_tensor(t2, str(self.base_dir))
                return numpy_helper.to_array(t2)
            return numpy_helper.to_array(t)
        node = self.producer.get(name)
        if node is None:
            return None
        a = _attrs(node)
        if node.op_type == "Constant":
            for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
                if key in a:
                    v = a[key]
                    return numpy_helper.to_array(v) if key == "value" else np.asarray(v)
            return None
        ins = [self.const(i) for i in node.input]
        if any(v is None for v in ins[:1]):
            return None
        try:
            if node.op_type in ("Identity", "Cast", "CastLike"):
                return ins[0]
            if node.op_type == "Reshape" and ins[1] is not None:
                shape = [d if d != 0 else ins[0].shape[i] for i, d in enumerate(ins[1].tolist())]
                return ins[0].reshape(shape)
            if node.op_type == "Concat" and all(v is not None for v in ins):
                return np.concatenate([np.atleast_1d(v) for v in ins], axis=a.get("axis", 0))
            if node.op_type in ("Squeeze", "Unsqueeze"):
                axes = a.get("axes", ins[1].tolist() if len(ins) > 1 and ins[1] is not None else None)
                if node.op_type == "Squeeze":
                    return np.squeeze(ins[0], axis=tuple(axes) if axes is not None else None)
                return np.expand_dims(ins[0], tuple(axes))
        except (ValueError, IndexError):
            return None
        return None

    def single_consumer(self, name):
        users = self.consumers.get(name, [])
        return users[0] if len(users) == 1 and name not in self.graph_outputs else None

    def producer_op(self, name, op):
        node = self.producer.get(name)
        return node if node is not None and node.op_type == op else None


def check_tensors(model, path: Path) -> None:
    """Refuse tensors whose declared size does not match their data, that declare too much, or whose
    external data lies anywhere but a file beside the model (nothing is allocated before this)."""
    onnx = need_onnx("reading ONNX")
    from onnx import helper

    def tensors():
        for t in model.graph.initializer:
            yield t
        for node in model.graph.node:
            for a in node.attribute:
                if a.type == onnx.AttributeProto.TENSOR:
                    yield a.t
        for t in model.graph.sparse_initializer:
            yield t.values

    fields = {onnx.TensorProto.FLOAT: "float_data", onnx.TensorProto.DOUBLE: "double_data",
              onnx.TensorProto.INT64: "int64_data", onnx.TensorProto.UINT64: "uint64_data"}
    for t in tensors():
        try:
            itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
        except (KeyError, TypeError, ValueError):
            if t.data_type == onnx.TensorProto.STRING:
                continue
            itemsize = 1
        count = 1
        for d in t.dims:
            if d < 0:
                raise ModelError(f"{path.name}: tensor {t.name!r} declares a negative size")
            count *= int(d)
        declared = count * itemsize
        if declared > MAX_TENSOR_BYTES:
            raise ModelError(f"{path.name}: tensor {t.name!r} declares {megabytes(declared)}, above the "
                             f"{megabytes(MAX_TENSOR_BYTES)} allowed; not opened")
        if t.data_location == onnx.TensorProto.EXTERNAL:
            info = {e.key: e.value for e in t.external_data}
            loc = info.get("location", "")
            target = (path.parent / loc).resolve()
            if not loc or os.path.isabs(loc) or ".." in Path(loc).parts or target.parent != path.parent.resolve():
                raise ModelError(f"{path.name}: tensor {t.name!r} points to external data {loc!r} outside the "
                                 f"model's folder; not opened")
            if not target.is_file():
                raise ModelError(f"{path.name}: tensor {t.name!r} needs the external data file {loc}, which is "
                                 f"missing")
            offset, length = int(info.get("offset", 0) or 0), int(info.get("length", declared) or declared)
            if length != declared or offset + length > target.stat().st_size:
                raise ModelError(f"{path.name}: tensor {t.name!r} declares {declared:,} bytes but its external "
                                 f"data holds {max(0, target.stat().st_size - offset):,}; truncated or damaged")
            continue
        if t.raw_data:
            if len(t.raw_data) != declared:
                raise ModelError(f"{path.name}: tensor {t.name!r} declares {declared:,} bytes but holds "
                                 f"{len(t.raw_data):,}; truncated or damaged")
            continue
        field = fields.get(t.data_type, "int32_data")
        held = len(getattr(t, field))
        if t.data_type in (onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.INT8,
                           onnx.TensorProto.UINT8, onnx.TensorProto.INT16, onnx.TensorProto.UINT16,
                           onnx.TensorProto.INT32, onnx.TensorProto.BOOL):
            held = len(t.int32_data)
        if held != count:
            raise ModelError(f"{path.name}: tensor {t.name!r} declares {count:,} values but holds {held:,}; "
                             f"truncated or damaged")


class OnnxModel(Model):
    """An ONNX graph, run by onnxruntime."""

    format = "onnx"
    can_run = True

    def __init__(self, proto, path: Path, layers, notes, input_shape, input_dtype, graph, value_types):
        super().__init__(str(path), layers, notes, input_shape, input_dtype)
        self.proto, self.path, self.graph, self.value_types = proto, path, graph, value_types
        self._sessions = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path) -> OnnxModel:
        path = Path(path)
        check_file(path)
        onnx = need_onnx(f"reading {path.name}")
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf's DecodeError and friends
            raise ModelError(f"{path.name} is truncated or not an ONNX model ({type(exc).__name__})") from None
        if not proto.graph.node:
            raise ModelError(f"{path.name} is not an ONNX model (no graph nodes)")
        check_tensors(proto, path)
        shapes, types = _infer_shapes(onnx, proto)
        graph = Graph(proto, path.parent)
        layers, notes = find_layers(graph, shapes, opset_of(proto))
        inputs = [i for i in proto.graph.input if i.name not in graph.init]
        input_shape, input_dtype = None, "float32"
        if inputs:
            first = inputs[0]
            input_shape = shapes.get(first.name)
            input_dtype = _np_dtype_name(onnx, first.type.tensor_type.elem_type)
            if len(inputs) > 1:
                notes.append(f"the model takes {len(inputs)} inputs; capture feeds the first ({first.name}) only")
        return cls(proto, path, layers, notes, input_shape, input_dtype, graph, types)

    # -- capture ------------------------------------------------------------------------------------

    def _input_name(self) -> str:
        return next(i.name for i in self.proto.graph.input if i.name not in self.graph.init)

    def _session(self, outputs: tuple, extra_nodes: tuple):
        """An onnxruntime session with `extra_nodes` added whose outputs are `outputs` alone (onnxruntime then
        runs only the nodes they need: a capture of an early layer stops early), or the graph's own when
        `outputs` is empty."""
        key = (outputs, tuple(n.name for n in extra_nodes))
        with self._lock:
            if key in self._sessions:
                return self._sessions[key]
            onnx, ort = need_onnx("running ONNX", runtime=True)
            g = self.proto.graph
            own_outputs, own_nodes = list(g.output), list(g.node)
            try:
                if outputs:
                    nodes = _needed(own_nodes + list(extra_nodes), outputs)
                    del g.node[:]
                    g.node.extend(nodes)
                    del g.output[:]
                    g.output.extend(onnx.helper.make_tensor_value_info(
                        name, self.value_types.get(name, onnx.TensorProto.FLOAT), None) for name in outputs)
                data = self.proto.SerializeToString()
            finally:
                del g.output[:]
                g.output.extend(own_outputs)
                del g.node[:]
                g.node.extend(own_nodes)
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            try:
                sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
            except Exception as exc:
                raise ModelError(f"onnxruntime cannot run {self.name}: {str(exc).splitlines()[0][:200]}") from None
            if len(self._sessions) >= 2:
                self._sessions.pop(next(iter(self._sessions)))
            self._sessions[key] = sess
            return sess

    def run_values(self, x, names) -> dict:
        """{value name: array} of any values of the graph (inputs of nodes, outputs) on input x."""
        sess = self._session(tuple(names), ())
        x = self._resolve_input(x, 2, 0)
        got = sess.run(list(names), {self._input_name(): x.astype(self.input_dtype)})
        return dict(zip(names, got))

    def _stat_nodes(self, layer) -> tuple:
        """Nodes computing a BatchNormalization input's per-channel mean and biased variance inside the graph."""
        onnx = self.graph.onnx
        rank = layer.rank
        axes = [a for a in range(rank) if a != 1]
        x, tag = layer.input_name, f"__stats_{layer.index}"
        opset = opset_of(self.proto)
        helper = onnx.helper
        nodes = []

        def reduce(inp, out, keep):
            if opset >= 18:
                return [helper.make_node("ReduceMean", [inp, f"{tag}_axes"], [out], keepdims=keep)]
            return [helper.make_node("ReduceMean", [inp], [out], axes=axes, keepdims=keep)]

        if opset >= 18:
            nodes.append(helper.make_node("Constant", [], [f"{tag}_axes"], value=helper.make_tensor(
                f"{tag}_axes_t", onnx.TensorProto.INT64, [len(axes)], axes)))
        nodes += [helper.make_node("Cast", [x], [f"{tag}_x"], to=onnx.TensorProto.DOUBLE)]
        nodes += reduce(f"{tag}_x", f"{tag}_mk", 1)
        nodes += [helper.make_node("Sub", [f"{tag}_x", f"{tag}_mk"], [f"{tag}_d"]),
                  helper.make_node("Mul", [f"{tag}_d", f"{tag}_d"], [f"{tag}_d2"])]
        nodes += reduce(f"{tag}_d2", f"{tag}_var", 0)
        nodes += reduce(f"{tag}_x", f"{tag}_mean", 0)
        for n in nodes:
            n.name = f"{tag}_{n.output[0]}"
        self.value_types[f"{tag}_mean"] = self.value_types[f"{tag}_var"] = onnx.TensorProto.DOUBLE
        return tuple(nodes), (f"{tag}_mean", f"{tag}_var")

    def _capture(self, x, names, *, budget, keep, statistics, progress, cancelled) -> Capture:
        by_name = {layer.name: layer for layer in self.layers}
        want_in = [n for n in names if keep in ("input", "both")]
        want_out = [n for n in names if keep in ("output", "both")]
        outputs = [by_name[n].input_name for n in want_in] + [by_name[n].output_name for n in want_out]
        extra, stat_names = (), {}
        if statistics:
            for layer in self.layers:
                if layer.family == "batch" and layer.has_running_stats and not layer.training_mode and layer.rank_hint:
                    nodes, outs = self._stat_nodes(layer)
                    extra += nodes
                    stat_names[layer.name] = outs
        outputs += [o for pair in stat_names.values() for o in pair]
        outputs = tuple(dict.fromkeys(outputs))
        n = x.shape[0]
        per_sample = 0
        for name in want_in:
            per_sample += _bytes_per_sample(self, by_name[name], by_name[name].input_name)
        for name in want_out:
            per_sample += _bytes_per_sample(self, by_name[name], by_name[name].output_name)
        if per_sample * n > budget:
            raise over_budget(names[-1], per_sample * n, budget)
        sess = self._session(outputs, extra)
        free_batch = self.input_shape is None or self.input_shape[0] is None
        chunks = [(i, min(n, i + CHUNK)) for i in range(0, n, CHUNK)] if free_batch else [(0, n)]
        loop = Loop(len(chunks), progress, cancelled)
        loop.check()
        got_parts = []
        input_name = self._input_name()
        for lo, hi in chunks:
            try:
                got = sess.run(list(outputs), {input_name: x[lo:hi].astype(self.input_dtype)})
            except Exception as exc:
                raise ModelError(f"onnxruntime failed on an input of shape {x[lo:hi].shape}: "
                                 f"{str(exc).splitlines()[0][:200]}") from None
            got_parts.append((hi - lo, dict(zip(outputs, got))))
            loop.tick()
        cap = Capture()
        used = 0
        for store, wanted, attr in ((cap, want_in, "input_name"), (cap.outputs, want_out, "output_name")):
            for name in wanted:
                value = getattr(by_name[name], attr)
                arr = np.concatenate([part[value] for _, part in got_parts]).astype(np.float32, copy=False)
                used += arr.nbytes
                if used > budget:
                    raise over_budget(name, used, budget)
                store[name] = arr
                if attr == "input_name":
                    cap.shapes[name] = tuple(arr.shape)
        for name, (mean_name, var_name) in stat_names.items():
            layer = by_name[name]
            mean, var, count = _combine([(k, p[mean_name], p[var_name]) for k, p in got_parts], layer, x.shape[0])
            cap.statistics[name] = GapStats(batch_mean=mean, batch_var=var,
                                            running_mean=layer.running_mean.astype(np.float64),
                                            running_var=layer.running_var.astype(np.float64), eps=float(layer.eps),
                                            count=count)
        return cap

    # -- folding ------------------------------------------------------------------------------------

    def fold_batchnorm(self, x=None, *, batch: int = 2, seed: int = 0, dtypes=("float32", "float16", "bfloat16")):
        onnx = self.graph.onnx
        g = self.graph
        arr = self._resolve_input(x, batch, seed)
        rows, pairs = [], {}
        for layer in self.layers:
            reason = _not_foldable_reason(layer)
            if layer.family == "batch" and not reason:
                bn = g.producer[layer.output_name]
                conv = g.producer.get(bn.input[0])
                reason = _onnx_fold_problem(g, bn, conv, layer)
                if not reason:
                    pairs[layer.name] = (conv, bn)
                    rows.append(FoldRow(layer.name, layer.kind, into=conv.name or conv.output[0], foldable=True))
                    continue
            rows.append(FoldRow(layer.name, layer.kind, foldable=False, reason=reason))
        folded = onnx.ModelProto()
        folded.CopyFrom(self.proto)
        by_output = {n.output[0]: n for n in folded.graph.node if n.output}
        inits = {t.name: t for t in folded.graph.initializer}
        for name, (conv, bn) in pairs.items():
            layer = self.layer(name)
            fconv, fbn = by_output[conv.output[0]], by_output[bn.output[0]]
            w = g.const(conv.input[1]).astype(np.float64)
            w2, b2 = fold_arrays(w, _bias_of(g, conv), layer, out_axis=_out_axis(conv))
            wname, bname = f"{conv.input[1]}__folded_{layer.index}", f"{conv.output[0]}__folded_bias_{layer.index}"
            dtype = inits[conv.input[1]].data_type if conv.input[1] in inits else onnx.TensorProto.FLOAT
            np_dtype = onnx.helper.tensor_dtype_to_np_dtype(dtype)
            folded.graph.initializer.extend([onnx.numpy_helper.from_array(w2.astype(np_dtype), wname),
                                             onnx.numpy_helper.from_array(b2.astype(np_dtype), bname)])
            new_inputs = [fconv.input[0], wname, bname]
            del fconv.input[:]
            fconv.input.extend(new_inputs)
            fconv.output[0] = fbn.output[0]
            folded.graph.node.remove(fbn)
        used = {i for n in folded.graph.node for i in n.input}
        keep = [t for t in folded.graph.initializer if t.name in used]
        del folded.graph.initializer[:]
        folded.graph.initializer.extend(keep)
        output_diff, notes = {}, []
        _, ort = need_onnx("running ONNX", runtime=True)
        try:
            feed = {self._input_name(): arr.astype(self.input_dtype)}
            a = self._session((), ()).run(None, feed)[0]
            sess = ort.InferenceSession(folded.SerializeToString(), providers=["CPUExecutionProvider"])
            b = sess.run(None, feed)[0]
            output_diff["float32"] = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
        except Exception as exc:
            notes.append(f"the folded graph did not run: {str(exc).splitlines()[0][:160]}")
        notes.append("onnxruntime runs the graph in the dtype it is stored in, so the whole-model difference is "
                     "float32 only; per-layer differences in float16 and bfloat16 come from torch on each "
                     "convolution's real input")
        if pairs:
            _onnx_pair_diffs(self, arr, pairs, rows, dtypes, notes)
        return FoldReport(rows=rows, output_diff=output_diff, reference_diff={"float32": 0.0}, notes=notes,
                          folded=folded)


def _needed(nodes, outputs) -> list:
    """The nodes `outputs` depend on, in graph order (onnxruntime would run every node otherwise). A graph
    with control flow (If, Loop, Scan: subgraphs may read any value) is kept whole."""
    if any(a.type in (5, 10) for n in nodes for a in n.attribute):  # GRAPH, GRAPHS
        return nodes
    producer = {o: i for i, n in enumerate(nodes) for o in n.output}
    keep, todo = set(), [producer[o] for o in outputs if o in producer]
    while todo:
        i = todo.pop()
        if i in keep:
            continue
        keep.add(i)
        todo.extend(producer[v] for v in nodes[i].input if v in producer)
    return [n for i, n in enumerate(nodes) if i in keep]


def _out_axis(node) -> int:
    if node.op_type == "Gemm":
        return 0 if _attrs(node).get("transB", 0) else 1
    return 0


def fold_arrays(w, b, layer, out_axis=0) -> tuple:
    """Weights and bias of a conv/linear with BatchNorm `layer` folded in (float64):
    scale = γ / √(running_var + eps); W' = W·scale along the output axis; b' = (b − running_mean)·scale + β."""
    c = layer.running_var.shape[0]
    gamma = np.ones(c) if layer.weight is None else layer.weight.astype(np.float64)
    beta = np.zeros(c) if layer.bias is None else layer.bias.astype(np.float64)
    scale = gamma / np.sqrt(layer.running_var.astype(np.float64) + layer.eps)
    shape = [1] * w.ndim
    shape[out_axis] = c
    b = np.zeros(c) if b is None else b
    return w * scale.reshape(shape), (b - layer.running_mean.astype(np.float64)) * scale + beta


def _bias_of(g, conv):
    """A Conv/Gemm's bias as float64, None when it has none (or a constant 0 the exporter expanded), False when
    it is computed."""
    if len(conv.input) < 3 or not conv.input[2]:
        return None
    b = g.const(conv.input[2])
    if b is not None:
        return np.asarray(b, np.float64)
    fill = _fill_value(g, conv.input[2])
    if fill is None:
        return False
    return None if fill == 0 else np.full(g.const(conv.input[1]).shape[_out_axis(conv)], fill)


def _onnx_fold_problem(g, bn, conv, layer) -> str:
    if conv is None:
        return "its input is the graph's input or a stored tensor, not a convolution's output"
    if conv.op_type not in ("Conv", "Gemm"):
        return f"its input comes from a {conv.op_type} node ({conv.name or conv.output[0]}), not from a Conv or Gemm"
    if g.single_consumer(conv.output[0]) is not bn:
        return f"the output of {conv.name or conv.output[0]} is also used elsewhere: folding would change that use"
    if g.const(conv.input[1]) is None or _bias_of(g, conv) is False:
        return f"the weights of {conv.name or conv.output[0]} are computed in the graph, not stored"
    a = _attrs(conv)
    if conv.op_type == "Gemm" and (a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0)):
        return "a Gemm with alpha, beta or transA set is not folded here"
    w = g.const(conv.input[1])
    if w.shape[_out_axis(conv)] != (layer.channels or -1):
        return "the convolution's output channels do not match the BatchNormalization's"
    return ""


def _onnx_pair_diffs(model, arr, pairs, rows, dtypes, notes):
    """Per folded pair: largest |Conv then BatchNormalization − folded Conv| on the Conv's real input, per dtype,
    computed with torch (onnxruntime has no float16/bfloat16 kernels for every op)."""
    try:
        import torch
    except ImportError:
        notes.append("per-layer differences need torch, which is not installed")
        return
    conv_inputs = model.run_values(arr, tuple(dict.fromkeys(conv.input[0] for conv, _ in pairs.values())))
    g = model.graph
    by_name = {r.name: r for r in rows}
    for name, (conv, _) in pairs.items():
        layer = model.layer(name)
        w = g.const(conv.input[1]).astype(np.float64)
        b = _bias_of(g, conv)
        w2, b2 = fold_arrays(w, b, layer, _out_axis(conv))
        x = torch.from_numpy(np.asarray(conv_inputs[conv.input[0]], dtype=np.float32))
        for d in dtypes:
            dt = getattr(torch, d)
            try:
                y = _torch_op(torch, conv, x.to(dt), torch.from_numpy(w).to(dt),
                              None if b is None else torch.from_numpy(b).to(dt))
                rm, rv = (torch.tensor(v.astype(np.float32)).to(dt) for v in (layer.running_mean,
                                                                                  layer.running_var))
                gamma = None if layer.weight is None else torch.tensor(layer.weight).to(dt)
                beta = None if layer.bias is None else torch.tensor(layer.bias).to(dt)
                ref = torch.nn.functional.batch_norm(y, rm, rv, gamma, beta, False, 0.0, layer.eps)
                got = _torch_op(torch, conv, x.to(dt), torch.from_numpy(w2).to(dt), torch.from_numpy(b2).to(dt))
                by_name[name].diffs[d] = float((ref.float() - got.float()).abs().max())
            except Exception as exc:  # an op or dtype torch lacks here
                notes.append(f"{name}: no {d} difference ({type(exc).__name__})")


def _torch_op(torch, node, x, w, b):
    F = torch.nn.functional
    a = _attrs(node)
    if node.op_type == "Gemm":
        w = w if a.get("transB", 0) else w.t()
        return F.linear(x, w, b)
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ValueError("auto_pad")
    nd = w.dim() - 2
    pads = list(a.get("pads", [0] * (2 * nd)))
    begin, end = pads[:nd], pads[nd:]
    if begin != end:
        pad = []
        for lo, hi in zip(reversed(begin), reversed(end)):
            pad += [lo, hi]
        x, begin = F.pad(x, pad), [0] * nd
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    return conv(x, w, b, stride=a.get("strides", [1] * nd), padding=begin, dilation=a.get("dilations", [1] * nd),
                groups=a.get("group", 1))


def _combine(parts, layer, n) -> tuple:
    """Per-channel mean and biased variance over several runs' (count, mean, var)."""
    per_sample = None
    total = sum(k for k, _, _ in parts)
    mean = sum(k * np.asarray(m, np.float64) for k, m, _ in parts) / total
    var = sum(k * (np.asarray(v, np.float64) + (np.asarray(m, np.float64) - mean) ** 2) for k, m, v in parts) / total
    shape = layer.input_shape
    if shape is not None:
        per_sample = int(np.prod(shape[2:], dtype=np.int64)) if len(shape) > 2 else 1
    return mean, var, n * (per_sample or 1)


def _bytes_per_sample(model, layer, value) -> int:
    shape = layer.input_shape
    if shape is None or any(s is None for s in shape[1:]):
        return 0
    return int(np.prod(shape[1:], dtype=np.int64)) * 4


def opset_of(proto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 1)


def _np_dtype_name(onnx, elem_type) -> str:
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name
    except (KeyError, TypeError, ValueError):
        return "float32"


def _infer_shapes(onnx, proto) -> tuple:
    """({value: shape with None for free axes}, {value: elem type}) from onnx's shape inference, run on
    the graph with large stored tensors set aside (their dims are enough)."""
    big = [(t, t.raw_data) for t in proto.graph.initializer if len(t.raw_data) > 4096]
    try:
        for t, _ in big:
            t.ClearField("raw_data")
        try:
            inferred = onnx.shape_inference.infer_shapes(proto, check_type=False, strict_mode=False)
        except Exception:  # inference is a help, not a requirement
            inferred = proto
    finally:
        for t, raw in big:
            t.raw_data = raw
    shapes, types = {}, {}
    g = inferred.graph
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        tt = vi.type.tensor_type
        if not tt.elem_type:
            continue
        types[vi.name] = tt.elem_type
        if tt.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                                    for d in tt.shape.dim)
    for t in proto.graph.initializer:
        shapes[t.name], types[t.name] = tuple(int(d) for d in t.dims), t.data_type
    for node in proto.graph.node:  # where inference stopped (function operators), shape-keeping ops keep shapes
        if node.op_type in SAME_SHAPE and node.input and node.output and node.output[0] not in shapes and \
                node.input[0] in shapes:
            shapes[node.output[0]] = shapes[node.input[0]]
            types.setdefault(node.output[0], types.get(node.input[0], onnx.TensorProto.FLOAT))
    return shapes, types


# -- recognising normalization layers ----------------------------------------------------------------

def find_layers(g: Graph, shapes: dict, opset: int) -> tuple:
    layers, notes, claimed = [], [], set()
    for node in g.nodes:
        if id(node) in claimed:
            continue
        try:
            found = _match(g, node, shapes, opset)
        except _Skip as skip:
            notes.append(str(skip))
            continue
        if found is None:
            continue
        layer, nodes = found
        claimed.update(id(n) for n in nodes)
        layer.nodes = tuple(n.name or n.output[0] for n in nodes)
        layer.source = "onnx"
        shape = shapes.get(layer.input_name)
        if shape is not None:
            layer.rank_hint = len(shape)
            if all(s is not None for s in shape):
                layer.input_shape = shape
        layer.name = _layer_name(g, nodes, node)
        layers.append(layer)
    names = {}
    for layer in layers:  # node names may repeat or be empty: make them unique
        count = names.get(layer.name, 0)
        names[layer.name] = count + 1
        if count:
            layer.name = f"{layer.name}#{count + 1}"
    return layers, notes


PARAM_SUFFIXES = (".weight", ".bias", ".running_mean", ".running_var", ".scale")


def _layer_name(g, nodes, node) -> str:
    """The module path when the exporter kept it (initializer 'bn1.weight' -> 'bn1', legacy node '/gn/Reshape' ->
    'gn', the dynamo exporter's name_scopes metadata), else the node's name."""
    for n in nodes:
        scopes = next((p.value for p in n.metadata_props if p.key == "pkg.torch.onnx.name_scopes"), "")
        if scopes:
            try:  # cumulative module paths: ['', 'layer1', 'layer1.0', 'layer1.0.bn1', 'op']
                parts = [str(p) for p in ast.literal_eval(scopes)[:-1] if p]
            except (ValueError, SyntaxError):
                parts = []
            if parts:
                return parts[-1]
    for n in nodes:
        for inp in n.input:
            src = inp
            tile = g.producer_op(inp, "Tile")
            if tile is not None:
                src = tile.input[0]
            if src in g.init:
                for suffix in PARAM_SUFFIXES:
                    if src.endswith(suffix) and len(src) > len(suffix) and "::" not in src:
                        return src[: -len(suffix)]
    for n in nodes:
        if n.name.startswith("/") and n.name.count("/") >= 2:
            return ".".join(p for p in n.name.split("/")[1:-1] if p)
    return node.name or node.output[0]


class _Skip(Exception):
    """A normalization node that cannot be listed; str() says why (a model note)."""


def _floats(v) -> np.ndarray | None:
    return None if v is None else np.array(v, dtype=np.float32)  # a writable copy


def _match(g, node, shapes, opset):
    op, a = node.op_type, _attrs(node)
    name = node.name or node.output[0]
    if op == "BatchNormalization":
        return _match_bn(g, node, a, name)
    if op == "InstanceNormalization":
        return _match_instance(g, node, a, name)
    if op == "GroupNormalization":
        scale, bias = _floats(g.const(node.input[1])), _floats(g.const(node.input[2]))
        groups = int(a["num_groups"])
        layer = NormLayer(name=name, family="group", kind="GroupNormalization", eps=float(a.get("epsilon", 1e-5)),
                          groups=groups, weight=scale, bias=bias, input_name=node.input[0],
                          output_name=node.output[0])
        shape = shapes.get(node.input[0])
        if opset < 21 and scale is not None and scale.size == groups:
            channels = shape[1] if shape and shape[1] else None
            if channels is None:
                raise _Skip(f"{name}: GroupNormalization-18 with per-group scale and an unknown channel count: not "
                            f"listed")
            layer.weight = np.repeat(scale, channels // groups)
            layer.bias = np.repeat(bias, channels // groups)
            layer.notes.append("opset 18 GroupNormalization: its per-group scale and bias repeated per channel")
        return layer, [node]
    if op in ("LayerNormalization", "RMSNormalization"):
        axis = int(a.get("axis", -1))
        rank = len(shapes[node.input[0]]) if node.input[0] in shapes else None
        if axis < 0:
            k = -axis
        elif rank is not None:
            k = rank - axis
        else:
            raise _Skip(f"{name}: {op} with axis={axis} on an input of unknown rank: not listed")
        bias = _floats(g.const(node.input[2])) if op == "LayerNormalization" and len(node.input) > 2 else None
        fam = "layer" if op == "LayerNormalization" else "rms"
        return NormLayer(name=name, family=fam, kind=op, eps=float(a.get("epsilon", 1e-5)),
                         weight=_floats(g.const(node.input[1])), bias=bias, normalized_ndim=k,
                         input_name=node.input[0], output_name=node.output[0]), [node]
    if op == "LRN":
        size = int(a["size"])
        layer = NormLayer(name=name, family="lrn", kind="LRN", eps=None, input_name=node.input[0],
                          output_name=node.output[0], lrn=dict(size=size, alpha=float(a.get("alpha", 1e-4)),
                                                               beta=float(a.get("beta", 0.75)),
                                                               k=float(a.get("bias", 1.0))))
        if size % 2 == 0:
            layer.lrn_onnx_window = True
            layer.notes.append("an even LRN size: ONNX's window reaches one channel further up than torch's")
        return layer, [node]
    if op == "ReduceMean":
        return _match_reduce(g, node, shapes, opset)
    if op == "Div":
        return _match_lrn_decomposed(g, node)
    return None


def _match_bn(g, node, a, name):
    params = [g.const(i) for i in node.input[1:5]]
    eps, momentum = float(a.get("epsilon", 1e-5)), float(a.get("momentum", 0.9))
    if any(p is None for p in params):
        tiled = [g.producer_op(i, "Tile") for i in node.input[1:5]]
        reshape_in = g.producer_op(node.input[0], "Reshape")
        reshape_out = g.single_consumer(node.output[0])
        if all(tiled) and reshape_in is not None and reshape_out is not None and reshape_out.op_type == "Reshape":
            values = [_floats(g.const(t.input[0])) for t in tiled]
            if values[2] is not None and values[3] is not None:
                for i in (0, 1):  # weight and bias of a non-affine InstanceNorm: ones and zeros, expanded
                    if values[i] is None:
                        fill = _fill_value(g, tiled[i].input[0])
                        values[i] = None if fill is None or fill == (1.0 if i == 0 else 0.0) else \
                            np.full(values[2].shape, fill, np.float32)
                        if fill is None:
                            raise _Skip(f"{name}: BatchNormalization over a reshape with computed parameters: not "
                                        f"listed")
                layer = NormLayer(name=name, family="instance", kind="InstanceNorm with running statistics "
                                  "(BatchNormalization over a reshape)", eps=eps, weight=values[0], bias=values[1],
                                  running_mean=values[2], running_var=values[3], input_name=reshape_in.input[0],
                                  output_name=reshape_out.output[0])
                layer.notes.append("torch's dynamo exporter writes an InstanceNorm with running statistics as a "
                                   "BatchNormalization over a (1, N·C, ...) reshape with tiled parameters")
                return layer, [reshape_in, *tiled, node, reshape_out]
        raise _Skip(f"{name}: BatchNormalization with parameters computed in the graph: not listed")
    scale, bias, mean, var = (_floats(p) for p in params)
    layer = NormLayer(name=name, family="batch", kind="BatchNormalization", eps=eps, momentum=momentum,
                      momentum_convention="keras", weight=scale, bias=bias, running_mean=mean, running_var=var,
                      training_mode=bool(a.get("training_mode", 0)), input_name=node.input[0],
                      output_name=node.output[0])
    layer.notes.append("ONNX's momentum follows the Keras convention (new = m·old + (1 − m)·batch): torch's "
                       "momentum=0.1 is stored as 0.9")
    return layer, [node]


def _fill_value(g, name):
    """v when `name` is a scalar constant v expanded to some shape (through Cast/CastLike), else None."""
    for _ in range(4):
        node = g.producer.get(name)
        if node is None:
            return None
        if node.op_type in ("Cast", "CastLike", "Identity"):
            name = node.input[0]
            continue
        if node.op_type == "Expand":
            v = g.const(node.input[0])
            return float(np.asarray(v).reshape(-1)[0]) if v is not None and np.size(v) == 1 else None
        return None
    return None


def _match_instance(g, node, a, name):
    eps = float(a.get("epsilon", 1e-5))
    scale, bias = _floats(g.const(node.input[1])), _floats(g.const(node.input[2]))
    before = g.producer_op(node.input[0], "Reshape")
    after = g.single_consumer(node.output[0])
    if before is not None and after is not None and after.op_type == "Reshape" and scale is not None and \
            np.all(scale == 1) and bias is not None and np.all(bias == 0):
        nodes = [before, node, after]
        out, weight, shift = after.output[0], None, None
        mul = g.single_consumer(out)
        if mul is not None and mul.op_type == "Mul":
            other = mul.input[1] if mul.input[0] == out else mul.input[0]
            weight = _floats(g.const(other))
            if weight is not None:
                nodes.append(mul)
                out = mul.output[0]
                add = g.single_consumer(out)
                if add is not None and add.op_type == "Add":
                    other = add.input[1] if add.input[0] == out else add.input[0]
                    shift = _floats(g.const(other))
                    if shift is not None:
                        nodes.append(add)
                        out = add.output[0]
        layer = NormLayer(name=name, family="group", kind="GroupNorm (Reshape → InstanceNormalization → Reshape)",
                          eps=eps, groups=int(scale.size), weight=None if weight is None else weight.reshape(-1),
                          bias=None if shift is None else shift.reshape(-1), input_name=before.input[0],
                          output_name=out)
        layer.notes.append("the legacy exporter writes GroupNorm as an InstanceNormalization over a (N, G, -1) "
                           "reshape, then the per-channel affine step")
        return layer, nodes
    return NormLayer(name=name, family="instance", kind="InstanceNormalization", eps=eps, weight=scale, bias=bias,
                     input_name=node.input[0], output_name=node.output[0]), [node]


def _scalar(g, a_name, b_name, known):
    """(constant value, the other input) of a binary node whose one input is a scalar constant."""
    for const_name, other in ((a_name, b_name), (b_name, a_name)):
        if other == known or known is None:
            v = g.const(const_name)
            if v is not None and np.size(v) == 1:
                return float(np.asarray(v).reshape(-1)[0]), other
    return None, None


def _reduce_axes(g, node, opset):
    a = _attrs(node)
    if "axes" in a:
        return [int(v) for v in a["axes"]]
    if len(node.input) > 1:
        v = g.const(node.input[1])
        return None if v is None else [int(x) for x in np.asarray(v).reshape(-1)]
    return None


def _trailing(axes, rank) -> int | None:
    """How many trailing axes `axes` are, or None when they are not the trailing ones."""
    if axes is None:
        return None
    if rank is None:
        return len(axes) if sorted(axes) == list(range(-len(axes), 0)) else None
    norm = sorted(x % rank for x in axes)
    return len(norm) if norm == list(range(rank - len(norm), rank)) else None


def _square_of(g, name):
    """x when `name` is x·x or x**2, else None."""
    node = g.producer.get(name)
    if node is None:
        return None
    if node.op_type == "Mul" and node.input[0] == node.input[1]:
        return node.input[0], node
    if node.op_type == "Pow":
        p = g.const(node.input[1])
        if p is not None and np.size(p) == 1 and float(np.asarray(p).reshape(-1)[0]) == 2.0:
            return node.input[0], node
    return None


def _follow_affine(g, out, nodes, channels_last=True):
    """Extend a decomposed normalization through a following Mul by a constant weight and Add of a constant bias."""
    weight = bias = None
    nxt = g.single_consumer(out)
    if nxt is not None and nxt.op_type == "Mul":
        other = nxt.input[1] if nxt.input[0] == out else nxt.input[0]
        w = g.const(other)
        if w is not None and np.size(w) > 1:
            weight, out = _floats(w), nxt.output[0]
            nodes.append(nxt)
            nxt = g.single_consumer(out)
    if nxt is not None and nxt.op_type == "Add":
        other = nxt.input[1] if nxt.input[0] == out else nxt.input[0]
        b = g.const(other)
        if b is not None and np.size(b) > 1:
            bias, out = _floats(b), nxt.output[0]
            nodes.append(nxt)
            nxt = g.single_consumer(out)
    while nxt is not None and nxt.op_type in ("CastLike", "Cast") and nxt.input[0] == out:
        out = nxt.output[0]
        nodes.append(nxt)
        nxt = g.single_consumer(out)
    return weight, bias, out


def _match_reduce(g, node, shapes, opset):
    """RMSNorm (mean of squares) or LayerNorm (mean, then mean of squared deviations), decomposed."""
    sq = _square_of(g, node.input[0])
    if sq is None:
        return None
    x, sq_node = sq
    axes = _reduce_axes(g, node, opset)
    rank = len(shapes[x]) if x in shapes else None
    k = _trailing(axes, rank)
    if k is None:
        return None
    add = g.single_consumer(node.output[0])
    if add is None or add.op_type != "Add":
        return None
    eps, _ = _scalar(g, add.input[0], add.input[1], None)
    sqrt = g.single_consumer(add.output[0])
    if eps is None or sqrt is None or sqrt.op_type != "Sqrt":
        return None
    nodes = [sq_node, node, add, sqrt]
    step = g.single_consumer(sqrt.output[0])
    if step is None:
        return None
    sub = g.producer.get(x)
    centered = sub is not None and sub.op_type == "Sub" and g.producer.get(sub.input[1]) is not None and \
        g.producer[sub.input[1]].op_type == "ReduceMean" and g.producer[sub.input[1]].input[0] == sub.input[0]
    if step.op_type == "Reciprocal":
        mul = g.single_consumer(step.output[0])
        if mul is None or mul.op_type != "Mul" or x not in mul.input:
            return None
        nodes += [step, mul]
        out = mul.output[0]
    elif step.op_type == "Div" and step.input[0] == x and step.input[1] == sqrt.output[0]:
        nodes.append(step)
        out = step.output[0]
    else:
        return None
    weight, bias, out = _follow_affine(g, out, nodes)
    if centered:
        mean_node = g.producer[sub.input[1]]
        x_in = sub.input[0]
        if _trailing(_reduce_axes(g, mean_node, opset), rank) != k:
            return None
        nodes = [mean_node, sub] + nodes
        return NormLayer(name="", family="layer", kind="LayerNorm (decomposed: ReduceMean, Sub, Pow, ReduceMean, "
                         "Add, Sqrt, Div)", eps=eps, weight=weight, bias=bias, normalized_ndim=k, input_name=x_in,
                         output_name=out), nodes
    if bias is not None:
        return None
    return NormLayer(name="", family="rms", kind="RMSNorm (decomposed: Pow, ReduceMean, Add, Sqrt, Reciprocal, Mul)",
                     eps=eps, weight=weight, normalized_ndim=k, input_name=x, output_name=out), nodes


def _match_lrn_decomposed(g, div):
    """x / (k + alpha·avg_pool(x²))**beta, as torch's local_response_norm is exported."""
    x = div.input[0]
    pw = g.producer_op(div.input[1], "Pow")
    if pw is None:
        return None
    beta, base = _scalar(g, pw.input[1], pw.input[0], pw.input[0])
    add = g.producer_op(base, "Add") if base else None
    if beta is None or add is None:
        return None
    k, scaled = _scalar(g, add.input[0], add.input[1], None)
    mul = g.producer_op(scaled, "Mul") if scaled else None
    if k is None or mul is None:
        return None
    alpha, pooled = _scalar(g, mul.input[0], mul.input[1], None)
    if alpha is None:
        return None
    nodes, size, name = [div, pw, add, mul], None, pooled
    for _ in range(12):
        node = g.producer.get(name)
        if node is None:
            return None
        sq = _square_of(g, name)
        if sq is not None:
            if sq[0] != x or size is None:
                return None
            nodes.append(sq[1])
            break
        if node.op_type == "AveragePool":
            size = int(_attrs(node)["kernel_shape"][0])
        elif node.op_type not in PASS_THROUGH:
            return None
        nodes.append(node)
        name = node.input[0]
    else:
        return None
    return NormLayer(name="", family="lrn", kind="LocalResponseNorm (decomposed: Mul, Pad, AveragePool, Mul, Add, Pow, "
                     "Div)", eps=None, lrn=dict(size=size, alpha=alpha, beta=beta, k=k), input_name=x,
                     output_name=div.output[0]), nodes
