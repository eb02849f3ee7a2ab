"""Reference implementations from torch.nn / torch.nn.functional (and scikit-learn for the
data-scaling pair), one per registry method, in the canonical layout (N, C, *spatial)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _channels_last(fn):
    """Apply fn to x moved to (N, *spatial, C), then move back."""
    def wrapped(x, p):
        return fn(x.movedim(1, -1), p).movedim(-1, 1)
    return wrapped


def _batch(x, p):
    return F.batch_norm(x, None, None, training=True, eps=p["eps"])


def _ghost(x, p):
    return torch.cat([_batch(chunk, p) for chunk in x.split(p["virtual_batch"])])


def _renorm(x, p):
    """Batch Renormalization from torch pieces: F.batch_norm's output times r plus d, with r, d
    from torch.var_mean against the given running statistics (fresh: mean 0, var 1)."""
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    var_b, mu_b = torch.var_mean(x, dim=dims, unbiased=False, keepdim=True)
    rm = p.get("running_mean", torch.zeros(x.shape[1], dtype=x.dtype)).view(shape)
    rv = p.get("running_var", torch.ones(x.shape[1], dtype=x.dtype)).view(shape)
    sigma = (rv + p["eps"]).sqrt()
    r = ((var_b + p["eps"]).sqrt() / sigma).clamp(1 / p["rmax"], p["rmax"]).detach()  # constants in the
    d = ((mu_b - rm) / sigma).clamp(-p["dmax"], p["dmax"]).detach()  # backward pass, as in the paper
    return _batch(x, p) * r + d


def _custom(x, p, canonical):
    """Custom axes from torch.var_mean over the chosen dims (group split by unflatten)."""
    dims = [canonical.index(a) for a in p["axes"]]
    if p["groups"] > 1:
        g = x.unflatten(1, (p["groups"], -1))
        gdims = [d + 1 if d >= 1 else d for d in dims]
        var, mean = torch.var_mean(g, dim=gdims, unbiased=False, keepdim=True)
        return ((g - mean) / (var + p["eps"]).sqrt()).flatten(1, 2)
    if not p["center"]:
        return x * torch.rsqrt(x.pow(2).mean(dim=dims, keepdim=True) + p["eps"])
    var, mean = torch.var_mean(x, dim=dims, unbiased=False, keepdim=True)
    return (x - mean) / (var + p["eps"]).sqrt()


def _frn(x, p):
    y = F.rms_norm(x, x.shape[2:], eps=abs(p["eps"]))
    return torch.maximum(y, torch.tensor(p["tau"], dtype=x.dtype)) if p["tlu"] else y


def _sklearn_rows(x, p, canonical, scaler):
    """Apply a fitted-and-transformed scikit-learn scaler with samples along p['axes']."""
    a = x.numpy()
    dims = [canonical.index(c) for c in p["axes"]]
    moved = np.moveaxis(a, dims, list(range(len(dims))))
    rows = moved.reshape(int(np.prod(moved.shape[:len(dims)])), -1)
    out = scaler.fit_transform(rows).reshape(moved.shape)
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(out, list(range(len(dims))), dims)))


def _standardize(x, p, canonical):
    from sklearn.preprocessing import StandardScaler
    return _sklearn_rows(x, p, canonical, StandardScaler(with_mean=p["with_mean"], with_std=p["with_std"]))


def _minmax(x, p, canonical):
    from sklearn.preprocessing import MinMaxScaler
    return _sklearn_rows(x, p, canonical, MinMaxScaler(feature_range=p["feature_range"], clip=p["clip"]))


def _per_nc(value, x):
    """A number, (C,) or (N, C) value as a tensor broadcasting against canonical x."""
    v = torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=x.dtype)
    rest = [1] * (x.dim() - 2)
    return v if v.dim() == 0 else v.view(1, -1, *rest) if v.dim() == 1 else v.view(*v.shape, *rest)


def _adain(x, p):
    return F.instance_norm(x, eps=p["eps"]) * _per_nc(p["style_std"], x) + _per_nc(p["style_mean"], x)


def _conditional_batch(x, p):
    """BatchNorm without affine, then γ, β from nn.Embedding tables indexed by each sample's label
    (the registry's declared defaults: labels 0, 1, 0, 1, …; class 0 γ 1 β 0, class 1 γ 2 β 1)."""
    n, c = x.shape[:2]
    labels = torch.arange(n) % 2 if p["labels"] is None else torch.as_tensor(np.asarray(p["labels"]))
    tables = [torch.tensor(t, dtype=x.dtype) if t is not None else torch.tensor(default, dtype=x.dtype)
              for t, default in ((p["gamma_table"], [[1.0] * c, [2.0] * c]), (p["beta_table"], [[0.0] * c, [1.0] * c]))]
    gamma, beta = (torch.nn.Embedding.from_pretrained(t)(labels).view(n, c, *[1] * (x.dim() - 2)) for t in tables)
    return _batch(x, p) * gamma + beta


#: name -> fn(x in canonical layout as a torch tensor, resolved params, canonical layout letters)
REFERENCES = {
    "batch": lambda x, p, c: _batch(x, p),
    "layer": lambda x, p, c: F.layer_norm(x, x.shape[1:], eps=p["eps"]),
    "instance": lambda x, p, c: F.instance_norm(x, eps=p["eps"]),
    "group": lambda x, p, c: F.group_norm(x, p["groups"], eps=p["eps"]),
    "rms": lambda x, p, c: F.rms_norm(x, x.shape[1:], eps=p["eps"]),
    "lrn": lambda x, p, c: F.local_response_norm(x, p["size"], alpha=p["alpha"], beta=p["beta"], k=p["k"]),
    "pixel": lambda x, p, c: _channels_last(lambda t, q: F.rms_norm(t, t.shape[-1:], eps=q["eps"]))(x, p),
    "channel": lambda x, p, c: _channels_last(lambda t, q: F.layer_norm(t, t.shape[-1:], eps=q["eps"]))(x, p),
    "ghost_batch": lambda x, p, c: _ghost(x, p),
    "batch_renorm": lambda x, p, c: _renorm(x, p),
    "frn": lambda x, p, c: _frn(x, p),
    "custom": _custom,
    "standardize": _standardize,
    "minmax": _minmax,
    "adain": lambda x, p, c: _adain(x, p),
    "conditional_batch": lambda x, p, c: _conditional_batch(x, p),
    "sample_group": lambda x, p, c: torch.cat([_batch(part, p) for part in x.split(x.shape[0] // p["sample_groups"])]),
}


def reference(method: str, x: np.ndarray, layout: str, params: dict) -> np.ndarray:
    """The reference output for x (numpy, in `layout`) with fully resolved `params`."""
    from kernels.layouts import canonical_order, permutation
    canonical = canonical_order(layout)
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(permutation(layout, canonical))
    y = REFERENCES[method](t, params, canonical)
    return y.permute(permutation(canonical, layout)).detach().numpy()
