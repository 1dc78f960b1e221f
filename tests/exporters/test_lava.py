"""Emulator vs Lava (Loihi2SimCfg fixed_pt), spike for spike; netx loads our files. Select: -m lava."""

from __future__ import annotations

import numpy as np
import pytest
from export_helpers import conv_student

from exporters.emulator import Emulator, run_samples
from exporters.lava import lava_available, run_lava
from exporters.netx import dense_effective, write_netx
from exporters.nir import student_to_nir
from exporters.quantize import quantize

pytestmark = [
    pytest.mark.lava,
    pytest.mark.skipif(not lava_available(), reason="lava-nc/lava-dl not installed (Python 3.10 only)"),
]


def _compare(path, x_int, T, L, bits):
    emu = Emulator(path, input_message_bits=bits, reset_interval=T + L, reset_offset=1)
    v_e, s_e = run_samples(emu, x_int, T)
    lr = run_lava(path, x_int, timesteps=T, num_layers=L, input_message_bits=bits, timeout_s=240)
    assert [s.shape for s in lr.spikes] == [s.shape for s in s_e]
    for k, (a, b) in enumerate(zip(s_e, lr.spikes)):
        assert np.array_equal(a, b), f"layer {k}: {np.argwhere(a != b)[:3]}"
    assert np.array_equal(v_e, lr.v_readout)
    return s_e


def test_small_dense_network_exported_by_lava_dl_slayer(tmp_path):
    import h5py
    import torch
    from lava.lib.dl import slayer

    torch.manual_seed(0)
    p = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.1, "requires_grad": False}
    blocks = [slayer.block.cuba.Dense(p, 20, 16, weight_scale=4, weight_norm=False),
              slayer.block.cuba.Dense(p, 16, 10, weight_scale=4, weight_norm=False)]
    with torch.no_grad():  # slayer learns its neuron shapes on the first forward pass
        y = torch.ones(1, 20, 3)
        for b in blocks:
            y = b(y)
    path = tmp_path / "slayer.net"
    with h5py.File(path, "w") as f:
        g = f.create_group("layer")
        for i, b in enumerate(blocks):
            b.export_hdf5(g.create_group(str(i)))
    x = (np.random.default_rng(0).random((6, 20)) > 0.5).astype(np.int64)
    spikes = _compare(path, x, T=5, L=2, bits=0)
    assert spikes[0].sum() > 0 and spikes[1].sum() > 0
    # our re-implementation of netx's weight-bit optimisation equals lava-dl's own
    from lava.lib.dl.netx.utils import optimize_weight_bits

    rng = np.random.default_rng(1)
    for w in [rng.integers(-256, 255, (5, 7)), rng.integers(0, 200, (3, 3)) * 2,
              -rng.integers(1, 100, (4, 2)), rng.integers(-20, 20, (6, 6)) * 4]:
        ours = dense_effective(w)[1]
        assert ours == optimize_weight_bits(w)[2]


def test_small_conv_network_from_our_exporter(tmp_path):
    q = quantize(student_to_nir(conv_student()))
    write_netx(tmp_path / "m.net", q)
    x = np.random.default_rng(0).integers(0, 17, (5, 1, 8, 8))
    spikes = _compare(tmp_path / "m.net", x, T=4, L=len(q.layers), bits=q.input_message_bits)
    # netx built every layer with the shapes we wrote (C, H, W) and all spiking layers fire
    assert [s.shape[2:] for s in spikes] == [(4, 8, 8), (6, 4, 4), (12,), (10,)]
    assert all(s.sum() > 0 for s in spikes[:-1])


def test_cli_compare_reports_float_emulator_lava_and_agreement(tiny_run, cli, tmp_path):
    r = cli("export", tiny_run, "--out", tmp_path)
    assert r.exit_code == 0, r.output
    r = cli("simulate", tmp_path, "--compare", "--samples", "3", "--json", tmp_path / "c.json")
    assert r.exit_code == 0, r.output
    for word in ("float accuracy", "emulator accuracy", "lava accuracy", "agreement conv1"):
        assert word in r.output
    import json

    data = json.loads((tmp_path / "c.json").read_text())
    assert all(a["identical_fraction"] == 1.0 for a in data["agreement"])
    assert data["readout_equal"] is True


def test_dense_synaptic_delays_match_lava(tmp_path):
    """netx 'delay' datasets (per output neuron, per input) run through DelayDense identically."""
    import torch
    from export_helpers import cuba, write_netx_file

    rng = np.random.default_rng(3)
    path = tmp_path / "delay.net"
    write_netx_file(path, [
        {"type": "dense", "shape": [8], "weight": rng.integers(-40, 90, (8, 12)) * 2,
         "delay": rng.integers(0, 5, 8), "neuron": cuba(1024, 256, 60)},
        {"type": "dense", "shape": [3], "weight": rng.integers(-30, 90, (3, 8)) * 2,
         "delay": rng.integers(0, 4, 8), "neuron": cuba(4096, 0, 50)},
    ])
    T, L = 10, 2
    x = (rng.random((1, 12)) > 0.4).astype(np.int64)
    lr = run_lava(path, x, timesteps=T, num_layers=L, input_message_bits=0, timeout_s=240)
    emu = Emulator(path, input_message_bits=0, reset_interval=T + L, reset_offset=1)
    r = emu.run(torch.as_tensor(x).unsqueeze(0).expand(T, 1, 12), T + L)
    for k in range(L):
        assert np.array_equal(r.spikes[k][:, 0].numpy(), lr.raw[k]), f"layer {k}"
    assert np.array_equal(r.v_last[:, 0].numpy(), lr.raw[-1])
    assert lr.raw[0].sum() > 0 and lr.raw[1].sum() > 0
    from exporters.netx import read_netx

    no_delay = read_netx(path)
    for lay in no_delay.layers:
        lay.delay = None
    r0 = Emulator(no_delay, input_message_bits=0, reset_interval=T + L, reset_offset=1).run(
        torch.as_tensor(x).unsqueeze(0).expand(T, 1, 12), T + L)
    assert not np.array_equal(r0.spikes[0][:, 0].numpy(), lr.raw[0])  # the delays matter
