"""The Python API of `import snn2hw`, examples/python_api.py (rerunnable), and the CLI's own texts."""

from __future__ import annotations

import importlib
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import snn2hw

REPO = Path(__file__).resolve().parents[1]
# Cheapening for the example (it trains 5 + 10 epochs on all 1437 images as written).
TINY = {"teacher.epochs": 1, "train.epochs": 1, "data.train_subset": 64, "data.test_subset": 32}


def test_import_is_light_and_every_api_name_resolves():
    code = ("import sys, snn2hw; assert 'torch' not in sys.modules, 'import snn2hw pulled torch'; "
            "print(len(snn2hw.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    for name in snn2hw.__all__:
        assert getattr(snn2hw, name) is not None, name
    for name in ("distill", "train_teacher", "evaluate_run", "export", "simulate", "profile",
                 "load_model", "resolve_config"):
        assert callable(getattr(snn2hw, name)) and getattr(snn2hw, name).__doc__, name
    assert issubclass(snn2hw.Snn2hwError, Exception)
    importlib.import_module("snn2hw.distill.kd")  # the methods subpackage of the same name
    from snn2hw.distill import build_method

    assert callable(snn2hw.distill) and snn2hw.distill.__module__ == "snn2hw"
    assert build_method.__module__.startswith("snn2hw.distill")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        snn2hw.nope  # noqa: B018


def test_version_matches_pyproject_and_cli(cli):
    declared = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert snn2hw.__version__ == declared.group(1)
    r = cli("--version")
    assert r.exit_code == 0 and r.output.strip() == f"snn2hw {snn2hw.__version__}"


def test_resolve_config_takes_overrides_alone():
    cfg = snn2hw.resolve_config(overrides={"train.epochs": 3, "data.dataset": "digits"})
    assert cfg.train.epochs == 3 and cfg.name is None
    assert snn2hw.resolve_config().train.epochs == 60


def test_example_runs_twice_in_the_same_folder(tmp_path, monkeypatch):
    """As written except TINY: both runs succeed, each in its own run folder with its outputs."""
    real = snn2hw.resolve_config
    monkeypatch.setattr(snn2hw, "resolve_config",
                        lambda path=None, overrides=None, assignments=(): real(
                            path, {**(overrides or {}), **TINY}, assignments))
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        runpy.run_path(str(REPO / "examples" / "python_api.py"), run_name="__main__")
    runs = sorted(p for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 2 and runs[0].name != runs[1].name
    for run in runs:
        assert (run / "student.pt").is_file() and (run / "export" / "model.net").is_file()
        assert (run / "profile" / "report.html").is_file()


def test_auto_run_names_do_not_collide(tmp_path):
    from snn2hw.runs import new_run_name

    first = new_run_name("digits-kd", tmp_path)
    (tmp_path / first).mkdir()
    second = new_run_name("digits-kd", tmp_path)
    assert second != first and (second == f"{first}-2" or second[:-2] != first[:-2])


def test_eval_reports_without_claiming_to_save(cli, tmp_path):
    r = cli("teacher", "--runs-dir", tmp_path, "--name", "t", "--epochs", "1",
            "--set", "data.train_subset=64", "--set", "data.test_subset=32")
    assert r.exit_code == 0, r.output
    assert "saved in" in r.output  # teacher does write teacher.pt
    before = sorted(p.name for p in (tmp_path / "t").iterdir())
    r = cli("eval", tmp_path / "t")
    assert r.exit_code == 0, r.output
    assert "saved in" not in r.output and "run folder" in r.output
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == before


def _option_help(command: str) -> dict[str, str]:
    import typer

    from snn2hw.cli import app

    cmd = typer.main.get_command(app).commands[command]
    return {p.opts[0]: p.help or "" for p in cmd.params if p.opts}


def _default(help_text: str) -> str:
    return re.search(r"\(default: ([^)]+)\)", help_text).group(1)


def test_help_texts_name_the_real_defaults():
    from snn2hw.config import DataConfig, TeacherConfig, TrainConfig
    from snn2hw.runs import new_run_name

    teacher, distill = _option_help("teacher"), _option_help("distill")
    assert re.fullmatch(r"digits-teacher-\d{8}-\d{6}", new_run_name("digits-teacher"))
    assert _default(teacher["--name"]) == "<dataset>-teacher-<YYYYmmdd-HHMMSS>"
    assert _default(distill["--name"]) == "<dataset>-<method>-<YYYYmmdd-HHMMSS>"
    assert int(_default(teacher["--epochs"])) == TeacherConfig.epochs
    assert float(_default(teacher["--lr"])) == TeacherConfig.lr
    assert int(_default(distill["--teacher-epochs"])) == TeacherConfig.epochs
    assert int(_default(distill["--epochs"])) == TrainConfig.epochs
    assert float(_default(distill["--lr"])) == TrainConfig.lr
    assert int(_default(distill["--batch-size"])) == DataConfig.batch_size
    assert _default(distill["--data-root"]) == DataConfig.data_root


def test_event_and_timestep_defaults_in_help_match_the_code():
    from snn2hw.config import DEFAULT_TIMESTEPS, FALLBACK_TIMESTEPS
    from snn2hw.data.events import DEFAULT_FRAME_SIZE

    distill = _option_help("distill")
    t = distill["--timesteps"]
    assert f"default: {FALLBACK_TIMESTEPS};" in t
    assert all(f"{name} {v}" in t for name, v in DEFAULT_TIMESTEPS.items())
    assert all(f"{name} {v}" in distill["--frame-size"] for name, v in DEFAULT_FRAME_SIZE.items())


def test_the_snn2hw_script_and_python_m_run():
    """The `snn2hw` console script (what `uv run snn2hw` starts) and `python -m snn2hw`."""
    script = Path(sys.executable).with_name("snn2hw")
    assert script.is_file(), f"no snn2hw script beside {sys.executable}; reinstall with `uv sync`"
    for argv in ([str(script), "--version"], [sys.executable, "-m", "snn2hw", "--version"]):
        out = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=120)
        assert out.returncode == 0 and out.stdout.strip() == f"snn2hw {snn2hw.__version__}", out
