"""Profiler walk over residual blocks: exact SynOps checked by brute force on a stride-2 block."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "exporters"))
from graph_helpers import tiny_resnet  # noqa: E402

from profilers import ops  # noqa: E402
from profilers.graph import walk  # noqa: E402


def _brute(spikes: torch.Tensor, c_out: int, k: int, stride: int, pad: int) -> float:
    """Sum over spikes of the synapses they reach: explicit loops over outputs and kernel taps."""
    T, c, h, w = spikes.shape
    ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    total = 0.0
    for y in range(ho):
        for x in range(wo):
            for i in range(k):
                for j in range(k):
                    iy, ix = y * stride - pad + i, x * stride - pad + j
                    if 0 <= iy < h and 0 <= ix < w:
                        total += c_out * float(spikes[:, :, iy, ix].sum())
    return total


def test_block_plans_and_synops_match_brute_force():
    model = tiny_resnet()
    plans = {p.name: p for p in walk(model)}
    assert plans["layer2.0.conv1"].source == "layer1.0.sn2"
    assert plans["layer2.0.conv2"].source == "layer2.0.sn1"
    sc = plans["layer2.0.shortcut"]
    assert sc.source == "layer1.0.sn2" and sc.neuron is None
    assert plans["readout"].source == "layer2.0.sn2"
    seen = {}
    blk = model.body.layer1[0]
    h = blk.sn2.register_forward_hook(lambda m, i, o: seen.setdefault("s", o.detach()))
    with torch.no_grad():
        model(torch.rand(3, 1, 8, 8))
    h.remove()
    s = seen["s"].sum(1)  # [T, C, H, W] summed over samples
    assert s.sum() > 0
    for name, k, pad in (("layer2.0.conv1", 3, 1), ("layer2.0.shortcut", 1, 0)):
        fan = ops.fanout_map(plans[name].chain, tuple(s.shape[1:]))
        got = float(ops.synops(s, fan).sum())
        assert got == _brute(s, 6, k, 2, pad), name


def test_identity_shortcut_counts_one_synop_per_input_spike():
    model = tiny_resnet()
    plans = {p.name: p for p in walk(model)}
    ident = plans["layer1.0.shortcut"]
    assert ident.source == "sn1" and ident.neuron is None and ident.input_of == "layer1.0.conv1"
    seen = {}
    h = model.body.sn1.register_forward_hook(lambda m, i, o: seen.setdefault("s", o.detach()))
    with torch.no_grad():
        model(torch.rand(3, 1, 8, 8))
    h.remove()
    s = seen["s"].sum(1)
    fan = ops.fanout_map(ident.chain, tuple(s.shape[1:]))
    assert torch.equal(fan, torch.ones_like(fan))
    assert float(ops.synops(s, fan).sum()) == float(s.sum()) > 0


def test_profile_run_reports_identity_shortcut(tmp_path):
    """The whole profiler on a residual run: identity shortcut rows carry SynOps = input spikes."""
    from profilers.profile import count_layers, input_shapes

    model = tiny_resnet()
    plans = walk(model)
    shapes = input_shapes(model, plans, torch.rand(1, 1, 8, 8))
    assert shapes["layer1.0.shortcut"] == shapes["layer1.0.conv1"] == (4, 8, 8)
    from profilers.activity import activity_from_spikes

    spikes = {"sn1": torch.ones(4, 2, 4, 8, 8)}
    for p in plans:
        if p.neuron and p.neuron not in spikes:
            spikes[p.neuron] = torch.zeros(4, 2, *({"layer1.0.sn1": (4, 8, 8), "layer1.0.sn2": (4, 8, 8)}
                                                   .get(p.neuron, (6, 4, 4))))
    act = activity_from_spikes(spikes)
    rows = {c.name: c for c in count_layers(plans, act, shapes, timesteps=4, policy="every-step",
                                            state_vars=1)}
    assert rows["layer1.0.shortcut"].synops == 4 * 4 * 8 * 8  # every neuron spiked every step
