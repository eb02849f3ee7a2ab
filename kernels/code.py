"""Equivalent code for a registry method: what the explorer shows as "the same in PyTorch /
Keras / scikit-learn", written for the current layout, shape and parameters. Each method's
registry entry names its generator here; `code_for` adds the affine step. The tests execute
the PyTorch snippets and compare their output with `normalize`."""

from __future__ import annotations

from .layouts import BATCH, CHANNEL, canonical_order, permutation, spatial_axes


def _fmt(v) -> str:
    return "None" if v is None else (f"{v:g}" if isinstance(v, float) else repr(v))


def _dims(layout):
    return {0: "1d", 1: "1d", 2: "2d", 3: "3d"}[len(spatial_axes(layout))]


def _torch(layout, snippet_layout, lines) -> str:
    """Code that runs `lines` (written for snippet_layout, input x, output y) on a tensor in `layout`."""
    head = ["import torch", "from torch import nn", ""]
    if snippet_layout == layout:
        return "\n".join(head + lines)
    to = permutation(layout, snippet_layout)
    back = permutation(snippet_layout, layout)
    return "\n".join(head + [f"x = x.permute{to}  # {layout} -> {snippet_layout}"] + lines
                     + [f"y = y.permute{back}  # back to {layout}"])


def _channels_last(layout):
    return BATCH + spatial_axes(layout) + CHANNEL


def _sz(layout, shape):
    return dict(zip(layout, shape))


def _keras(lines) -> str:
    return "\n".join(["import keras", "from keras import layers, ops", ""] + lines)


def _axis(layout, letters):
    pos = [layout.index(a) for a in layout if a in letters]
    return str(pos[0]) if len(pos) == 1 else str(pos)


def _eps_momentum(p):
    return f"eps={_fmt(p['eps'])}, momentum={_fmt(p['momentum'])}"


def _keras_momentum(p):
    m = p["momentum"]
    if m is None:
        return "momentum=0.99  # Keras has no cumulative average (torch momentum=None)"
    return f"momentum={_fmt(m if p['momentum_convention'] == 'keras' else round(1 - m, 10))}"


def code_batch(layout, shape, p, training=True):
    c = _sz(layout, shape)[CHANNEL]
    mode = ("bn.train()  # batch statistics (and running averages updated); bn.eval() uses the running ones"
            if training else "bn.eval()  # running_mean / running_var (after training), not the batch's statistics")
    torch = _torch(layout, canonical_order(layout), [
        f"bn = nn.BatchNorm{_dims(layout)}({c}, {_eps_momentum(p)})", mode, "y = bn(x)"])
    keras = _keras([
        f"bn = layers.BatchNormalization(axis={layout.index(CHANNEL)}, epsilon={_fmt(p['eps'])}, "
        f"{_keras_momentum(p)})",
        f"y = bn(x, training={training})  # training=False uses moving_mean / moving_variance",
        "# Keras' momentum is torch's 1 − momentum, and its moving_variance uses the biased variance"])
    return {"PyTorch": torch, "Keras": keras}


def code_ghost(layout, shape, p, training=True):
    code = code_batch(layout, shape, p, training)
    if not training:  # eval: virtual batches play no part, it is BatchNorm with running statistics
        return code
    vb = p["virtual_batch"]
    code["PyTorch"] = code["PyTorch"].replace("y = bn(x)", f"y = torch.cat([bn(chunk) for chunk in x.split({vb})])")
    code["Keras"] = _keras([
        "# Keras 3 dropped virtual batches; tf.keras 2.x had them:",
        f"bn = tf.keras.layers.BatchNormalization(axis={layout.index(CHANNEL)}, virtual_batch_size={vb}, "
        f"epsilon={_fmt(p['eps'])})",
        "y = bn(x, training=True)"])
    return code


def code_renorm(layout, shape, p, training=True):
    if not training:  # in eval Batch Renormalization is BatchNorm with the running statistics
        return code_batch(layout, shape, p, training)
    rmax, dmax = p["rmax"], p["dmax"]
    torch = _torch(layout, canonical_order(layout), [
        "# no built-in in torch; one training step of Batch Renormalization:",
        f"dims = {[i for i, a in enumerate(canonical_order(layout)) if a != CHANNEL]}",
        "shape = [1, -1] + [1] * (x.dim() - 2)",
        "var_b, mu_b = torch.var_mean(x, dim=dims, unbiased=False, keepdim=True)",
        f"sigma_b = (var_b + {_fmt(p['eps'])}).sqrt()",
        f"sigma = (running_var + {_fmt(p['eps'])}).sqrt().view(shape)",
        f"r = (sigma_b / sigma).clamp(1 / {_fmt(rmax)}, {_fmt(rmax)}).detach()",
        f"d = ((mu_b - running_mean.view(shape)) / sigma).clamp(-{_fmt(dmax)}, {_fmt(dmax)}).detach()",
        "y = (x - mu_b) / sigma_b * r + d"])
    keras = _keras([
        "# Keras 3 dropped renorm; tf.keras 2.x had it:",
        f"bn = tf.keras.layers.BatchNormalization(axis={layout.index(CHANNEL)}, renorm=True, "
        f"renorm_clipping={{'rmax': {_fmt(rmax)}, 'rmin': {_fmt(1 / rmax)}, 'dmax': {_fmt(dmax)}}})",
        "y = bn(x, training=True)"])
    return {"PyTorch": torch, "Keras": keras}


def code_layer(layout, shape, p, training=True):
    s = _sz(layout, shape)
    dims = [s[a] for a in canonical_order(layout)[1:]]
    torch = _torch(layout, canonical_order(layout), [f"ln = nn.LayerNorm({dims}, eps={_fmt(p['eps'])})", "y = ln(x)"])
    keras = _keras([f"ln = layers.LayerNormalization(axis={_axis(layout, layout.replace(BATCH, ''))}, "
                    f"epsilon={_fmt(p['eps'])})", "y = ln(x)"])
    return {"PyTorch": torch, "Keras": keras}


def code_channel(layout, shape, p, training=True):
    c = _sz(layout, shape)[CHANNEL]
    torch = _torch(layout, _channels_last(layout), [f"ln = nn.LayerNorm({c}, eps={_fmt(p['eps'])})  "
                                                    "# over the last axis only", "y = ln(x)"])
    keras = _keras([f"ln = layers.LayerNormalization(axis={layout.index(CHANNEL)}, epsilon={_fmt(p['eps'])})",
                    "y = ln(x)"])
    return {"PyTorch": torch, "Keras": keras}


def code_instance(layout, shape, p, training=True):
    c = _sz(layout, shape)[CHANNEL]
    torch = _torch(layout, canonical_order(layout), [
        f"norm = nn.InstanceNorm{_dims(layout)}({c}, eps={_fmt(p['eps'])})  # affine=False, no running stats",
        "y = norm(x)"])
    keras = _keras([f"norm = layers.GroupNormalization(groups={c}, axis={layout.index(CHANNEL)}, "
                    f"epsilon={_fmt(p['eps'])})  # one channel per group = InstanceNorm", "y = norm(x)"])
    return {"PyTorch": torch, "Keras": keras}


def code_group(layout, shape, p, training=True):
    c = _sz(layout, shape)[CHANNEL]
    torch = _torch(layout, canonical_order(layout), [
        f"gn = nn.GroupNorm({p['groups']}, {c}, eps={_fmt(p['eps'])})", "y = gn(x)"])
    keras = _keras([f"gn = layers.GroupNormalization(groups={p['groups']}, axis={layout.index(CHANNEL)}, "
                    f"epsilon={_fmt(p['eps'])})", "y = gn(x)"])
    return {"PyTorch": torch, "Keras": keras}


def _nc_tensor(value, layout, shape) -> str:
    """Code for a number, a per-channel (C,) or per-(sample, channel) (N, C) value, shaped to
    broadcast against x in the canonical (N, C, *spatial) order."""
    import numpy as np
    a = np.asarray(value, dtype=np.float64)
    if a.ndim == 0:
        return _fmt(float(a))
    rest = ", 1" * len(spatial_axes(layout))
    view = f"(1, -1{rest})" if a.ndim == 1 else f"({a.shape[0]}, {a.shape[1]}{rest})"
    return f"torch.tensor({np.round(a, 6).tolist()}).view{view}"


def code_adain(layout, shape, p, training=True):
    eps = _fmt(p["eps"])
    torch = _torch(layout, canonical_order(layout), [
        "# AdaIN: InstanceNorm, then the style's σ_s and μ_s; from a style tensor s (same layout):",
        f"#   var_s, mean_s = torch.var_mean(s, dim={list(range(2, 2 + len(spatial_axes(layout))))}, "
        f"unbiased=False, keepdim=True); std_s = (var_s + {eps}).sqrt()",
        f"std_s, mean_s = {_nc_tensor(p['style_std'], layout, shape)}, {_nc_tensor(p['style_mean'], layout, shape)}",
        f"y = nn.functional.instance_norm(x, eps={eps}) * std_s + mean_s"])
    return {"PyTorch": torch}


def code_conditional_batch(layout, shape, p, training=True):
    from .methods import conditional_tables  # the defaults live with the method
    s = _sz(layout, shape)
    labels, gamma, beta = conditional_tables(p, s[BATCH], s[CHANNEL])
    rest = ", 1" * len(spatial_axes(layout))
    mode = "bn.train()" if training else "bn.eval()  # running statistics"
    torch = _torch(layout, canonical_order(layout), [
        f"bn = nn.BatchNorm{_dims(layout)}({s[CHANNEL]}, affine=False, {_eps_momentum(p)})", mode,
        f"gamma = nn.Embedding({gamma.shape[0]}, {s[CHANNEL]}).requires_grad_(False)  # γ per class",
        f"beta = nn.Embedding({beta.shape[0]}, {s[CHANNEL]}).requires_grad_(False)  # β per class",
        f"gamma.weight[:] = torch.tensor({gamma.tolist()})",
        f"beta.weight[:] = torch.tensor({beta.tolist()})",
        f"labels = torch.tensor({labels.tolist()})  # each sample's class",
        f"y = bn(x) * gamma(labels).view(-1, {s[CHANNEL]}{rest}) + beta(labels).view(-1, {s[CHANNEL]}{rest})"])
    return {"PyTorch": torch}


def code_sample_group(layout, shape, p, training=True):
    s = _sz(layout, shape)
    chunk = s[BATCH] // p["sample_groups"]
    torch = _torch(layout, canonical_order(layout), [
        f"# {p['sample_groups']} groups of {chunk} samples, BatchNorm statistics within each (no running ones):",
        f"y = torch.cat([nn.functional.batch_norm(part, None, None, training=True, eps={_fmt(p['eps'])})",
        f"               for part in x.split({chunk})])"])
    return {"PyTorch": torch}


def code_rms(layout, shape, p, training=True):
    s = _sz(layout, shape)
    dims = [s[a] for a in canonical_order(layout)[1:]]
    note = "  # eps=None: torch.finfo(x.dtype).eps" if p["eps"] is None else ""
    torch = _torch(layout, canonical_order(layout),
                   [f"rms = nn.RMSNorm({dims}, eps={_fmt(p['eps'])}){note}", "y = rms(x)"])
    eps = "" if p["eps"] is None else f", epsilon={_fmt(p['eps'])}"
    keras = _keras([f"rms = layers.RMSNormalization(axis={_axis(layout, layout.replace(BATCH, ''))}{eps})"
                    "  # Keras >= 3.9", "y = rms(x)"])
    return {"PyTorch": torch, "Keras": keras}


def code_pixel(layout, shape, p, training=True):
    c = layout.index(CHANNEL)
    torch = _torch(layout, layout, [f"y = x * torch.rsqrt(x.pow(2).mean(dim={c}, keepdim=True) + {_fmt(p['eps'])})"])
    keras = _keras([f"y = x * ops.rsqrt(ops.mean(ops.square(x), axis={c}, keepdims=True) + {_fmt(p['eps'])})"])
    return {"PyTorch": torch, "Keras": keras}


def code_lrn(layout, shape, p, training=True):
    size = p["size"]
    torch = _torch(layout, canonical_order(layout), [
        f"lrn = nn.LocalResponseNorm({size}, alpha={_fmt(p['alpha'])}, beta={_fmt(p['beta'])}, k={_fmt(p['k'])})",
        "y = lrn(x)"])
    note = ("" if size % 2 else f"# torch's even window ({size}) is asymmetric; TensorFlow's is 2·radius+1 wide, "
                                f"so this differs slightly\n")
    keras = _torch(layout, _channels_last(layout), []).replace("import torch\nfrom torch import nn\n\n", "")
    keras = "\n".join(filter(None, [
        "import tensorflow as tf", "", keras,
        note + f"y = tf.nn.local_response_normalization(x, depth_radius={size // 2}, bias={_fmt(p['k'])}, "
               f"alpha={_fmt(p['alpha'] / size)}, beta={_fmt(p['beta'])})",
        "# TensorFlow's alpha multiplies the sum of squares; torch's alpha multiplies their mean (alpha/size)"]))
    return {"PyTorch": torch, "TensorFlow": keras.replace(".permute", ".transpose")}


def code_frn(layout, shape, p, training=True):
    dims = [i for i, a in enumerate(layout) if a in spatial_axes(layout)]
    tail = [f"y = torch.maximum(y, torch.tensor({_fmt(p['tau'])}))  # TLU (tau is learned in the paper)"] \
        if p["tlu"] else []
    torch = _torch(layout, layout, [
        f"nu2 = x.pow(2).mean(dim={dims}, keepdim=True)",
        f"y = x * torch.rsqrt(nu2 + {_fmt(abs(p['eps']))})  # then gamma * y + beta"] + tail)
    keras = _keras([f"nu2 = ops.mean(ops.square(x), axis={dims}, keepdims=True)",
                    f"y = x * ops.rsqrt(nu2 + {_fmt(abs(p['eps']))})"]
                   + ([f"y = ops.maximum(y, {_fmt(p['tau'])})  # TLU"] if p["tlu"] else []))
    return {"PyTorch": torch, "Keras": keras}


def code_custom(layout, shape, p, training=True):
    dims = [i for i, a in enumerate(layout) if a in p["axes"]]
    eps = _fmt(p["eps"])
    if p["groups"] > 1:
        c = layout.index(CHANNEL)
        grouped = [d + (d >= c) for d in dims]  # after the split, C's position holds the group index
        return {"PyTorch": _torch(layout, layout, [
            f"# split C into {p['groups']} groups, reduce inside each group and over {p['axes'].replace(CHANNEL, '')}",
            f"g = x.unflatten({c}, ({p['groups']}, -1))",
            f"var, mean = torch.var_mean(g, dim={grouped}, unbiased=False, keepdim=True)",
            f"y = ((g - mean) / (var + {eps}).sqrt()).flatten({c}, {c + 1})"])}
    if p["center"]:
        lines = [f"var, mean = torch.var_mean(x, dim={dims}, unbiased=False, keepdim=True)",
                 f"y = (x - mean) / torch.sqrt(var + {eps})"]
        klines = [f"mean, var = ops.moments(x, axes={dims}, keepdims=True)", f"y = (x - mean) / ops.sqrt(var + {eps})"]
    else:
        lines = [f"y = x * torch.rsqrt(x.pow(2).mean(dim={dims}, keepdim=True) + {eps})"]
        klines = [f"y = x * ops.rsqrt(ops.mean(ops.square(x), axis={dims}, keepdims=True) + {eps})"]
    return {"PyTorch": _torch(layout, layout, lines), "Keras": _keras(klines)}


def code_standardize(layout, shape, p, training=True):
    dims = [i for i, a in enumerate(layout) if a in p["axes"]]
    features = [a for a in layout if a not in p["axes"]]
    return {
        "scikit-learn": "\n".join([
            "from sklearn.preprocessing import StandardScaler", "import numpy as np", "",
            f"# samples along {p['axes']}, one feature per ({', '.join(features) or 'nothing'}) index",
            _rows_line(layout, shape, p["axes"]),
            f"scaler = StandardScaler(with_mean={p['with_mean']}, with_std={p['with_std']})",
            "z = scaler.fit_transform(rows)  # then reshape back"]),
        "PyTorch": _torch(layout, layout, [
            f"mean = x.mean(dim={dims}, keepdim=True)",
            f"std = x.std(dim={dims}, unbiased=False, keepdim=True)",
            "y = (x - mean) / torch.where(std == 0, 1, std)"])}


def code_minmax(layout, shape, p, training=True):
    dims = [i for i, a in enumerate(layout) if a in p["axes"]]
    a, b = p["feature_range"]
    return {
        "scikit-learn": "\n".join([
            "from sklearn.preprocessing import MinMaxScaler", "import numpy as np", "",
            _rows_line(layout, shape, p["axes"]),
            f"scaler = MinMaxScaler(feature_range=({_fmt(a)}, {_fmt(b)}), clip={p['clip']})",
            "y = scaler.fit_transform(rows)  # then reshape back"]),
        "PyTorch": _torch(layout, layout, [
            f"lo, hi = x.amin(dim={dims}, keepdim=True), x.amax(dim={dims}, keepdim=True)",
            f"y = (x - lo) / torch.where(hi == lo, 1, hi - lo) * {_fmt(b - a)} + {_fmt(a)}"])}


def code_for(method: str, layout: str, shape, params: dict, training: bool = True) -> dict:
    """The equivalent code of `method` for these settings, {language: text}, the affine step included."""
    from .methods import METHODS  # the registry names its generators here: imported when asked, not at load
    code = METHODS[method].code(layout, tuple(shape), params, training)
    w, b = params.get("weight"), params.get("bias")
    if w is None and b is None:
        return code
    scalars = all(v is None or isinstance(v, (int, float)) for v in (w, b))
    step = (f"y = y * {_fmt(1.0 if w is None else float(w))} + {_fmt(0.0 if b is None else float(b))}"
            "  # the affine step: γ, β" if scalars else "y = y * weight + bias  # your per-channel γ, β arrays")
    return {lang: text if lang == "scikit-learn" else text + "\n" + step for lang, text in code.items()}


def _rows_line(layout, shape, axes) -> str:
    """The NumPy line that makes a (samples, features) table with samples along `axes`."""
    dims = [i for i, a in enumerate(layout) if a in axes]
    return f"rows = np.moveaxis(x, {dims}, {list(range(len(dims)))}).reshape({_prod_of(layout, shape, axes)}, -1)"


def _prod_of(layout, shape, letters):
    n = 1
    for a, s in zip(layout, shape):
        n *= s if a in letters else 1
    return n
