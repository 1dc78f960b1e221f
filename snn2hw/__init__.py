"""snn2hw: spiking networks from training to (simulated) Loihi."""
__version__ = "0.1.0"
