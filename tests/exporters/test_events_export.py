"""Event students (frames [N, T, C, H, W]) on the exported netx network: a gesture-shaped export
simulates; the windowed emulator on frames equals the step-by-step emulator; Lava agrees."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from export_helpers import conv_student

from exporters.emulator import Emulator
from exporters.events_export import emulate_sequence, run_sequence_both
from exporters.lava import lava_available
from exporters.netx import write_netx
from exporters.nir import student_to_nir
from exporters.quantize import quantize


@pytest.fixture
def frames_net(tmp_path):
    q = quantize(student_to_nir(conv_student()), input_scale=1.0, input_max=3.0)
    write_netx(tmp_path / "m.net", q)
    x = np.random.default_rng(0).integers(0, 4, (3, q.timesteps, 1, 8, 8))
    return tmp_path / "m.net", q, x


def test_frames_windowed_equal_every_step(frames_net):
    """A new frame per step: the layer-by-layer path equals the step-by-step simulation."""
    path, q, x = frames_net
    T, L = q.timesteps, len(q.layers)
    emu = Emulator(path, reset_interval=T + L, reset_offset=1)
    v, sp = emulate_sequence(emu, x, T)
    seq = torch.as_tensor(x).transpose(0, 1)
    r = emu.run(seq, T + L)
    for k, s in enumerate(sp):
        assert np.array_equal(s, r.spikes[k][k + 1:k + 1 + T].numpy())
    assert np.array_equal(v, r.v_last[T + L - 1].numpy())
    assert sp[0].sum() > 0
    # frames really differ per step: a static input of frame 0 gives other spikes
    v0, sp0 = emulate_sequence(emu, np.repeat(x[:, :1], T, axis=1), T)
    assert not np.array_equal(sp0[0], sp[0])


def test_frames_of_the_wrong_length_named(frames_net):
    from exporters.errors import SimulationError

    path, q, x = frames_net
    with pytest.raises(SimulationError, match="frames per sample"):
        run_sequence_both(path, x[:, :2], lava=False)


@pytest.mark.lava
@pytest.mark.skipif(not lava_available(), reason="lava-nc/lava-dl not installed (Python 3.10 only)")
def test_frames_in_lava_equal_emulator(frames_net):
    path, _, x = frames_net
    r = run_sequence_both(path, x, timeout_s=240)
    assert all(a["identical_fraction"] == 1.0 for a in r["agreement"])
    assert r["readout_equal"] and sum(a["spikes"] for a in r["agreement"]) > 0


@pytest.mark.slow  # ~10-25 s: distills on fake DVS-Gesture files first
def test_gesture_shaped_export_simulates(tmp_path, cli):
    """DVS-Gesture (fake files in tonic's layout) -> vggsnn student -> export -> simulate."""
    from snn2hw.data.fake import write_fake_dvs_gesture

    write_fake_dvs_gesture(tmp_path / "data", train_users=(1,), test_users=(24,))
    r = cli("distill", "--dataset", "dvs-gesture", "--data-root", tmp_path / "data", "--runs-dir",
            tmp_path / "runs", "--name", "g", "--cache-dir", tmp_path / "cache", "-T", "3",
            "--frame-size", "16", "--teacher-epochs", "1", "--epochs", "1", "--batch-size", "8",
            "--set", "data.train_subset=8", "--set", "data.test_subset=4")
    assert r.exit_code == 0, r.output
    run = tmp_path / "runs" / "g"
    r = cli("export", run, "--target", "loihi")
    assert r.exit_code == 0, r.output
    rep = json.loads((run / "export" / "quantization.json").read_text())
    assert rep["input_scale"] == 1.0  # event counts are sent as they are
    r = cli("simulate", run / "export", "--samples", "3", "--json", tmp_path / "s.json")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "s.json").read_text())
    assert res["samples"] == 3 and res["input"] == "frames" and "accuracy" in res["emulator"]
    r = cli("profile", run / "export", "--samples", "3")  # spikes counted on the frames too
    assert r.exit_code == 0, r.output


@pytest.mark.slow  # ~20-40 s: distills a residual student on fake DVS-Gesture files first
def test_residual_student_on_event_data_simulates_and_profiles(tmp_path, cli):
    """digits-resnet student on DVS-Gesture frames -> graph export -> simulate (a new frame every
    step; with Lava, emulator vs Lava spike for spike) -> profile on the export."""
    from snn2hw.data.fake import write_fake_dvs_gesture

    write_fake_dvs_gesture(tmp_path / "data", train_users=(1,), test_users=(24,))
    r = cli("distill", "--dataset", "dvs-gesture", "--data-root", tmp_path / "data", "--runs-dir",
            tmp_path / "runs", "--name", "g", "--cache-dir", tmp_path / "cache", "-T", "3",
            "--frame-size", "16", "--teacher-epochs", "1", "--epochs", "1", "--batch-size", "8",
            "--student-arch", "digits-resnet",
            "--set", "data.train_subset=8", "--set", "data.test_subset=4")
    assert r.exit_code == 0, r.output
    run = tmp_path / "runs" / "g"
    assert cli("export", run, "--target", "loihi").exit_code == 0
    assert (run / "export" / "model.graph.h5").is_file()
    rep = json.loads((run / "export" / "quantization.json").read_text())
    assert rep["input_scale"] == 1.0  # event counts are sent as they are
    args = ["--compare"] if lava_available() else []
    r = cli("simulate", run / "export", "--samples", "2", *args, "--json", tmp_path / "s.json")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "s.json").read_text())
    assert res["input"] == "frames" and "accuracy" in res["emulator"]
    if lava_available():
        assert all(a["identical_fraction"] == 1.0 for a in res["agreement"])
        assert res["readout_equal"]
    assert cli("profile", run / "export", "--samples", "2").exit_code == 0
