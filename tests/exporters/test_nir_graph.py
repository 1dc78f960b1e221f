"""Residual students -> NIR graph (fan-in edges, BN folded per branch) -> float network back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from graph_helpers import tiny_resnet

from exporters.nir import read_nir, write_nir
from exporters.nir_graph import graph_to_student, is_graph_student, student_to_nir_graph
from snn2hw.models.registry import ModelSpec, build_model
from snn2hw.neurons import PRESETS


def test_residual_edges_fan_in_and_shortcuts():
    g = student_to_nir_graph(tiny_resnet())
    edges = set(g.edges)
    # identity block: the stem's spikes feed conv1 and (directly) sn2
    assert ("sn1", "layer1.0.conv1") in edges and ("sn1", "layer1.0.sn2") in edges
    assert ("layer1.0.conv2", "layer1.0.sn2") in edges
    # projection block: stride-2 1x1 conv shortcut, fan-in into sn2
    sc = g.nodes["layer2.0.shortcut"]
    assert sc.weight.shape == (6, 4, 1, 1) and list(sc.stride) == [2, 2]
    assert {("layer1.0.sn2", "layer2.0.shortcut"), ("layer2.0.shortcut", "layer2.0.sn2"),
            ("layer2.0.conv2", "layer2.0.sn2")} <= edges
    assert list(g.nodes["pool"].kernel_size) == [4, 4]
    assert ("readout", "output") in edges


@pytest.mark.parametrize("preset", ["idsnn", "tet"])
def test_round_trip_through_file_equals_student(preset, tmp_path, digits_like):
    model = tiny_resnet(PRESETS[preset])
    assert is_graph_student(model)
    write_nir(tmp_path / "m.nir", student_to_nir_graph(model))
    back = graph_to_student(read_nir(tmp_path / "m.nir"))
    with torch.no_grad():
        a = model(digits_like)
        b = back(digits_like)
        seq = back.forward_sequence(digits_like)
    assert seq["layer2.0.sn2"].sum() > 0  # spikes reach the last block
    assert float((a - b).abs().max()) <= 1e-5
    assert a.abs().sum() > 0


def test_digits_resnet_round_trip(tmp_path, digits_like):
    spec = ModelSpec(role="student", arch="digits-resnet", in_shape=(1, 8, 8), num_classes=10,
                     timesteps=4, neuron=PRESETS["idsnn"])
    model = build_model(spec).eval()
    from graph_helpers import randomize_bn

    randomize_bn(model)
    write_nir(tmp_path / "m.nir", student_to_nir_graph(model))
    back = graph_to_student(read_nir(tmp_path / "m.nir"))
    with torch.no_grad():
        np.testing.assert_allclose(back(digits_like).numpy(), model(digits_like).numpy(), atol=1e-5)


@pytest.mark.parametrize("arch", ["resnet19", "wrn16-2"])
def test_paper_shapes_convert(arch):
    spec = ModelSpec(role="student", arch=arch, in_shape=(3, 32, 32), num_classes=10,
                     timesteps=2, neuron=PRESETS["idsnn"])
    g = student_to_nir_graph(build_model(spec))
    fan_in = [n for n in g.nodes if sum(1 for e in g.edges if e[1] == n) == 2]
    assert len(fan_in) == sum({"resnet19": (3, 3, 2), "wrn16-2": (2, 2, 2)}[arch])
