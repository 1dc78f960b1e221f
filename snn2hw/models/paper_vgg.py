"""VGG networks of the papers' tables, as their reference code builds them.

- `vgg13` teacher (SASTC's CIFAR-100 teacher; HobbitLong/RepDistiller vgg.py, which SemCKD and
  the SASTC code build on): configuration B with BN, convs with bias, `blockK` Sequentials of
  conv-BN-ReLU with the block's last ReLU applied outside it, max pools after blocks 0-2 (and
  after block 3 only on 64x64 inputs), global average pool, one linear layer (`classifier` there, `fc` here; CAM-ready).
  Module names match RepDistiller's, so its published checkpoints load as they are.
- `vgg11-sastc` student: the same layout with configuration A, spiking (conv-BN-LIF, average
  pooling for Loihi; the SASTC student file itself is not public to us, this is the SemCKD zoo
  layout its code builds on).
- `vgg11-kdsnn` student (KDSNN): VGG-11 convs with a pooling after every stage (32 -> 1) and the
  classic CIFAR classifier fc 512-512-classes (spiking between the fcs); this head is what
  gives KDSNN Table 3's 9.75M parameters.

Taps: teacher "block1".."block4": the input of the block's (outside) ReLU, as RepDistiller's
preact features; students: the spikes leaving each block/stage.
"""

from __future__ import annotations

import torch
from torch import nn

from snn2hw.models.spiking import SpikingNet
from snn2hw.neurons import NeuronSpec, SpikingNeuron, TimeFolded

CFG = {
    "A": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "B": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
}


def _block(c_in: int, widths: tuple[int, ...]) -> nn.Sequential:
    """RepDistiller _make_layers with batch_norm: (conv-BN-ReLU)* without the final ReLU."""
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Conv2d(c_in, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
        c_in = w
    return nn.Sequential(*layers[:-1])


class RepVGG(nn.Module):
    """CIFAR VGG with BN in RepDistiller's layout (see module docstring)."""

    def __init__(self, cfg: str, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        c = in_shape[0]
        self.h = in_shape[1]
        for i, widths in enumerate(CFG[cfg]):
            self.add_module(f"block{i}", _block(c, widths))
            self.add_module(f"relu{i}", nn.ReLU())
            c = widths[-1]
        for i in range(4):
            self.add_module(f"pool{i}", nn.MaxPool2d(2, 2))
        self.pool4 = nn.AdaptiveAvgPool2d(1)
        # RepDistiller calls this layer `classifier`; here that name is the CAM pointer, so the
        # layer is `fc` and snn2hw.models.weights maps classifier.* -> fc.* on load.
        self.fc = nn.Linear(512, num_classes)
        self.feature_taps = {f"block{i}": f"relu{i}" for i in range(1, 5)}
        self.classifier = "fc"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i in range(5):
            h = getattr(self, f"relu{i}")(getattr(self, f"block{i}")(h))
            if i < 3 or (i == 3 and self.h == 64):
                h = getattr(self, f"pool{i}")(h)
        return self.fc(self.pool4(h).flatten(1))


def vgg13(in_shape: tuple[int, ...], num_classes: int) -> RepVGG:
    """VGG-13 with BN, RepDistiller's CIFAR layout."""
    return RepVGG("B", in_shape, num_classes)


def vgg11_sastc(in_shape, num_classes, timesteps, neuron: NeuronSpec) -> SpikingNet:
    """Spiking VGG-11 in the SemCKD/RepDistiller layout: pools after blocks 0-2, GAP, one linear."""
    body = nn.Sequential()
    c = in_shape[0]
    for i, widths in enumerate(CFG["A"]):
        block = nn.Sequential()
        for j, w in enumerate(widths):
            block.add_module(f"conv{j}", TimeFolded(nn.Conv2d(c, w, 3, padding=1)))
            block.add_module(f"bn{j}", TimeFolded(nn.BatchNorm2d(w)))
            block.add_module(f"sn{j}", SpikingNeuron(neuron))
            c = w
        body.add_module(f"block{i}", block)
        if i < 3:
            body.add_module(f"pool{i}", TimeFolded(nn.AvgPool2d(2)))
    body.add_module("gap", TimeFolded(nn.AdaptiveAvgPool2d(1)))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    return SpikingNet(body, nn.Linear(c, num_classes), timesteps=timesteps, in_shape=in_shape,
                      feature_taps=tuple(f"block{i}" for i in range(1, 5)))


def vgg11_kdsnn(in_shape, num_classes, timesteps, neuron: NeuronSpec) -> SpikingNet:
    """Spiking VGG-11 with a pooling after each of the 5 stages and an fc 512-512-classes head."""
    body = nn.Sequential()
    c, size = in_shape[0], in_shape[1]
    for i, widths in enumerate(CFG["A"], start=1):
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
    body.add_module("gap", TimeFolded(nn.AdaptiveAvgPool2d(1)))  # 1x1 already on 32x32 inputs
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    body.add_module("fc1", TimeFolded(nn.Linear(c, 512)))
    body.add_module("sn_fc1", SpikingNeuron(neuron))
    body.add_module("fc2", TimeFolded(nn.Linear(512, 512)))
    body.add_module("sn_fc2", SpikingNeuron(neuron))
    return SpikingNet(body, nn.Linear(512, num_classes), timesteps=timesteps, in_shape=in_shape,
                      feature_taps=tuple(f"stage{i}" for i in range(1, 6)))


TEACHERS = {"vgg13": vgg13}
STUDENTS = {"vgg11-sastc": vgg11_sastc, "vgg11-kdsnn": vgg11_kdsnn}
