"""SASTC: self-attentive spatio-temporal calibration (ANN-to-SNN distillation, AAAI 2025).

For a batch of b instances, every candidate feature map (teacher layer l: F_l; student layer
l' at time step t: F_{t,l'}) is reshaped to b x (C*H*W) and turned into a row-normalised
b x b similarity matrix  A = normalize_rows(F F^T)  (Eq. 3, as in SemCKD's code).

Query/key (Eqs. 4-5): an MLP per student layer maps instance i's row of A_{t,l'} to a query
q_{t,l'}^i, an MLP per teacher layer maps its row of A_l to a key k_l^i; the weights
alpha_{t,l',l}^i = softmax_l(q_{t,l'}^i . k_l^i) sum to 1 over teacher layers for every
instance, time step and student layer.

Loss (Eqs. 6-8): each student map goes through a projector P_{l',l} (3x3 conv + BN + ReLU +
1x1 conv to the teacher's channels; the spatially larger map is average-pooled to the smaller)
and
    L_SASTC = mean_{i, t, l'} sum_l alpha_{t,l',l}^i * D_i(P(F_{t,l'}), F_l)
with D_i the MSE between instance i's rows of the similarity matrices (variant "paper", the
default: "MSE to align the pairwise similarity matrices") or between instance i's projected
student map and teacher map (variant "code", what the released code computes).
Total: L = CE + w * KD(tau) + beta * L_SASTC. Defaults: tau 4, w 1 (SASTC's setting),
beta 400 (SemCKD's CIFAR setting, which the released SASTC code builds on).

Batch-size independence (a deviation from the released code, whose MLP input width equals the
per-GPU batch size and breaks on a last partial batch and under DDP): the MLP reads a row's
values sorted in decreasing order and linearly resampled to a fixed width (`row_bins`), i.e.
the quantile profile of that instance's similarities to the batch. It has no parameter whose
shape depends on b and does no cross-instance bookkeeping beyond the local batch, so any batch
size, a last partial batch and DistributedDataParallel (each rank uses its local batch) work.

STM score (Eq. 1): the mean over time steps and all (student layer, teacher layer) pairs of
the Euclidean (Frobenius) distance between A_{t,l'} of the raw student features and A_l; lower
means less spatio-temporal mismatch. Logged as the term "stm" (not part of the loss).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from snn2hw.distill.base import DistillMethod, FeatureShapes, StepOutputs, default
from snn2hw.distill.kd import kd_loss
from snn2hw.distill.kdsnn import as_map, match_spatial
from snn2hw.errors import ConfigError

BETA = 400.0


def similarity(f: torch.Tensor) -> torch.Tensor:
    """[b, ...] -> [b, b]: F F^T of the flattened features, each row L2-normalised."""
    f = f.flatten(1)
    return F.normalize(f @ f.t(), dim=1)


def row_profile(a: torch.Tensor, bins: int) -> torch.Tensor:
    """[b, b] -> [b, bins]: each row sorted (decreasing) and linearly resampled to `bins` values."""
    rows = a.sort(dim=1, descending=True).values
    if rows.shape[1] == 1:
        return rows.expand(-1, bins)
    return F.interpolate(rows[:, None, :], size=bins, mode="linear", align_corners=True)[:, 0]


class Embed(nn.Module):
    """MLP query/key embedding (SemCKD's MLPEmbed): Linear-ReLU-Linear, then L2-normalised."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim_in, 2 * dim_out), nn.ReLU(),
                                 nn.Linear(2 * dim_out, dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=-1)


def attention_weights(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """queries [b, T, S, d], keys [b, L, d] -> alpha [b, T, S, L] = softmax_L(q . k)."""
    energy = torch.einsum("btsd,bld->btsl", queries, keys)
    return energy.softmax(dim=-1)


def projector(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 conv + BN + ReLU + 1x1 conv: student channels -> teacher channels (Eq. 2)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(), nn.Conv2d(c_out, c_out, 1))


def pair_distance(s: torch.Tensor, t: torch.Tensor, variant: str) -> torch.Tensor:
    """Per-instance distance [b] between a projected student map and a teacher map."""
    if variant == "paper":
        return (similarity(s) - similarity(t)).pow(2).mean(1)
    return (s - t).pow(2).flatten(1).mean(1)


def sastc_loss(alpha: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """alpha, dist [b, T, S, L] -> mean over (b, T, S) of sum over L of alpha * dist."""
    return (alpha * dist).sum(-1).mean()


@torch.no_grad()
def stm_score(student_feats: list[torch.Tensor], teacher_feats: list[torch.Tensor]) -> torch.Tensor:
    """Mean over t and all (student, teacher) layer pairs of ||A_s(t) - A_t||_F.

    student_feats: maps [T, b, ...]; teacher_feats: maps [b, ...].
    """
    a_t = [similarity(f) for f in teacher_feats]
    dists = [torch.linalg.matrix_norm(similarity(s[t]) - at)
             for s in student_feats for t in range(s.shape[0]) for at in a_t]
    return torch.stack(dists).mean()


class SASTC(DistillMethod):
    """L = CE + w * KD + beta * L_SASTC; also logs the STM score of each batch."""

    needs_features = True

    def __init__(self, tau: float | None = None, kd_weight: float | None = None,
                 beta: float | None = None, variant: Literal["paper", "code"] = "paper",
                 embed_dim: int = 64, row_bins: int = 32) -> None:
        super().__init__()
        self.tau, self.kd_weight = default(tau, 4.0), default(kd_weight, 1.0)
        self.beta, self.variant = default(beta, BETA), variant
        self.embed_dim, self.row_bins = embed_dim, row_bins
        self.s_taps: list[str] = []
        self.t_taps: list[str] = []
        self.query = nn.ModuleDict()
        self.key = nn.ModuleDict()
        self.proj = nn.ModuleDict()

    def bind(self, shapes: FeatureShapes) -> None:
        if not shapes.student:
            raise ConfigError(
                "sastc reads student feature taps, but the student architecture declares none; "
                "use a student with taps (--student-arch digits-resnet, resnet18, vgg11, ...)"
            )
        self.s_taps, self.t_taps = list(shapes.student), list(shapes.teacher)
        for s in self.s_taps:
            self.query[s] = Embed(self.row_bins, self.embed_dim)
        for t in self.t_taps:
            self.key[t] = Embed(self.row_bins, self.embed_dim)
        for s in self.s_taps:
            for t in self.t_taps:
                self.proj[f"{s}__{t}"] = projector(shapes.student[s][0], shapes.teacher[t][0])

    def weights(self, s_feats: list[torch.Tensor], t_feats: list[torch.Tensor]) -> torch.Tensor:
        """alpha [b, T, S, L] from similarity rows of student maps [T, b, ...] and teacher maps."""
        keys = torch.stack([self.key[n](row_profile(similarity(f), self.row_bins))
                            for n, f in zip(self.t_taps, t_feats)], dim=1)
        queries = torch.stack([
            torch.stack([self.query[n](row_profile(similarity(f[t]), self.row_bins))
                         for t in range(f.shape[0])], dim=1)
            for n, f in zip(self.s_taps, s_feats)], dim=2)
        return attention_weights(queries, keys)

    def distances(self, s_feats: list[torch.Tensor], t_feats: list[torch.Tensor]) -> torch.Tensor:
        """D [b, T, S, L] between projected student maps and teacher maps."""
        steps, b = s_feats[0].shape[:2]
        per_s = []
        for sn, sf in zip(self.s_taps, s_feats):
            per_t = []
            for tn, tf in zip(self.t_taps, t_feats):
                s_map = as_map(sf.flatten(0, 1))  # [T*b, C, H, W]
                t_map = as_map(tf).repeat(steps, *([1] * (as_map(tf).dim() - 1)))
                s_map, t_map = match_spatial(s_map, t_map)
                p = self.proj[f"{sn}__{tn}"](s_map)
                d = torch.stack([pair_distance(p[k * b:(k + 1) * b], t_map[k * b:(k + 1) * b],
                                               self.variant) for k in range(steps)], dim=1)
                per_t.append(d)  # [b, T]
            per_s.append(torch.stack(per_t, dim=-1))  # [b, T, L]
        return torch.stack(per_s, dim=2)  # [b, T, S, L]

    def forward(self, out: StepOutputs) -> dict[str, torch.Tensor]:
        s_feats = [out.student_features[n] for n in self.s_taps]
        t_feats = [F.relu(out.teacher_features[n].detach()) for n in self.t_taps]
        alpha = self.weights(s_feats, t_feats)
        feat = sastc_loss(alpha, self.distances(s_feats, t_feats))
        ce = F.cross_entropy(out.student_logits, out.targets)
        kd = kd_loss(out.student_logits, out.teacher_logits, self.tau)
        stm = stm_score([f.detach() for f in s_feats], t_feats)
        return {"loss": ce + self.kd_weight * kd + self.beta * feat, "ce": ce, "kd": kd,
                "sastc": feat, "stm": stm}
