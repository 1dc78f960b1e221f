"""benchmarks/reproduce.py: shortened schedules, and one fake-data run end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reproduce.py"


@pytest.fixture(scope="module")
def reproduce():
    spec = importlib.util.spec_from_file_location("reproduce", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_milestones_keep_their_fractions_of_the_schedule(reproduce):
    assert reproduce.scaled_milestones([150, 180, 210], 24, 240) == [15, 18, 21]
    assert reproduce.scaled_milestones([60, 120, 180], 20, 200) == [6, 12, 18]
    assert reproduce.scaled_milestones([150, 180, 210], 5, 240) == [3, 4]  # distinct, < epochs


def test_fake_run_prints_ours_beside_the_paper_and_writes_json(reproduce, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = reproduce.main(["--recipe", "kdsnn-cifar10-wrn16-2-preresnet20-feature", "--epochs", "1", "--fake",
                         "--batch-size", "2", "--train-subset", "4", "--test-subset", "2",
                         "-T", "1", "--device", "cpu", "--num-workers", "0",
                         "--runs-dir", str(tmp_path / "runs"), "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "91.57%" not in text  # T=1 is not a column of KDSNN's table: no paper number shown
    r = json.loads(out.read_text())
    assert r["paper"] == "KDSNN" and r["fake_data"] and r["epochs"] == 1 and r["recipe_epochs"] == 200
    assert r["paper_student_acc"] is None and r["paper_teacher_acc"] == 92.36
    assert 0 <= r["ours_student_acc"] <= 100 and r["teacher_epochs"] == 1
    assert r["config"]["train"]["optimizer"] == "sgd" and r["config"]["student"]["neuron"] == "kdsnn"


def test_unknown_recipe_is_one_line_and_exit_2(reproduce, capsys):
    assert reproduce.main(["--recipe", "nope"]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err
