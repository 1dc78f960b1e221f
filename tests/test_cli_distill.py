"""`snn2hw distill`, `teacher` and `eval` through the real CLI entry point on tiny digits runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from tiny_run import TINY_ARGS


def test_distill_then_eval_reloads_same_accuracy(cli, tmp_path):
    r = cli("distill", "--runs-dir", tmp_path, "--name", "tiny", *TINY_ARGS)
    assert r.exit_code == 0, r.output
    run = tmp_path / "tiny"
    for f in ("config.yaml", "teacher.pt", "student.pt", "metrics.jsonl", "summary.json"):
        assert (run / f).is_file(), f
    summary = json.loads((run / "summary.json").read_text())
    assert "student (digits-snn, T=4)" in r.output and f"saved in {run}" in r.output
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(m["phase"], m["epoch"]) for m in lines] == [("teacher", 1), ("student", 1)]
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["train"]["epochs"] == 1 and cfg["data"]["train_subset"] == 192
    e = cli("eval", run, "--json")
    assert e.exit_code == 0, e.output
    ev = json.loads(e.stdout)
    assert ev["student"]["test_acc"] == pytest.approx(summary["student"]["test_acc"])
    assert ev["teacher"]["test_acc"] == pytest.approx(summary["teacher"]["test_acc"])
    assert ev["test_samples"] == 96


def test_checkpoints_load_weights_only_and_rebuild(tmp_path):
    from snn2hw.config import RunConfig, resolve_config
    from snn2hw.pipeline import distill, load_model

    cfg = resolve_config(None, {"runs_dir": str(tmp_path), "name": "r", "train.epochs": 1,
                                "teacher.epochs": 1, "data.train_subset": 64, "data.test_subset": 32})
    distill(cfg)
    ck = torch.load(tmp_path / "r" / "student.pt", weights_only=True)
    assert ck["complete"] and ck["model"]["arch"] == "digits-snn" and ck["model"]["timesteps"] == 4
    model, spec, _ = load_model(tmp_path / "r" / "student.pt", "student")
    assert spec.neuron.leak == 0.5
    assert model(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    assert isinstance(cfg, RunConfig)


def test_teacher_command_and_reuse_with_teacher_flag(cli, tmp_path):
    r = cli("teacher", "--runs-dir", tmp_path, "--name", "t", "--epochs", "1",
            "--set", "data.train_subset=128", "--set", "data.test_subset=64")
    assert r.exit_code == 0, r.output
    tpt = tmp_path / "t" / "teacher.pt"
    assert tpt.is_file()
    r2 = cli("distill", "--runs-dir", tmp_path, "--name", "s", "--teacher", tpt, "--epochs", "1",
             "--set", "data.train_subset=128", "--set", "data.test_subset=64")
    assert r2.exit_code == 0, r2.output
    lines = (tmp_path / "s" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["phase"] for x in lines] == ["student"]  # teacher not retrained
    t_summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    s_summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert s_summary["teacher"]["test_acc"] == pytest.approx(t_summary["teacher"]["test_acc"])


def _metrics(run: Path, phase: str) -> list[dict]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in m.items() if k != "time_s"} for m in rows if m["phase"] == phase]


def test_resume_gives_same_epoch2_metrics_as_uninterrupted(cli, tmp_path, crash_after_student_epoch1):
    args = ["--epochs", "2", "--teacher-epochs", "1", "--set", "data.train_subset=128",
            "--set", "data.test_subset=64"]
    full = cli("distill", "--runs-dir", tmp_path, "--name", "full", *args)
    assert full.exit_code == 0, full.output

    disarm = crash_after_student_epoch1()
    cut = cli("distill", "--runs-dir", tmp_path, "--name", "cut", *args)
    assert cut.exit_code == 130 and "--resume" in cut.output
    assert not (tmp_path / "cut" / "summary.json").exists()
    disarm()

    res = cli("distill", "--resume", tmp_path / "cut")
    assert res.exit_code == 0, res.output
    a, b = _metrics(tmp_path / "full", "student"), _metrics(tmp_path / "cut", "student")
    assert [m["epoch"] for m in b] == [1, 2]
    assert a[1] == pytest.approx(b[1])
    sa = torch.load(tmp_path / "full" / "student.pt", weights_only=True)["state_dict"]
    sb = torch.load(tmp_path / "cut" / "student.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_refuses_new_options(cli, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "config.yaml").write_text("{}\n")
    r = cli("distill", "--resume", tmp_path / "x", "--epochs", "5")
    assert r.exit_code == 2 and "drop --epochs" in r.output


def test_existing_run_name_is_not_overwritten(cli, tmp_path):
    (tmp_path / "dup").mkdir()
    (tmp_path / "dup" / "config.yaml").write_text("{}\n")
    r = cli("distill", "--runs-dir", tmp_path, "--name", "dup", *TINY_ARGS)
    assert r.exit_code == 2 and "already exists" in r.output and "--resume" in r.output


def test_compile_option_trains_and_saves_plain_state_dict(cli, tmp_path):
    r = cli("distill", "--runs-dir", tmp_path, "--name", "c", "--compile", "--method", "baseline",
            "--epochs", "1", "--set", "data.train_subset=64", "--set", "data.test_subset=32")
    assert r.exit_code == 0, r.output
    ck = torch.load(tmp_path / "c" / "student.pt", weights_only=True)
    assert not any(k.startswith("_orig_mod") for k in ck["state_dict"])  # loads into a plain model
    assert yaml.safe_load((tmp_path / "c" / "config.yaml").read_text())["train"]["compile"] is True
