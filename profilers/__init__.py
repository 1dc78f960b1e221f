"""Measuring what a network does: spike activity, exact SynOps, ANN FLOPs, energy, reports."""

from profilers.errors import ProfileError

__all__ = ["ProfileError"]
