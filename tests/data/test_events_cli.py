"""Event datasets end to end through the `snn2hw` CLI: real N-MNIST learns, fake tonic sets train,
bad input gives one clear paragraph and exit code 2."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from snn2hw.cli import app


def _run(*args) -> tuple[int, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    text = r.output + (getattr(r, "stderr", "") if r.exit_code else "")
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, text


def test_nmnist_distill_learns_above_chance(nmnist_dir, tmp_path):
    code, out = _run(
        "distill", "--dataset", "nmnist", "--data-root", nmnist_dir, "--runs-dir", tmp_path / "runs",
        "--name", "nm", "--cache-dir", tmp_path / "cache", "-T", "4",
        "--teacher-epochs", "1", "--epochs", "2", "--batch-size", "32",
        "--set", "data.train_subset=400",
    )
    assert code == 0, out
    run = tmp_path / "runs" / "nm"
    summary = json.loads((run / "summary.json").read_text())
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert (cfg["teacher"]["arch"], cfg["student"]["arch"]) == ("event-cnn", "nmnist-snn")
    assert summary["student"]["test_acc"] > 0.3  # chance is 0.1 on 10 classes
    code, out = _run("eval", run, "--json")  # reload models and the same frames
    assert code == 0, out
    again = json.loads(out)
    assert again["test_samples"] == 100
    assert again["student"]["test_acc"] == pytest.approx(summary["student"]["test_acc"])


def test_cifar10_dvs_vggsnn_distill_runs(fake_cifar, tmp_path):
    root, _ = fake_cifar
    code, out = _run(
        "distill", "--dataset", "cifar10-dvs", "--data-root", root, "--runs-dir", tmp_path,
        "--name", "c", "--cache-dir", tmp_path / "cache", "-T", "2", "--frame-size", "16",
        "--teacher-epochs", "1", "--epochs", "1", "--augment", "flip-roll", "--split", "7:3",
        "--set", "data.train_subset=20",
    )
    assert code == 0, out
    s = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert s["student"]["arch"] == "vggsnn" and s["teacher"]["arch"] == "vgg-ann"
    code, out = _run("eval", tmp_path / "c", "--json")
    assert code == 0 and json.loads(out)["test_samples"] == 30


def test_gesture_teacher_runs(fake_gesture, tmp_path):
    root, _ = fake_gesture
    code, out = _run(
        "teacher", "--dataset", "dvs-gesture", "--data-root", root, "--runs-dir", tmp_path,
        "--name", "g", "--cache-dir", tmp_path / "cache", "-T", "3", "--frame-size", "32",
        "--epochs", "1", "--arch", "event-cnn", "--denoise-us", "20000",
    )
    assert code == 0, out
    assert (tmp_path / "g" / "teacher.pt").is_file()
    cache = next((tmp_path / "cache" / "dvs-gesture").iterdir())
    assert json.loads((cache / "params.json").read_text())["transform"]["denoise_us"] == 20000


@pytest.mark.parametrize("args,expect", [
    (["--dataset", "cifar10-dvs", "--data-root", "{tmp}/none"], "{tmp}/none/CIFAR10DVS does not exist"),
    (["--dataset", "dvs-gesture", "--data-root", "{tmp}", "--augment", "flip-roll"], "use --augment roll"),
    (["--dataset", "digits", "--frame-size", "16"], "applies to event datasets"),
    (["--dataset", "nmnist", "--data-root", "{tmp}", "--augment", "mirror"], "data.augment must be one of"),
    (["--dataset", "nmnist", "--data-root", "{tmp}", "--frame-size", "0"], "--frame-size"),
])
def test_bad_input_is_one_paragraph(fake_gesture, tmp_path, args, expect):
    tmp = fake_gesture[0] if "dvs-gesture" in args else tmp_path
    args = [a.replace("{tmp}", str(tmp)) for a in args]
    code, out = _run("distill", "--runs-dir", tmp_path / "runs", "--cache-dir", tmp_path / "c", *args)
    assert code == 2
    assert expect.replace("{tmp}", str(tmp)) in " ".join(out.split()), out
    assert "Traceback" not in out


def test_static_teacher_refused_for_event_data(tmp_path):
    code, out = _run("distill", "--dataset", "nmnist", "--data-root", tmp_path, "--teacher-arch",
                     "digits-cnn", "--runs-dir", tmp_path)
    assert code == 2 and "takes static images" in " ".join(out.split())
