"""The README is true as written: every command in it is well-formed and the cheap ones run.

What is checked, for every command line in README.md's code blocks (fenced ```bash blocks and
4-space indented lines that start with a program name):
- it starts with `uv run` (the first line: `pip install uv && uv run ...`), and every inline
  `python SCRIPT` mention in the text is written `uv run python SCRIPT`;
- `snn2hw ...` parts parse: the command exists and every option and value is accepted (click parses
  them without running anything); `python SCRIPT ...` parts name a file that exists and whose
  `--help` works (run in-process).
Then the `snn2hw` commands are run in README order, in-process through the same typer app the
`snn2hw` script calls, in one scratch folder (so `eval runs/my-run` finds the run that
`distill --name my-run` made, and `export`/`profile` without a folder take the latest run), with
one explicit cheapening, so the whole file takes about a minute instead of hours:
- distill / teacher: `--epochs 1` (and `--teacher-epochs 1`) and 64 train / 32 test images
  appended (later options win in click); `--resume` runs as written (the run it continues is
  complete after its 1 epoch, so nothing is left to train); event data also get `--cache-dir` in the scratch folder (the default cache sits
  beside the data, here the shared data folder);
- profile: `--samples 16` appended; simulate runs as written (it asks for 20 samples), but
  without `--compare`, which adds a Lava run in a child process (about a minute): that same
  command, on 3 samples, is tests/exporters/test_lava.py::
  test_cli_compare_reports_float_emulator_lava_and_agreement (`-m lava`).
Skipped, with the reason in the log: commands with a placeholder (`--data-root DATA`,
`runs/<name>`), commands whose dataset folder does not exist here (a DataError for a data root
that is absent; data that are present must load), `pytest` (this suite), `torchrun`
(tests/test_ddp.py covers it), and the benchmark scripts (minutes each; their `--help` is
checked).
"""

from __future__ import annotations

import re
import runpy
import shlex
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PROGRAMS = ("uv", "pip", "snn2hw", "python", "torchrun", "pytest")

TINY_DATA = ["--set", "data.train_subset=64", "--set", "data.test_subset=32"]
CHEAPEN = {
    "distill": ["--epochs", "1", "--teacher-epochs", "1", *TINY_DATA],
    "teacher": ["--epochs", "1", *TINY_DATA],
    "profile": ["--samples", "16"],
}


def readme_commands(text: str) -> list[str]:
    """Command lines of the README's fenced bash blocks and indented command lines."""
    cmds, fence = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
            continue
        if fence is not None:
            if fence in ("bash", "sh", "shell", "console") and line.strip():
                cmds.append(line.split("  #")[0].strip())
        elif line.startswith("    ") and line.split()[0] in PROGRAMS:
            cmds.append(line.strip())
    return cmds


def steps(command: str) -> list[list[str]]:
    """'pip install uv && uv run a && uv run b' -> [['pip', ...], ['a'], ['b']] (uv run dropped)."""
    out = []
    for part in command.split("&&"):
        argv = shlex.split(part)
        if argv[:2] == ["uv", "run"]:
            argv = argv[2:]
        out.append(argv)
    return out


COMMANDS = readme_commands(README.read_text())


def test_readme_has_the_commands_this_test_relies_on():
    assert COMMANDS[0] == "pip install uv && uv run snn2hw distill"
    assert COMMANDS[1] == "uv run pytest"
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("command", COMMANDS)
def test_every_readme_command_goes_through_uv_run(command):
    first = command.removeprefix("pip install uv && ")
    assert first.startswith("uv run "), f"README command without `uv run`: {command}"
    assert all(p.strip().startswith("uv run ") for p in first.split("&&")), command


def test_inline_python_scripts_are_written_with_uv_run():
    text = re.sub(r"```.*?```", "", README.read_text(), flags=re.S)  # fenced blocks hold no inline code
    spans = re.findall(r"`([^`]*)`", text)  # inline code spans, paired left to right
    bare = [c for c in spans if re.search(r"\bpython [\w/.-]+\.py", c) and not c.startswith("uv run ")]
    assert not bare, f"write these as `uv run python ...`: {bare}"


def _parse_snn2hw(argv: list[str]) -> None:
    """Let click (vendored by typer) parse argv for the snn2hw app, without running anything:
    an unknown command, option or a value of the wrong type fails."""
    import typer

    from snn2hw.cli import app

    group = typer.main.get_command(app)
    cmd = group.commands.get(argv[0])
    assert cmd is not None, f"`snn2hw {argv[0]}`: no such command (have {sorted(group.commands)})"
    try:
        cmd.make_context(argv[0], list(argv[1:]))
    except Exception as e:  # click's UsageError / BadParameter (typer vendors click privately)
        if not hasattr(e, "format_message"):
            raise
        raise AssertionError(f"`snn2hw {' '.join(argv)}`: {e.format_message()}") from None


def _script_help(script: str, capsys) -> str:
    path = REPO / script
    assert path.is_file(), f"README names {script}, which does not exist"
    old = sys.argv
    sys.argv = [str(path), "--help"]
    try:
        with pytest.raises(SystemExit) as e:
            runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = old
    assert e.value.code in (0, None), f"{script} --help failed"
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_readme_command_parses(command, capsys):
    for argv in steps(command):
        if argv[0] == "snn2hw":
            _parse_snn2hw(argv[1:])
        elif argv[0] == "python" and argv[1].endswith(".py"):
            assert "usage" in _script_help(argv[1], capsys).lower()
        elif argv[0] == "torchrun":
            assert argv[argv.index("-m") + 1] == "snn2hw"
            _parse_snn2hw(argv[argv.index("-m") + 2:])
        else:
            assert argv[0] in ("pip", "pytest"), f"unexpected program in README: {argv}"


def test_inline_benchmark_scripts_have_working_help(capsys):
    scripts = sorted(set(re.findall(r"`uv run python (benchmarks/[\w/.-]+\.py)", README.read_text())))
    assert scripts
    for s in scripts:
        assert "usage" in _script_help(s, capsys).lower()


PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]{2,}$|<[^>]+>")  # DATA, RUN_DIR, runs/<name>


class _DataAbsent(BaseException):
    """A dataset the command reads is not on this machine (its data root does not exist).

    A BaseException, so the CLI's funnel for unexpected errors (which turns any Exception into
    an "internal error", exit 1) lets it through to the runner."""


def _skip_reason(argv: list[str], cwd: Path) -> str | None:
    if argv[0] != "snn2hw":
        return f"`{argv[0]}` is not run here"
    if any(PLACEHOLDER.search(a) for a in argv):
        return "has a placeholder to fill in"
    if "--data-root" in argv:
        root = argv[argv.index("--data-root") + 1]
        if not (cwd / root).is_dir():
            return f"needs the dataset at --data-root {root}"
    return None


def _run_readme(cwd: Path, commands: list[str]) -> list[str]:
    """Run the commands' snn2hw steps in cwd; returns what was run (or skipped, and why)."""
    from typer.testing import CliRunner

    import snn2hw.pipeline
    from snn2hw.cli import app
    from snn2hw.errors import DataError

    real_load = snn2hw.pipeline.load_data

    def load_data(cfg):  # a DataError for a data root that does not exist here: skip, not fail
        try:
            return real_load(cfg)
        except DataError as e:
            if (cwd / cfg.data.data_root).exists():
                raise
            raise _DataAbsent(str(e)) from None

    mp = pytest.MonkeyPatch()
    mp.setattr(snn2hw.pipeline, "load_data", load_data)
    try:
        return _run_steps(cwd, commands, app, CliRunner)
    finally:
        mp.undo()


def _run_steps(cwd, commands, app, CliRunner) -> list[str]:

    log = []
    for command in commands:
        for argv in steps(command):
            reason = _skip_reason(argv, cwd)
            if reason:
                log.append(f"skipped {' '.join(argv)}: {reason}")
                continue
            args = argv[1:]
            if "--compare" in args:
                args.remove("--compare")  # the Lava half: tests/exporters/test_lava.py
            if "--resume" not in args:
                args = args + CHEAPEN.get(args[0], [])
                if "--data-root" in args:  # event data: frame cache in the scratch folder
                    args += ["--cache-dir", str(cwd / "frame-cache")]
            t0 = time.perf_counter()
            try:
                r = CliRunner().invoke(app, args)
            except _DataAbsent as e:
                log.append(f"skipped snn2hw {' '.join(args)}: data not here ({e})")
                continue
            assert r.exit_code == 0, f"README command `snn2hw {' '.join(args)}` failed:\n{r.output}"
            log.append(f"ran snn2hw {' '.join(args)}  ({time.perf_counter() - t0:.1f} s)")
            print(log[-1], flush=True)
    return log


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A folder laid out like the repository root: examples/, tests/fixtures/ and ../shared are
    reachable."""
    work = tmp_path / "repo"
    work.mkdir()
    (work / "examples").symlink_to(REPO / "examples")
    (work / "tests").mkdir()  # the netx fixtures the README simulates (files other tools wrote)
    (work / "tests" / "fixtures").symlink_to(REPO / "tests" / "fixtures")
    shared = REPO.parent / "shared"
    if shared.is_dir():
        (tmp_path / "shared").symlink_to(shared)
    monkeypatch.chdir(work)
    return work


def test_readme_commands_run(scratch):
    log = _run_readme(scratch, COMMANDS)
    print("\n".join(log))
    ran = [line for line in log if line.startswith("ran ")]
    # the README's own chain: the default distill, the distill section, export, simulate, profile
    for sub in ("distill", "teacher", "eval", "export", "simulate", "profile"):
        assert any(line.startswith(f"ran snn2hw {sub}") for line in ran), (sub, log)
    assert (scratch / "runs" / "my-run" / "export" / "model.net").is_file()
    assert (scratch / "runs" / "my-run" / "export" / "profile" / "report.html").is_file()


def readme_python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_python_block_runs(scratch, monkeypatch):
    """The README's Python example, as written except for the same cheapening (resolve_config
    gets 1 epoch each and 64/32 images added to its overrides)."""
    import snn2hw

    blocks = readme_python_blocks(README.read_text())
    assert blocks, "the README lost its Python API example"
    real = snn2hw.resolve_config
    tiny = {"teacher.epochs": 1, "train.epochs": 1, "data.train_subset": 64, "data.test_subset": 32}
    monkeypatch.setattr(snn2hw, "resolve_config", lambda path=None, overrides=None, assignments=():
                        real(path, {**(overrides or {}), **tiny}, assignments))
    for code in blocks:
        exec(compile(code, "README.md python block", "exec"), {"__name__": "__readme__"})
    run = next((scratch / "runs").iterdir())
    assert (run / "export" / "model.net").is_file()


def test_runner_skips_absent_data_and_placeholders_but_fails_real_errors(scratch):
    log = _run_readme(scratch, ["uv run snn2hw distill --dataset cifar10 --epochs 1",
                                "uv run snn2hw eval runs/<name>"])
    assert log[0].startswith("skipped snn2hw distill --dataset cifar10") and "data not here" in log[0]
    assert log[1].startswith("skipped snn2hw eval runs/<name>: has a placeholder")
    with pytest.raises(AssertionError, match="failed"):
        _run_readme(scratch, ["uv run snn2hw eval runs/no-such-run"])
