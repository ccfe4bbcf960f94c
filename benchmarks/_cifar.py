"""CIFAR-size networks as researchers write them (Gamba et al. and Humayun et al. count the
regions of these): VGG-11 and ResNet-18 for 3×32×32 inputs, at a chosen base width (64 is
the full network, 16 a quarter), BatchNorm in eval mode with non-trivial statistics, random
(PyTorch default) weights, float64."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: VGG-11's convolutions (in multiples of the base width) and max pools.
VGG11 = [1, "M", 2, "M", 4, 4, "M", 8, 8, "M", 8, 8, "M"]


def _statistics(model: nn.Module, seed: int) -> nn.Module:
    """Every BatchNorm given running statistics and affine parameters away from 0 and 1."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
                module.running_var.copy_(0.5 + 1.5 * torch.rand(size, generator=generator))
                module.weight.copy_(0.5 + torch.rand(size, generator=generator))
                module.bias.copy_(0.1 * torch.randn(size, generator=generator))
    return model.double().eval()


def vgg11(base: int = 64, seed: int = 0) -> nn.Module:
    """VGG-11 for CIFAR (Conv–BatchNorm–ReLU blocks, five max pools, one Linear)."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    channels = 3
    for entry in VGG11:
        if entry == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            width = int(entry) * base
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True)]  # fmt: skip
            channels = width
    return _statistics(nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels, 10)), seed)


class BasicBlock(nn.Module):
    """ResNet's basic block as torchvision writes it: two 3×3 convolutions, a projection
    shortcut where the shape changes, ``out += identity``, in-place ReLU."""

    def __init__(self, inputs: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or inputs != width:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, width, 1, stride, bias=False),
                                          nn.BatchNorm2d(width))  # fmt: skip

    def forward(self, x):
        identity = self.shortcut(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNet18(nn.Module):
    """ResNet-18 for CIFAR (a 3×3 stem, four stages of two basic blocks, global average
    pool, Linear), written as in most CIFAR repositories."""

    def __init__(self, base: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, base, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        stages, inputs = [], base
        for index, width in enumerate([base, 2 * base, 4 * base, 8 * base]):
            stride = 1 if index == 0 else 2
            stages.append(nn.Sequential(BasicBlock(inputs, width, stride),
                                        BasicBlock(width, width, 1)))  # fmt: skip
            inputs = width
        self.layers = nn.Sequential(*stages)
        self.fc = nn.Linear(inputs, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        out = F.adaptive_avg_pool2d(out, 1)
        return self.fc(out.view(out.size(0), -1))


def resnet18(base: int = 64, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return _statistics(ResNet18(base), seed)
