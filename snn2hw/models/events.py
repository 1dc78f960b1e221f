"""Networks for event frames [B, T, 2, H, W]: spiking students (VGGSNN, a small N-MNIST net) and
ANN teachers that see the frames with their time bins summed into one 2-channel event image."""

from __future__ import annotations

import torch
from torch import nn

from snn2hw.errors import ConfigError
from snn2hw.models.spiking import SpikingNet, conv_block
from snn2hw.neurons import NeuronSpec, SpikingNeuron, TimeFolded

# TET's VGGSNN: numbers are 3x3 conv widths (conv + BN + LIF), "A" is a 2x2 average pool.
VGGSNN_CFG: tuple = (64, 128, "A", 256, 256, "A", 512, 512, "A", 512, 512, "A")


def _pooled(size: int, n_pools: int) -> int:
    for _ in range(n_pools):
        size //= 2
    return size


def vggsnn(in_shape: tuple[int, ...], num_classes: int, timesteps: int, neuron: NeuronSpec) -> SpikingNet:
    """VGGSNN (TET; Deng et al. 2022): 64,128,AP,256,256,AP,512,512,AP,512,512,AP + linear readout.

    BN is applied to the T*B folded batch (TimeFolded), so it folds into the convs at export;
    average pooling only, no max pooling. Feature taps: the LIF output of each stage.
    """
    c, h, w = in_shape
    n_pools = VGGSNN_CFG.count("A")
    if _pooled(min(h, w), n_pools) < 1:
        raise ConfigError(f"vggsnn needs frames of at least 16x16 pixels (got {h}x{w}); raise --frame-size")
    body = nn.Sequential()
    taps = []
    c_in, conv_i, pool_i = c, 0, 0
    for item in VGGSNN_CFG:
        if item == "A":
            pool_i += 1
            body.add_module(f"pool{pool_i}", TimeFolded(nn.AvgPool2d(2)))
            taps.append(f"lif{conv_i}")
            continue
        conv_i += 1
        conv, bn, lif = conv_block(c_in, item, neuron, bn=True)
        body.add_module(f"conv{conv_i}", conv)
        body.add_module(f"bn{conv_i}", bn)
        body.add_module(f"lif{conv_i}", lif)
        c_in = item
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    flat = c_in * _pooled(h, n_pools) * _pooled(w, n_pools)
    return SpikingNet(body, nn.Linear(flat, num_classes), timesteps=timesteps, in_shape=in_shape,
                      feature_taps=tuple(taps))


def nmnist_snn(in_shape: tuple[int, ...], num_classes: int, timesteps: int, neuron: NeuronSpec) -> SpikingNet:
    """conv32-LIF-avgpool2 - conv64-LIF-avgpool2 - fc128-LIF - readout: small enough to train on
    N-MNIST (34x34) on a CPU in minutes; no BN, no max pooling (Loihi-ready like digits-snn)."""
    c, h, w = in_shape
    flat = 64 * (h // 2 // 2) * (w // 2 // 2)
    body = nn.Sequential()
    body.add_module("conv1", TimeFolded(nn.Conv2d(c, 32, 3, padding=1)))
    body.add_module("lif1", SpikingNeuron(neuron))
    body.add_module("pool1", TimeFolded(nn.AvgPool2d(2)))
    body.add_module("conv2", TimeFolded(nn.Conv2d(32, 64, 3, padding=1)))
    body.add_module("lif2", SpikingNeuron(neuron))
    body.add_module("pool2", TimeFolded(nn.AvgPool2d(2)))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    body.add_module("fc1", TimeFolded(nn.Linear(flat, 128)))
    body.add_module("lif3", SpikingNeuron(neuron))
    return SpikingNet(body, nn.Linear(128, num_classes), timesteps=timesteps, in_shape=in_shape,
                      feature_taps=("lif1", "lif2", "lif3"))


def event_image(x: torch.Tensor) -> torch.Tensor:
    """[B, T, C, H, W] frames -> [B, C, H, W] by summing the time bins (counts do not depend on T,
    so one teacher serves students of any T); [B, C, H, W] passes through."""
    return x.sum(1) if x.dim() == 5 else x


class EventCNN(nn.Module):
    """Small ANN teacher on summed frames: conv32-BN-ReLU-AP2 - conv64-BN-ReLU-AP2 - fc256 - fc."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        # tap name -> module whose input is the tap (the pre-ReLU feature); no CAM classifier
        # (the head is flatten + two linear layers, not one linear layer after global pooling).
        self.feature_taps = {"stage1": "stage1.2", "stage2": "stage2.2"}
        self.classifier = None
        c, h, w = in_shape
        self.stage1 = nn.Sequential(nn.Conv2d(c, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                                    nn.AvgPool2d(2))
        self.stage2 = nn.Sequential(nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                                    nn.AvgPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 256), nn.ReLU(),
                                  nn.Dropout(0.3), nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stage2(self.stage1(event_image(x))))


class VGGANN(nn.Module):
    """VGGSNN's layout with BN + ReLU instead of LIF: the ANN teacher for DVS-Gesture / CIFAR10-DVS.

    head "flatten" (vgg-ann): flatten + dropout + linear; head "pooled" (vgg-ann-gap): global
    average pooling + linear, which declares a CAM classifier (needed by ckdsnn).
    """

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, head: str = "flatten") -> None:
        super().__init__()
        c, h, w = in_shape
        layers: list[nn.Module] = []
        c_in = c
        taps = []
        for item in VGGSNN_CFG:
            if item == "A":
                taps.append(str(len(layers) - 1))  # the ReLU before this pooling
                layers.append(nn.AvgPool2d(2))
            else:
                layers += [nn.Conv2d(c_in, item, 3, padding=1, bias=False), nn.BatchNorm2d(item), nn.ReLU()]
                c_in = item
        self.features = nn.Sequential(*layers)
        # tap name -> module whose input is the tap (pre-ReLU feature of each stage); no CAM
        # classifier (the head is flatten + linear, not linear after global pooling).
        self.feature_taps = {f"stage{i + 1}": f"features.{t}" for i, t in enumerate(taps)}
        n_pools = VGGSNN_CFG.count("A")
        if _pooled(min(h, w), n_pools) < 1:
            raise ConfigError(f"vgg-ann needs frames of at least 16x16 pixels (got {h}x{w}); raise --frame-size")
        if head == "pooled":  # vgg-ann-gap: global average pooling + linear, so CAM applies
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))
            self.classifier = "head.2"
        else:
            self.classifier = None
            self.head = nn.Sequential(
                nn.Flatten(), nn.Dropout(0.2),
                nn.Linear(c_in * _pooled(h, n_pools) * _pooled(w, n_pools), num_classes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(event_image(x)))


def vgg_ann_gap(in_shape: tuple[int, ...], num_classes: int) -> VGGANN:
    """vgg-ann with a global-average-pooling + linear head (a CAM classifier, for ckdsnn)."""
    return VGGANN(in_shape, num_classes, head="pooled")
