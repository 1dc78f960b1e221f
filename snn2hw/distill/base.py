"""The interface every distillation method implements, and the batch record it receives."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class StepOutputs:
    """What one training step produced; methods read what they need."""

    targets: torch.Tensor
    student_logits: torch.Tensor
    """[B, classes], time-averaged readout."""
    teacher_logits: torch.Tensor | None = None
    student_features: dict[str, torch.Tensor] = field(default_factory=dict)
    """Tapped student features {name: [T, B, ...]}."""
    teacher_features: dict[str, torch.Tensor] = field(default_factory=dict)


class DistillMethod(nn.Module):
    """A loss over StepOutputs; may own trainable parts (connectors), trained with the student.

    forward returns {"loss": total, other named terms...} (the terms are logged per epoch).
    """

    needs_teacher: bool = True
    needs_features: bool = False

    def forward(self, out: StepOutputs) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError
