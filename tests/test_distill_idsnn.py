"""IDSNN initialisation: copied conv/BN weights equal the teacher's slices; cyclic channel pattern."""

from __future__ import annotations

import pytest
import torch

from snn2hw.distill.idsnn import cyclic_index, init_from_teacher
from snn2hw.errors import ConfigError
from snn2hw.models import STUDENTS, TEACHERS
from snn2hw.models.resnet import ResNet, ResNetShape, spiking_resnet
from snn2hw.neurons import PRESETS


def test_cyclic_index_documented_pattern():
    assert cyclic_index(7, 3).tolist() == [0, 1, 2, 0, 1, 2, 0]  # tiling
    assert cyclic_index(2, 5).tolist() == [0, 1]  # truncation
    assert cyclic_index(4, 4).tolist() == [0, 1, 2, 3]


def _randomise_bn(model):
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            for t in (m.weight.data, m.bias.data, m.running_mean, m.running_var):
                t.copy_(torch.rand(t.shape, generator=g) + 0.1)


def test_digits_pair_copies_truncated_slices_and_keeps_fc_random():
    torch.manual_seed(0)
    teacher = TEACHERS["digits-resnet"]((1, 8, 8), 10)  # stem 32, widths 32/64, 2+2 blocks
    _randomise_bn(teacher)
    student = STUDENTS["digits-resnet"]((1, 8, 8), 10, 4, PRESETS["tet"])  # 16, 16/32, 1+1
    fc_before = student.readout.layer.weight.clone()
    info = init_from_teacher(student, teacher)
    b = student.body
    assert torch.equal(b.conv1.layer.weight, teacher.conv1.weight[:16])
    assert torch.equal(b.bn1.layer.running_var, teacher.bn1.running_var[:16])
    s_blk, t_blk = b.layer1[0], teacher.layer1[0]
    assert torch.equal(s_blk.conv1.layer.weight, t_blk.conv1.weight[:16, :16])
    assert torch.equal(s_blk.conv2.layer.weight, t_blk.conv2.weight[:16, :16])
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert torch.equal(getattr(s_blk.bn2.layer, name), getattr(t_blk.bn2, name)[:16])
    s2, t2 = b.layer2[0], teacher.layer2[0]  # stride-2 block with shortcut conv in both
    assert torch.equal(s2.conv1.layer.weight, t2.conv1.weight[:32, :16])
    sc_before = s2.shortcut[0].layer.weight.clone()
    assert torch.equal(student.readout.layer.weight, fc_before)  # FC stays random
    # projection shortcuts are not copied by default (the released code copies none)
    assert "readout" in info["random"] and "layer2.0.shortcut" in info["random"]
    assert torch.equal(s2.shortcut[0].layer.weight, sc_before)
    info = init_from_teacher(student, teacher, copy_shortcuts=True)
    assert torch.equal(s2.shortcut[0].layer.weight, t2.shortcut[0].weight[:32, :16])
    assert torch.equal(s2.shortcut[1].layer.running_mean, t2.shortcut[1].running_mean[:32])
    assert "layer2.0.shortcut" in info["copied"]


def test_idsnn_sets_bn_weights_to_v_th_then_copies():
    """Released tdBN init: BN weight V_th (0.5 for the idsnn neuron), bias 0; copied BNs then
    hold the teacher's values, the shortcut BN (not copied) keeps V_th."""
    from snn2hw.distill.idsnn import IDSNN

    torch.manual_seed(0)
    teacher = TEACHERS["digits-resnet"]((1, 8, 8), 10)
    _randomise_bn(teacher)
    student = STUDENTS["digits-resnet"]((1, 8, 8), 10, 4, PRESETS["idsnn"])
    info = IDSNN().init_student(student, teacher)
    assert info["bn_weight_init"]["value"] == 0.5 and info["bn_weight_init"]["layers"] > 0
    sc_bn = student.body.layer2[0].shortcut[1].layer
    assert torch.equal(sc_bn.weight, torch.full_like(sc_bn.weight, 0.5))
    assert torch.equal(sc_bn.bias, torch.zeros_like(sc_bn.bias))
    assert torch.equal(student.body.bn1.layer.weight, teacher.bn1.weight[:16])
    plain = STUDENTS["digits-resnet"]((1, 8, 8), 10, 4, PRESETS["idsnn"])
    IDSNN(init=False, bn_init=False).init_student(plain, teacher)
    assert torch.equal(plain.body.bn1.layer.weight, torch.ones(16))


def test_wider_student_tiles_channels_cyclically_and_missing_shortcut_stays_random():
    teacher = ResNet(ResNetShape(3, (3,), (2,), (1,)), (2, 8, 8), 4)  # no shortcut conv (3 -> 3)
    _randomise_bn(teacher)
    student = spiking_resnet(ResNetShape(5, (7,), (1,), (1,)), (2, 8, 8), 4, 2, PRESETS["tet"])
    sc_before = student.body.layer1[0].shortcut[0].layer.weight.clone()  # 5 -> 7 needs one
    info = init_from_teacher(student, teacher, copy_shortcuts=True)
    w = student.body.layer1[0].conv1.layer.weight  # [7, 5, 3, 3] from teacher [3, 3, 3, 3]
    tw = teacher.layer1[0].conv1.weight
    for o, to in enumerate([0, 1, 2, 0, 1, 2, 0]):
        for i, ti in enumerate([0, 1, 2, 0, 1]):
            assert torch.equal(w[o, i], tw[to, ti])
    bn = student.body.layer1[0].bn1.layer
    assert torch.equal(bn.weight, teacher.layer1[0].bn1.weight[torch.tensor([0, 1, 2, 0, 1, 2, 0])])
    assert torch.equal(student.body.layer1[0].shortcut[0].layer.weight, sc_before)
    assert "layer1.0.shortcut" in info["random"]


def test_wrong_architectures_are_clear_errors():
    student = STUDENTS["digits-resnet"]((1, 8, 8), 10, 2, PRESETS["tet"])
    with pytest.raises(ConfigError, match="ANN ResNet teacher"):
        init_from_teacher(student, TEACHERS["digits-cnn"]((1, 8, 8), 10))
    with pytest.raises(ConfigError, match="ANN ResNet teacher"):
        init_from_teacher(STUDENTS["digits-snn"]((1, 8, 8), 10, 2, PRESETS["tet"]),
                          TEACHERS["digits-resnet"]((1, 8, 8), 10))
    shallow = ResNet(ResNetShape(16, (16, 32), (1, 1), (1, 2)), (1, 8, 8), 10)
    deep_student = spiking_resnet(ResNetShape(16, (16, 32), (2, 1), (1, 2)), (1, 8, 8), 10, 2,
                                  PRESETS["tet"])
    with pytest.raises(ConfigError, match="stage 1 of the student has 2 blocks"):
        init_from_teacher(deep_student, shallow)
    with pytest.raises(ConfigError, match="as many stages"):
        init_from_teacher(student, TEACHERS["resnet19"]((1, 8, 8), 10))
