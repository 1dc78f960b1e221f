"""The operating system says no: disk full mid-run or mid-export, read-only folders, permission
denied, SIGKILL while writing. Nothing torn, nothing lost, the error says where the last good file
is, and no run name is left used. File modes follow the umask."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from fuzz_helpers import TALLY, rejected, tree

REPO = Path(__file__).resolve().parents[2]
# Smaller than TINY_ARGS: these tests train only to have checkpoints to break.
FAST = ["--epochs", "1", "--teacher-epochs", "1", "--set", "data.train_subset=64",
        "--set", "data.test_subset=32", "--batch-size", "32"]


def _fail_writes(monkeypatch, match: str, err: int, *, after: int = 0, partial: bool = True):
    """Path.write_bytes into a temp file whose name contains `match` writes half the data and
    raises OSError(err), from the (after+1)-th such write on (a disk that fills up)."""
    real = Path.write_bytes
    seen = {"n": 0}

    def write_bytes(self, data):
        if match in self.name and self.name.endswith(".tmp"):
            seen["n"] += 1
            if seen["n"] > after:
                if partial:
                    real(self, data[: len(data) // 2])
                raise OSError(err, os.strerror(err), str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    return seen


def test_disk_full_mid_run_keeps_last_checkpoint(cli, fuzz_run, tmp_path, monkeypatch):
    TALLY["kill/disk-full trials"] += 1
    _fail_writes(monkeypatch, "student.pt", errno.ENOSPC, after=1)  # epoch 1 written, epoch 2 fails
    r = cli("distill", "--runs-dir", tmp_path, "--name", "full", *FAST, "--epochs", "2",
            "--teacher", fuzz_run / "teacher.pt")
    run = tmp_path / "full"
    rejected(r, "disk is full", "student.pt", "last good checkpoint", "intact", "--resume")
    monkeypatch.undo()
    from snn2hw.runs import load_checkpoint

    ck = load_checkpoint(run / "student.pt")
    if ck["epoch"] != 1 or [p for p in tree(run) if p.endswith(".tmp")]:
        TALLY["files torn or lost"] += 1
    assert ck["epoch"] == 1 and not ck["complete"]
    assert not [p for p in tree(run) if p.endswith(".tmp")]
    res = cli("distill", "--resume", run)  # space freed: the run continues from epoch 1
    assert res.exit_code == 0, res.output
    assert load_checkpoint(run / "student.pt")["epoch"] == 2


def test_disk_full_before_first_checkpoint_frees_the_name(cli, tmp_path, monkeypatch):
    TALLY["kill/disk-full trials"] += 1
    _fail_writes(monkeypatch, "teacher.pt", errno.ENOSPC)
    r = cli("teacher", "--runs-dir", tmp_path, "--name", "x", "--epochs", "1", *FAST[4:])
    rejected(r, "disk is full", "teacher.pt", "no checkpoint of this run was written")
    assert not (tmp_path / "x").exists()  # nothing blocks the corrected command
    monkeypatch.undo()
    assert cli("teacher", "--runs-dir", tmp_path, "--name", "x", "--epochs", "1", *FAST[4:]).exit_code == 0


@pytest.mark.parametrize("err,fragment", [(errno.ENOSPC, "disk is full"),
                                          (errno.EROFS, "read-only"),
                                          (errno.EACCES, "permission denied")])
def test_export_write_failure_leaves_old_export(cli, run_copy, monkeypatch, err, fragment):
    TALLY["kill/disk-full trials"] += 1
    exp = run_copy / "export"
    old = {p: (exp / p).read_bytes() for p in tree(exp)}
    _fail_writes(monkeypatch, "quantization.json", err)
    rejected(cli("export", run_copy), fragment, "quantization.json")
    now = {p: (exp / p).read_bytes() for p in tree(exp)}
    if now != old:
        TALLY["files torn or lost"] += 1
    assert now == old  # every file of the previous export intact, none added
    assert sorted(p.name for p in run_copy.iterdir() if p.name.startswith(".")) == []


def test_export_to_a_new_folder_on_a_full_disk_leaves_nothing(cli, run_copy, tmp_path, monkeypatch):
    TALLY["kill/disk-full trials"] += 1
    _fail_writes(monkeypatch, "model.net", errno.ENOSPC, partial=False)
    monkeypatch.setattr("exporters.netx._write_netx_to",
                        lambda tmp, q: tmp.write_bytes(b"x" * 1000))
    before = tree(tmp_path)
    rejected(cli("export", run_copy, "--out", tmp_path / "new"), "disk is full", "model.net",
             unchanged=(tmp_path, before))


def test_read_only_runs_folder(cli, tmp_path, monkeypatch):
    real = tempfile.mkstemp

    def mkstemp(*a, **k):
        if "config.yaml" in str(k.get("prefix", "")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(k.get("dir")))
        return real(*a, **k)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    rejected(cli("distill", "--runs-dir", tmp_path, "--name", "ro", *FAST),
             "read-only", "config.yaml", "--runs-dir")
    assert not (tmp_path / "ro").exists()


def test_unreadable_config_file(cli, tmp_path, monkeypatch):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  epochs: 1\n")
    real = Path.read_bytes

    def read_bytes(self):
        if self.name == "c.yaml":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    rejected(cli("distill", "--config", cfg, "--runs-dir", tmp_path), "permission denied", "c.yaml")


def test_failed_start_leaves_no_run_and_resume_needs_none(cli, fuzz_run, tmp_path):
    """A bad method or a missing GPU fails before the run folder exists: same --name works after."""
    args = ["--runs-dir", tmp_path, "--name", "n", *FAST, "--teacher", fuzz_run / "teacher.pt"]
    rejected(cli("distill", *args, "--method", "magic"), "magic")
    if not torch.cuda.is_available():
        rejected(cli("distill", *args, "--device", "cuda"), "cuda")
    assert not (tmp_path / "n").exists()
    assert cli("distill", *args).exit_code == 0


def test_data_failure_during_training_removes_the_new_run(cli, tmp_path):
    """A corrupt event file met in epoch 1 (after the run started) leaves no run behind."""
    from snn2hw.data.fake import write_fake_nmnist

    root = tmp_path / "nm"
    files = write_fake_nmnist(root, n_train=4, n_test=2)
    for f in list(files)[:4]:
        Path(f).write_bytes(b"\x00" * 7)  # not a multiple of 5 bytes
    r = cli("teacher", "--dataset", "nmnist", "--data-root", root, "--runs-dir", tmp_path / "runs",
            "--name", "t", "--epochs", "1", "--batch-size", "2", "--no-cache")
    rejected(r, "not a multiple of 5")
    assert not (tmp_path / "runs" / "t").exists()


# ---- file modes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_files_follow_the_umask(tmp_path, umask):
    from snn2hw.fileio import atomic_write_bytes

    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "a.json", b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_run_and_export_files_are_readable_by_others(fuzz_run):
    """The run was made under the test's umask: every file has the mode `open()` would give."""
    mask = os.umask(0)
    os.umask(mask)
    modes = {str(p.relative_to(fuzz_run)): p.stat().st_mode & 0o777
             for p in fuzz_run.rglob("*") if p.is_file()}
    assert "export/model.net" in modes and "student.pt" in modes and "config.yaml" in modes
    assert {k: v for k, v in modes.items() if v != 0o666 & ~mask} == {}


# ---- relocatable exports ------------------------------------------------------------------------

def test_moved_run_with_its_export_still_simulates(cli, fuzz_run, tmp_path, monkeypatch):
    import json
    import shutil

    moved = tmp_path / "elsewhere" / "run"
    shutil.copytree(fuzz_run, moved)
    q = json.loads((moved / "export" / "quantization.json").read_text())
    assert q["run_dir"] == ".."  # stored relative to the export folder
    q["run_dir_absolute"] = str(tmp_path / "gone")  # the original location no longer exists
    (moved / "export" / "quantization.json").write_text(json.dumps(q))
    monkeypatch.chdir(tmp_path)  # and from another working directory
    r = cli("simulate", "elsewhere/run/export", "--samples", "8")
    assert r.exit_code == 0, r.output


def test_old_cwd_relative_run_dir_still_loads(cli, fuzz_run, tmp_path, monkeypatch):
    import json

    exp = fuzz_run / "export"
    q = json.loads((exp / "quantization.json").read_text())
    monkeypatch.chdir(fuzz_run.parent.parent)
    old = {k: v for k, v in q.items() if not k.endswith("_absolute")}
    old["run_dir"] = os.path.relpath(fuzz_run, Path.cwd())  # what exports before this change held
    old["student_checkpoint"] = os.path.relpath(fuzz_run / "student.pt", Path.cwd())
    copy = tmp_path / "oldexport"
    copy.mkdir()
    for p in exp.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    (copy / "quantization.json").write_text(json.dumps(old))
    r = cli("simulate", copy, "--samples", "8")
    assert r.exit_code == 0, r.output
    from exporters.pipeline import open_target

    q = open_target(copy).info["quantization"]
    assert Path(q["run_dir"]).resolve() == fuzz_run.resolve()
    assert Path(q["student_checkpoint"]).resolve() == (fuzz_run / "student.pt").resolve()


# ---- SIGKILL ------------------------------------------------------------------------------------

WRITER = """
import sys
from pathlib import Path
from snn2hw.fileio import atomic_write_bytes
path = Path(sys.argv[1])
blobs = [bytes([65]) * 3_000_000, bytes([66]) * 2_000_000]
i = 0
print("ready", flush=True)
while True:
    atomic_write_bytes(path, blobs[i % 2])
    i += 1
"""


def test_sigkill_while_writing_never_tears_a_file(tmp_path):
    """Kill a process that rewrites one file in a loop at 12 random moments: the file is always
    one of the two complete versions. Killed writers may leave hidden .tmp files, which the next
    `--resume` of a run removes."""
    import random

    target = tmp_path / "state.bin"
    target.write_bytes(b"A" * 3_000_000)
    valid = {b"A" * 3_000_000, b"B" * 2_000_000}
    rng = random.Random(0)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    torn = 0
    for _ in range(12):
        p = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE,
                             env=env)
        assert p.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.15))
        p.send_signal(signal.SIGKILL)
        p.wait()
        TALLY["kill/disk-full trials"] += 1
        if target.read_bytes() not in valid:
            torn += 1
    TALLY["files torn or lost"] += torn
    assert torn == 0


def test_sigkill_of_a_training_run_then_resume(fuzz_run, tmp_path):
    """A real `snn2hw distill` killed with SIGKILL after its first student checkpoint: the
    checkpoint and metrics load, and --resume removes the killed writer's temp files."""
    run = tmp_path / "k"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, "-m", "snn2hw", "distill", "--runs-dir", str(tmp_path),
                          "--name", "k", *FAST, "--epochs", "40", "--teacher",
                          str(fuzz_run / "teacher.pt")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        t0 = time.time()
        while not (run / "student.pt").exists() and time.time() - t0 < 120 and p.poll() is None:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    TALLY["kill/disk-full trials"] += 1
    from snn2hw.runs import RunDir, load_checkpoint

    try:
        ck = load_checkpoint(run / "student.pt")
        metrics = RunDir(run).metrics()
    except Exception:
        TALLY["files torn or lost"] += 1
        raise
    assert ck["epoch"] >= 1 and any(m["phase"] == "student" for m in metrics)
    (run / ".student.pt.stale.tmp").write_bytes(b"half")  # as a kill mid-write leaves it
    from snn2hw.config import RunConfig
    from snn2hw.pipeline import _run_config, _start_run

    cfg = _run_config(RunConfig(), run)
    _start_run(cfg, "x", run)
    assert not list(run.glob(".*.tmp"))


def test_profile_report_on_a_full_disk_leaves_nothing(cli, run_copy, tmp_path, monkeypatch):
    TALLY["kill/disk-full trials"] += 1
    _fail_writes(monkeypatch, "report.html", errno.ENOSPC)
    before = tree(tmp_path)
    rejected(cli("profile", run_copy, "--samples", "8", "--out", tmp_path / "rep"),
             "disk is full", "report.html", unchanged=(tmp_path, before))
    f = tmp_path / "afile"
    f.write_text("x")
    rejected(cli("profile", run_copy, "--samples", "8", "--out", f), "is a file", "--out")


def test_staged_folder_left_by_a_killed_export_is_cleaned_later(tmp_path):
    from snn2hw.fileio import staged_dir

    final = tmp_path / "export"
    old = tmp_path / ".export.abc123.tmp"  # as SIGKILL mid-export leaves it
    old.mkdir()
    (old / "model.net").write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    young = tmp_path / ".export.def456.tmp"  # maybe another export running now: kept
    young.mkdir()
    with staged_dir(final) as stage:
        (stage / "a.txt").write_text("done")
    assert (final / "a.txt").read_text() == "done"
    assert not old.exists() and young.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".export.def456.tmp", "export"]
