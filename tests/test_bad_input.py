"""Bad input gives one clear paragraph naming the problem and the fix, exit code 2, no traceback."""

from __future__ import annotations

import pytest
from tiny_run import TINY_ARGS


def assert_clean_error(r, *fragments: str) -> None:
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert r.output.startswith("Error: ")
    for f in fragments:
        assert f in r.output, (f, r.output)


def test_missing_cifar_directory(cli, tmp_path):
    r = cli("distill", "--dataset", "cifar10", "--data-root", tmp_path / "nowhere",
            "--runs-dir", tmp_path)
    assert_clean_error(r, "cifar10 was not found", "cifar-10-batches-py", "--data-root", "--download")


def test_missing_cifar100_for_teacher(cli, tmp_path):
    r = cli("teacher", "--dataset", "cifar100", "--data-root", tmp_path, "--runs-dir", tmp_path)
    assert_clean_error(r, "cifar100 was not found", "cifar-100-python")


@pytest.fixture
def good_teacher(cli, tmp_path):
    r = cli("teacher", "--runs-dir", tmp_path, "--name", "t", "--epochs", "1",
            "--set", "data.train_subset=64", "--set", "data.test_subset=32")
    assert r.exit_code == 0, r.output
    return tmp_path / "t" / "teacher.pt"


def test_truncated_checkpoint(cli, tmp_path, good_teacher):
    bad = tmp_path / "truncated.pt"
    data = good_teacher.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    r = cli("distill", "--teacher", bad, "--runs-dir", tmp_path, *TINY_ARGS)
    assert_clean_error(r, "corrupt or truncated", str(bad))


def test_garbage_checkpoint(cli, tmp_path):
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"this is not a checkpoint")
    r = cli("distill", "--teacher", bad, "--runs-dir", tmp_path, *TINY_ARGS)
    assert_clean_error(r, "corrupt or truncated", str(bad))


def test_foreign_torch_file(cli, tmp_path):
    import torch

    bad = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(2)}, bad)
    r = cli("distill", "--teacher", bad, "--runs-dir", tmp_path, *TINY_ARGS)
    assert_clean_error(r, "not an snn2hw checkpoint")


def test_student_checkpoint_given_as_teacher(cli, tmp_path):
    r = cli("distill", "--runs-dir", tmp_path, "--name", "a", *TINY_ARGS)
    assert r.exit_code == 0
    r = cli("distill", "--teacher", tmp_path / "a" / "student.pt", "--runs-dir", tmp_path, *TINY_ARGS)
    assert_clean_error(r, "holds a student, but a teacher is needed")


def test_missing_teacher_file(cli, tmp_path):
    r = cli("distill", "--teacher", tmp_path / "none.pt", "--runs-dir", tmp_path)
    assert_clean_error(r, "does not exist")


def test_config_unknown_key(cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  epochz: 3\n")
    r = cli("distill", "--config", cfg, "--runs-dir", tmp_path)
    assert_clean_error(r, "unknown config key 'train.epochz'", "epochs")


def test_config_wrong_type(cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  epochs: three\n")
    r = cli("distill", "--config", cfg, "--runs-dir", tmp_path)
    assert_clean_error(r, "train.epochs must be of type int", "'three'", "--epochs")


def test_config_bad_choice_and_range(cli, tmp_path):
    r = cli("distill", "--set", "train.optimizer=lamb", "--runs-dir", tmp_path)
    assert_clean_error(r, "train.optimizer must be one of 'adam', 'sgd'")
    r = cli("distill", "--timesteps", "0", "--runs-dir", tmp_path)
    assert_clean_error(r, "student.timesteps must be a positive integer", "--timesteps")


def test_config_not_yaml(cli, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train: [unclosed\n")
    r = cli("distill", "--config", cfg, "--runs-dir", tmp_path)
    assert_clean_error(r, "not valid YAML")


def test_unknown_names(cli, tmp_path):
    assert_clean_error(cli("distill", "--dataset", "mnist", "--runs-dir", tmp_path),
                       "unknown dataset 'mnist'", "digits")
    assert_clean_error(cli("distill", "--method", "magic", "--runs-dir", tmp_path),
                       "unknown distillation method 'magic'", "kd")
    assert_clean_error(cli("distill", "--neuron", "izhikevich", "--runs-dir", tmp_path, *TINY_ARGS),
                       "unknown neuron preset", "tet")


def test_eval_of_a_non_run_folder(cli, tmp_path):
    assert_clean_error(cli("eval", tmp_path), "not an snn2hw run directory")


def test_fused_backend_with_cuba_neuron(cli, tmp_path):
    r = cli("distill", "--neuron", "norse", "--neuron-backend", "fused", "--runs-dir", tmp_path, *TINY_ARGS)
    assert_clean_error(r, "fused backend covers lif and if", "--neuron-backend")
