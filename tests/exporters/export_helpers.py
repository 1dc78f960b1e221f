"""Small students built in memory for exporter tests."""

from __future__ import annotations

import torch
from torch import nn

from snn2hw.models.spiking import SpikingNet
from snn2hw.neurons import NeuronSpec, SpikingNeuron, TimeFolded


def conv_student(spec: NeuronSpec | None = None, seed: int = 0, timesteps: int = 4) -> SpikingNet:
    """conv(1->4) LIF avgpool2 conv(4->6) LIF avgpool2 flatten fc(24->12) LIF readout(12->10)."""
    torch.manual_seed(seed)
    spec = spec or NeuronSpec()
    body = nn.Sequential()
    body.add_module("conv1", TimeFolded(nn.Conv2d(1, 4, 3, padding=1)))
    body.add_module("lif1", SpikingNeuron(spec))
    body.add_module("pool1", TimeFolded(nn.AvgPool2d(2)))
    body.add_module("conv2", TimeFolded(nn.Conv2d(4, 6, 3, padding=1)))
    body.add_module("lif2", SpikingNeuron(spec))
    body.add_module("pool2", TimeFolded(nn.AvgPool2d(2)))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    body.add_module("fc1", TimeFolded(nn.Linear(24, 12)))
    body.add_module("lif3", SpikingNeuron(spec))
    net = SpikingNet(body, nn.Linear(12, 10), timesteps=timesteps, in_shape=(1, 8, 8),
                     feature_taps=("lif1", "lif3"))
    with torch.no_grad():  # make every layer fire: larger weights than the default init
        for m, gain in ((body.conv1.layer, 3.0), (body.conv2.layer, 8.0), (body.fc1.layer, 8.0)):
            m.weight.mul_(gain)
            m.bias.add_(0.3)
    return net.eval()


def dense_student(spec: NeuronSpec | None = None, seed: int = 0) -> SpikingNet:
    """flatten fc(64->20) neuron readout(20->10)."""
    torch.manual_seed(seed)
    body = nn.Sequential()
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    body.add_module("fc1", TimeFolded(nn.Linear(64, 20)))
    body.add_module("lif1", SpikingNeuron(spec or NeuronSpec()))
    with torch.no_grad():
        body.fc1.layer.weight.mul_(4.0)
    return SpikingNet(body, nn.Linear(20, 10), timesteps=4, in_shape=(1, 8, 8)).eval()


def write_netx_file(path, layers) -> None:
    """A netx HDF5 in lava-dl slayer's layout from dicts {type, shape, weight, ..., neuron: {...}}."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        g = f.create_group("layer")
        for i, spec in enumerate(layers):
            h = g.create_group(str(i))
            h.create_dataset("type", (1,), "S10", [spec["type"].encode()])
            for k, v in spec.items():
                if k in ("type", "neuron"):
                    continue
                h.create_dataset(k, data=np.asarray(v))
            for k, v in spec.get("neuron", {}).items():
                h.create_dataset(f"neuron/{k}", data=v)


def cuba(i_decay=4096, v_decay=0, vth=10):
    return {"type": "CUBA", "iDecay": i_decay, "vDecay": v_decay, "vThMant": vth,
            "refDelay": 1, "gradedSpike": False}


def emulator_equals_lava(path, x, *, num_layers=None, reset=(None, 0), bits=0, period=None):
    """Assert: the emulator and Lava give the same spikes on every layer and step, and the same
    last-layer voltages, for streams x [N, S, *in] through the netx file at path (each sample
    `period` steps, default input steps + layers + delays); every layer must fire."""
    import numpy as np

    from exporters.emulator import Emulator, run_streams
    from exporters.lava import run_lava_streams
    from exporters.netx import read_netx
    from exporters.netx_streams import default_period

    net = read_netx(path, num_layers=num_layers)
    P = period or default_period(net, x.shape[1])
    e = run_streams(Emulator(net, reset_interval=reset[0] or 0, reset_offset=reset[1],
                             input_message_bits=bits), x, P)
    lr = run_lava_streams(path, x, period=P, reset_interval=reset[0], reset_offset=reset[1],
                          num_layers=num_layers, input_message_bits=bits, timeout_s=300)
    assert len(lr.spikes) == len(e.spikes)
    for k, (a, b) in enumerate(zip(e.spikes, lr.spikes)):
        assert np.array_equal(a.numpy(), b), f"layer {k}: {np.argwhere(a.numpy() != b)[:3]}"
        assert b.sum() > 0, f"layer {k} silent: the test would prove nothing"
    assert np.array_equal(e.v_last.numpy(), lr.v)
