"""`snn2hw export` / `simulate` on a run whose student is a residual net (digits-resnet)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import torch

from exporters.emulator_graph import GraphEmulator, run_samples
from exporters.graph_file import read_graph
from exporters.nir import read_nir
from exporters.nir_graph import graph_to_student
from snn2hw.runs import load_checkpoint, save_checkpoint


def test_export_and_simulate_residual_run(resnet_run, cli, tmp_path):
    run, model = resnet_run
    r = cli("export", run, "--target", "nir", "--out", tmp_path / "nir")
    assert r.exit_code == 0, r.output
    back = graph_to_student(read_nir(tmp_path / "nir" / "model.nir"))
    x = torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        np.testing.assert_allclose(back(x).numpy(), model(x).numpy(), atol=1e-5)
    r = cli("export", run, "--target", "loihi")
    assert r.exit_code == 0, r.output
    out = run / "export"
    assert (out / "model.graph.h5").is_file() and not (out / "model.net").exists()
    res_rep = json.loads((out / "resources.json").read_text())
    assert [r["target"] for r in res_rep] == ["loihi1", "loihi2_assumed"]
    assert res_rep[0]["cores"] >= len(res_rep[0]["populations"]) and "relay" in (out / "summary.md").read_text()
    q = read_graph(out / "model.graph.h5")
    assert [p.pop.name for p in q.populations][-1] == "readout"
    r = cli("simulate", out, "--samples", "16", "--json", tmp_path / "s.json")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "s.json").read_text())
    assert res["samples"] == 16 and "accuracy" in res["emulator"] and "lava" not in res
    # the numbers the CLI reports are those of the emulator on the same integers
    rep = json.loads((out / "quantization.json").read_text())
    assert rep["format"] == "snn2hw-loihi-graph-1" and rep["edges"]
    v, _ = run_samples(GraphEmulator(q), np.zeros((2, 1, 8, 8), np.int64))
    assert v.shape == (2, 10)
    r = cli("profile", out, "--samples", "8")
    assert r.exit_code == 0, r.output
    assert "emulator" in r.output and "SynOps" in r.output


def test_qat_refused_for_graphs(resnet_run, cli):
    run, _ = resnet_run
    r = cli("export", run, "--target", "loihi", "--qat-epochs", "1")
    assert r.exit_code != 0 and "sequential students only" in r.output


def test_failed_export_of_latest_run_names_it_and_leaves_no_folder(tiny_run, tmp_path, cli):
    runs = tmp_path / "runs"
    run = runs / "soft"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("export"))
    ck = load_checkpoint(run / "student.pt")
    ck["model"]["neuron"]["reset"] = "soft"
    save_checkpoint(run / "student.pt", ck)
    r = cli("export", "--runs-dir", runs)
    assert r.exit_code != 0
    text = " ".join(r.output.split())
    assert "soft reset" in text and "soft" in text and str(run.name) in text
    assert "latest run" in text
    assert not (run / "export").exists()


def test_graph_export_moves_with_its_run(resnet_run, cli, tmp_path, monkeypatch):
    """quantization.json stores the run relative to the export: a moved run still simulates."""
    run, _ = resnet_run
    assert cli("export", run, "--target", "loihi").exit_code == 0
    moved = tmp_path / "elsewhere" / "res"
    moved.parent.mkdir()
    shutil.move(str(run), moved)
    monkeypatch.chdir(tmp_path / "elsewhere")  # neither the old path nor the old cwd helps
    r = cli("simulate", moved / "export", "--samples", "4")
    assert r.exit_code == 0, r.output
    r = cli("profile", moved / "export", "--samples", "4")
    assert r.exit_code == 0, r.output


def test_graph_export_refuses_input_files(resnet_run, cli, tmp_path):
    run, _ = resnet_run
    assert cli("export", run, "--target", "loihi").exit_code == 0
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.int64))
    r = cli("simulate", run / "export", "--input", tmp_path / "x.npy", "--timesteps", "4")
    assert r.exit_code == 2 and "graph" in r.output and "--input" in r.output
