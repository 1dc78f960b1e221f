"""Teacher feature taps: forward hooks on the modules each architecture declares, set up once."""

from __future__ import annotations

import torch
from torch import nn

from snn2hw.errors import ConfigError


def teacher_tap_modules(teacher: nn.Module, arch: str) -> dict[str, nn.Module]:
    """{tap: module} from the teacher's declared `feature_taps` {tap: module path}."""
    declared = getattr(teacher, "feature_taps", None)
    if not isinstance(declared, dict) or not declared:
        raise ConfigError(
            f"teacher architecture {arch!r} declares no feature taps, which this distillation "
            "method reads; use a teacher with taps (e.g. --teacher-arch resnet18, digits-resnet) "
            "or a response-only method (--method kd)"
        )
    out = {}
    for name, path in declared.items():
        try:
            out[name] = teacher.get_submodule(path)
        except AttributeError:  # pragma: no cover - a bug in an architecture's declaration
            raise ConfigError(f"teacher {arch!r} declares tap {name!r} at missing module {path!r}") from None
    return out


class TeacherTaps:
    """Records the input of each tapped module (the pre-activation) on every teacher forward."""

    def __init__(self, teacher: nn.Module, arch: str) -> None:
        self.features: dict[str, torch.Tensor] = {}
        self._handles = []
        for name, module in teacher_tap_modules(teacher, arch).items():
            self._handles.append(module.register_forward_hook(self._hook(name)))

    def _hook(self, name: str):
        def record(module, inputs, output):
            self.features[name] = inputs[0]

        return record

    def pop(self) -> dict[str, torch.Tensor]:
        """The features of the last forward, in declaration order; clears the record."""
        out, self.features = self.features, {}
        return out

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


def classifier_weight(teacher: nn.Module) -> torch.Tensor | None:
    """Weight of the teacher's declared CAM classifier, or None if it declares none."""
    name = getattr(teacher, "classifier", None)
    return teacher.get_submodule(name).weight if name else None
