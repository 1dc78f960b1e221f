"""The interface every distillation method implements, and the batch record it receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    """Tapped student features per time step {name: [T, B, ...]} (spikes leaving the layer)."""
    teacher_features: dict[str, torch.Tensor] = field(default_factory=dict)
    """Tapped teacher features {name: [B, ...]}: pre-activations (apply ReLU for the output)."""
    teacher_classifier: torch.Tensor | None = None
    """Weight [classes, C] of the teacher's linear layer after global pooling (for CAM)."""
    student_sequence: torch.Tensor | None = None
    """[T, B, classes] readout per time step (given to methods with needs_features or
    needs_sequence)."""


@dataclass(frozen=True)
class FeatureShapes:
    """Per-sample shapes of the tapped features, probed once before training."""

    student: dict[str, tuple[int, ...]]
    """{tap: shape of one sample at one time step}, in the student's tap order (shallow first)."""
    teacher: dict[str, tuple[int, ...]]
    """{tap: shape of one sample}, in the teacher's tap order (shallow first)."""
    num_classes: int
    has_classifier: bool = False
    """Whether the teacher declares a CAM classifier (linear layer after global pooling)."""
    batch: int | None = None
    """Per-process training batch size (global batch / data-parallel ranks), when known."""


class DistillMethod(nn.Module):
    """A loss over StepOutputs; may own trainable parts (connectors), trained with the student.

    forward returns {"loss": total, other named terms...} (the terms are logged per epoch).
    Methods with needs_features = True receive tapped student and teacher features; their
    trainable parts are created in bind(), once the feature shapes are known and before the
    optimizer is built.
    """

    needs_teacher: bool = True
    needs_features: bool = False
    needs_sequence: bool = False
    """Whether the method reads the per-step readout (StepOutputs.student_sequence)."""

    def bind(self, shapes: FeatureShapes) -> None:
        """Create shape-dependent parts and check the taps fit (ConfigError otherwise)."""

    def check_models(self, student: nn.Module, teacher: nn.Module | None) -> None:
        """Raise ConfigError when the student/teacher architectures do not suit the method."""

    def init_student(self, student: nn.Module, teacher: nn.Module | None) -> dict[str, Any]:
        """Initialise the freshly built student (never on resume); returns what was done."""
        return {}

    def forward(self, out: StepOutputs) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError


def default(value: float | None, fallback: float) -> float:
    """A config value, or the method's paper default when the config leaves it unset (None)."""
    return fallback if value is None else float(value)
