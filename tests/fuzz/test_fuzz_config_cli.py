"""Hostile CLI values and config files: every one is a one-paragraph error (exit 2), before any
run folder is made, so the corrected command works with the same --name."""

from __future__ import annotations

import pytest
import torch
from fuzz_helpers import rejected_cli
from tiny_run import TINY_ARGS

# (CLI arguments after `distill`, fragments the message must contain)
BAD_FLAGS = [
    (["--set", "train.lr=["], ["train.lr", "not valid YAML"]),
    (["--set", "train.lr={a"], ["train.lr", "not valid YAML"]),
    (["--set", "=3"], ["dotted key"]),
    (["--set", "train.=3"], ["dotted key"]),
    (["--set", "noequals"], ["KEY=VALUE"]),
    (["--set", "train.lr.x=1"], ["train.lr", "float"]),
    (["--lr", "nan"], ["train.lr", "finite", "--lr"]),
    (["--lr", "inf"], ["train.lr", "finite"]),
    (["--lr", "-1"], ["train.lr", "> 0"]),
    (["--lr", "0"], ["train.lr", "> 0"]),
    (["--tau", "nan"], ["distill.tau", "finite"]),
    (["--kd-weight", "-2"], ["distill.weight", ">= 0"]),
    (["--set", "train.weight_decay=-1"], ["train.weight_decay", ">= 0"]),
    (["--set", "train.weight_decay=.nan"], ["train.weight_decay", "finite"]),
    (["--set", "train.momentum=-0.5"], ["train.momentum", ">= 0"]),
    (["--set", "data.num_workers=-1"], ["data.num_workers", ">= 0"]),
    (["--set", "data.num_workers=two"], ["data.num_workers", "int"]),
    (["--seed", "-3"], ["train.seed", ">= 0", "--seed"]),
    (["--set", "data.split_seed=-1"], ["data.split_seed", ">= 0"]),
    (["--device", "bogus"], ["unknown device 'bogus'", "--device"]),
    (["--device", "cuda:99"], ["cuda:99", "--device"]),
    (["--device", "gpu"], ["unknown device", "--device"]),
    (["--batch-size", "0"], ["data.batch_size", "positive"]),
    (["--batch-size", "-64"], ["data.batch_size", "positive"]),
    (["--epochs", "0"], ["train.epochs", "positive"]),
    (["--timesteps", "-1"], ["student.timesteps", "positive"]),
    (["--set", "student.timesteps=1.5"], ["student.timesteps", "int"]),
    (["--set", "student.timesteps=true"], ["student.timesteps", "int"]),
    (["--set", "student.timesteps=[1]"], ["student.timesteps", "int"]),
    (["--set", "train.optimizer=lamb"], ["train.optimizer", "adam"]),
    (["--set", "train=5"], ["train", "not a section"]),
    (["--set", "distill=5"], ["distill must be of type DistillConfig"]),
    (["--set", "student.neuron_params=5"], ["student.neuron_params", "dict"]),
    (["--set", "student.neuron_params.leak=abc"], ["student.neuron_params.leak", "float"]),
    (["--set", "student.neuron_params.bogus=1"], ["unknown neuron parameter 'bogus'"]),
    (["--set", "student.neuron_params.surrogate=zzz"], ["surrogate"]),
    (["--set", "distill.feature_pairs=[1]"], ["distill.feature_pairs"]),
    (["--set", "data.train_subset=0"], ["data.train_subset"]),
    (["--name", "../escape"], ["run name", "--name"]),
    (["--name", "a/b"], ["run name", "--name"]),
    (["--name", ".."], ["run name"]),
    (["--method", "magic"], ["unknown distillation method 'magic'"]),
    (["--dataset", "mnist"], ["unknown dataset 'mnist'"]),
    (["--student-arch", "nope"], ["unknown student architecture"]),
    (["--teacher-arch", "nope"], ["unknown teacher architecture"]),
    (["--neuron", "izhikevich"], ["unknown neuron preset"]),
    (["--neuron-backend", "gpu"], ["train.neuron_backend"]),
    (["--augment", "spin"], ["data.augment"]),
    (["--dataset", "nmnist", "--frame-size", "0"], ["data.frame_size", "positive"]),
    (["--dataset", "nmnist", "--data-root", "/nonexistent/nmnist"], ["N-MNIST folder", "does not exist"]),
]


@pytest.mark.parametrize("args,fragments", BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flag(cli, tmp_path, args, fragments):
    rejected_cli(cli, tmp_path, ["distill", *TINY_ARGS, *args], fragments)


def test_cuda_without_gpu(cli, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is valid here")
    rejected_cli(cli, tmp_path, ["distill", "--device", "cuda", *TINY_ARGS],
                 ["--device cuda", "no CUDA GPU", "--device cpu"])
    rejected_cli(cli, tmp_path, ["teacher", "--device", "cuda", "--epochs", "1"], ["no CUDA GPU"])
    rejected_cli(cli, tmp_path, ["eval", tmp_path, "--device", "cuda"], [])


# Config file contents (bytes) and the fragments of their message.
BAD_CONFIGS = {
    "integer-top-key": (b"1: 2\n", ["config key 1", "an integer"]),
    "integer-nested-key": (b"train:\n  3: 4\n", ["config key 3 in train", "epochs"]),
    "bool-key": (b"true: 1\n", ["config key True"]),
    "binary": (bytes(range(256)) * 4, ["not a text file"]),
    "nul-bytes": (b"\x00\x00\x00\x00", []),
    "list": (b"- a\n- b\n", ["mapping", "list"]),
    "scalar": (b"hello\n", ["mapping", "str"]),
    "unclosed": (b"train: [unclosed\n", ["not valid YAML"]),
    "tab-indent": (b"train:\n\tepochs: 3\n", ["not valid YAML"]),
    "unknown-key": (b"trian:\n  epochs: 3\n", ["unknown config key 'trian'"]),
    "section-is-list": (b"distill: [1, 2]\n", ["distill must be of type DistillConfig"]),
    "nan-lr": (b"train:\n  lr: .nan\n", ["train.lr", "finite"]),
    "huge-int": (b"student:\n  timesteps: -99999999999999999999\n", ["student.timesteps"]),
    "yaml-tag": (b"train: !!python/object:os.system ls\n", ["not valid YAML"]),
    "anchors": (b"a: &x [*x]\n", []),
}


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_bad_config_file(cli, tmp_path, name):
    data, fragments = BAD_CONFIGS[name]
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(data)
    rejected_cli(cli, tmp_path, ["distill", "--config", cfg, *TINY_ARGS], fragments)


def test_config_path_is_a_folder_or_missing(cli, tmp_path):
    rejected_cli(cli, tmp_path, ["distill", "--config", tmp_path], ["is a folder"])
    rejected_cli(cli, tmp_path, ["distill", "--config", tmp_path / "none.yaml"], ["does not exist"])


def test_runs_dir_is_a_file(cli, tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    r = cli("distill", "--runs-dir", f, "--name", "x", *TINY_ARGS)
    from fuzz_helpers import rejected

    rejected(r, str(f), "is a file", "--runs-dir")
    r = cli("teacher", "--runs-dir", f / "sub", "--epochs", "1")
    rejected(r, "is a file")
    assert f.read_text() == "x"
