"""Spiking neurons: pure step functions, surrogates, and thin multi-step modules."""

from snn2hw.neurons.layers import (
                                   BACKENDS,
                                   PRESETS,
                                   NeuronSpec,
                                   SpikingNeuron,
                                   TimeFolded,
                                   set_backend,
)

__all__ = ["BACKENDS", "PRESETS", "NeuronSpec", "SpikingNeuron", "TimeFolded", "set_backend"]
