"""Residual networks of the four papers' headline tables, each as its reference code builds it.

Module names follow the reference implementations, so their published state dicts load with
`--teacher-weights` (see snn2hw.models.weights for the few key aliases):

- ResNet-19, CKDSNN variant (SinoLeu/CKDSNN, ann_models/resnet.py and snn_models/resnet_models.py):
  stem 128, stages 3-3-2 of widths 128/256/512, ResNet-D shortcut (avg-pool, 1x1 conv, BN).
  ANN head: global pool + one linear layer (`linear`). SNN: the last block ends in a ReLU instead
  of a spiking neuron, the head is fc 512->256->classes with no activation between.
- ResNet-19, TET variant (Deng et al. 2022; STBP-tdBN's layout): stem 128, stages 3-3-2 of
  128/256/512, 1x1-conv shortcut, head fc1 512->256, LIF, fc2 256->classes. SASTC's released code
  uses this network under the name "ResNet-18" (`resnet18-sastc`).
- PreResNet-20 (He et al. 2016b; dyhan0920/PyramidNet-PyTorch preresnet.py): 16/32/64, 3 blocks
  per stage, BN-ReLU-conv blocks, final BN-ReLU.
- PyramidNet (Han et al. 2017; dyhan0920/PyramidNet-PyTorch PyramidNet.py): widths grow by
  alpha / (number of blocks) per block, zero-padded identity shortcuts (avg-pool where strided).
  `pyramidnet20`: depth 20 (3 basic blocks per stage), alpha 48 (the reference code's default;
  SASTC does not state alpha). PyramidNet((18, 18, 18), 48, ...) is the paper's PyramidNet-110
  (1.7M parameters; tests check this count, it is not registered).
  `pyramidnet18` (KDSNN): 4 stages of 2 basic blocks from a 64-wide 3x3 stem, the naming of
  KDSNN's other CIFAR nets (ResNet18 = 4 stages of 2); KDSNN publishes no code, so alpha 71 is the
  value at which the parameter count equals its Table 3 (1.56M).
- WRN-d-k (Zagoruyko & Komodakis 2016; HobbitLong/RepDistiller wrn.py): pre-activation blocks,
  widths 16k/32k/64k, depth 6n+4.

Feature taps follow snn2hw's convention: a teacher tap names the module whose *input* is the
stage's pre-activation feature (the input of its last ReLU, or of the next pre-activation BN's
ReLU); a student tap names the body module whose output (spikes) is read.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from snn2hw.models.spiking import SpikingNet
from snn2hw.neurons import NeuronSpec, SpikingNeuron, TimeFolded

# ---------------------------------------------------------------- ResNet-19 (CKDSNN, ResNet-D)


class ResNetDBlock(nn.Module):
    """CKDSNN's block: act2(bn2(conv2(act1(bn1(conv1(x))))) + downsample(x)), downsample =
    avgpool(stride) -> 1x1 conv -> BN where stride or width change. act = ReLU (ANN) or a spiking
    neuron (SNN); `last_relu` makes act2 a ReLU in the SNN (the released code's last block)."""

    def __init__(self, c_in: int, c_out: int, stride: int, neuron: NeuronSpec | None = None,
                 last_relu: bool = False) -> None:
        super().__init__()
        wrap = (lambda m: m) if neuron is None else TimeFolded
        self.conv1 = wrap(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False))
        self.bn1 = wrap(nn.BatchNorm2d(c_out))
        self.spike1 = nn.ReLU() if neuron is None else SpikingNeuron(neuron)
        self.conv2 = wrap(nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False))
        self.bn2 = wrap(nn.BatchNorm2d(c_out))
        self.spike2 = nn.ReLU() if neuron is None or last_relu else SpikingNeuron(neuron)
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(wrap(nn.AvgPool2d(stride)),
                                            wrap(nn.Conv2d(c_in, c_out, 1, bias=False)),
                                            wrap(nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.downsample(x) if hasattr(self, "downsample") else x
        out = self.bn2(self.conv2(self.spike1(self.bn1(self.conv1(x)))))
        return self.spike2(out + residual)


def _resnetd_stages(c: int, blocks=(3, 3, 2), neuron: NeuronSpec | None = None):
    """(name, Sequential) per stage of widths c, 2c, 4c; the SNN's very last block ends in ReLU."""
    stages, c_in = [], c
    for i, n in enumerate(blocks):
        w = c * 2 ** i
        last_stage = i == len(blocks) - 1
        seq = nn.Sequential(*[
            ResNetDBlock(c_in if j == 0 else w, w, (1 if i == 0 else 2) if j == 0 else 1, neuron,
                         last_relu=last_stage and j == n - 1)
            for j in range(n)])
        stages.append((f"layer{i + 1}", seq))
        c_in = w
    return stages, c_in


class ResNet19CKDSNN(nn.Module):
    """ANN teacher ResNet-19 of CKDSNN: conv-BN-ReLU stem, 3-3-2 ResNet-D stages, GAP, `linear`."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int, width: int = 128) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_shape[0], width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        stages, c = _resnetd_stages(width)
        for name, seq in stages:
            self.add_module(name, seq)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(c, num_classes)
        self.feature_taps = {name: f"{name}.{len(seq) - 1}.spike2" for name, seq in stages}
        self.classifier = "linear"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        return self.linear(self.avgpool(h).flatten(1))


def resnet19_ckdsnn_snn(in_shape, num_classes, timesteps, neuron) -> SpikingNet:
    """Spiking ResNet-19 of CKDSNN: last block ReLU, head fc 512->256->classes (linear, so the
    time average may be taken before or after it: same logits)."""
    width = 128
    body = nn.Sequential()
    body.add_module("conv1", TimeFolded(nn.Conv2d(in_shape[0], width, 3, 1, 1, bias=False)))
    body.add_module("bn", TimeFolded(nn.BatchNorm2d(width)))
    body.add_module("spike", SpikingNeuron(neuron))
    stages, c = _resnetd_stages(width, neuron=neuron)
    for name, seq in stages:
        body.add_module(name, seq)
    body.add_module("avgpool", TimeFolded(nn.AdaptiveAvgPool2d(1)))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    body.add_module("fc2", TimeFolded(nn.Linear(c, 256)))
    net = SpikingNet(body, nn.Linear(256, num_classes), timesteps=timesteps, in_shape=in_shape,
                     feature_taps=tuple(name for name, _ in stages))
    net.analog_taps = ("layer3",)  # type: ignore[attr-defined]  # ends in a ReLU, not spikes
    return net


# ------------------------------------------------------- ResNet-19 (TET) = SASTC's "ResNet-18"


class TETBlock(nn.Module):
    """TET/STBP-tdBN block: act(bn2(conv2(act(bn1(conv1(x))))) + downsample(x)), 1x1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int, neuron: NeuronSpec | None = None) -> None:
        super().__init__()
        wrap = (lambda m: m) if neuron is None else TimeFolded
        act = (lambda: nn.ReLU()) if neuron is None else (lambda: SpikingNeuron(neuron))
        self.conv1 = wrap(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False))
        self.bn1 = wrap(nn.BatchNorm2d(c_out))
        self.act1 = act()
        self.conv2 = wrap(nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False))
        self.bn2 = wrap(nn.BatchNorm2d(c_out))
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(wrap(nn.Conv2d(c_in, c_out, 1, stride, bias=False)),
                                            wrap(nn.BatchNorm2d(c_out)))
        self.act2 = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.downsample(x) if hasattr(self, "downsample") else x
        return self.act2(self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x))))) + residual)


def _tet_stages(neuron: NeuronSpec | None, blocks=(3, 3, 2), widths=(128, 256, 512), stem=128):
    stages, c_in = [], stem
    for i, (n, w) in enumerate(zip(blocks, widths)):
        seq = nn.Sequential(*[TETBlock(c_in if j == 0 else w, w, (1 if i == 0 else 2) if j == 0 else 1,
                                       neuron) for j in range(n)])
        stages.append((f"layer{i + 1}", seq))
        c_in = w
    return stages, c_in


class ResNet19TET(nn.Module):
    """ANN ResNet-19 in TET's layout: stem, 3-3-2 stages, GAP, fc1 256, ReLU, fc2 (no CAM head)."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_shape[0], 128, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(128)
        self.relu = nn.ReLU()
        stages, c = _tet_stages(None)
        for name, seq in stages:
            self.add_module(name, seq)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(c, 256)
        self.relu_fc = nn.ReLU()
        self.fc2 = nn.Linear(256, num_classes)
        self.feature_taps = {name: f"{name}.{len(seq) - 1}.act2" for name, seq in stages}
        self.classifier = None  # two linear layers after pooling: no CAM

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        return self.fc2(self.relu_fc(self.fc1(self.avgpool(h).flatten(1))))


def resnet19_tet_snn(in_shape, num_classes, timesteps, neuron) -> SpikingNet:
    """Spiking ResNet-19 of TET (and SASTC's "ResNet-18"): ... GAP, fc1 256, LIF, fc2 readout."""
    body = nn.Sequential()
    body.add_module("conv1", TimeFolded(nn.Conv2d(in_shape[0], 128, 3, 1, 1, bias=False)))
    body.add_module("bn1", TimeFolded(nn.BatchNorm2d(128)))
    body.add_module("sn1", SpikingNeuron(neuron))
    stages, c = _tet_stages(neuron)
    for name, seq in stages:
        body.add_module(name, seq)
    body.add_module("avgpool", TimeFolded(nn.AdaptiveAvgPool2d(1)))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    body.add_module("fc1", TimeFolded(nn.Linear(c, 256)))
    body.add_module("sn_fc", SpikingNeuron(neuron))
    return SpikingNet(body, nn.Linear(256, num_classes), timesteps=timesteps, in_shape=in_shape,
                      feature_taps=tuple(name for name, _ in stages))


# --------------------------------------------------------------------------- PreResNet (CIFAR)


class PreActBlock(nn.Module):
    """dyhan's PreResNet block: conv2(relu(bn2(conv1(relu(bn1(x)))))) + shortcut; the projection
    (1x1 conv + BN) reads the pre-activated input ('preact') in the first block of a stage."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, project: bool = False) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        if project:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                            nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(x))
        residual = self.downsample(out) if hasattr(self, "downsample") else x
        out = self.conv2(self.relu2(self.bn2(self.conv1(out))))
        return out + residual


class PreResNet(nn.Module):
    """CIFAR PreResNet-(6n+2): conv 16, stages of n pre-activation blocks (16/32/64), BN-ReLU, GAP, fc."""

    def __init__(self, depth: int, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_shape[0], 16, 3, 1, 1, bias=False)
        c = 16
        for i, w in enumerate((16, 32, 64)):
            stride = 1 if i == 0 else 2
            blocks = [PreActBlock(c, w, stride, project=stride != 1 or c != w)]
            blocks += [PreActBlock(w, w) for _ in range(1, n)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            c = w
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)
        # Stage k's feature is the next stage's pre-activation: the input of its first relu1.
        self.feature_taps = {"layer1": "layer2.0.relu1", "layer2": "layer3.0.relu1", "layer3": "relu"}
        self.classifier = "fc"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return self.fc(self.avgpool(self.relu(self.bn1(h))).flatten(1))


# ---------------------------------------------------------------------------------- PyramidNet


class PyramidBlock(nn.Module):
    """dyhan's basic pyramidal block: bn3(conv2(relu(bn2(conv1(bn1(x)))))) + zero-padded shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.downsample = nn.AvgPool2d(2, 2, ceil_mode=True) if stride != 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.relu(self.bn2(self.conv1(self.bn1(x))))))
        shortcut = self.downsample(x) if self.downsample is not None else x
        pad = out.shape[1] - shortcut.shape[1]
        if pad:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, pad))
        return out + shortcut


class PyramidNet(nn.Module):
    """PyramidNet with basic blocks: stem conv-BN (no ReLU), len(blocks) stages whose widths grow
    by alpha / sum(blocks) per block, final BN-ReLU, GAP, fc."""

    def __init__(self, blocks: tuple[int, ...], alpha: float, in_shape: tuple[int, ...],
                 num_classes: int, stem: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_shape[0], stem, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        add = alpha / sum(blocks)
        width, c_in = float(stem), stem
        for i, n in enumerate(blocks):
            layer = []
            for j in range(n):
                width += add
                layer.append(PyramidBlock(c_in, round(width), 2 if (i > 0 and j == 0) else 1))
                c_in = round(width)
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
        self.bn_final = nn.BatchNorm2d(c_in)
        self.relu_final = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        k = self.num_stages = len(blocks)
        # A stage's output is a residual sum with no activation after it (the input of the next
        # stage's first bn1); the last stage's pre-activation is the input of relu_final.
        self.feature_taps = {f"layer{i}": f"layer{i + 1}.0.bn1" for i in range(1, k)}
        self.feature_taps[f"layer{k}"] = "relu_final"
        self.classifier = "fc"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn1(self.conv1(x))
        for i in range(1, self.num_stages + 1):
            h = getattr(self, f"layer{i}")(h)
        return self.fc(self.avgpool(self.relu_final(self.bn_final(h))).flatten(1))


# ------------------------------------------------------------------------ Wide ResNet (pre-act)


class WideBlock(nn.Module):
    """RepDistiller's WRN block: pre-activation BN-ReLU-conv twice; 1x1 convShortcut on the
    pre-activated input where the width changes."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.equal = c_in == c_out
        self.convShortcut = None if self.equal else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(act))))
        return out + (x if self.equal else self.convShortcut(act))


class _NetworkBlock(nn.Module):
    def __init__(self, n: int, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(*[WideBlock(c_in if i == 0 else c_out, c_out, stride if i == 0 else 1)
                                     for i in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    """WRN-depth-k (pre-activation): conv 16, block1..3 of n = (depth-4)/6 blocks, BN-ReLU, GAP, fc."""

    def __init__(self, depth: int, k: int, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        n = (depth - 4) // 6
        ch = (16, 16 * k, 32 * k, 64 * k)
        self.conv1 = nn.Conv2d(in_shape[0], ch[0], 3, 1, 1, bias=False)
        self.block1 = _NetworkBlock(n, ch[0], ch[1], 1)
        self.block2 = _NetworkBlock(n, ch[1], ch[2], 2)
        self.block3 = _NetworkBlock(n, ch[2], ch[3], 2)
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.relu = nn.ReLU()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(ch[3], num_classes)
        # RepDistiller's preact features: block2.layer[0].bn1(f1), block3.layer[0].bn1(f2), bn1(f3).
        self.feature_taps = {"block1": "block2.layer.0.relu1", "block2": "block3.layer.0.relu1",
                             "block3": "relu"}
        self.classifier = "fc"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.fc(self.avgpool(self.relu(self.bn1(h))).flatten(1))


# ------------------------------------------------------------------------------- registry hooks

TEACHERS = {
    "resnet19-ckdsnn": ResNet19CKDSNN,
    "resnet19-tet": ResNet19TET,
    "preresnet20": lambda in_shape, num_classes: PreResNet(20, in_shape, num_classes),
    "pyramidnet18": lambda in_shape, num_classes: PyramidNet((2, 2, 2, 2), 71, in_shape, num_classes, stem=64),
    "pyramidnet20": lambda in_shape, num_classes: PyramidNet((3, 3, 3), 48, in_shape, num_classes),
    "wrn40-2": lambda in_shape, num_classes: WideResNet(40, 2, in_shape, num_classes),
    "wrn28-4-preact": lambda in_shape, num_classes: WideResNet(28, 4, in_shape, num_classes),
}
STUDENTS = {
    "resnet19-ckdsnn": resnet19_ckdsnn_snn,
    "resnet19-tet": resnet19_tet_snn,
    "resnet18-sastc": resnet19_tet_snn,
}
