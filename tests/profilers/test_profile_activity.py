"""The model walk finds each neuron layer's consumer; hooks count spikes exactly, bounded."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from profilers.activity import ActivityRecorder
from profilers.errors import ProfileError
from profilers.graph import walk
from snn2hw.models.digits import digits_snn
from snn2hw.models.spiking import SpikingNet
from snn2hw.neurons import PRESETS, SpikingNeuron, TimeFolded


def test_walk_digits_student():
    m = digits_snn((1, 8, 8), 10, 4, PRESETS["tet"])
    plans = walk(m)
    assert [(p.name, p.source, p.neuron) for p in plans] == [
        ("conv1", None, "lif1"), ("conv2", "lif1", "lif2"), ("fc1", "lif2", "lif3"),
        ("readout", "lif3", None)]
    assert [type(s.module).__name__ for s in plans[2].pre] == ["AvgPool2d", "Flatten"]


def test_walk_nested_sequential_with_bn():
    lif = PRESETS["tet"]
    body = nn.Sequential(
        nn.Sequential(TimeFolded(nn.Conv2d(1, 4, 3, padding=1, bias=False)),
                      TimeFolded(nn.BatchNorm2d(4)), SpikingNeuron(lif)),
        TimeFolded(nn.Flatten()), TimeFolded(nn.Linear(4 * 16, 8)), SpikingNeuron(lif))
    m = SpikingNet(body, nn.Linear(8, 3), timesteps=2, in_shape=(1, 4, 4))
    plans = walk(m)
    assert [(p.name, p.source, p.neuron) for p in plans] == [
        ("0.0", None, "0.2"), ("2", "0.2", "3"), ("readout", "3", None)]


def test_residual_block_is_refused_with_a_clear_error():
    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = TimeFolded(nn.Conv2d(4, 4, 3, padding=1))

        def forward(self, x):
            return x + self.conv(x)

    body = nn.Sequential(TimeFolded(nn.Conv2d(1, 4, 3, padding=1)), SpikingNeuron(PRESETS["tet"]),
                         Res(), SpikingNeuron(PRESETS["tet"]), TimeFolded(nn.Flatten()))
    m = SpikingNet(body, nn.Linear(64, 2), timesteps=2, in_shape=(1, 4, 4))
    with pytest.raises(ProfileError, match=r"'body.2' \(Res\).*residual"):
        walk(m)


def test_recorder_counts_match_direct_count_over_batches():
    torch.manual_seed(0)
    m = digits_snn((1, 8, 8), 10, 3, PRESETS["tet"]).eval()
    xs = [torch.rand(5, 1, 8, 8) * 3 for _ in range(3)]
    with ActivityRecorder(m) as rec, torch.no_grad():
        for x in xs:
            m(x)
    assert not m.body.lif1._forward_hooks  # hooks removed on exit
    with torch.no_grad():
        direct = sum(m.forward_sequence(x)[1]["lif2"].sum(1) for x in xs)
    r = rec.layers["lif2"]
    assert r.samples == 15 and r.counts.shape == (3, 32, 4, 4)  # bounded: no sample dimension
    assert torch.equal(r.counts, direct.double())
    assert r.rate() == pytest.approx(float(direct.sum()) / (512 * 3 * 15))
    assert rec.raster["lif1"].shape == (3, 1024)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_recorder_on_gpu_equals_cpu():
    torch.manual_seed(0)
    m = digits_snn((1, 8, 8), 10, 3, PRESETS["tet"]).eval()
    x = torch.rand(7, 1, 8, 8) * 3
    with ActivityRecorder(m) as cpu, torch.no_grad():
        m(x)
    m.cuda()
    with ActivityRecorder(m) as gpu, torch.no_grad():
        m(x.cuda())
    for name, rec in cpu.layers.items():
        assert gpu.layers[name].counts.is_cuda
        assert torch.allclose(gpu.layers[name].counts.cpu(), rec.counts)


def test_counting_from_plain_spike_tensors_without_running_the_model():
    """The path an emulator takes: per-layer [T, *shape] spike counts in, per-layer ops out."""
    from profilers.activity import LayerActivity
    from profilers.profile import count_layers

    m = digits_snn((1, 8, 8), 10, 2, PRESETS["tet"])
    plans = walk(m)
    shapes = {"conv1": (1, 8, 8), "conv2": (16, 8, 8), "fc1": (32, 4, 4), "readout": (64,)}
    act = {
        "lif1": LayerActivity("lif1", torch.ones(2, 16, 8, 8) * 3, torch.zeros(2, 16, 8, 8), 3),
        "lif2": LayerActivity("lif2", torch.zeros(2, 32, 4, 4), torch.zeros(2, 32, 4, 4), 3),
        "lif3": LayerActivity("lif3", torch.ones(2, 64), torch.ones(2, 64) * 3, 3),
    }
    c = {x.name: x for x in count_layers(plans, act, shapes, timesteps=2, policy="once",
                                         state_vars=1)}
    # lif1 fires everywhere: every connection of pool1 -> conv2 used at both steps
    assert c["conv2"].synops == 2 * c["conv2"].connections == 2 * 4 * 32 * 16 * 100
    assert c["fc1"].synops == 0.0  # lif2 silent
    assert c["readout"].synops == 2 * 64 * 10 / 3  # one sample in three fired each step
    # analog 8x8 input, 3x3 pad 1: 4 corners x 4 + 24 edges x 6 + 36 inner x 9 taps, x 16 channels
    assert c["conv1"].macs == 16 * (4 * 4 + 24 * 6 + 36 * 9) and c["conv1"].mac_policy == "once"
    assert c["fc1"].active_updates == 2 * 64 and c["fc1"].neuron_updates == 2 * 64


def test_emulator_style_spikes_are_priced_like_recorded_ones():
    """activity_from_spikes + count_layers reproduce the hook-based counts from raw tensors."""
    from profilers.activity import activity_from_spikes
    from profilers.profile import count_layers, input_shapes

    torch.manual_seed(1)
    m = digits_snn((1, 8, 8), 10, 3, PRESETS["tet"]).eval()
    x = torch.rand(4, 1, 8, 8) * 3
    plans = walk(m)
    with ActivityRecorder(m) as rec, torch.no_grad():
        _, taps = m.forward_sequence(x)
    shapes = input_shapes(m, plans, x[:1])
    hooked = count_layers(plans, rec.layers, shapes, timesteps=3, policy="once", state_vars=1)
    raw = count_layers(plans, activity_from_spikes(taps), shapes, timesteps=3, policy="once",
                       state_vars=1)
    assert [c.synops for c in raw] == [c.synops for c in hooked]
    assert [c.spikes for c in raw] == [c.spikes for c in hooked]
    with pytest.raises(ValueError, match="must be"):
        activity_from_spikes({"lif1": torch.ones(3, 4)})


def test_pool_then_conv_fanout_equals_the_exporters_fused_conv():
    """AvgPool(k) then conv(K, s, p) runs on chip as one conv (K*k, s*k, p*k): same fan-out."""
    from profilers import ops

    fused = ops.fanout_map([nn.Conv2d(16, 32, 6, stride=2, padding=2)], (16, 8, 8))
    chain = ops.fanout_map([nn.AvgPool2d(2), nn.Conv2d(16, 32, 3, padding=1)], (16, 8, 8))
    assert torch.equal(fused, chain)
