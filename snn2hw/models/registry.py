"""Architecture registry: a name -> builder map, and ModelSpec, the record that rebuilds a model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

from torch import nn

from snn2hw.errors import CheckpointError, ConfigError
from snn2hw.models import paper_resnets, paper_vgg, resnet, vgg
from snn2hw.models.digits import DigitsCNN, digits_snn
from snn2hw.models.events import VGGANN, EventCNN, nmnist_snn, vgg_ann_gap, vggsnn
from snn2hw.neurons import NeuronSpec

# Spiking students: builder(in_shape, num_classes, timesteps, neuron) -> SpikingNet.
STUDENTS: dict[str, Callable[..., nn.Module]] = {
    "digits-snn": digits_snn,
    "digits-resnet": resnet.student_builder("digits-resnet-student"),
    "vgg11": vgg.student_builder("vgg11"),
    "vgg16": vgg.student_builder("vgg16"),
    "resnet18": resnet.student_builder("resnet18"),
    "resnet19": resnet.student_builder("resnet19"),
    "wrn16-2": resnet.student_builder("wrn16-2"),
    "vggsnn": vggsnn,
    "nmnist-snn": nmnist_snn,
    "resnet14": resnet.student_builder("resnet14"),
    "resnet20": resnet.student_builder("resnet20"),
    # The papers' own variants (snn2hw/models/paper_*.py; docs/recipes.md says which is whose).
    **paper_resnets.STUDENTS,
    **paper_vgg.STUDENTS,
}
# ANN teachers: builder(in_shape, num_classes) -> nn.Module with feature_taps and classifier.
TEACHERS: dict[str, Callable[..., nn.Module]] = {
    "digits-cnn": DigitsCNN,
    "digits-resnet": resnet.teacher_builder("digits-resnet-teacher"),
    "resnet18": resnet.teacher_builder("resnet18"),
    "resnet34": resnet.teacher_builder("resnet34"),
    "resnet19": resnet.teacher_builder("resnet19"),
    "wrn28-4": resnet.teacher_builder("wrn28-4"),
    "vgg16": vgg.teacher_builder("vgg16"),
    "event-cnn": EventCNN,
    "vgg-ann": VGGANN,
    "vgg-ann-gap": vgg_ann_gap,
    "resnet20": resnet.teacher_builder("resnet20"),
    "resnet32x4": resnet.teacher_builder("resnet32x4"),
    **paper_resnets.TEACHERS,
    **paper_vgg.TEACHERS,
}


@dataclass
class ModelSpec:
    """Everything needed to rebuild a model from a state dict (saved inside checkpoints)."""

    role: str  # "student" or "teacher"
    arch: str
    in_shape: tuple[int, ...]
    num_classes: int
    timesteps: int = 1
    neuron: NeuronSpec = field(default_factory=NeuronSpec)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["in_shape"] = list(self.in_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        try:
            return cls(
                role=d["role"], arch=d["arch"], in_shape=tuple(d["in_shape"]),
                num_classes=int(d["num_classes"]), timesteps=int(d.get("timesteps", 1)),
                neuron=NeuronSpec(**d.get("neuron", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(
                f"the checkpoint's model record is incomplete or of an older format "
                f"({type(e).__name__}: {e}); "
                "re-create the checkpoint with this version of snn2hw"
            ) from None


def build_model(spec: ModelSpec) -> nn.Module:
    """Instantiate the architecture named in spec (student: spiking, teacher: ANN)."""
    table = STUDENTS if spec.role == "student" else TEACHERS
    if spec.arch not in table:
        raise ConfigError(
            f"unknown {spec.role} architecture {spec.arch!r}; choose one of "
            f"{', '.join(sorted(table))} (option --{spec.role}-arch)"
        )
    if spec.role == "student":
        return table[spec.arch](spec.in_shape, spec.num_classes, spec.timesteps, spec.neuron)
    return table[spec.arch](spec.in_shape, spec.num_classes)
