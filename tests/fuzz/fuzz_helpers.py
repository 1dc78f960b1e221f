"""Fuzz-test helpers: one tiny real run + export shared by every case, the check that a bad input
was rejected cleanly, and a tally of inputs tried / tracebacks / torn files printed at the end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tiny_run import TINY_ARGS

# Counted over the session and printed in the terminal summary (the closing numbers).
TALLY = {"bad inputs tried": 0, "ended in a traceback or internal error": 0,
         "wrong exit code": 0, "left partial output": 0,
         "kill/disk-full trials": 0, "files torn or lost": 0}


def pytest_terminal_summary(terminalreporter):
    if TALLY["bad inputs tried"] or TALLY["kill/disk-full trials"]:
        terminalreporter.write_sep("-", "hostile-input tally")
        for k, v in TALLY.items():
            terminalreporter.write_line(f"{k}: {v}")


def tree(path: Path) -> set[str]:
    """Every file and folder below `path` (relative names), to detect leftovers."""
    path = Path(path)
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


def rejected(r, *fragments: str, unchanged: tuple[Path, set[str]] | None = None) -> None:
    """Assert a clean user error: exit code 2, one 'Error:' paragraph naming the problem
    (fragments, case-insensitive), no traceback, and (if given) no file added under a folder."""
    TALLY["bad inputs tried"] += 1
    out = r.output
    crashed = ("Traceback" in out or "internal error" in out
               or (r.exception is not None and not isinstance(r.exception, SystemExit)))
    if crashed:
        TALLY["ended in a traceback or internal error"] += 1
    elif r.exit_code != 2:
        TALLY["wrong exit code"] += 1
    left = set()
    if unchanged is not None:
        left = tree(unchanged[0]) - unchanged[1]
        if left:
            TALLY["left partial output"] += 1
    assert not crashed, out or repr(r.exception)
    assert r.exit_code == 2, out
    assert "Error: " in out, out
    err = out[out.index("Error: "):].strip()  # progress output of a started run may precede it
    assert "\n" not in err, f"not one paragraph: {err!r}"
    for f in fragments:
        assert f.lower() in err.lower(), (f, err)
    assert not left, f"left behind: {sorted(left)}"


@pytest.fixture(scope="session")
def fuzz_run(tmp_path_factory) -> Path:
    """A real few-second run (digits) with a Loihi export in RUN/export."""
    from typer.testing import CliRunner

    from snn2hw.cli import app

    runs = tmp_path_factory.mktemp("fuzzruns")
    r = CliRunner().invoke(app, ["distill", "--name", "good", "--runs-dir", str(runs), *TINY_ARGS])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["export", str(runs / "good")])
    assert r.exit_code == 0, r.output
    return runs / "good"


@pytest.fixture
def run_copy(fuzz_run, tmp_path) -> Path:
    """A private copy of the good run (with its export), free to edit."""
    dst = tmp_path / "runs" / "good"
    shutil.copytree(fuzz_run, dst)
    return dst


def rejected_cli(cli, tmp_path: Path, args: list, fragments) -> None:
    """Run `snn2hw ARGS --runs-dir TMP/runs` and assert a clean rejection that creates no run."""
    runs = tmp_path / "runs"
    before = tree(tmp_path)
    extra = [] if args[0] in ("eval", "export", "simulate", "profile") else ["--runs-dir", runs]
    r = cli(*args, *extra)
    rejected(r, *fragments, unchanged=(tmp_path, before | ({"runs"} if runs.exists() else set())))
