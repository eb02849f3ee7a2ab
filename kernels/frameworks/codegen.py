"""Runnable code for one method in one framework, for the current layout, shape and parameters.

Every snippet reads `x` (a float32 NumPy array in the explorer's layout) and leaves `y` (the same
layout); with running statistics it also reads and updates `running_mean` / `running_var`
(NumPy arrays, one per channel). `kernels.frameworks.execute` runs one and returns NumPy arrays;
the tests run every snippet with its framework and compare it with normalize(..., framework=...).
Layers are built with γ = 1, β = 0; a weight or bias is applied after them, as in kernels.code.
"""

from __future__ import annotations

from ..code import code_for
from ..layouts import BATCH, CHANNEL, permutation, spatial_axes
from .semantics import Plan


def _fmt(v) -> str:
    return "None" if v is None else (f"{v:g}" if isinstance(v, float) else repr(v))


def _last(layout) -> str:
    """The channels-last order of the layout's letters (N, spatial..., C)."""
    return BATCH + spatial_axes(layout) + CHANNEL


def _first(layout) -> str:
    return BATCH + CHANNEL + spatial_axes(layout)


def _wrap(head, layout, native, lines, transpose="{x}.transpose({perm})"):
    """head, then lines written for `native` order run on x in `layout` (transposed there and back)."""
    if native == layout:
        return "\n".join(head + [""] + lines)
    to, back = permutation(layout, native), permutation(native, layout)
    return "\n".join(head + ["", f"x = {transpose.format(x='x', perm=to)}  # {layout} -> {native}"] + lines
                     + [f"y = {transpose.format(x='y', perm=back)}  # back to {layout}"])


def _affine(text, fp):
    w, b = fp.get("weight"), fp.get("bias")
    if w is None and b is None:
        return text
    scalars = all(v is None or isinstance(v, (int, float)) for v in (w, b))
    step = (f"y = y * {_fmt(1.0 if w is None else float(w))} + {_fmt(0.0 if b is None else float(b))}"
            "  # the affine step: γ, β" if scalars else "y = y * weight + bias  # your γ, β, broadcastable to y")
    return text + "\n" + step


def _sizes(layout, shape):
    return dict(zip(layout, shape))


def _nonbatch_axes(order):
    return tuple(i for i, a in enumerate(order) if a != BATCH)


# -- Keras 3 --------------------------------------------------------------------------------------

def _keras(method, layout, shape, fp, p: Plan, training, running):
    head = ["import numpy as np", "import keras", "from keras import layers, ops"]
    c = layout.index(CHANNEL)
    all_but_n = list(_nonbatch_axes(layout))
    eps = _fmt(fp.get("eps"))
    if method == "batch":
        lines = [f"bn = layers.BatchNormalization(axis={c}, epsilon={eps}, momentum={_fmt(fp['momentum'])})",
                 "bn.build(x.shape)"]
        if running or not training:
            lines += ["bn.moving_mean.assign(running_mean)", "bn.moving_variance.assign(running_var)"]
        lines += [f"y = bn(x, training={training})"]
        if running and training:
            lines += ["running_mean = ops.convert_to_numpy(bn.moving_mean)",
                      "running_var = ops.convert_to_numpy(bn.moving_variance)  # biased"]
    elif method in ("layer", "channel"):
        axis = all_but_n if method == "layer" else c
        lines = [f"ln = layers.LayerNormalization(axis={axis}, epsilon={eps})", "y = ln(x)"]
    elif method in ("instance", "group"):
        groups = -1 if method == "instance" else fp["groups"]
        lines = [f"gn = layers.GroupNormalization(groups={groups}, axis={c}, epsilon={eps})", "y = gn(x)"]
    elif method == "rms":
        lines = [f"rms = layers.RMSNormalization(axis={all_but_n}, epsilon={eps})", "y = rms(x)"]
    elif method == "pixel":  # RMSNormalization(axis=C) fails to broadcast its scale unless C is last
        lines = [f"rms = layers.RMSNormalization(axis=-1, epsilon={eps})", "y = rms(x)"]
        return _wrap(head, layout, _last(layout), lines, "ops.transpose({x}, {perm})")
    else:  # custom
        lines = _ops_custom(layout, shape, p.params, "ops", "ops.moments(g, axes={dims}, keepdims=True)",
                            "ops.reshape", "ops.sqrt", "ops.mean(ops.square(g), axis={dims}, keepdims=True)")
    return _wrap(head, layout, layout, lines)


def _ops_custom(layout, shape, kp, ns, moments, reshape, sqrt, meansq):
    """Custom axes with a framework's array ops (C split into groups by a reshape)."""
    c, groups = layout.index(CHANNEL), kp["groups"]
    dims = [i for i, a in enumerate(layout) if a in kp["axes"]]
    eps = _fmt(kp["eps"])
    lines = []
    if groups > 1:
        split = list(shape)
        split[c:c + 1] = [groups, shape[c] // groups]
        dims = [d + (d >= c) for d in dims] + ([c + 1] if c in dims else [])
        dims = sorted(set(dims))
        lines.append(f"g = {reshape}(x, {tuple(split)})  # C split into {groups} groups")
    else:
        lines.append("g = x")
    if kp["center"]:
        lines += [f"mean, var = {moments.format(dims=dims)}", f"y = (g - mean) / {sqrt}(var + {eps})"]
    else:
        lines += [f"y = g / {sqrt}({meansq.format(dims=dims)} + {eps})"]
    if groups > 1:
        lines.append(f"y = {reshape}(y, {tuple(shape)})")
    return lines


# -- Flax -----------------------------------------------------------------------------------------

def _flax(method, layout, shape, fp, p: Plan, training, running):
    head = ["import numpy as np", "import jax.numpy as jnp", "from flax import nnx"]
    c = _sizes(layout, shape)[CHANNEL]
    eps = _fmt(fp.get("eps"))
    fast = f", use_fast_variance={fp['use_fast_variance']}" if "use_fast_variance" in fp else ""
    native = _last(layout)
    plain = "use_scale=False, use_bias=False"
    rngs = "rngs=nnx.Rngs(0)"
    if method == "batch":
        lines = [f"bn = nnx.BatchNorm({c}, momentum={_fmt(fp['momentum'])}, epsilon={eps}{fast}, "
                 f"use_running_average={not training}, {rngs})"]
        if running or not training:
            lines += ["bn.mean[...] = jnp.asarray(running_mean)", "bn.var[...] = jnp.asarray(running_var)"]
        lines += ["y = bn(x)"]
        if running and training:
            lines += ["running_mean, running_var = np.asarray(bn.mean[...]), np.asarray(bn.var[...])  # biased"]
    elif method in ("layer", "channel", "rms"):
        axes = _nonbatch_axes(native) if method != "channel" else -1
        cls = "RMSNorm" if method == "rms" else "LayerNorm"
        extra = "use_scale=False" if method == "rms" else plain
        lines = [f"norm = nnx.{cls}({c}, epsilon={eps}{fast}, reduction_axes={axes}, {extra}, {rngs})",
                 "y = norm(x)"]
    elif method == "instance":
        lines = [f"norm = nnx.InstanceNorm({c}, epsilon={eps}{fast}, {plain}, {rngs})", "y = norm(x)"]
    elif method == "group":
        lines = [f"gn = nnx.GroupNorm({c}, num_groups={fp['groups']}, epsilon={eps}{fast}, {plain}, {rngs})",
                 "y = gn(x)"]
    elif method == "pixel":
        lines = [f"norm = nnx.RMSNorm({c}, epsilon={eps}, use_scale=False, {rngs})  # over the last axis (C)",
                 "y = norm(x)"]
    else:  # custom, in the layout itself
        lines = ["x = jnp.asarray(x)"] + _ops_custom(
            layout, shape, p.params, "jnp", "jnp.mean(g, axis={dims}, keepdims=True), "
            "jnp.var(g, axis={dims}, keepdims=True)", "jnp.reshape", "jnp.sqrt",
            "jnp.mean(jnp.square(g), axis={dims}, keepdims=True)")
        return _wrap(head, layout, layout, lines)
    return _wrap(head, layout, native, lines, "jnp.transpose({x}, {perm})")


# -- ONNX -----------------------------------------------------------------------------------------

def _onnx(method, layout, shape, fp, p: Plan, training, running):
    s = _sizes(layout, shape)
    c = s[CHANNEL]
    head = ["import numpy as np", "from onnx import TensorProto, helper"]
    native = _first(layout)
    rest = tuple(s[a] for a in native[2:])
    inputs, feeds, outputs, attrs = ["x"], {}, ["y"], {}
    opset, op, runtime = 17, None, "onnxruntime"
    if "eps" in fp and method != "custom":
        attrs["epsilon"] = fp["eps"]
    if method == "batch":
        op, opset = "BatchNormalization", 15
        inputs += ["scale", "B", "input_mean", "input_var"]
        feeds = {"scale": f"np.ones({c}, np.float32)", "B": f"np.zeros({c}, np.float32)",
                 "input_mean": "np.asarray(running_mean, np.float32)" if running or not training
                 else f"np.zeros({c}, np.float32)",
                 "input_var": "np.asarray(running_var, np.float32)" if running or not training
                 else f"np.ones({c}, np.float32)"}
        attrs["momentum"] = fp["momentum"]
        if training:
            attrs["training_mode"] = 1
            outputs += ["running_mean", "running_var"]
    elif method in ("layer", "rms"):
        op, opset = ("LayerNormalization", 17) if method == "layer" else ("RMSNormalization", 23)
        attrs["axis"] = 1
        inputs += ["scale"]
        feeds = {"scale": f"np.ones({(c,) + rest}, np.float32)"}
    elif method in ("channel", "pixel"):
        native = _last(layout)
        op, opset = ("LayerNormalization", 17) if method == "channel" else ("RMSNormalization", 23)
        attrs["axis"] = -1
        inputs += ["scale"]
        feeds = {"scale": f"np.ones({c}, np.float32)"}
    elif method == "instance":
        op, opset = "InstanceNormalization", 22
        inputs += ["scale", "B"]
        feeds = {"scale": f"np.ones({c}, np.float32)", "B": f"np.zeros({c}, np.float32)"}
    elif method == "group":
        op, opset = "GroupNormalization", fp["opset"]
        n = c if opset >= 21 else fp["groups"]
        attrs["num_groups"] = fp["groups"]
        inputs += ["scale", "bias"]
        feeds = {"scale": f"np.ones({n}, np.float32)", "bias": f"np.zeros({n}, np.float32)"}
        if opset == 18:
            feeds["scale"] += "  # one per group in opset 18 (one per channel from opset 21)"
    elif method == "lrn":
        op, opset = "LRN", 13
        attrs.update(size=fp["size"], alpha=fp["alpha"], beta=fp["beta"], bias=fp["bias"])
        if fp["size"] % 2 == 0:
            runtime = "reference"
    else:  # custom: MeanVarianceNormalization
        op, opset, native = "MeanVarianceNormalization", 13, layout
        attrs["axes"] = [i for i, a in enumerate(layout) if a in p.params["axes"]]
    attr_text = ", ".join(f"{k}={float(v)!r}" if isinstance(v, float) else f"{k}={v!r}" for k, v in attrs.items())
    lines = [f"node = helper.make_node({op!r}, {inputs}, {outputs}" + (f", {attr_text})" if attr_text else ")"),
             "graph = helper.make_graph([node], 'norm', [helper.make_tensor_value_info(name, TensorProto.FLOAT, "
             f"None) for name in {inputs}],",
             "                          [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in "
             f"{outputs}])",
             f"model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', {opset})])",
             "feeds = {'x': np.ascontiguousarray(x, np.float32)"
             + "".join(f", {k!r}: {v.split('  #')[0]}" for k, v in feeds.items()) + "}"]
    lines += [f"# {v.split('  # ')[1]}" for v in feeds.values() if "  # " in v]
    if runtime == "onnxruntime":
        head.append("import onnxruntime as ort")
        lines += ["session = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])",
                  f"{', '.join(outputs)}, = session.run(None, feeds)" if len(outputs) > 1
                  else "y, = session.run(None, feeds)"]
    else:
        head.append("from onnx.reference import ReferenceEvaluator")
        lines += ["# onnxruntime refuses even LRN sizes; onnx.reference's LRN loops over axis 0 instead of C,",
                  "# so it is right only when N == C",
                  "y, = ReferenceEvaluator(model).run(None, feeds)"]
    return _wrap(head, layout, native, lines, "np.transpose({x}, {perm})")


# -- MLX ------------------------------------------------------------------------------------------

def _mlx(method, layout, shape, fp, p: Plan, training, running):
    head = ["import numpy as np", "import mlx.core as mx", "import mlx.nn as nn"]
    c = _sizes(layout, shape)[CHANNEL]
    eps = _fmt(fp.get("eps"))
    native = _last(layout)
    if method == "batch":
        lines = ["x = mx.array(x)", f"bn = nn.BatchNorm({c}, eps={eps}, momentum={_fmt(fp['momentum'])}, "
                 "affine=False)"]
        if running or not training:
            lines += ["bn.running_mean = mx.array(running_mean)", "bn.running_var = mx.array(running_var)"]
        lines += ["bn.train()" if training else "bn.eval()", "y = bn(x)"]
        if running and training:
            lines += ["running_mean, running_var = np.array(bn.running_mean), np.array(bn.running_var)  "
                      "# unbiased, as torch"]
    elif method in ("layer", "rms"):
        cls = "LayerNorm" if method == "layer" else "RMSNorm"
        affine = ", affine=False" if method == "layer" else ""
        lines = ["x = mx.array(x)", "n = x.shape[0]", f"norm = nn.{cls}(x.size // n, eps={eps}{affine})"
                 "  # normalizes the last axis only", "y = norm(x.reshape(n, -1)).reshape(x.shape)"]
    elif method == "channel":
        lines = ["x = mx.array(x)", f"norm = nn.LayerNorm({c}, eps={eps}, affine=False)", "y = norm(x)"]
    elif method == "instance":
        lines = ["x = mx.array(x)", f"norm = nn.InstanceNorm({c}, eps={eps})", "y = norm(x)"]
    elif method == "group":
        lines = ["x = mx.array(x)", f"gn = nn.GroupNorm({fp['groups']}, {c}, eps={eps}, affine=False, "
                 f"pytorch_compatible={fp['pytorch_compatible']})", "y = gn(x)"]
        if not fp["pytorch_compatible"]:
            lines.insert(2, f"# channel c is in group c % {fp['groups']} (torch: c // {c // fp['groups']})")
    elif method == "pixel":
        lines = ["x = mx.array(x)", f"y = mx.fast.rms_norm(x, None, {eps})  # over the last axis (C)"]
    else:  # custom, in the layout itself
        lines = ["x = mx.array(x)"] + _ops_custom(
            layout, shape, p.params, "mx", "mx.mean(g, axis={dims}, keepdims=True), mx.var(g, axis={dims}, "
            "keepdims=True)", "mx.reshape", "mx.sqrt", "mx.mean(mx.square(g), axis={dims}, keepdims=True)")
        return _wrap(head, layout, layout, lines)
    return _wrap(head, layout, native, lines, "{x}.transpose{perm}")


# -- TensorFlow -----------------------------------------------------------------------------------

def _tensorflow(method, layout, shape, fp, p: Plan, training, running):
    head = ["import numpy as np", "import tensorflow as tf"]
    if method == "batch":
        dims = [i for i, a in enumerate(layout) if a != CHANNEL]
        c = layout.index(CHANNEL)
        shape_c = [1] * len(layout)
        shape_c[c] = -1
        if training:
            lines = [f"mean, var = tf.nn.moments(tf.constant(x), axes={dims}, keepdims=True)"]
        else:
            lines = [f"mean = tf.reshape(tf.constant(running_mean, tf.float32), {shape_c})",
                     f"var = tf.reshape(tf.constant(running_var, tf.float32), {shape_c})"]
        lines.append(f"y = tf.nn.batch_normalization(x, mean, var, offset=None, scale=None, "
                     f"variance_epsilon={_fmt(fp['eps'])})")
        return _wrap(head, layout, layout, lines)
    if method == "lrn":
        lines = [f"y = tf.nn.local_response_normalization(x, depth_radius={fp['depth_radius']}, "
                 f"bias={_fmt(fp['bias'])}, alpha={_fmt(fp['alpha'])}, beta={_fmt(fp['beta'])})",
                 "# alpha multiplies the sum of squares over 2·depth_radius + 1 channels"]
        return _wrap(head, layout, _last(layout), lines, "tf.transpose({x}, {perm})")
    if method == "custom":
        kp = p.params
        lines = ["x = tf.constant(x)"] + _ops_custom(
            layout, shape, kp, "tf", "tf.nn.moments(g, axes={dims}, keepdims=True)", "tf.reshape", "tf.sqrt",
            "tf.reduce_mean(tf.square(g), axis={dims}, keepdims=True)")
        return _wrap(head, layout, layout, lines)
    keras = _keras(method, layout, shape, fp, p, training, running)
    return keras.replace("import keras\nfrom keras import layers, ops",
                         "import tensorflow as tf\nlayers, ops = tf.keras.layers, tf.keras.ops  # Keras 3")


GENERATORS = {"keras": _keras, "flax": _flax, "onnx": _onnx, "mlx": _mlx, "tensorflow": _tensorflow}


def generate(method, framework, layout, shape, p: Plan, training=True, running=False) -> str:
    if framework == "torch":
        return code_for(method, layout, shape, p.params, training)["PyTorch"]
    from .semantics import get_offer
    text = GENERATORS[framework](method, layout, tuple(shape), p.framework_params, p, training, running)
    return _affine(text, p.framework_params) if get_offer(method, framework).affine else text
