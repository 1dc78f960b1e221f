"""CKDSNN (Liu et al., "A Closer Look at Knowledge Distillation in SNN Training"): SAMD + NLD.

SAMD, saliency-scaled activation map distillation:
    CAM_b(h, w) = ReLU(sum_c W[c*_b, c] * F_b(c, h, w))  teacher's last-stage map F (after ReLU),
                                                    W the fc weight, c*_b the predicted class
    SAM_b(h, w) = sum_t sum_c S_b(t, c, h, w)        student's last-stage spikes
    M~ = (M - min M) / (max M - min M + 1e-3)        min-max over the batch
    p = softmax(flatten_hw(M~) / tau_s)              one distribution per sample
    L_SAMD = mean_b KL(p_CAM || p_SAM)
(when the maps differ in size the larger is average-pooled to the smaller). The ReLU on the CAM
and the 1e-3 of the min-max are the released code's (utils compute_cam / getForwardCAM).

NLD, noise-smoothed logits distillation, nld_mode "mix" (default, the released code's
soft_loss_smooth): the student distribution entering the KD term is a mixture
    p~_s = w * softmax(z / tau) + (1 - w) * softmax(n / tau),
    n = mean_classes(z) + eps * var_classes(z),  eps ~ N(0, I),   w = nld_weight (0.9)
(n is a noise vector built from the logits' mean and variance, not added to the logits), and
    KD = tau^2 * KL(softmax(z_t / tau) || p~_s).
nld_mode "additive" (snn2hw's earlier reading of the paper's "adaptive noise"): z~ = z + scale
* std_classes(z) * eps (std detached) replaces z in the ordinary KD term. No noise at
evaluation (the method is only called in training steps); nld false = plain KD.

Total: L = CE(z) + w_kd * KD + gamma * L_SAMD.
Defaults: tau 2, w_kd 1, gamma 1, tau_s 2 (the released plt_train_kd_ckd_snn.py), nld_weight 0.9
(the released configs' noise_weight).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from snn2hw.distill.base import DistillMethod, FeatureShapes, StepOutputs, default
from snn2hw.distill.kd import kd_loss
from snn2hw.errors import ConfigError


def cam(feature: torch.Tensor, fc_weight: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] x [K, C] x [B] -> [B, H, W]: ReLU of the channels weighted by each sample's
    class row (negative evidence dropped, as the released compute_cam)."""
    return F.relu(torch.einsum("bchw,bc->bhw", feature, fc_weight[classes]))


def sam(spikes: torch.Tensor) -> torch.Tensor:
    """[T, B, C, H, W] -> [B, H, W]: spike counts summed over time and channels."""
    return spikes.sum(dim=(0, 2))


def minmax(m: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """(m - min) / (max - min) with min and max over the whole batch."""
    lo, hi = m.min(), m.max()
    return (m - lo) / (hi - lo + eps)


def pool_to_common(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Average-pool the larger of two [B, H, W] maps to the smaller one's size."""
    if a.shape[-2:] == b.shape[-2:]:
        return a, b
    if a.shape[-2] * a.shape[-1] > b.shape[-2] * b.shape[-1]:
        return F.adaptive_avg_pool2d(a[:, None], b.shape[-2:])[:, 0], b
    return a, F.adaptive_avg_pool2d(b[:, None], a.shape[-2:])[:, 0]


def samd_loss(sam_map: torch.Tensor, cam_map: torch.Tensor, tau: float) -> torch.Tensor:
    """mean_b KL(softmax(minmax(CAM)/tau) || softmax(minmax(SAM)/tau)) over spatial positions."""
    sam_map, cam_map = pool_to_common(sam_map, cam_map)
    log_p_s = F.log_softmax(minmax(sam_map).flatten(1) / tau, dim=1)
    log_p_t = F.log_softmax(minmax(cam_map).flatten(1) / tau, dim=1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(1).mean()


def nld_mixture(z: torch.Tensor, tau: float, weight: float,
                eps: torch.Tensor | None = None) -> torch.Tensor:
    """w * softmax(z/tau) + (1-w) * softmax((mean(z) + eps * var(z))/tau): the released NLD's
    smoothed student distribution [B, K] (eps ~ N(0, I) unless given)."""
    if eps is None:
        eps = torch.randn_like(z)
    noise = z.mean(-1, keepdim=True) + eps * z.var(-1, keepdim=True)
    return weight * F.softmax(z / tau, dim=-1) + (1 - weight) * F.softmax(noise / tau, dim=-1)


def kd_from_probs(p_s: torch.Tensor, teacher_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """tau^2 * KL(softmax(z_t/tau) || p_s), batch mean, for a student given as probabilities."""
    log_p_t = F.log_softmax(teacher_logits.detach() / tau, dim=-1)
    return tau * tau * (log_p_t.exp() * (log_p_t - p_s.clamp_min(1e-12).log())).sum(-1).mean()


def noisy_logits(z: torch.Tensor, scale: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """z + scale * std_classes(z) * N(0, 1) (std detached): NLD's smoothed student logits."""
    sigma = z.detach().std(dim=-1, keepdim=True) * scale
    eps = torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
    return z + sigma * eps


class CKDSNN(DistillMethod):
    """L = CE + w * KD(noisy student logits) + gamma * SAMD(student SAM, teacher CAM)."""

    needs_features = True

    def __init__(self, tau: float | None = None, kd_weight: float | None = None,
                 samd_weight: float | None = None, samd_tau: float = 2.0, nld: bool = True,
                 nld_scale: float = 1.0, nld_mode: str = "mix", nld_weight: float = 0.9) -> None:
        super().__init__()
        self.tau, self.kd_weight = default(tau, 2.0), default(kd_weight, 1.0)
        self.samd_weight, self.samd_tau = default(samd_weight, 1.0), samd_tau
        self.nld, self.nld_scale = nld, nld_scale
        self.nld_mode, self.nld_weight = nld_mode, nld_weight
        self.s_tap = self.t_tap = ""

    def bind(self, shapes: FeatureShapes) -> None:
        spatial = [n for n, s in shapes.student.items() if len(s) == 3]
        if not spatial:
            raise ConfigError(
                "ckdsnn reads the student's last convolutional stage (a spike activation map), but "
                "the student declares no spatial feature tap; use a conv student such as "
                "--student-arch digits-resnet, resnet18 or vgg11"
            )
        if not shapes.has_classifier:
            raise ConfigError(
                "ckdsnn builds the teacher's class activation map from a linear classifier right "
                "after global pooling, which this teacher architecture does not have; use a "
                "ResNet/VGG teacher (--teacher-arch digits-resnet, resnet18, vgg16, ...; on event "
                "data --teacher-arch vgg-ann-gap)"
            )
        self.s_tap, self.t_tap = spatial[-1], list(shapes.teacher)[-1]

    def forward(self, out: StepOutputs) -> dict[str, torch.Tensor]:
        z = out.student_logits
        ce = F.cross_entropy(z, out.targets)
        if self.nld and self.training and self.nld_mode == "mix":
            kd = kd_from_probs(nld_mixture(z, self.tau, self.nld_weight), out.teacher_logits,
                               self.tau)
        else:
            noisy = self.nld and self.training
            kd = kd_loss(noisy_logits(z, self.nld_scale) if noisy else z, out.teacher_logits,
                         self.tau)
        t_feat = F.relu(out.teacher_features[self.t_tap].detach())
        cam_map = cam(t_feat, out.teacher_classifier.detach(), out.teacher_logits.argmax(-1))
        samd = samd_loss(sam(out.student_features[self.s_tap]), cam_map, self.samd_tau)
        return {"loss": ce + self.kd_weight * kd + self.samd_weight * samd, "ce": ce, "kd": kd,
                "samd": samd}
