"""Errors the exporters raise: each names the layer or file at fault and what to change."""

from __future__ import annotations

from snn2hw.errors import Snn2hwError


class ExportError(Snn2hwError):
    """The model cannot be exported to the chosen target as it is (names the layer and the fix)."""


class SimulationError(Snn2hwError):
    """A netx file or export directory cannot be simulated (corrupt, unsupported, Lava failure)."""
