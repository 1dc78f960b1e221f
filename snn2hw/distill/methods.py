"""Baseline (cross-entropy only) and response KD as DistillMethods."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from snn2hw.distill.base import DistillMethod, StepOutputs
from snn2hw.distill.kd import kd_loss


class Baseline(DistillMethod):
    """L = CE(student, y): the student alone, the reference every comparison uses."""

    needs_teacher = False

    def forward(self, out: StepOutputs) -> dict[str, torch.Tensor]:
        ce = F.cross_entropy(out.student_logits, out.targets)
        return {"loss": ce, "ce": ce}


class ResponseKD(DistillMethod):
    """L = CE(student, y) + weight * tau^2 * KL(teacher || student) on softened logits."""

    def __init__(self, tau: float, weight: float) -> None:
        super().__init__()
        self.tau, self.weight = tau, weight

    def forward(self, out: StepOutputs) -> dict[str, torch.Tensor]:
        assert out.teacher_logits is not None
        ce = F.cross_entropy(out.student_logits, out.targets)
        kd = kd_loss(out.student_logits, out.teacher_logits, self.tau)
        return {"loss": ce + self.weight * kd, "ce": ce, "kd": kd}
