"""Fixtures of the fuzz tests (helpers and the tally live in fuzz_helpers)."""

from __future__ import annotations

from fuzz_helpers import fuzz_run, pytest_terminal_summary, run_copy  # noqa: F401 - fixtures/hook
