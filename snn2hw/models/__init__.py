"""Student (spiking) and teacher (ANN) architectures, built by name from a ModelSpec."""

from snn2hw.models.registry import STUDENTS, TEACHERS, ModelSpec, build_model
from snn2hw.models.spiking import SpikingNet

__all__ = ["STUDENTS", "TEACHERS", "ModelSpec", "SpikingNet", "build_model"]
