"""The small neural-network pieces the experiments need in plain NumPy: weight initialisation,
activations with their derivatives, and dense / "same"-padded convolution layers (forward and
backward). torch counterparts for the autograd path live next to them."""

from __future__ import annotations

import math

import numpy as np

ACTIVATIONS = ("sigmoid", "tanh", "relu", "gelu", "selu", "identity")
INITS = ("normal", "xavier", "he", "lecun")

SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
_erf = np.frompyfunc(math.erf, 1, 1)


def init_std(init: str, fan_in: int, fan_out: int) -> float:
    """Standard deviation of the normal weights:
    normal: 1;  xavier (Glorot normal): √(2 / (fan_in + fan_out));
    he (Kaiming normal, fan_in, ReLU gain √2): √(2 / fan_in);  lecun (LeCun normal): √(1 / fan_in).
    For a conv weight (O, I, k, k): fan_in = I·k², fan_out = O·k² (torch.nn.init's convention)."""
    if init == "normal":
        return 1.0
    if init == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if init == "he":
        return math.sqrt(2.0 / fan_in)
    if init == "lecun":
        return math.sqrt(1.0 / fan_in)
    raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")


def init_layer(rng, init: str, shape: tuple):
    """(weight, bias) for a weight of `shape` (O, I) or (O, I, k, k): normal weights with
    `init_std`; the bias is standard normal for init 'normal' (the seed article) and 0 otherwise."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    std = init_std(init, shape[1] * receptive, shape[0] * receptive)
    weight = rng.standard_normal(shape) * std
    bias = rng.standard_normal(shape[0]) if init == "normal" else np.zeros(shape[0])
    return weight, bias


def gelu_cdf(z):
    """Φ(z) = ½(1 + erf(z/√2)), the standard normal CDF (exact, as torch's default GELU)."""
    return 0.5 * (1.0 + _erf(np.asarray(z) / math.sqrt(2.0)).astype(np.float64))


def activate(name: str, z):
    """sigmoid 1/(1+e^−z); tanh; relu max(z, 0); gelu z·Φ(z); selu λ·(z if z > 0 else α(e^z − 1));
    identity z."""
    if name == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "gelu":
        return z * gelu_cdf(z)
    if name == "selu":
        return SELU_LAMBDA * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))
    if name == "identity":
        return z.copy()
    raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def activation_grad(name: str, z, a):
    """d activation / dz at z (a is the activation's output): sigmoid a(1 − a); tanh 1 − a²;
    relu 1[z > 0]; gelu Φ(z) + z·φ(z); selu λ for z > 0, λα·e^z otherwise; identity 1."""
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "gelu":
        return gelu_cdf(z) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    if name == "selu":
        return np.where(z > 0, SELU_LAMBDA, SELU_LAMBDA * SELU_ALPHA * np.exp(np.minimum(z, 0.0)))
    return np.ones_like(z)


def saturated_fraction(name: str, z, a) -> float:
    """Fraction of saturated units (z: pre-activation, a: output):
    sigmoid: a < 0.01 or a > 0.99;  tanh: |a| > 0.99;  relu: a == 0 (dead);
    gelu: z < −3 (the flat negative tail: |a| < 0.005, slope < 0.012);
    selu: z < ln 0.01 ≈ −4.6 (within 1% of its floor −λα);  identity: never (0)."""
    if name == "sigmoid":
        s = (a < 0.01) | (a > 0.99)
    elif name == "tanh":
        s = np.abs(a) > 0.99
    elif name == "relu":
        s = a == 0
    elif name == "gelu":
        s = z < -3.0
    elif name == "selu":
        s = z < math.log(0.01)
    else:
        return 0.0
    return float(np.count_nonzero(s)) / s.size


def torch_activate(torch, name: str, z):
    """The torch function for activation `name` (exact GELU)."""
    fns = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
           "gelu": torch.nn.functional.gelu, "selu": torch.selu, "identity": lambda t: t}
    return fns[name](z)


# -- layers ------------------------------------------------------------------------------

def _windows(x, k: int):
    """(N, C, H, W, k, k) views of x zero-padded by k//2 on each side."""
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    return np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))


def conv2d(x, weight, bias=None):
    """Cross-correlation with "same" zero padding (odd k), as torch.nn.functional.conv2d(padding=k//2):
    out[n, o, h, w] = Σ_{c,i,j} x_pad[n, c, h+i, w+j] · weight[o, c, i, j] + bias[o]."""
    k = weight.shape[-1]
    out = np.einsum("nchwij,ocij->nohw", _windows(x, k), weight, optimize=True)
    return out if bias is None else out + bias[None, :, None, None]


def conv2d_backward(x, weight, grad_out):
    """(dL/dx, dL/dweight, dL/dbias) of `conv2d` given dL/dout: dweight correlates x with dout,
    dx is the "full" correlation of dout with the flipped kernel."""
    k = weight.shape[-1]
    dw = np.einsum("nchwij,nohw->ocij", _windows(x, k), grad_out, optimize=True)
    dx = np.einsum("nohwij,ocij->nchw", _windows(grad_out, k), weight[:, :, ::-1, ::-1], optimize=True)
    return dx, dw, grad_out.sum(axis=(0, 2, 3))


def dense(x, weight, bias=None):
    """x @ weightᵀ + bias for x (N, in), weight (out, in), as torch.nn.functional.linear."""
    out = x @ weight.T
    return out if bias is None else out + bias


def dense_backward(x, weight, grad_out):
    """(dL/dx, dL/dweight, dL/dbias) of `dense`."""
    return grad_out @ weight, grad_out.T @ x, grad_out.sum(axis=0)
