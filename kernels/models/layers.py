"""One normalization layer of a real model, whatever file it came from: its kind, parameters and
running statistics, the registry method and layout that reproduce it, and its health flags.

`NormLayer.settings(...)` are the keywords of `kernels.normalize` that give the layer's own output
(train or eval); `NormLayer.normalize(x)` calls it. The method and layout follow the rank of the
input: LayerNorm(C) is "channel" on (N, L, C) and "layer" on (N, C).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._common import Flag, ModelError, worst_level

#: family -> what it is, in words (the families map to registry methods below)
FAMILIES = {
    "batch": "BatchNorm: per channel over the batch and positions; eval uses running statistics",
    "instance": "InstanceNorm: per sample and channel over positions",
    "group": "GroupNorm: per sample over groups of channels and positions",
    "layer": "LayerNorm: per sample over the trailing normalized axes",
    "rms": "RMSNorm: LayerNorm without centering",
    "lrn": "LocalResponseNorm: each element divided by the energy of neighbouring channels",
}
#: N, C first: the layout of BatchNorm, InstanceNorm, GroupNorm and LRN inputs by rank
CANONICAL = {2: "NC", 3: "NCL", 4: "NCHW", 5: "NCDHW"}
#: C last: the layout of LayerNorm(C) / RMSNorm(C) inputs (transformers, ConvNeXt) by rank
CHANNELS_LAST = {2: "NC", 3: "NLC", 4: "NHWC", 5: "NDHWC"}
#: the rank assumed for a family until an input is seen
DEFAULT_RANK = {"batch": 4, "instance": 4, "group": 4, "lrn": 4, "layer": 3, "rms": 3}


@dataclass
class GapStats:
    """Batch statistics of one captured input against the layer's running statistics, per channel.

    batch_var is biased (what training normalizes with). mean_shift = |μ_B − μ_R| / √(σ²_R + ε) is how
    far eval output's per-channel mean lands from 0, in units of its std; std_ratio = √((σ²_B + ε) /
    (σ²_R + ε)) is eval output's std before γ (1 when the running statistics fit this batch).
    """

    batch_mean: np.ndarray
    batch_var: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    eps: float
    count: int  # values per channel

    @property
    def mean_shift(self) -> np.ndarray:
        return np.abs(self.batch_mean - self.running_mean) / np.sqrt(self.running_var + self.eps)

    @property
    def std_ratio(self) -> np.ndarray:
        return np.sqrt((self.batch_var + self.eps) / (self.running_var + self.eps))

    @property
    def shift_rms(self) -> float:
        return float(np.sqrt(np.mean(self.mean_shift ** 2)))

    @property
    def shift_max(self) -> float:
        return float(np.max(self.mean_shift))

    @property
    def ratio_median(self) -> float:
        return float(np.median(self.std_ratio))

    @property
    def ratio_worst(self) -> float:
        """max over channels of max(r, 1/r): how many times too wide or too narrow eval output gets."""
        r = self.std_ratio
        return float(np.max(np.maximum(r, 1.0 / np.maximum(r, 1e-30))))

    def row(self) -> dict:
        return dict(shift_rms=self.shift_rms, shift_max=self.shift_max, ratio_median=self.ratio_median,
                    ratio_worst=self.ratio_worst, count=self.count)


@dataclass
class NormLayer:
    """A normalization layer. Arrays are float32 numpy (None when the layer has none).

    family: batch, instance, group, layer, rms or lrn (see FAMILIES); kind: the name in the source
    ("BatchNorm2d", "GroupNormalization", "LayerNorm (decomposed)").
    momentum, momentum_convention: as the format states them (torch: new = (1 − m)·old + m·batch;
    keras, also ONNX's: new = m·old + (1 − m)·batch); None momentum with torch convention is the
    cumulative average.
    normalized_ndim: LayerNorm/RMSNorm: how many trailing axes are normalized.
    batch_stats_in_eval: a BatchNorm without running statistics (track_running_stats=False)
    normalizes with the batch's statistics in eval too.
    assumptions: sentences saying what was assumed because the format does not say it.
    input_shape: the input's shape once known (ONNX shape information, or the latest capture);
    rank_hint: its number of axes when only that is known (a state_dict's preceding weight, a module's kind).
    gap: batch against running statistics from the latest capture (None before).
    """

    name: str
    family: str
    kind: str
    eps: float | None = 1e-5
    momentum: float | None = None
    momentum_convention: str = "torch"
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    running_mean: np.ndarray | None = None
    running_var: np.ndarray | None = None
    num_batches_tracked: int | None = None
    groups: int | None = None
    normalized_ndim: int | None = None
    lrn: dict | None = None
    lrn_onnx_window: bool = False
    batch_stats_in_eval: bool = False
    training_mode: bool = False
    assumptions: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    source: str = ""
    index: int = 0
    input_shape: tuple | None = None
    rank_hint: int | None = None
    input_name: str = ""
    output_name: str = ""
    nodes: tuple = ()
    gap: GapStats | None = None

    # -- what the layer is -------------------------------------------------------------------

    @property
    def channels(self) -> int | None:
        for arr in (self.running_mean, self.running_var):
            if arr is not None:
                return int(arr.shape[-1] if arr.ndim else 1)
        if self.family in ("batch", "instance", "group") and self.weight is not None:
            return int(self.weight.shape[0])
        if self.family in ("layer", "rms") and self.weight is not None and self.weight.ndim == 1:
            return int(self.weight.shape[0])  # LayerNorm(C) / RMSNorm(C): C last
        if self.input_shape is not None:
            return int(self.input_shape[self.layout.index("C")])
        return None

    @property
    def has_running_stats(self) -> bool:
        return self.running_mean is not None and self.running_var is not None

    @property
    def rank(self) -> int:
        """The rank of the layer's input: known from shapes, else what the kind implies."""
        if self.input_shape is not None:
            return len(self.input_shape)
        if self.rank_hint:
            return self.rank_hint
        if self.family in ("layer", "rms") and self.normalized_ndim and self.normalized_ndim > 1:
            return self.normalized_ndim + 1
        return DEFAULT_RANK[self.family]

    @property
    def method(self) -> str:
        return self._spec(self.rank)[0]

    @property
    def layout(self) -> str:
        return self._spec(self.rank)[1]

    @property
    def params(self) -> dict:
        """The registry parameters besides eps, momentum and the affine arrays (groups, LRN's size...)."""
        return self._spec(self.rank)[2]

    def _spec(self, rank: int) -> tuple:
        """(registry method, layout, extra parameters) for an input of `rank` axes."""
        if rank not in CANONICAL:
            raise ModelError(f"{self.name}: an input of {rank} axes is not supported (2 to 5: N, C and up to three "
                             f"positions)")
        fam = self.family
        if fam in ("batch", "instance"):
            return fam, CANONICAL[rank], {}
        if fam == "group":
            return "group", CANONICAL[rank], {"groups": int(self.groups or 1)}
        if fam == "lrn":
            return "lrn", CANONICAL[rank], dict(self.lrn or {})
        k = int(self.normalized_ndim or 1)
        if k >= rank:
            raise ModelError(f"{self.name}: normalizes the last {k} axes but the input has only {rank}")
        if k == rank - 1:
            return ("layer" if fam == "layer" else "rms"), CANONICAL[rank], {}
        layout = CHANNELS_LAST[rank]
        if k == 1 and fam == "layer":
            return "channel", layout, {}
        return "custom", layout, {"axes": layout[-k:], "center": fam == "layer"}

    # -- computing as the layer does ----------------------------------------------------------

    def settings(self, training: bool = False, shape=None, dtype=np.float32) -> dict:
        """The keywords of `kernels.normalize(x, **settings)` that give this layer's output on x
        (of `shape`; default: the layer's known or assumed input shape) in train or eval mode.
        A tracked InstanceNorm in eval is BatchNorm's eval step (per channel, running statistics)."""
        rank = len(shape) if shape is not None else self.rank
        method, layout, extra = self._spec(rank)
        if shape is not None:
            self._check_channels(shape, layout)
        out = dict(method=method, layout=layout, training=bool(training), **extra)
        eps = self.eps
        if eps is None and method == "custom":  # torch RMSNorm eps=None: finfo of the computation dtype
            eps = float(np.finfo(np.float64 if "float64" in str(dtype) else np.float32).eps)
        if self.family != "lrn":
            out.update(eps=eps, weight=self.weight, bias=self.bias)
        if self.family == "batch":
            out.update(momentum=self.momentum, momentum_convention=self.momentum_convention)
            if self.has_running_stats and not self.batch_stats_in_eval:
                out.update(running_mean=self.running_mean, running_var=self.running_var,
                           num_batches_tracked=int(self.num_batches_tracked or 0))
            elif not training:
                out["training"] = True  # no running statistics: the batch's own, in eval too
        elif self.family == "instance" and self.has_running_stats and not training:
            out.update(method="batch", running_mean=self.running_mean, running_var=self.running_var)
        return out

    def _check_channels(self, shape, layout):
        expected = self.channels
        if expected is None or len(shape) != len(layout):
            return
        got = int(shape[layout.index("C")])
        per_channel = self.family in ("batch", "instance", "group") or self.has_running_stats
        if per_channel and got != expected:
            raise ModelError(f"{self.name}: the input has {got} channels on axis {layout.index('C')} "
                             f"({layout}) but the layer has {expected}")

    def normalize(self, x, training: bool = False, backend: str = "numpy", device: str = "cpu", **overrides):
        """`kernels.normalize` with this layer's settings: equals the layer's own output on x (its
        input, as `Model.capture` returns it) in train or eval mode. Returns a kernels Result."""
        from ..core import normalize

        shape = tuple(int(s) for s in getattr(x, "shape", np.shape(x)))
        kwargs = self.settings(training, shape, dtype=getattr(x, "dtype", np.float32))
        kwargs.update(overrides)
        if not self.lrn_onnx_window:
            return normalize(x, backend=backend, device=device, **kwargs)
        # ONNX's LRN window for even sizes is torch's mirrored: flip the channels, normalize, flip back
        axis = kwargs["layout"].index("C")
        res = normalize(np.flip(np.asarray(x), axis).copy(), backend=backend, device=device, **kwargs)
        res.output = np.flip(np.asarray(res.output), axis).copy()
        res.var = np.flip(np.asarray(res.var), axis).copy()
        res.warnings.append("ONNX's LRN window for an even size reaches one channel further up than torch's; "
                            "computed by mirroring the channels")
        return res

    # -- health ---------------------------------------------------------------------------------

    @property
    def flags(self) -> list:
        """Health flags (sentences saying why each matters), most serious first."""
        from .health import flags_of

        return flags_of(self)

    @property
    def health(self) -> str:
        """'ok', 'info', 'warning' or 'problem': the strip colour."""
        return worst_level(self.flags)

    def row(self) -> dict:
        """One row of the layer table (CSV): numbers summarized, flags joined."""
        def summary(arr):
            if arr is None:
                return ""
            a = np.asarray(arr, dtype=np.float64)
            return f"{a.min():.4g}..{a.max():.4g} (mean {a.mean():.4g})" if a.size > 1 else f"{a.item():.4g}"

        gap = self.gap.row() if self.gap is not None else {}
        return dict(index=self.index, name=self.name, kind=self.kind, method=self.method, layout=self.layout,
                    channels=self.channels or "", eps="" if self.eps is None else self.eps,
                    momentum="" if self.momentum is None else self.momentum,
                    momentum_convention=self.momentum_convention if self.family == "batch" else "",
                    groups=self.groups or "", weight=summary(self.weight), bias=summary(self.bias),
                    running_mean=summary(self.running_mean), running_var=summary(self.running_var),
                    num_batches_tracked="" if self.num_batches_tracked is None else self.num_batches_tracked,
                    health=self.health, flags=" | ".join(self.flags),
                    gap_shift_rms=gap.get("shift_rms", ""), gap_ratio_worst=gap.get("ratio_worst", ""))


def assumption(layer: NormLayer, text: str) -> None:
    if text not in layer.assumptions:
        layer.assumptions.append(text)


def as_flag(text: str, code: str, level: str) -> Flag:
    return Flag(text, code, level)
