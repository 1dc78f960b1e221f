"""Spiking neurons: pure step functions, surrogates, and thin multi-step modules."""

from snn2hw.neurons.layers import PRESETS, NeuronSpec, SpikingNeuron, TimeFolded

__all__ = ["PRESETS", "NeuronSpec", "SpikingNeuron", "TimeFolded"]
