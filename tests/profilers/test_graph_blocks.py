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
