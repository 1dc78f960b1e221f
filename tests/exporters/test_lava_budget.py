"""Without --samples, a run with Lava gets as many samples as Lava runs in a few minutes."""

from __future__ import annotations

import json

import pytest

from exporters.lava_budget import DEFAULT_SAMPLES, default_samples, synapse_steps


def _export_dir(tmp_path, synapses: int, latency: int):
    d = tmp_path / "exp"
    d.mkdir()
    (d / "resources.json").write_text(json.dumps([{"target": "loihi1", "synapses": synapses}]))
    (d / "quantization.json").write_text(json.dumps({"latency_steps": latency}))
    return d


def test_cost_is_synapses_times_steps_per_sample(tmp_path):
    assert synapse_steps(_export_dir(tmp_path, 95_000_000, 23)) == 95_000_000 * 23


def test_a_paper_sized_network_gets_one_lava_sample_and_says_why(tmp_path):
    d = _export_dir(tmp_path, 95_000_000, 23)  # resnet19 at 8x8: 2.2e9 synapse-steps per sample
    n, why = default_samples(d, uses_lava=True)
    assert n == 1 and "--samples" in why and "2.18e+09" in why
    assert default_samples(d, uses_lava=False) == (DEFAULT_SAMPLES, None)  # emulator: 100


def test_budget_divides_and_caps_at_the_default(tmp_path):
    d = _export_dir(tmp_path, 1000, 10)
    assert default_samples(d, True, budget=25_000) == (2, default_samples(d, True, 25_000)[1])
    assert default_samples(d, True, budget=1e12) == (DEFAULT_SAMPLES, None)
    assert default_samples(d, True, budget=1)[0] == 1  # never zero


def test_missing_or_corrupt_files_keep_the_default(tmp_path):
    assert default_samples(tmp_path / "model.net", True) == (DEFAULT_SAMPLES, None)
    d = _export_dir(tmp_path, 1000, 10)
    (d / "resources.json").write_text("{not json")
    assert synapse_steps(d) is None


@pytest.mark.lava
def test_cli_lava_without_samples_runs_the_budget_and_explicit_samples_win(
        tiny_run, cli, tmp_path, monkeypatch):
    import exporters.lava_budget as lb

    out = tmp_path / "exp"
    assert cli("export", tiny_run, "--target", "loihi", "--out", out).exit_code == 0
    monkeypatch.setattr(lb, "LAVA_SYNAPSE_STEPS", 2 * synapse_steps(out))
    r = cli("simulate", out, "--backend", "lava", "--json", tmp_path / "a.json")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "a.json").read_text())["samples"] == 2
    assert "Lava default for this network" in r.output
    r = cli("simulate", out, "--backend", "lava", "--samples", "3", "--json", tmp_path / "b.json")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "b.json").read_text())["samples"] == 3
    assert "Lava default" not in r.output
