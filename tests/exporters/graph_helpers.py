"""Small residual students built in memory for the graph-export tests."""

from __future__ import annotations

import torch
from torch import nn

from snn2hw.models.resnet import ResNetShape, spiking_resnet
from snn2hw.neurons import PRESETS, NeuronSpec


def randomize_bn(net: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine parameters, so that folding is really tested."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.75)
                m.bias.copy_(torch.rand(n, generator=g) * 0.2)


def tiny_resnet(spec: NeuronSpec | None = None, seed: int = 0, timesteps: int = 4,
                stem: int = 4, widths=(4, 6), strides=(1, 2), in_shape=(1, 8, 8),
                classes: int = 5):
    """Stem conv + one identity block + one block with a stride-2 1x1-conv shortcut + readout."""
    torch.manual_seed(seed)
    spec = spec or PRESETS["idsnn"]
    net = spiking_resnet(ResNetShape(stem, tuple(widths), (1,) * len(widths), tuple(strides)),
                         in_shape, classes, timesteps, spec)
    randomize_bn(net, seed)
    with torch.no_grad():  # make the layers fire
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(2.5)
    return net.eval()
