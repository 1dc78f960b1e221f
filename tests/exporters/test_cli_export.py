"""`snn2hw export` / `snn2hw simulate` end to end on a tiny real run."""

from __future__ import annotations

import json

import h5py
import nir
import numpy as np
import pytest


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    from typer.testing import CliRunner

    from snn2hw.cli import app

    out = tmp_path_factory.mktemp("export")
    r = CliRunner().invoke(app, ["export", str(tiny_run), "--target", "loihi", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_export_writes_every_artefact(exported):
    for name in ("model.nir", "model.net", "quantization.json", "resources.json", "summary.md"):
        assert (exported / name).is_file()
    g = nir.read(str(exported / "model.nir"))
    assert list(g.nodes["input"].input_type["input"]) == [1, 8, 8]
    q = json.loads((exported / "quantization.json").read_text())
    assert [lay["name"] for lay in q["layers"]] == ["conv1", "conv2", "fc1", "readout"]
    assert q["layers"][1]["sources"] == ["pool1", "conv2", "lif2"]
    assert q["latency_steps"] == q["timesteps"] + 4
    for lay in q["layers"]:
        assert -256 <= lay["weight_range_used"][0] and lay["weight_range_used"][1] <= 254
    with h5py.File(exported / "model.net") as f:
        types = [f[f"layer/{i}/type"][0].decode() for i in range(len(f["layer"]))]
        assert types == ["input", "conv", "conv", "flatten", "dense", "dense"]
        assert tuple(f["layer/2/shape"][()]) == (32, 4, 4)
        assert f["layer/2/weight"].shape == (32, 16, 6, 6)  # pool1 folded: 3x3 -> 6x6 stride 2
    res = json.loads((exported / "resources.json").read_text())
    assert [r["target"] for r in res] == ["loihi1", "loihi2_assumed"]
    assert res[0]["neurons"] == 16 * 64 + 32 * 16 + 64 + 10 and not res[0]["assumed"]
    assert res[1]["assumed"] and "ASSUMED" in (exported / "summary.md").read_text()


def test_simulate_emulator_prints_accuracy_and_matches_float(exported, cli, tmp_path):
    r = cli("simulate", exported, "--backend", "emulator", "--samples", "40", "--json",
            tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    assert "emulator accuracy" in r.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["samples"] == 40 and 0.0 <= data["emulator"]["accuracy"] <= 1.0


def test_simulate_bare_net_file_needs_inputs_and_timesteps(tmp_path, cli):
    from export_helpers import cuba, write_netx_file

    path = tmp_path / "other.net"  # a file in lava-dl slayer's layout, not from snn2hw
    rng = np.random.default_rng(0)
    write_netx_file(path, [
        {"type": "dense", "shape": [8], "weight": rng.integers(-60, 60, (8, 12)) * 2,
         "neuron": cuba(1024, 128, 40)},
        {"type": "dense", "shape": [3], "weight": rng.integers(-60, 60, (3, 8)) * 2,
         "neuron": cuba(4096, 0, 30)},
    ])
    r = cli("simulate", path)
    assert r.exit_code == 2 and "--input" in r.output and "--timesteps" in r.output
    np.save(tmp_path / "x.npy", (rng.random((10, 12)) > 0.5).astype(np.int64))
    np.save(tmp_path / "y.npy", rng.integers(0, 3, 10))
    r = cli("simulate", path, "--input", tmp_path / "x.npy", "--labels", tmp_path / "y.npy",
            "--timesteps", "6", "--json", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "r.json").read_text())["samples"] == 10


def test_corrupt_export_dir_is_a_clear_error(exported, cli, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("model.nir", "quantization.json"):
        (bad / name).write_bytes((exported / name).read_bytes())
    r = cli("simulate", bad)
    assert r.exit_code == 2 and "missing model.net" in r.output
    (bad / "model.net").write_bytes(b"\x89HDF garbage")
    r = cli("simulate", bad)
    assert r.exit_code == 2 and "model.net" in r.output and "Traceback" not in r.output
    (bad / "model.net").write_bytes((exported / "model.net").read_bytes())
    (bad / "quantization.json").write_text("{not json")
    r = cli("simulate", bad)
    assert r.exit_code == 2 and "quantization.json is corrupt" in r.output


def test_export_defaults_to_latest_run_and_nir_target(tiny_run, cli):
    r = cli("export", "--runs-dir", tiny_run.parent, "--target", "nir")
    assert r.exit_code == 0, r.output
    assert (tiny_run / "export" / "model.nir").is_file()
    r = cli("simulate", "--runs-dir", tiny_run.parent)  # nir only: no model.net yet
    assert r.exit_code == 2 and "missing model.net" in r.output


def test_onnx_target_checks_teacher_against_pytorch(tiny_run, cli, tmp_path):
    r = cli("export", tiny_run, "--target", "onnx", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    import onnxruntime as ort
    import torch

    from snn2hw.pipeline import load_model

    teacher, _, _ = load_model(tiny_run / "teacher.pt", "teacher")
    x = torch.rand(3, 1, 8, 8)
    got = ort.InferenceSession(str(tmp_path / "teacher.onnx")).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, teacher.eval()(x).detach().numpy(), atol=1e-4)


def test_bad_target_and_missing_run(cli, tmp_path):
    r = cli("export", "--runs-dir", tmp_path)
    assert r.exit_code == 2 and "snn2hw distill" in r.output
    r = cli("export", tmp_path, "--target", "truenorth")
    assert r.exit_code == 2 and "--target" in r.output


def test_qat_finetune_puts_weights_on_the_loihi_grid(tiny_run, cli, tmp_path):
    r = cli("export", tiny_run, "--qat-epochs", "1", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    q = json.loads((tmp_path / "quantization.json").read_text())
    assert q["qat_epochs"] == 1 and q["student_checkpoint"].endswith("student_qat.pt")
    assert all(lay["weight_rel_rms_error"] < 1e-5 for lay in q["layers"])
    r = cli("export", tiny_run, "--qat-epochs", "-1", "--out", tmp_path)
    assert r.exit_code == 2 and "--qat-epochs" in r.output
