"""VGG in CIFAR shapes: spiking VGG-11/VGG-16 students and an ANN VGG-16 teacher.

Stages are the runs of 3x3 convs between poolings (VGG-11: 64 | 128 | 256 256 | 512 512 |
512 512). Each conv is followed by BN (over T*B in the student) and a ReLU or spiking neuron;
students pool with 2x2 average pooling (Loihi-friendly), the teacher with max pooling. A pooling
is left out once the map is 1x1, so the same networks also build for 8x8 digits. The classifier
is one linear layer after global average pooling (the CIFAR variant), which CAM needs.

Feature taps: "stage1".."stage5", the spikes leaving each stage (student) or the input of the
stage's last ReLU, i.e. the pre-activation (teacher).
"""

from __future__ import annotations

import torch
from torch import nn

from snn2hw.models.spiking import SpikingNet
from snn2hw.neurons import NeuronSpec, SpikingNeuron, TimeFolded

STAGES: dict[str, tuple[tuple[int, ...], ...]] = {
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
}


def spiking_vgg(name: str, in_shape: tuple[int, ...], num_classes: int, timesteps: int,
                neuron: NeuronSpec) -> SpikingNet:
    """Spiking VGG student: stageK = (conv-BN-LIF)*, poolK = avgpool 2 (while the map is > 1x1)."""
    c, size = in_shape[0], in_shape[1]
    body = nn.Sequential()
    for i, widths in enumerate(STAGES[name], start=1):
        stage = nn.Sequential()
        for j, w in enumerate(widths):
            stage.add_module(f"conv{j}", TimeFolded(nn.Conv2d(c, w, 3, padding=1, bias=False)))
            stage.add_module(f"bn{j}", TimeFolded(nn.BatchNorm2d(w)))
            stage.add_module(f"sn{j}", SpikingNeuron(neuron))
            c = w
        body.add_module(f"stage{i}", stage)
        if size >= 2:
            body.add_module(f"pool{i}", TimeFolded(nn.AvgPool2d(2)))
            size //= 2
    body.add_module("gap", TimeFolded(nn.AdaptiveAvgPool2d(1)))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    taps = tuple(f"stage{i}" for i in range(1, len(STAGES[name]) + 1))
    return SpikingNet(body, nn.Linear(c, num_classes), timesteps=timesteps, in_shape=in_shape,
                      feature_taps=taps)


class VGG(nn.Module):
    """ANN VGG teacher: stageK = (conv-BN-ReLU)*, max pool 2, global average pool, fc."""

    def __init__(self, name: str, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        c, size = in_shape[0], in_shape[1]
        self.features = nn.Sequential()
        taps: dict[str, str] = {}
        for i, widths in enumerate(STAGES[name], start=1):
            stage = nn.Sequential()
            for j, w in enumerate(widths):
                stage.add_module(f"conv{j}", nn.Conv2d(c, w, 3, padding=1, bias=False))
                stage.add_module(f"bn{j}", nn.BatchNorm2d(w))
                stage.add_module(f"relu{j}", nn.ReLU())
                c = w
            self.features.add_module(f"stage{i}", stage)
            taps[f"stage{i}"] = f"features.stage{i}.relu{len(widths) - 1}"
            if size >= 2:
                self.features.add_module(f"pool{i}", nn.MaxPool2d(2))
                size //= 2
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        self.feature_taps = taps
        """tap name -> module whose input (the pre-activation) is the tap."""
        self.classifier = "fc"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def student_builder(name: str):
    def build(in_shape, num_classes, timesteps, neuron):
        return spiking_vgg(name, in_shape, num_classes, timesteps, neuron)

    return build


def teacher_builder(name: str):
    def build(in_shape, num_classes):
        return VGG(name, in_shape, num_classes)

    return build
