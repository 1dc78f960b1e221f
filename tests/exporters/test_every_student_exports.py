"""Every registered student architecture reaches Loihi (NIR -> fixed point -> file -> emulator),
or is refused with one ExportError naming the layer and the change that makes it exportable.

Random weights with randomized BN statistics, T = 2, the smallest input each architecture is built
for (CIFAR 3x32x32; digits 1x8x8; N-MNIST 2x34x34; DVS 2x32x32). Per case: the float NIR graph
rebuilt as a network gives the student's outputs (so BN folding, shortcuts, pooling and fc heads
are not silently wrong), the quantized net is written to its file (netx or model.graph.h5), read
back and emulated on one sample: readout voltages and every population's valid spike window have
the expected shapes, and spikes are 0/1.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from graph_helpers import randomize_bn

from exporters.errors import ExportError
from exporters.nir_graph import graph_to_student, is_graph_student, student_to_nir_graph
from snn2hw.models.registry import STUDENTS, ModelSpec, build_model
from snn2hw.neurons import PRESETS

T = 2
CLASSES = 10
CIFAR = (3, 32, 32)
# arch -> (input shape, None = exports, or words the refusal must contain)
CASES: dict[str, tuple[tuple[int, ...], tuple[str, ...] | None]] = {
    "digits-snn": ((1, 8, 8), None),
    "digits-resnet": ((1, 8, 8), None),
    "nmnist-snn": ((2, 34, 34), None),
    "vggsnn": ((2, 32, 32), None),
    "vgg11": (CIFAR, None),
    "vgg16": (CIFAR, None),
    "resnet14": (CIFAR, None),
    "resnet18": (CIFAR, None),
    "resnet19": (CIFAR, None),
    "resnet20": (CIFAR, None),
    "wrn16-2": (CIFAR, None),
    "resnet19-tet": (CIFAR, None),
    "resnet18-sastc": (CIFAR, None),
    "vgg11-sastc": (CIFAR, None),
    "vgg11-kdsnn": (CIFAR, None),
    # CKDSNN's released student ends its last block in an analog ReLU: no Loihi equivalent.
    "resnet19-ckdsnn": (CIFAR, ("layer3.1.spike2", "ReLU", "--student-arch resnet19-tet")),
}
# full-width CIFAR nets (128-512 channels, VGG-16's 13 convs): 4-8 s each on 2 shared cores
SLOW = {"resnet18", "resnet19", "resnet19-tet", "resnet18-sastc", "vgg16"}


def test_every_registered_student_has_a_case():
    """A student added to the registry must be added here (and so checked for export)."""
    assert set(CASES) == set(STUDENTS)


def _build(arch: str) -> tuple[torch.nn.Module, torch.Tensor]:
    shape, _ = CASES[arch]
    torch.manual_seed(0)
    model = build_model(ModelSpec("student", arch, shape, CLASSES, T, PRESETS["idsnn"])).eval()
    randomize_bn(model)
    x = torch.randint(0, 17, (2, *shape), generator=torch.Generator().manual_seed(1)).float() / 16
    return model, x


def _emulate_graph(graph, x: torch.Tensor, tmp_path):
    from exporters.emulator_graph import GraphEmulator, run_samples
    from exporters.graph_file import GRAPH_FILE, read_graph, write_graph
    from exporters.quantize_graph import quantize_graph

    write_graph(tmp_path / GRAPH_FILE, quantize_graph(graph, input_scale=16.0))
    q = read_graph(tmp_path / GRAPH_FILE)
    x_int = np.round(x[:1].numpy() * 16).astype(np.int64)
    v, spikes = run_samples(GraphEmulator(q), x_int)
    shapes = {p.pop.name: tuple(p.pop.shape) for p in q.populations}
    return v, spikes, shapes


def _emulate_chain(graph, x: torch.Tensor, tmp_path):
    from exporters.emulator import Emulator, run_samples
    from exporters.netx import read_netx, write_netx
    from exporters.quantize import encode_input, quantize

    q = quantize(graph, input_scale=16.0, input_max=1.0)
    write_netx(tmp_path / "model.net", q)
    x_int = encode_input(x[:1].numpy(), q)
    v, spikes = run_samples(Emulator(read_netx(tmp_path / "model.net")), x_int, T)
    shapes = {lay.name: tuple(lay.float_layer.out_shape) for lay in q.layers[:-1]}
    return v, dict(zip(shapes, spikes[:-1])), shapes


@pytest.mark.parametrize("arch", [
    pytest.param(a, marks=pytest.mark.slow) if a in SLOW else a for a in sorted(CASES)])
def test_student_exports_and_emulates_or_is_refused_by_name(arch, tmp_path):
    model, x = _build(arch)
    _, refusal = CASES[arch]
    graph_student = is_graph_student(model)
    if refusal is not None:
        with pytest.raises(ExportError) as e:
            student_to_nir_graph(model) if graph_student else __import__(
                "exporters.nir", fromlist=["student_to_nir"]).student_to_nir(model)
        msg = " ".join(str(e.value).split())
        for word in refusal:
            assert word in msg, msg
        return
    with torch.no_grad():
        ref = model(x).numpy()
    if graph_student:
        graph = student_to_nir_graph(model)
        back = graph_to_student(graph)
    else:
        from exporters.nir import nir_to_student, student_to_nir

        graph = student_to_nir(model)
        back = nir_to_student(graph)
    with torch.no_grad():
        np.testing.assert_allclose(back(x).numpy(), ref, rtol=1e-4, atol=1e-4)
    v, spikes, shapes = (_emulate_graph if graph_student else _emulate_chain)(graph, x, tmp_path)
    assert v.shape == (1, CLASSES) and np.isfinite(v).all()
    assert set(spikes) >= {n for n in shapes if n not in ("input", "readout")}
    for name, s in spikes.items():
        if name in ("input", "readout"):
            continue
        s = np.asarray(s)
        assert s.shape[:2] == (T, 1) and int(np.prod(s.shape[2:])) == int(np.prod(shapes[name])), name
        assert set(np.unique(s)) <= {0, 1}, name


def _resnetd_student(fc_head: bool) -> torch.nn.Module:
    """stem conv-BN-LIF, a stride-2 ResNet-D block (avg-pool + 1x1-conv shortcut, spiking end),
    global pooling, flatten, [fc without neuron], readout: the CKDSNN layout made spiking."""
    from torch import nn

    from snn2hw.models.paper_resnets import ResNetDBlock
    from snn2hw.models.spiking import SpikingNet
    from snn2hw.neurons import SpikingNeuron, TimeFolded

    torch.manual_seed(3)
    spec = PRESETS["idsnn"]
    body = nn.Sequential()
    body.add_module("conv1", TimeFolded(nn.Conv2d(1, 4, 3, 1, 1, bias=False)))
    body.add_module("bn", TimeFolded(nn.BatchNorm2d(4)))
    body.add_module("spike", SpikingNeuron(spec))
    body.add_module("layer1", nn.Sequential(ResNetDBlock(4, 6, 2, spec)))
    body.add_module("avgpool", TimeFolded(nn.AdaptiveAvgPool2d(1)))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    width = 6
    if fc_head:
        body.add_module("fc2", TimeFolded(nn.Linear(6, 5)))
        width = 5
    net = SpikingNet(body, nn.Linear(width, CLASSES), timesteps=T, in_shape=(1, 8, 8))
    randomize_bn(net)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(3.0)
    return net.eval()


@pytest.mark.parametrize("fc_head", [False, True])
def test_resnetd_block_with_pooled_shortcut_and_fc_head(fc_head, tmp_path):
    """The avg-pool in the ResNet-D shortcut is folded into its 1x1 conv (kernel 2, stride 2), a
    linear head without a neuron is folded into the readout: both exact in float, and emulated."""
    from exporters.quantize_graph import lower_graph

    model = _resnetd_student(fc_head)
    x = torch.rand(3, 1, 8, 8)
    graph = student_to_nir_graph(model)
    assert ("layer1.0.downsample.0", "layer1.0.downsample") in graph.edges
    assert "fc2" not in graph.nodes and graph.nodes["readout"].weight.shape == (CLASSES, 6)
    with torch.no_grad():
        np.testing.assert_allclose(graph_to_student(graph)(x).numpy(), model(x).numpy(),
                                   rtol=1e-5, atol=1e-5)
    _, syns = lower_graph(graph)
    sc = next(s for s in syns if s.name == "layer1.0.downsample")
    assert sc.weight.shape[2:] == (2, 2) and sc.stride == (2, 2) and sc.dst == "layer1.0.spike2"
    # avgpool(2) then a 1x1 conv = a 2x2 stride-2 conv with weights w / 4
    w = model.body.layer1[0].downsample[1].layer.weight.detach().numpy().astype(np.float64)
    bn = model.body.layer1[0].downsample[2].layer
    g = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    np.testing.assert_allclose(sc.weight, np.repeat(np.repeat(w * g[:, None, None, None] / 4, 2, 2), 2, 3),
                               rtol=1e-5)
    v, spikes, _ = _emulate_graph(graph, x, tmp_path)
    assert v.shape == (1, CLASSES) and spikes["layer1.0.spike2"].shape == (T, 1, 6, 4, 4)


def test_chain_fc_head_without_neuron_is_folded_into_the_readout():
    """A sequential student ending in flatten -> fc (no neuron) -> readout exports as one readout."""
    from torch import nn

    from exporters.nir import nir_to_student, student_to_nir
    from exporters.quantize import quantize
    from snn2hw.models.spiking import SpikingNet
    from snn2hw.neurons import SpikingNeuron, TimeFolded

    torch.manual_seed(0)
    body = nn.Sequential()
    body.add_module("stage1", nn.Sequential())
    body.stage1.add_module("conv0", TimeFolded(nn.Conv2d(1, 4, 3, padding=1)))
    body.stage1.add_module("sn0", SpikingNeuron(PRESETS["idsnn"]))
    body.add_module("gap", TimeFolded(nn.AdaptiveAvgPool2d(1)))
    body.add_module("flatten", TimeFolded(nn.Flatten()))
    body.add_module("fc", TimeFolded(nn.Linear(4, 7)))
    net = SpikingNet(body, nn.Linear(7, CLASSES), timesteps=T, in_shape=(1, 8, 8)).eval()
    graph = student_to_nir(net)
    assert "stage1.conv0" in graph.nodes and "fc" not in graph.nodes
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        np.testing.assert_allclose(nir_to_student(graph)(x).numpy(), net(x).numpy(), rtol=1e-5,
                                   atol=1e-5)
    q = quantize(graph)
    assert [lay.kind for lay in q.layers][-1] == "dense" and len(q.layers) == 2


@pytest.mark.slow  # ~5 min on the shared 2-core machine (simulate --compare + two profiles)
@pytest.mark.parametrize("arch", ["vgg11-sastc"])
def test_cli_export_simulate_profile_for_paper_students(arch, tiny_run, cli, tmp_path):
    """The user's path on a run whose student is a paper architecture (digits-sized input)."""
    import shutil

    from snn2hw.runs import load_checkpoint, save_checkpoint

    run = tmp_path / arch
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("export"))
    ck = load_checkpoint(run / "student.pt")
    ck["model"]["arch"] = arch
    model = build_model(ModelSpec.from_dict(ck["model"])).eval()
    randomize_bn(model)
    ck["state_dict"] = model.state_dict()
    save_checkpoint(run / "student.pt", ck)
    r = cli("export", run, "--target", "loihi")
    assert r.exit_code == 0, r.output
    r = cli("simulate", run / "export", "--samples", "4", "--compare")
    assert r.exit_code == 0, r.output
    for target in (run, run / "export"):
        r = cli("profile", target, "--samples", "4")
        assert r.exit_code == 0, r.output


def test_profiler_walks_resnetd_block_with_pooled_shortcut():
    """The run profiler names the ResNet-D block's populations and counts the pooled shortcut:
    avg-pool 2 then a 1x1 conv to 6 channels = each input spike reaches exactly 6 synapses."""
    from profilers import ops
    from profilers.graph import walk

    model = _resnetd_student(fc_head=False)
    plans = {p.name: p for p in walk(model)}
    sc = plans["layer1.0.downsample"]
    assert sc.source == "spike" and sc.neuron is None
    assert plans["layer1.0.conv2"].neuron == "layer1.0.spike2"
    assert plans["readout"].source == "layer1.0.spike2"
    seen = {}
    h = model.body.spike.register_forward_hook(lambda m, i, o: seen.setdefault("s", o.detach()))
    with torch.no_grad():
        model(torch.rand(3, 1, 8, 8))
    h.remove()
    s = seen["s"].sum(1)
    fan = ops.fanout_map(sc.chain, tuple(s.shape[1:]))
    assert torch.equal(fan, torch.full_like(fan, 6))
    assert float(ops.synops(s, fan).sum()) == 6 * float(s.sum()) > 0


def test_profiler_refuses_analog_relu_block_by_name():
    from profilers.errors import ProfileError
    from profilers.graph import walk

    model = build_model(ModelSpec("student", "resnet19-ckdsnn", (3, 8, 8), CLASSES, T,
                                  PRESETS["idsnn"]))
    with pytest.raises(ProfileError, match=r"layer3\.1\.spike2.*ReLU"):
        walk(model)


def test_qat_refuses_bn_students_by_layer_name():
    """VGG students (nested stages, BN folded on export) get a named refusal, not an AttributeError."""
    from exporters.nir import student_to_nir
    from exporters.qat import grids
    from exporters.quantize import quantize

    model, _ = _build("vgg11-sastc")
    with pytest.raises(ExportError, match=r"qat-epochs.*'block0\.bn0'"):
        grids(model, quantize(student_to_nir(model)))
