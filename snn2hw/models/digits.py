"""Networks for the embedded 8x8 digits set: a Loihi-friendly spiking student and a small CNN teacher."""

from __future__ import annotations

from torch import nn

from snn2hw.models.spiking import SpikingNet
from snn2hw.neurons import NeuronSpec, SpikingNeuron, TimeFolded


def digits_snn(
    in_shape: tuple[int, ...], num_classes: int, timesteps: int, neuron: NeuronSpec
) -> SpikingNet:
    """conv16-LIF-avgpool2 - conv32-LIF-avgpool2 - fc64-LIF - fc(classes) readout.

    Only layers Loihi/netx can run: conv, average pooling (lowered to strided conv on export),
    flatten, dense. No BN, no max pooling, no residual adds.
    """
    c, h, w = in_shape
    flat = 32 * (h // 4) * (w // 4)
    body = nn.Sequential()
    body.add_module("conv1", TimeFolded(nn.Conv2d(c, 16, 3, padding=1)))
    body.add_module("lif1", SpikingNeuron(neuron))
    body.add_module("pool1", TimeFolded(nn.AvgPool2d(2)))
    body.add_module("conv2", TimeFolded(nn.Conv2d(16, 32, 3, padding=1)))
    body.add_module("lif2", SpikingNeuron(neuron))
    body.add_module("pool2", TimeFolded(nn.AvgPool2d(2)))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    body.add_module("fc1", TimeFolded(nn.Linear(flat, 64)))
    body.add_module("lif3", SpikingNeuron(neuron))
    return SpikingNet(
        body, nn.Linear(64, num_classes), timesteps=timesteps, in_shape=in_shape,
        feature_taps=("lif1", "lif2", "lif3"),
    )


class DigitsCNN(nn.Module):
    """conv32-BN-ReLU - conv64-BN-ReLU - avgpool2 - fc128-ReLU - fc(classes)."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        # tap name -> module whose input (the pre-activation) is the tap. No CAM classifier:
        # the head is two linear layers after a flatten, not one after global pooling.
        self.feature_taps = {"stage1": "stage1.2", "stage2": "stage2.2"}
        self.classifier = None
        c, h, w = in_shape
        self.stage1 = nn.Sequential(nn.Conv2d(c, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.stage2 = nn.Sequential(
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.AvgPool2d(2)
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(64 * (h // 2) * (w // 2), 128), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(128, num_classes),
        )

    def forward(self, x):
        return self.head(self.stage2(self.stage1(x)))
