"""Without --samples, a run with Lava gets as many samples as Lava runs in a few minutes."""

from __future__ import annotations

import json

import h5py
import pytest

from exporters.lava_budget import DEFAULT_SAMPLES, default_samples, weight_count, weight_steps


def _export_dir(tmp_path, shapes, latency: int, name: str = "model.net"):
    """An export folder whose model file holds weight datasets of these shapes (never written:
    HDF5 allocates nothing, so 13M weights cost no disk)."""
    d = tmp_path / "exp"
    d.mkdir()
    with h5py.File(d / name, "w") as f:
        for k, shape in enumerate(shapes):
            f.create_dataset(f"layer/{k}/weight", shape=shape, dtype="i2")
            f.create_dataset(f"layer/{k}/bias", shape=(shape[0],), dtype="i2")  # not counted
    (d / "quantization.json").write_text(json.dumps({"latency_steps": latency}))
    return d


def test_cost_is_weights_times_steps_per_sample(tmp_path):
    d = _export_dir(tmp_path, [(512, 512, 3, 3), (10, 512)], 13)
    assert weight_count(d / "model.net") == 512 * 512 * 9 + 5120
    assert weight_steps(d) == (512 * 512 * 9 + 5120) * 13


def test_a_paper_sized_network_gets_one_lava_sample_and_says_why(tmp_path):
    # vgg11 at 8x8 as exported: 13.9M weights, 13 steps (Lava: 117 s per sample)
    d = _export_dir(tmp_path, [(1545, 1000, 3, 3)], 13, name="model.graph.h5")
    n, why = default_samples(d, uses_lava=True)
    assert n == 1 and "--samples" in why and "1.81e+08" in why
    assert default_samples(d, uses_lava=False) == (DEFAULT_SAMPLES, None)  # emulator: 100


def test_budget_divides_and_caps_at_the_default(tmp_path):
    d = _export_dir(tmp_path, [(10, 100)], 10)  # 1e4 weight-steps per sample
    assert default_samples(d, True, budget=25_000)[0] == 2
    assert default_samples(d, True, budget=1e12) == (DEFAULT_SAMPLES, None)
    assert default_samples(d, True, budget=1)[0] == 1  # never zero


def test_missing_or_corrupt_files_keep_the_default(tmp_path):
    assert default_samples(tmp_path / "model.net", True) == (DEFAULT_SAMPLES, None)
    d = _export_dir(tmp_path, [(10, 100)], 10)
    (d / "model.net").write_bytes(b"not hdf5")
    assert weight_steps(d) is None


@pytest.mark.lava
def test_cli_lava_without_samples_runs_the_budget_and_explicit_samples_win(
        tiny_run, cli, tmp_path, monkeypatch):
    import exporters.lava_budget as lb

    out = tmp_path / "exp"
    assert cli("export", tiny_run, "--target", "loihi", "--out", out).exit_code == 0
    monkeypatch.setattr(lb, "LAVA_WEIGHT_STEPS", 2 * weight_steps(out))
    r = cli("simulate", out, "--backend", "lava", "--json", tmp_path / "a.json")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "a.json").read_text())["samples"] == 2
    assert "Lava default for this network" in r.output
    r = cli("simulate", out, "--backend", "lava", "--samples", "3", "--json", tmp_path / "b.json")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "b.json").read_text())["samples"] == 3
    assert "Lava default" not in r.output
