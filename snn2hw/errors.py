"""User-facing errors: one paragraph that names the problem and the fix."""

from __future__ import annotations


class Snn2hwError(Exception):
    """An error caused by the user's input (file, flag, dataset), not by a bug.

    The CLI prints its message as one paragraph and exits with code 2, no traceback.
    """


class ConfigError(Snn2hwError):
    """A configuration key, value or combination is invalid."""


class DataError(Snn2hwError):
    """A dataset is missing, incomplete or malformed."""


class CheckpointError(Snn2hwError):
    """A checkpoint or run directory is missing, corrupt or of the wrong kind."""
