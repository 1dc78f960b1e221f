"""ResNet family in CIFAR shapes: ANN teachers and spiking students with the same parameter layout.

Both are built from one `ResNetShape` (stem width, stage widths, blocks per stage, strides), so
that IDSNN can copy a teacher's stem and blocks into a student module by module. Blocks are the
post-activation BasicBlock of He et al. 2016: conv3x3-BN-act-conv3x3-BN (+ shortcut) - act, the
shortcut a 1x1 conv + BN where stride or width change. The spiking block (Fig. 1b of IDSNN)
replaces each ReLU by a spiking neuron; BN is applied over T*B (TimeFolded).

Feature taps (read by feature-distillation methods) are the stage outputs "layer1".."layerN":
for a student the spikes leaving the stage, for a teacher the pre-activation of the stage's last
block (the input of its final ReLU, which is what KDSNN/Heo et al. match).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from snn2hw.models.spiking import SpikingNet
from snn2hw.neurons import NeuronSpec, SpikingNeuron, TimeFolded


@dataclass(frozen=True)
class ResNetShape:
    """Stem width, per-stage widths, blocks and strides of a CIFAR-style ResNet."""

    stem: int
    widths: tuple[int, ...]
    blocks: tuple[int, ...]
    strides: tuple[int, ...]


SHAPES: dict[str, ResNetShape] = {
    "resnet18": ResNetShape(64, (64, 128, 256, 512), (2, 2, 2, 2), (1, 2, 2, 2)),
    "resnet34": ResNetShape(64, (64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2)),
    # ResNet-19 of STBP-tdBN/TET: 128-wide stem, three stages of 3-3-2 blocks.
    "resnet19": ResNetShape(128, (128, 256, 512), (3, 3, 2), (1, 2, 2)),
    # Wide ResNets (depth 6n+4, widths 16k/32k/64k), here with post-activation blocks.
    "wrn16-2": ResNetShape(16, (32, 64, 128), (2, 2, 2), (1, 2, 2)),
    "wrn28-4": ResNetShape(16, (64, 128, 256), (4, 4, 4), (1, 2, 2)),
    # CIFAR ResNets of He et al. (6n+2, widths 16/32/64 or 4x that, 1x1-conv projection shortcuts
    # as in RepDistiller): KDSNN's student ResNet-14 and SASTC's CIFAR-100 teacher ResNet-32x4.
    "resnet14": ResNetShape(16, (16, 32, 64), (2, 2, 2), (1, 2, 2)),
    "resnet20": ResNetShape(16, (16, 32, 64), (3, 3, 3), (1, 2, 2)),
    "resnet32x4": ResNetShape(32, (64, 128, 256), (5, 5, 5), (1, 2, 2)),
    # Digits-sized pair (8x8 inputs): the teacher is deeper and wider than the student.
    "digits-resnet-student": ResNetShape(16, (16, 32), (1, 1), (1, 2)),
    "digits-resnet-teacher": ResNetShape(32, (32, 64), (2, 2), (1, 2)),
}


class BasicBlock(nn.Module):
    """ANN block: relu2(bn2(conv2(relu1(bn1(conv1(x))))) + shortcut(x))."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(h)) + self.shortcut(x))


class SpikingBasicBlock(nn.Module):
    """Spiking block over [T, B, ...]: sn2(bn2(conv2(sn1(bn1(conv1(x))))) + shortcut(x))."""

    def __init__(self, c_in: int, c_out: int, stride: int, neuron: NeuronSpec) -> None:
        super().__init__()
        self.conv1 = TimeFolded(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False))
        self.bn1 = TimeFolded(nn.BatchNorm2d(c_out))
        self.sn1 = SpikingNeuron(neuron)
        self.conv2 = TimeFolded(nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False))
        self.bn2 = TimeFolded(nn.BatchNorm2d(c_out))
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                TimeFolded(nn.Conv2d(c_in, c_out, 1, stride, bias=False)),
                TimeFolded(nn.BatchNorm2d(c_out)),
            )
        self.sn2 = SpikingNeuron(neuron)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.sn1(self.bn1(self.conv1(x)))
        return self.sn2(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNet(nn.Module):
    """ANN ResNet teacher: stem conv-BN-ReLU, stages layer1..N, global average pool, fc."""

    def __init__(self, shape: ResNetShape, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.shape = shape
        self.conv1 = nn.Conv2d(in_shape[0], shape.stem, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(shape.stem)
        self.relu = nn.ReLU()
        c = shape.stem
        taps: dict[str, str] = {}
        for i, (w, n, s) in enumerate(zip(shape.widths, shape.blocks, shape.strides), start=1):
            blocks = []
            for j in range(n):
                blocks.append(BasicBlock(c, w, s if j == 0 else 1))
                c = w
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
            taps[f"layer{i}"] = f"layer{i}.{n - 1}.relu2"
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        self.feature_taps = taps
        """tap name -> module whose input (the pre-activation) is the tap."""
        self.classifier = "fc"
        """The linear layer right after global pooling of the last tap (used for CAM)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        for i in range(1, len(self.shape.widths) + 1):
            h = getattr(self, f"layer{i}")(h)
        return self.fc(self.pool(h).flatten(1))


def spiking_resnet(shape: ResNetShape, in_shape: tuple[int, ...], num_classes: int,
                   timesteps: int, neuron: NeuronSpec) -> SpikingNet:
    """Spiking ResNet student with body names mirroring ResNet (conv1, bn1, layerK.J.convM...)."""
    body = nn.Sequential()
    body.add_module("conv1", TimeFolded(nn.Conv2d(in_shape[0], shape.stem, 3, 1, 1, bias=False)))
    body.add_module("bn1", TimeFolded(nn.BatchNorm2d(shape.stem)))
    body.add_module("sn1", SpikingNeuron(neuron))
    c = shape.stem
    taps = []
    for i, (w, n, s) in enumerate(zip(shape.widths, shape.blocks, shape.strides), start=1):
        blocks = []
        for j in range(n):
            blocks.append(SpikingBasicBlock(c, w, s if j == 0 else 1, neuron))
            c = w
        body.add_module(f"layer{i}", nn.Sequential(*blocks))
        taps.append(f"layer{i}")
    body.add_module("pool", TimeFolded(nn.AdaptiveAvgPool2d(1)))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    net = SpikingNet(body, nn.Linear(c, num_classes), timesteps=timesteps, in_shape=in_shape,
                     feature_taps=tuple(taps))
    net.resnet_shape = shape  # type: ignore[attr-defined]  # read by IDSNN's initialisation
    return net


def student_builder(shape_name: str):
    """Registry entry: (in_shape, classes, T, neuron) -> spiking ResNet of a named shape."""

    def build(in_shape, num_classes, timesteps, neuron):
        return spiking_resnet(SHAPES[shape_name], in_shape, num_classes, timesteps, neuron)

    build.__doc__ = f"Spiking {shape_name}."
    return build


def teacher_builder(shape_name: str):
    """Registry entry: (in_shape, classes) -> ANN ResNet of a named shape."""

    def build(in_shape, num_classes):
        return ResNet(SHAPES[shape_name], in_shape, num_classes)

    build.__doc__ = f"ANN {shape_name}."
    return build
