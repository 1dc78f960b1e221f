"""`snn2hw profile EXPORT_DIR` prices the spikes of the exported network in the bit-exact emulator."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_profile_of_an_export_counts_emulator_spikes(cli, tmp_path):
    r = cli("distill", "--runs-dir", tmp_path, "--name", "r", "--epochs", "2", "--teacher-epochs", "1",
            "--set", "data.train_subset=256", "--set", "data.test_subset=64")
    assert r.exit_code == 0, r.output
    e = cli("export", tmp_path / "r", "--target", "loihi")
    assert e.exit_code == 0, e.output
    export_dir = tmp_path / "r" / "export"
    p = cli("profile", export_dir, "--samples", "20")
    assert p.exit_code == 0, p.output
    rep = json.loads((export_dir / "profile" / "report.json").read_text())
    assert rep["activity_source"].startswith("bit-exact Loihi fixed-point emulator")

    # The same 20 samples through the emulator directly: per-layer firing rates must be equal.
    from exporters.emulator import Emulator, run_samples
    from exporters.pipeline import encode_inputs, open_target
    from snn2hw.config import config_from_dict, load_yaml
    from snn2hw.pipeline import load_data

    t = open_target(export_dir)
    info = t.info
    bundle = load_data(config_from_dict(load_yaml(tmp_path / "r" / "config.yaml")))
    x = np.stack([np.asarray(bundle.test[i][0]) for i in range(20)])
    emu = Emulator(t.net, input_message_bits=info["input_message_bits"],
                   reset_interval=info["reset_interval"], reset_offset=info["reset_offset"])
    _, spikes = run_samples(emu, encode_inputs(x, info), info["timesteps"])
    rates = {row["name"]: row.get("firing_rate") for row in rep["layers"]}
    for name, s in zip(info["layer_names"], spikes):
        if rates.get(name) is not None:
            assert rates[name] == pytest.approx(float(s.mean()), rel=1e-12), name
