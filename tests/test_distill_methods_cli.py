"""Every method through the CLI on a tiny digits run, losses on a fixed batch, and bad input."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_run import TINY_ARGS

from snn2hw.distill import METHODS

RESNETS = ["--student-arch", "digits-resnet", "--teacher-arch", "digits-resnet"]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_trains_one_epoch_through_the_cli(cli, tmp_path, method):
    r = cli("distill", "--runs-dir", tmp_path, "--name", "m", "--method", method, *RESNETS, *TINY_ARGS)
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert summary["method"] == method and 0 <= summary["student"]["test_acc"] <= 1
    rows = [json.loads(x) for x in (tmp_path / "m" / "metrics.jsonl").read_text().splitlines()]
    student = [m for m in rows if m["phase"] == "student"][-1]
    expected = {"baseline": "ce", "kd": "kd", "kdsnn": "kd", "kdsnn-feature": "feature", "sastc": "stm",
                "ckdsnn": "samd", "idsnn": "kd"}[method]
    assert expected in student
    if method == "idsnn":
        assert summary["init"] == {"initialised_from_teacher": True}


def test_sastc_code_variant_and_partial_last_batch(cli, tmp_path):
    # 100 samples at batch 64: the last batch has 36 instances.
    r = cli("distill", "--runs-dir", tmp_path, "--name", "c", "--method", "sastc",
            "--sastc-variant", "code", *RESNETS, "--epochs", "1", "--teacher-epochs", "1",
            "--set", "data.train_subset=100", "--set", "data.test_subset=50")
    assert r.exit_code == 0, r.output
    cfg = (tmp_path / "c" / "config.yaml").read_text()
    assert "sastc_variant: code" in cfg


def _fixed_batch_setup(method_name: str, student_arch="digits-resnet", teacher_arch="digits-resnet"):
    from snn2hw.config import DistillConfig
    from snn2hw.data import load_dataset
    from snn2hw.distill import build_method
    from snn2hw.distill.taps import TeacherTaps, classifier_weight
    from snn2hw.models import STUDENTS, TEACHERS
    from snn2hw.neurons import PRESETS
    from snn2hw.pipeline import probe_shapes

    torch.manual_seed(0)
    bundle = load_dataset("digits", "data")
    teacher = TEACHERS[teacher_arch]((1, 8, 8), 10).eval()
    student = STUDENTS[student_arch]((1, 8, 8), 10, 2, PRESETS["tet"])
    method = build_method(DistillConfig(method=method_name))
    method.check_models(student, teacher)
    taps = TeacherTaps(teacher, teacher_arch) if method.needs_features else None
    if taps:
        method.bind(probe_shapes(student, teacher, taps, bundle, torch.device("cpu")))
    method.init_student(student, teacher)
    return bundle, teacher, student, method, taps, classifier_weight(teacher)


@pytest.mark.parametrize("method_name", sorted(METHODS))
def test_loss_decreases_over_a_few_steps_on_a_fixed_batch(method_name):
    from snn2hw.distill import StepOutputs

    bundle, teacher, student, method, taps, w = _fixed_batch_setup(method_name)
    x = torch.stack([bundle.train[i][0] for i in range(32)])
    y = torch.stack([bundle.train[i][1] for i in range(32)])
    opt = torch.optim.Adam(list(student.parameters()) + list(method.parameters()), lr=3e-3)
    losses = []
    for _ in range(8):
        torch.manual_seed(1)  # the same NLD noise every step
        seq, feats = student.forward_sequence(x)
        with torch.no_grad():
            t_logits = teacher(x)
        terms = method(StepOutputs(y, seq.mean(0), t_logits, feats, taps.pop() if taps else {}, w,
                                   student_sequence=seq))
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        losses.append(terms["loss"].item())
    assert losses[-1] < losses[0], losses


def test_student_without_taps_is_a_clear_error(cli, tmp_path, monkeypatch):
    from torch import nn

    from snn2hw.models import registry
    from snn2hw.models.spiking import SpikingNet
    from snn2hw.neurons import SpikingNeuron, TimeFolded

    def no_taps(in_shape, num_classes, timesteps, neuron):
        body = nn.Sequential(TimeFolded(nn.Flatten()), TimeFolded(nn.Linear(64, 32)),
                             SpikingNeuron(neuron))
        return SpikingNet(body, nn.Linear(32, num_classes), timesteps=timesteps, in_shape=in_shape)

    monkeypatch.setitem(registry.STUDENTS, "plain", no_taps)
    for method in ("kdsnn-feature", "sastc", "ckdsnn"):
        r = cli("distill", "--runs-dir", tmp_path, "--method", method, "--student-arch", "plain",
                "--teacher-arch", "digits-resnet", *TINY_ARGS)
        assert r.exit_code == 2 and r.output.startswith("Error: "), r.output
        assert "student" in r.output and "tap" in r.output and "--student-arch" in r.output


def test_teacher_checkpoint_of_wrong_architecture_or_class_count(cli, tmp_path):
    r = cli("teacher", "--runs-dir", tmp_path, "--name", "t", "--epochs", "1",
            "--set", "data.train_subset=64", "--set", "data.test_subset=32")  # digits-cnn
    assert r.exit_code == 0, r.output
    tpt = tmp_path / "t" / "teacher.pt"
    for method, fragment in (("idsnn", "ANN ResNet teacher"), ("ckdsnn", "class activation map")):
        r = cli("distill", "--runs-dir", tmp_path, "--teacher", tpt, "--method", method,
                "--student-arch", "digits-resnet", *TINY_ARGS)
        assert r.exit_code == 2 and fragment in r.output and "--teacher-arch" in r.output, r.output
    ck = torch.load(tpt, weights_only=True)
    ck["model"]["num_classes"] = 7
    bad = tmp_path / "seven.pt"
    torch.save(ck, bad)
    r = cli("distill", "--runs-dir", tmp_path, "--teacher", bad, "--method", "kdsnn-feature",
            "--student-arch", "digits-resnet", *TINY_ARGS)
    assert r.exit_code == 2 and "7 classes" in r.output and "10 classes" in r.output, r.output


def test_bad_feature_pairs_and_options(cli, tmp_path):
    r = cli("distill", "--runs-dir", tmp_path, "--method", "kdsnn-feature", *RESNETS,
            "--set", "distill.feature_pairs=[layer9:layer1]", *TINY_ARGS)
    assert r.exit_code == 2 and "no tap 'layer9'" in r.output and "layer1, layer2" in r.output
    r = cli("distill", "--runs-dir", tmp_path, "--sastc-variant", "both", *TINY_ARGS)
    assert r.exit_code == 2 and "sastc_variant" in r.output and "--sastc-variant" in r.output
    r = cli("distill", "--runs-dir", tmp_path, "--kd-weight", "-1", *TINY_ARGS)
    assert r.exit_code == 2 and "--kd-weight" in r.output


def test_idsnn_initialises_once_not_on_resume(cli, tmp_path, monkeypatch, crash_after_student_epoch1):
    from snn2hw.distill import idsnn

    calls = []
    real_init = idsnn.init_from_teacher
    monkeypatch.setattr(idsnn, "init_from_teacher",
                        lambda s, t, *a: calls.append(1) or real_init(s, t, *a))
    disarm = crash_after_student_epoch1()
    args = ["--epochs", "2", "--teacher-epochs", "1", "--set", "data.train_subset=64",
            "--set", "data.test_subset=32"]
    r = cli("distill", "--runs-dir", tmp_path, "--name", "i", "--method", "idsnn", *RESNETS, *args)
    assert r.exit_code == 130 and calls == [1]
    disarm()
    r = cli("distill", "--resume", tmp_path / "i")
    assert r.exit_code == 0, r.output
    assert calls == [1]  # not re-initialised over the epoch-1 weights
