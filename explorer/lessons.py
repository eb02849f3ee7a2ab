"""Lessons: short guided presets for the classic confusions. Each sets the settings, picks the view
that shows the point, and says in two or three sentences why. No Qt: the Lessons menu and
`norm-explorer lesson NAME` both use them."""

from __future__ import annotations

from dataclasses import dataclass, field

from .settings import DEFAULTS, Settings


@dataclass(frozen=True)
class Lesson:
    """name (command line), title (menu), text (the why), settings changes from the defaults, the
    view that shows it ("groups", "values", "modes" or "compare") and, for compare, the methods."""

    name: str
    title: str
    text: str
    changes: dict = field(default_factory=dict)
    view: str = "groups"
    methods: tuple = ()

    def settings(self) -> Settings:
        return DEFAULTS.replace(**self.changes)


LESSONS = {lesson.name: lesson for lesson in [
    Lesson("layernorm-nchw", "LayerNorm on NCHW vs over channels",
           "torch's nn.LayerNorm([C, H, W]) on an NCHW tensor normalizes each sample over all its channels and "
           "positions: one group per sample. ConvNeXt and transformers apply nn.LayerNorm(C) to a channels-last "
           "tensor: one group per position, over the channels alone. Same name, different groups.",
           dict(method="layer", layout="NHWC", shape=(2, 6, 6, 8), selected=(0, 2, 3, 0), input="image"), "compare",
           ("layer", "channel")),
    Lesson("batch-size-one", "BatchNorm with a batch of one",
           "With one sample and one position per channel, each channel's batch holds a single value: its mean is "
           "that value and its variance 0, so every output is 0 and torch raises 'Expected more than 1 value per "
           "channel when training'. With positions (H, W > 1) it computes, but then it is InstanceNorm.",
           dict(method="batch", shape=(1, 8, 1, 1), selected=(0, 0, 0, 0))),
    Lesson("train-vs-eval", "BatchNorm in train vs eval mode",
           "In training BatchNorm normalizes with the batch's own mean and variance; in eval with running averages "
           "collected during training. The same input gives a different output: forgetting model.eval() (or a "
           "batch unlike the training data) is the classic 'fine in train, wrong in eval' bug.",
           dict(method="batch", training=False, input="shifted"), "modes"),
    Lesson("groupnorm-g", "GroupNorm from G = 1 to G = C",
           "GroupNorm splits the channels into G groups and normalizes each sample over a group of channels and "
           "all positions. G = 1 is LayerNorm, G = C is InstanceNorm; the paper's default is G = 32. None depends "
           "on the batch.", dict(method="group", shape=(2, 8, 4, 4), selected=(0, 0, 1, 1)), "compare",
           ("layer", "group", "instance")),
    Lesson("numpy-axis0", "The NumPy 'BatchNorm' over axis 0 on NHWC images",
           "x.mean(axis=0) and x.std(axis=0) on an NHWC batch of images give every pixel and channel its own "
           "statistics over the batch alone: per-pixel statistics. BatchNorm reduces over N, H and W, one group "
           "per channel: compare the blue groups.",
           dict(method="custom", layout="NHWC", shape=(4, 6, 6, 3), params={"axes": "N"}, input="image",
                selected=(0, 2, 3, 0)), "compare", ("custom", "batch")),
    Lesson("rmsnorm-llm", "RMSNorm in a language model, on (N, L, C)",
           "LLaMA-style RMSNorm divides each token's vector by its root mean square over the channels (the last "
           "axis), without subtracting the mean. torch's nn.RMSNorm([L, C]) would normalize over the whole sequence "
           "instead: here the custom axes C with centering off are the per-token kind.",
           dict(method="custom", layout="NLC", shape=(2, 12, 16), params={"axes": "C", "center": False},
                selected=(0, 3, 0)), "compare", ("custom", "rms")),
    Lesson("lrn-alexnet", "Local Response Normalization in AlexNet",
           "AlexNet divides each activation by the energy of 5 neighbouring channels at the same position (k = 2, "
           "α = 1e-4, β = 0.75). No statistics are shared: every element has its own window, which slides along C. "
           "torch divides α by the window size; the paper did not.",
           dict(method="lrn", shape=(2, 12, 6, 6), params={"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0},
                input="image", selected=(0, 0, 2, 2))),
    Lesson("pixelnorm", "PixelNorm in ProGAN and StyleGAN",
           "PixelNorm scales each pixel's feature vector to unit root mean square over the channels, at every "
           "position of every sample: no centering, no learned scale, no batch. It is RMSNorm over C at each "
           "position.", dict(method="pixel", shape=(2, 8, 6, 6), selected=(0, 0, 2, 3))),
    Lesson("group-instance-norm", "Group Instance Norm: two readings",
           "'Group Instance Normalization' is named without a definition. Grouping the channels of each sample is "
           "GroupNorm (InstanceNorm at G = C); grouping the samples of the batch, per channel, is BatchNorm over "
           "smaller batches (InstanceNorm at G = N, BatchNorm at G = 1). Compare the blue groups: one spans "
           "channels, the other samples.",
           dict(method="group", shape=(4, 8, 4, 4), selected=(0, 0, 1, 1), input="image"), "compare",
           ("group", "sample_group", "instance")),
    Lesson("standardize-vs-minmax", "Standardization vs min-max scaling",
           "Standardizing maps each feature to mean 0 and standard deviation 1; min-max scaling maps its minimum to "
           "0 and its maximum to 1. With outliers min-max squeezes every ordinary value into a sliver of [0, 1], "
           "while standardized values keep their spread.",
           dict(method="standardize", shape=(64, 4, 1, 1), input="heavy_tailed", selected=(0, 0, 0, 0)), "compare",
           ("standardize", "minmax")),
]}
