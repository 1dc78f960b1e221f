"""The profilers' user-facing error (printed by the CLI as one paragraph, exit code 2)."""

from __future__ import annotations

from snn2hw.errors import Snn2hwError


class ProfileError(Snn2hwError):
    """A model, run directory, cost table or option that the profiler cannot handle."""
