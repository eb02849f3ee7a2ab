"""Small networks the model tests build, train a little (so running statistics are not at 0/1) and
save in every format: torch state_dict, safetensors, ONNX (torch's dynamo exporter, BatchNorm kept)."""

from __future__ import annotations

import warnings

import torch
from torch import nn


class ConvBN(nn.Module):
    """conv → BN → ReLU twice, a BN after a ReLU (not foldable), then linear → BatchNorm1d (foldable)."""

    input_shape = (None, 3, 8, 8)

    def __init__(self, channels: int = 6):
        super().__init__()
        self.conv1 = nn.Conv2d(3, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels, eps=1e-3, momentum=0.3)
        self.bn_after_relu = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels, 5)
        self.bn_fc = nn.BatchNorm1d(5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.bn_after_relu(torch.relu(self.bn2(self.conv2(x))))
        return self.bn_fc(self.fc(x.mean(dim=(2, 3))))


class MixedNorms(nn.Module):
    """GroupNorm, InstanceNorm (affine, and with running statistics), LocalResponseNorm on NCHW, then
    LayerNorm and RMSNorm over C on (N, L, C), and a LayerNorm over (L, C)."""

    input_shape = (None, 3, 4, 4)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gn = nn.GroupNorm(4, 8)
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.inorm_tracked = nn.InstanceNorm2d(8, affine=True, track_running_stats=True)
        self.lrn = nn.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=2.0)
        self.proj = nn.Linear(8, 6)
        self.ln = nn.LayerNorm(6)
        self.rmsnorm = nn.RMSNorm(6, eps=1e-6)
        self.ln_seq = nn.LayerNorm((16, 6))

    def forward(self, x):
        x = self.lrn(self.inorm_tracked(self.inorm(self.gn(self.conv(x)))))
        x = self.proj(x.flatten(2).transpose(1, 2))  # (N, L, C)
        return self.ln_seq(self.rmsnorm(self.ln(x)))


def trained(module, steps: int = 3, seed: int = 0):
    """The module after a few training-mode passes on shifted data (running statistics move) with affine
    parameters perturbed, in eval mode."""
    g = torch.Generator().manual_seed(seed)
    shape = tuple(4 if s is None else s for s in module.input_shape)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
        module.train()
        for _ in range(steps):
            module(torch.randn(shape, generator=g) * 2 + 1)
    return module.eval()


def conv_bn(channels: int = 6):
    torch.manual_seed(0)
    return trained(ConvBN(channels))


def mixed():
    torch.manual_seed(1)
    return trained(MixedNorms())


def untrained_conv_bn(channels: int = 6):
    """A fresh ConvBN: running statistics at 0/1 (the factory an import path names in the tests)."""
    torch.manual_seed(0)
    return ConvBN(channels).eval()


def export_onnx(module, path, batch: int = 2):
    """torch's dynamo exporter with BatchNorm kept (optimize=False), opset 21, weights inside the file."""
    shape = tuple(batch if s is None else s for s in module.input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(shape),), str(path), dynamo=True, optimize=False, opset_version=21,
                          external_data=False, verbose=False, dynamic_shapes=({0: torch.export.Dim("batch")},))
    return path
