"""IDSNN (Fan et al. 2023): initialise a spiking ResNet from a deeper ANN ResNet, then response KD.

Initialisation (once, when the student is built; never on resume):
- stem: conv1/bn1 copied; stage s, block j (j < student's blocks in s) <- teacher stage s,
  block j: the first k blocks of each teacher stage, in order;
- conv and BN weights copied with cyclic channel interpolation: student channel i takes teacher
  channel  i mod C_teacher  (out channels of a conv and all four BN vectors; the same pattern on
  a conv's in channels). C_s < C_t truncates to the first C_s channels; C_s > C_t tiles,
  e.g. C_t = 3, C_s = 7 -> [0, 1, 2, 0, 1, 2, 0];
- 1x1 projection shortcuts are NOT copied by default (the released code copies only the stem
  and the residual branches; idsnn_copy_shortcuts true copies them when the teacher block has
  one); the FC readout keeps its random init;
- before the copy every student BN weight is set to the neuron's V_th and every BN bias to 0
  (the released tdBN init, BatchNorm3d1.reset_parameters), so the BNs that are not copied
  (shortcuts) start there, as they do in the released code (idsnn_bn_init false: PyTorch's 1/0).
Training: L = CE + w * tau^2 * KL(teacher || student), tau 4, w 0.3 (IDSNN's setting).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from snn2hw.distill.base import default
from snn2hw.distill.methods import ResponseKD
from snn2hw.errors import ConfigError
from snn2hw.neurons import TimeFolded


def cyclic_index(n_target: int, n_source: int) -> torch.Tensor:
    """[0, 1, ..., n_target-1] mod n_source: which source channel feeds each target channel."""
    return torch.arange(n_target) % n_source


def _unwrap(m: nn.Module) -> nn.Module:
    return m.layer if isinstance(m, TimeFolded) else m


@torch.no_grad()
def copy_conv(dst: nn.Conv2d, src: nn.Conv2d) -> None:
    """dst.weight[o, i] = src.weight[o mod C_out_src, i mod C_in_src] (kernel sizes must agree)."""
    if dst.kernel_size != src.kernel_size or dst.stride != src.stride:
        raise ConfigError(
            f"idsnn cannot copy a {src.kernel_size} stride-{src.stride} conv into a "
            f"{dst.kernel_size} stride-{dst.stride} conv; teacher and student ResNets must use "
            "the same block layout"
        )
    o = cyclic_index(dst.out_channels, src.out_channels).to(src.weight.device)
    i = cyclic_index(dst.in_channels, src.in_channels).to(src.weight.device)
    dst.weight.copy_(src.weight[o][:, i])
    if dst.bias is not None and src.bias is not None:
        dst.bias.copy_(src.bias[o])


@torch.no_grad()
def copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d) -> None:
    """weight, bias, running mean and variance taken at the cyclic channel indices."""
    idx = cyclic_index(dst.num_features, src.num_features).to(src.weight.device)
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(dst, name).copy_(getattr(src, name)[idx])


@torch.no_grad()
def init_bn_to_threshold(student: nn.Module, v_th: float) -> int:
    """Every BatchNorm weight <- v_th, bias <- 0 (IDSNN's tdBN init); returns how many BNs."""
    n = 0
    for m in student.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            m.weight.fill_(v_th)
            m.bias.zero_()
            n += 1
    return n


def init_from_teacher(student: nn.Module, teacher: nn.Module, copy_shortcuts: bool = False
                      ) -> dict[str, Any]:
    """Copy the teacher ResNet's stem and first blocks per stage into the spiking ResNet."""
    from snn2hw.models.resnet import ResNet

    s_shape = getattr(student, "resnet_shape", None)
    if s_shape is None or not isinstance(teacher, ResNet):
        raise ConfigError(
            "idsnn initialises a spiking ResNet student from an ANN ResNet teacher; use e.g. "
            "--student-arch digits-resnet --teacher-arch digits-resnet (digits) or "
            "--student-arch resnet18 --teacher-arch resnet34 (CIFAR)"
        )
    t_shape = teacher.shape
    if len(s_shape.blocks) != len(t_shape.blocks):
        raise ConfigError(
            f"idsnn needs as many stages in the teacher as in the student (student "
            f"{len(s_shape.blocks)}, teacher {len(t_shape.blocks)}); pick a teacher of the same family"
        )
    for k, (ns, nt) in enumerate(zip(s_shape.blocks, t_shape.blocks), start=1):
        if ns > nt:
            raise ConfigError(
                f"idsnn takes the first blocks of each teacher stage, but stage {k} of the student "
                f"has {ns} blocks and the teacher's only {nt}; use a deeper teacher"
            )
    body = student.body
    copied: list[str] = []
    copy_conv(_unwrap(body.conv1), teacher.conv1)
    copy_bn(_unwrap(body.bn1), teacher.bn1)
    copied += ["conv1", "bn1"]
    random: list[str] = ["readout"]
    for k, n in enumerate(s_shape.blocks, start=1):
        for j in range(n):
            sb = getattr(body, f"layer{k}")[j]
            tb = getattr(teacher, f"layer{k}")[j]
            for conv, bn in (("conv1", "bn1"), ("conv2", "bn2")):
                copy_conv(_unwrap(getattr(sb, conv)), getattr(tb, conv))
                copy_bn(_unwrap(getattr(sb, bn)), getattr(tb, bn))
                copied += [f"layer{k}.{j}.{conv}", f"layer{k}.{j}.{bn}"]
            if len(sb.shortcut):
                if copy_shortcuts and len(tb.shortcut):
                    copy_conv(_unwrap(sb.shortcut[0]), tb.shortcut[0])
                    copy_bn(_unwrap(sb.shortcut[1]), tb.shortcut[1])
                    copied.append(f"layer{k}.{j}.shortcut")
                else:
                    random.append(f"layer{k}.{j}.shortcut")
    return {"initialised_from_teacher": True, "copied": copied, "random": random}


class IDSNN(ResponseKD):
    """Response KD (tau 4, w 0.3) after initialising the student from the teacher."""

    def __init__(self, tau: float | None = None, weight: float | None = None,
                 init: bool = True, copy_shortcuts: bool = False, bn_init: bool = True) -> None:
        super().__init__(default(tau, 4.0), default(weight, 0.3))
        self.init, self.copy_shortcuts, self.bn_init = init, copy_shortcuts, bn_init

    def check_models(self, student: nn.Module, teacher: nn.Module | None) -> None:
        from snn2hw.models.resnet import ResNet

        if self.init and (getattr(student, "resnet_shape", None) is None
                          or not isinstance(teacher, ResNet)):
            raise ConfigError(
                "idsnn initialises a spiking ResNet student from an ANN ResNet teacher, got "
                f"student {type(student).__name__} without ResNet blocks or teacher "
                f"{type(teacher).__name__}; use e.g. --student-arch digits-resnet --teacher-arch "
                "digits-resnet, or --student-arch resnet18 --teacher-arch resnet34"
            )

    def init_student(self, student: nn.Module, teacher: nn.Module | None) -> dict[str, Any]:
        from snn2hw.distill.kdsnn import student_neuron

        done: dict[str, Any] = {}
        if self.bn_init:
            v_th = student_neuron(student).v_th
            done["bn_weight_init"] = {"value": v_th, "layers": init_bn_to_threshold(student, v_th)}
        if not self.init:
            return {"initialised_from_teacher": False, **done}
        return {**init_from_teacher(student, teacher, self.copy_shortcuts), **done}
