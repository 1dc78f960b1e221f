"""KDSNN feature distillation (Xu et al., CVPR 2023), with the masked L2 of Heo et al. 2019.

    L_distill = sum_i^{C*H*W}  0              if S_i <= T_i <= 0
                               (T_i - S_i)^2  otherwise
    L = L_task + alpha * L_distill

T is the teacher's pre-ReLU feature of a stage, S the student's time-averaged spike feature of
the paired stage after a learned connector (1x1 conv + BN to the teacher's channel count; the
larger of the two maps is average-pooled to the smaller one's size). The sum runs over C*H*W
per sample and is averaged over the batch. Several stage pairs are combined with Heo et al.'s
depth weights 1 / 2^(n-1-i) (the deepest pair weighs 1).

Defaults: alpha = 1e-3 (Heo et al.'s CIFAR setting; KDSNN states no value), stage pairs: the
last min(#student taps, #teacher taps) taps of each, matched by depth. Response KD is off
(weight 0) as in the paper's feature-based rows; set distill.weight to add it.

Response-based KDSNN (method "kdsnn", Algorithm 1): the student's response is its output spike
count / T, Q_s = (1/T) sum_t IF(readout_t), and
    L = CE(z) + w * tau^2 * KL(softmax(z_t / tau) || softmax(Q_s / tau)),   tau 4, w 1.
The IF output neurons take the student's neuron parameters (IF with the kdsnn preset) and run
on the readout's per-step currents; z, the readout averaged over T, stays the network's output
for CE and evaluation (a departure: in KDSNN the spike count is also the prediction; snn2hw's
exported students keep a non-spiking readout). kdsnn_response "readout" uses z in the KD term
(the former behaviour). The same choice applies to kdsnn-feature's optional KD term.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from snn2hw.distill.base import DistillMethod, FeatureShapes, StepOutputs, default
from snn2hw.distill.kd import kd_loss
from snn2hw.errors import ConfigError
from snn2hw.neurons import PRESETS, NeuronSpec, SpikingNeuron

ALPHA = 1e-3


def student_neuron(student: nn.Module) -> NeuronSpec:
    """The NeuronSpec of the student's first spiking layer (IF preset when it has none)."""
    for m in student.modules():
        if isinstance(m, SpikingNeuron):
            return m.spec
    return PRESETS["kdsnn"]


class OutputSpikes(nn.Module):
    """[T, B, K] readout currents -> [B, K] spike count / T of IF output neurons (no parameters)."""

    def __init__(self) -> None:
        super().__init__()
        self.neuron = SpikingNeuron(PRESETS["kdsnn"], backend="reference")

    def set_spec(self, spec: NeuronSpec) -> None:
        self.neuron = SpikingNeuron(spec, backend="reference")

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        return self.neuron(seq).mean(0)


def response_logits(out: StepOutputs, mode: str, spikes: OutputSpikes) -> torch.Tensor:
    """The student response entering KDSNN's KD term: output spike rate, or the readout mean."""
    if mode == "spikes":
        assert out.student_sequence is not None, "kdsnn needs the per-step readout"
        return spikes(out.student_sequence)
    return out.student_logits


def masked_l2(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Per-sample sum over all feature elements of (t - s)^2, skipping S <= T <= 0; batch mean."""
    keep = ~((s <= t) & (t <= 0))
    return ((t - s).pow(2) * keep).flatten(1).sum(1).mean()


def as_map(x: torch.Tensor) -> torch.Tensor:
    """[B, C] -> [B, C, 1, 1]; [B, C, H, W] unchanged (so vector taps can be paired too)."""
    return x[:, :, None, None] if x.dim() == 2 else x


def match_spatial(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Average-pool the spatially larger of two [B, C, H, W] maps to the other's size."""
    if a.shape[-2:] == b.shape[-2:]:
        return a, b
    if a.shape[-2] * a.shape[-1] > b.shape[-2] * b.shape[-1]:
        return F.adaptive_avg_pool2d(a, b.shape[-2:]), b
    return a, F.adaptive_avg_pool2d(b, a.shape[-2:])


def _channels(shape: tuple[int, ...]) -> int:
    return shape[0]


def resolve_pairs(pairs: list[str], shapes: FeatureShapes) -> list[tuple[str, str]]:
    """'student_tap:teacher_tap' strings, or by default the deepest taps matched by depth."""
    s_taps, t_taps = list(shapes.student), list(shapes.teacher)
    if not s_taps:
        raise ConfigError(
            "this method reads student feature taps, but the student architecture declares none; "
            "use a student with taps (--student-arch digits-resnet, resnet18, vgg11, ...)"
        )
    if not pairs:
        n = min(len(s_taps), len(t_taps))
        return list(zip(s_taps[-n:], t_taps[-n:]))
    out = []
    for p in pairs:
        if p.count(":") != 1:
            raise ConfigError(f"distill.feature_pairs entry {p!r} must look like 'student_tap:teacher_tap'")
        s, t = p.split(":")
        if s not in s_taps:
            raise ConfigError(f"distill.feature_pairs: the student has no tap {s!r}; its taps are {', '.join(s_taps)}")
        if t not in t_taps:
            raise ConfigError(f"distill.feature_pairs: the teacher has no tap {t!r}; its taps are {', '.join(t_taps)}")
        out.append((s, t))
    return out


def connector(c_in: int, c_out: int) -> nn.Sequential:
    """1x1 conv + BN: maps student channels to the teacher's."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))


class KDSNNFeature(DistillMethod):
    """L = CE + alpha * sum_pairs w_i * masked_L2(connector(mean_t S), T) [+ weight * KD]."""

    needs_features = True

    def __init__(self, alpha: float | None = None, pairs: list[str] | None = None,
                 kd_weight: float | None = None, tau: float | None = None,
                 response: str = "spikes") -> None:
        super().__init__()
        self.response = response
        self.spikes = OutputSpikes()
        self.alpha = default(alpha, ALPHA)
        self.kd_weight = default(kd_weight, 0.0)
        self.tau = default(tau, 4.0)
        self.pair_spec = list(pairs or [])
        self.pairs: list[tuple[str, str]] = []
        self.connectors = nn.ModuleDict()

    def check_models(self, student: nn.Module, teacher: nn.Module | None) -> None:
        self.spikes.set_spec(student_neuron(student))

    def bind(self, shapes: FeatureShapes) -> None:
        self.pairs = resolve_pairs(self.pair_spec, shapes)
        for s, t in self.pairs:
            self.connectors[f"{s}__{t}"] = connector(_channels(shapes.student[s]),
                                                     _channels(shapes.teacher[t]))

    def forward(self, out: StepOutputs) -> dict[str, torch.Tensor]:
        ce = F.cross_entropy(out.student_logits, out.targets)
        n = len(self.pairs)
        feat = ce.new_zeros(())
        for i, (s, t) in enumerate(self.pairs):
            s_map = as_map(out.student_features[s].mean(0))  # time-averaged spikes
            t_map = as_map(out.teacher_features[t].detach())
            s_map, t_map = match_spatial(s_map, t_map)
            s_map = self.connectors[f"{s}__{t}"](s_map)
            feat = feat + masked_l2(s_map, t_map) / 2 ** (n - 1 - i)
        terms = {"ce": ce, "feature": feat}
        loss = ce + self.alpha * feat
        if self.kd_weight > 0:
            kd = kd_loss(response_logits(out, self.response, self.spikes), out.teacher_logits,
                         self.tau)
            terms["kd"] = kd
            loss = loss + self.kd_weight * kd
        return {"loss": loss, **terms}


class KDSNNResponse(DistillMethod):
    """KDSNN Algorithm 1: L = CE(readout) + w * KD(teacher, output spike count / T)."""

    needs_sequence = True

    def __init__(self, tau: float | None = None, weight: float | None = None,
                 response: str = "spikes") -> None:
        super().__init__()
        self.tau, self.weight, self.response = default(tau, 4.0), default(weight, 1.0), response
        self.spikes = OutputSpikes()

    def check_models(self, student: nn.Module, teacher: nn.Module | None) -> None:
        self.spikes.set_spec(student_neuron(student))

    def forward(self, out: StepOutputs) -> dict[str, torch.Tensor]:
        ce = F.cross_entropy(out.student_logits, out.targets)
        kd = kd_loss(response_logits(out, self.response, self.spikes), out.teacher_logits, self.tau)
        return {"loss": ce + self.weight * kd, "ce": ce, "kd": kd}
