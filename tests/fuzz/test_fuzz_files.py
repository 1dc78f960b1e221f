"""Corrupt, truncated, wrong-typed and edited files of every kind snn2hw reads: checkpoints, run
folders, export folders (quantization.json, model.net), --input/--labels arrays. Each is a
one-paragraph error with exit code 2 that names the file, and nothing is left half-written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from fuzz_helpers import rejected, rejected_cli, tree
from tiny_run import TINY_ARGS

# ---- checkpoints -------------------------------------------------------------------------------

def _edit_ckpt(src: Path, dst: Path, edit) -> Path:
    ck = torch.load(src, weights_only=True)
    edit(ck)
    torch.save(ck, dst)
    return dst


CKPT_EDITS = {
    "no-model": lambda ck: ck.pop("model"),
    "no-state-dict": lambda ck: ck.pop("state_dict"),
    "model-is-list": lambda ck: ck.__setitem__("model", [1, 2]),
    "state-dict-is-str": lambda ck: ck.__setitem__("state_dict", "weights"),
    "epoch-is-str": lambda ck: ck.__setitem__("epoch", "3"),
    "no-arch": lambda ck: ck["model"].pop("arch"),
    "arch-unknown": lambda ck: ck["model"].__setitem__("arch", "nope"),
    "num-classes-str": lambda ck: ck["model"].__setitem__("num_classes", "ten"),
    "in-shape-other": lambda ck: ck["model"].__setitem__("in_shape", [1, 9, 9]),
    "in-shape-garbage": lambda ck: ck["model"].__setitem__("in_shape", [0, -1]),
    "classes-other": lambda ck: ck["model"].__setitem__("num_classes", 7),
    "neuron-garbage": lambda ck: ck["model"].__setitem__("neuron", {"nope": 1}),
    "weight-other-shape": lambda ck: ck["state_dict"].__setitem__(
        next(iter(ck["state_dict"])), torch.zeros(3, 3)),
    "weight-missing": lambda ck: ck["state_dict"].pop(next(iter(ck["state_dict"]))),
    "weight-extra": lambda ck: ck["state_dict"].__setitem__("zzz.weight", torch.zeros(1)),
    "weight-not-tensor": lambda ck: ck["state_dict"].__setitem__(next(iter(ck["state_dict"])), 5),
    "role-student": lambda ck: ck["model"].__setitem__("role", "student"),
    "role-garbage": lambda ck: ck["model"].__setitem__("role", "critic"),
    "format-missing": lambda ck: ck.pop("format"),
}


@pytest.mark.parametrize("edit", sorted(CKPT_EDITS))
def test_edited_teacher_checkpoint(cli, fuzz_run, tmp_path, edit):
    bad = _edit_ckpt(fuzz_run / "teacher.pt", tmp_path / "t.pt", CKPT_EDITS[edit])
    rejected_cli(cli, tmp_path, ["distill", *TINY_ARGS, "--teacher", bad], [str(bad)])


@pytest.mark.parametrize("cut", [0, 1, 100, 0.25, 0.5, 0.9, -1])
def test_truncated_checkpoint(cli, fuzz_run, tmp_path, cut):
    data = (fuzz_run / "teacher.pt").read_bytes()
    n = cut if isinstance(cut, int) and cut >= 0 else (len(data) - 1 if cut == -1 else int(len(data) * cut))
    bad = tmp_path / "t.pt"
    bad.write_bytes(data[:n])
    rejected_cli(cli, tmp_path, ["distill", *TINY_ARGS, "--teacher", bad], [str(bad)])


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", bytes(range(256)), b"PK\x03\x04junk"])
def test_garbage_checkpoint(cli, tmp_path, content):
    bad = tmp_path / "t.pt"
    bad.write_bytes(content)
    rejected_cli(cli, tmp_path, ["distill", *TINY_ARGS, "--teacher", bad], [str(bad)])


def test_teacher_path_is_a_folder(cli, fuzz_run, tmp_path):
    rejected_cli(cli, tmp_path, ["distill", *TINY_ARGS, "--teacher", fuzz_run], ["is a folder"])


# ---- resume -------------------------------------------------------------------------------------

def test_resume_given_a_checkpoint_file(cli, run_copy, tmp_path):
    r = cli("distill", "--resume", run_copy / "teacher.pt")
    rejected(r, "is a file", str(run_copy))


def test_resume_of_a_missing_run(cli, tmp_path):
    rejected(cli("distill", "--resume", tmp_path / "none"), "not an snn2hw run directory")


@pytest.mark.parametrize("content", [b"\xff\xfe binary", b"- a list\n", b"train: [\n",
                                     b"train:\n  lr: .nan\n", b"zz: 1\n"])
def test_resume_with_a_damaged_config(cli, run_copy, content):
    (run_copy / "config.yaml").write_bytes(content)
    before = tree(run_copy)
    rejected(cli("distill", "--resume", run_copy), "config", unchanged=(run_copy, before))


def _unfinished(run: Path, edit=None) -> None:
    """Make the run's student.pt look like an interrupted epoch (complete=False), then edit it."""
    ck = torch.load(run / "student.pt", weights_only=True)
    ck["complete"] = False
    if edit:
        edit(ck)
    torch.save(ck, run / "student.pt")
    (run / "summary.json").unlink()


RESUME_EDITS = {
    "no-optimizer": lambda ck: ck.pop("optimizer"),
    "no-rng": lambda ck: ck.pop("rng"),
    "rng-garbage": lambda ck: ck.__setitem__("rng", {"torch": torch.zeros(3)}),
    "optimizer-garbage": lambda ck: ck.__setitem__("optimizer", {"state": {}, "param_groups": []}),
    "other-arch": lambda ck: ck["model"].__setitem__("arch", "digits-resnet"),
    "other-timesteps": lambda ck: ck["model"].__setitem__("timesteps", 9),
    "teacher-checkpoint": None,
    "weight-other-shape": lambda ck: ck["state_dict"].__setitem__(
        next(iter(ck["state_dict"])), torch.zeros(2, 2)),
}


@pytest.mark.parametrize("edit", sorted(RESUME_EDITS))
def test_resume_with_a_foreign_or_damaged_student(cli, run_copy, edit):
    if edit == "teacher-checkpoint":  # the teacher's file copied over the student's
        shutil.copy(run_copy / "teacher.pt", run_copy / "student.pt")
        _unfinished(run_copy)
    else:
        _unfinished(run_copy, RESUME_EDITS[edit])
    before = tree(run_copy)
    r = cli("distill", "--resume", run_copy)
    rejected(r, "student.pt")
    assert tree(run_copy) - before <= {"metrics.jsonl"}


@pytest.mark.parametrize("what", ["student.pt", "teacher.pt"])
def test_eval_with_a_corrupt_checkpoint(cli, run_copy, what):
    (run_copy / what).write_bytes(b"garbage")
    rejected(cli("eval", run_copy), what, "corrupt")


@pytest.mark.parametrize("content", [b"{", b"\xff[1, 2]"])
def test_corrupt_metrics_and_summary_do_not_crash_eval(cli, run_copy, content):
    (run_copy / "metrics.jsonl").write_bytes(content)
    (run_copy / "summary.json").write_bytes(content)
    r = cli("eval", run_copy)  # eval reads checkpoints only: these files do not matter
    assert r.exit_code == 0, r.output


# ---- export folders: quantization.json ----------------------------------------------------------

Q_EDITS = {
    "list": lambda q: [q],
    "string": lambda q: "quantization",
    "null": lambda q: None,
    "no-run-dir": lambda q: {k: v for k, v in q.items() if k != "run_dir"},
    "run-dir-int": lambda q: {**q, "run_dir": 5},
    "run-dir-list": lambda q: {**q, "run_dir": ["a"]},
    "scale-text": lambda q: {**q, "input_scale": "big"},
    "scale-negative": lambda q: {**q, "input_scale": -16},
    "timesteps-negative": lambda q: {**q, "timesteps": -3},
    "timesteps-fraction": lambda q: {**q, "timesteps": 2.5},
    "timesteps-bool": lambda q: {**q, "timesteps": True},
    "layers-text": lambda q: {**q, "layers": "many"},
    "layer-scale-text": lambda q: {**q, "layers": [{**q["layers"][0], "weight_scale": "x"}]},
    "checkpoint-int": lambda q: {**q, "student_checkpoint": 3},
}


def _edit_json(path: Path, edit) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


@pytest.mark.parametrize("edit", sorted(Q_EDITS))
@pytest.mark.parametrize("command", ["simulate", "profile"])
def test_edited_quantization_json(cli, run_copy, edit, command):
    exp = run_copy / "export"
    _edit_json(exp / "quantization.json", Q_EDITS[edit])
    before = tree(run_copy)
    r = cli(command, exp, "--samples", "4")
    rejected(r, "quantization.json", unchanged=(run_copy, before))


@pytest.mark.parametrize("content", [b"", b"{", b"\xff\xfe", b"{\"run_dir\": \"x\"" , b"null"])
def test_corrupt_quantization_json(cli, run_copy, content):
    exp = run_copy / "export"
    (exp / "quantization.json").write_bytes(content)
    rejected(cli("simulate", exp, "--samples", "4"), "quantization.json")


def test_run_dir_pointing_nowhere(cli, run_copy, tmp_path):
    """The export moved away from its run, and no path it stores leads to a run folder."""
    exp = tmp_path / "moved-export"
    shutil.move(run_copy / "export", exp)
    _edit_json(exp / "quantization.json", lambda q: {**q, "run_dir": "../nowhere",
                                                     "run_dir_absolute": str(tmp_path / "gone")})
    rejected(cli("simulate", exp, "--samples", "4"), "not an snn2hw run directory", "nowhere")


# ---- export folders: model.net ------------------------------------------------------------------

def _h5_edit(path: Path, edit) -> None:
    with h5py.File(path, "r+") as f:
        edit(f)


def _set(f, key, value):
    del f[key]
    f[key] = value


NET_EDITS = {
    "no-type": lambda f: f["layer/1"].__delitem__("type"),
    "key-not-integer": lambda f: f["layer"].move("1", "one"),
    "key-gap": lambda f: f["layer"].move("1", "17"),
    "weight-wrong-shape": lambda f: _set(f, "layer/1/weight", np.zeros((2, 2, 3), np.int64)),
    "weight-wrong-out": lambda f: _set(f, "layer/1/weight", np.zeros(
        (f["layer/1/weight"].shape[0] + 1, *f["layer/1/weight"].shape[1:]), np.int64)),
    "weight-text": lambda f: _set(f, "layer/1/weight", np.array([b"ab", b"cd"])),
    "shape-negative": lambda f: _set(f, "layer/1/shape", np.array([-4, 8, 8])),
    "shape-missing": lambda f: f["layer/1"].__delitem__("shape"),
    "neuron-missing-vth": lambda f: f["layer/1/neuron"].__delitem__("vThMant"),
    "neuron-type-other": lambda f: _set(f, "layer/1/neuron/type", "ADLIF"),
    "type-unknown": lambda f: _set(f, "layer/1/type", np.array([b"pool"], dtype="S10")),
    "no-layers": lambda f: f.__delitem__("layer"),
    "empty-layers": lambda f: [f["layer"].__delitem__(k) for k in list(f["layer"])],
    "info-not-json": lambda f: f.attrs.__setitem__("snn2hw", "{not json"),
    "info-list": lambda f: f.attrs.__setitem__("snn2hw", "[1, 2]"),
    "info-timesteps-negative": lambda f: f.attrs.__setitem__(
        "snn2hw", json.dumps({**json.loads(f.attrs["snn2hw"]), "timesteps": -2})),
    "info-scale-text": lambda f: f.attrs.__setitem__(
        "snn2hw", json.dumps({**json.loads(f.attrs["snn2hw"]), "input_scale": "x"})),
    "info-bits-huge": lambda f: f.attrs.__setitem__(
        "snn2hw", json.dumps({**json.loads(f.attrs["snn2hw"]), "input_message_bits": 99})),
    "dense-bias-size": lambda f: _set(f, f"layer/{len(f['layer']) - 1}/bias", np.zeros(3, np.int64)),
}


@pytest.mark.parametrize("edit", sorted(NET_EDITS))
def test_edited_netx_file(cli, run_copy, edit):
    exp = run_copy / "export"
    _h5_edit(exp / "model.net", NET_EDITS[edit])
    # (the neuron type is checked where netx files are interpreted; its message names the type)
    rejected(cli("simulate", exp, "--samples", "4"),
             "ADLIF" if edit == "neuron-type-other" else "model.net")


@pytest.mark.parametrize("cut", [0, 8, 0.5, -1])
def test_truncated_netx_file(cli, run_copy, cut):
    f = run_copy / "export" / "model.net"
    data = f.read_bytes()
    n = cut if isinstance(cut, int) and cut >= 0 else (len(data) - 1 if cut == -1 else int(len(data) * cut))
    f.write_bytes(data[:n])
    rejected(cli("simulate", run_copy / "export", "--samples", "4"), "model.net")


def test_netx_path_is_text_or_folder(cli, tmp_path):
    t = tmp_path / "x.net"
    t.write_text("hello")
    rejected(cli("simulate", t, "--input", t, "--timesteps", "2"), "x.net")
    d = tmp_path / "d.net"
    d.mkdir()
    rejected(cli("simulate", d), "d.net")


# ---- --input / --labels and simulate options ----------------------------------------------------

def _arrays(tmp_path: Path, x, y=None) -> list:
    np.save(tmp_path / "x.npy", x)
    args = ["--input", tmp_path / "x.npy"]
    if y is not None:
        np.save(tmp_path / "y.npy", y)
        args += ["--labels", tmp_path / "y.npy"]
    return args


GOOD_X = np.ones((3, 1, 8, 8), np.int64)
INPUT_CASES = {
    "wrong-shape": (np.ones((3, 64), np.int64), None, ["--input", "shape"]),
    "wrong-rank": (np.ones((1, 8, 8), np.int64), None, ["--input", "shape"]),
    "no-samples": (np.ones((0, 1, 8, 8), np.int64), None, ["--input"]),
    "fractions": (GOOD_X * 0.5, None, ["--input", "integer"]),
    "nan": (GOOD_X * np.nan, None, ["--input", "integer"]),
    "too-large": (GOOD_X * 10**6, None, ["--input", "0.."]),
    "negative": (-GOOD_X, None, ["--input"]),
    "strings": (np.array([["a"]]), None, ["--input", "numbers"]),
    "labels-short": (GOOD_X, np.array([0, 1]), ["--labels", "one label per sample"]),
    "labels-2d": (GOOD_X, np.zeros((3, 2), np.int64), ["--labels"]),
    "labels-fraction": (GOOD_X, np.array([0.5, 1, 2]), ["--labels", "integer"]),
}


@pytest.mark.parametrize("case", sorted(INPUT_CASES))
def test_bad_input_arrays(cli, run_copy, tmp_path, case):
    x, y, fragments = INPUT_CASES[case]
    rejected(cli("simulate", run_copy / "export", *_arrays(tmp_path, x, y)), *fragments)


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY garbage", b"plain text", None])
def test_unreadable_input_file(cli, run_copy, tmp_path, content):
    f = tmp_path / "x.npy"
    if content is None:  # an object array needs pickle, which snn2hw never loads
        np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        f.write_bytes(content)
    rejected(cli("simulate", run_copy / "export", "--input", f), "--input", str(f))


def test_input_is_an_npz_or_missing(cli, run_copy, tmp_path):
    np.savez(tmp_path / "x.npz", a=GOOD_X)
    rejected(cli("simulate", run_copy / "export", "--input", tmp_path / "x.npz"), ".npz")
    rejected(cli("simulate", run_copy / "export", "--input", tmp_path / "none.npy"), "none.npy")


SIM_OPTIONS = [
    (["--timeout", "nan"], ["--timeout"]),
    (["--timeout", "-1"], ["--timeout"]),
    (["--timeout", "inf"], ["--timeout"]),
    (["--samples", "0"], ["--samples"]),
    (["--timesteps", "0", "--input", "X"], ["--timesteps"]),
    (["--input-message-bits", "-1"], ["--input-message-bits"]),
    (["--input-message-bits", "99"], ["--input-message-bits"]),
    (["--device", "bogus"], ["--device"]),
    (["--backend", "fpga"], ["backend"]),
    (["--labels", "Y"], ["--labels needs --input"]),
]


@pytest.mark.parametrize("args,fragments", SIM_OPTIONS, ids=[" ".join(a) for a, _ in SIM_OPTIONS])
def test_bad_simulate_options(cli, run_copy, tmp_path, args, fragments):
    args = [str(tmp_path / "x.npy") if a == "X" else str(tmp_path / "y.npy") if a == "Y" else a
            for a in args]
    np.save(tmp_path / "x.npy", GOOD_X)
    np.save(tmp_path / "y.npy", np.zeros(3, np.int64))
    rejected(cli("simulate", run_copy / "export", *args), *fragments)


# ---- export and profile options -----------------------------------------------------------------

def test_bad_export_requests(cli, run_copy, tmp_path):
    before = tree(run_copy)
    rejected(cli("export", run_copy, "--target", "fpga"), "unknown target", unchanged=(run_copy, before))
    rejected(cli("export", run_copy, "--qat-epochs", "-1"), "--qat-epochs", unchanged=(run_copy, before))
    f = tmp_path / "file"
    f.write_text("x")
    rejected(cli("export", run_copy, "--out", f), "is a file", "--out")
    rejected(cli("export", run_copy, "--out", f / "sub"), "is a file")
    rejected(cli("export", tmp_path / "nowhere"), "not an snn2hw run directory")
    (run_copy / "student.pt").unlink()
    rejected(cli("export", run_copy, "--out", tmp_path / "o"), "student.pt", "does not exist",
             unchanged=(tmp_path, tree(tmp_path)))


@pytest.mark.parametrize("args,fragments", [
    (["--timesteps", "a,b"], ["--timesteps"]),
    (["--timesteps", "0"], ["--timesteps"]),
    (["--first-layer", "sometimes"], ["first"]),
    (["--samples", "0"], ["samples"]),
    (["--device", "bogus"], ["--device"]),
])
def test_bad_profile_options(cli, run_copy, args, fragments):
    before = tree(run_copy)
    rejected(cli("profile", run_copy, *args), *fragments, unchanged=(run_copy, before))


@pytest.mark.parametrize("content", [b"tables: [\n", b"- 1\n", b"\xff\xfe", b"name: x\n"])
def test_bad_cost_table(cli, run_copy, tmp_path, content):
    t = tmp_path / "cost.yaml"
    t.write_bytes(content)
    rejected(cli("profile", run_copy, "--samples", "8", "--cost-table", t), "cost.yaml")
