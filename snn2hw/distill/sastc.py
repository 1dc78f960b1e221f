"""SASTC: self-attentive spatio-temporal calibration (ANN-to-SNN distillation, AAAI 2025).

For a batch of b instances, every candidate feature map (teacher layer l: F_l; student layer
l' at time step t: F_{t,l'}) is reshaped to b x (C*H*W) and turned into a b x b similarity
matrix A = F F^T (Eq. 3). similarity "raw" (default) uses it as is, as the released code does;
"l2" L2-normalises each row (SemCKD's paper).

Query/key (Eqs. 4-5): an MLP per student layer maps instance i's row of A_{t,l'} to a query
q_{t,l'}^i, an MLP per teacher layer maps its row of A_l to a key k_l^i (MLPEmbed: Linear-ReLU-
Linear, L2-normalised); the weights alpha_{t,l',l}^i = softmax_l(q_{t,l'}^i . k_l^i) sum to 1
over teacher layers for every instance, time step and student layer.
rows "instance" (default, the released code): the MLP reads row i in batch order, entry j = the
similarity of instance i to instance j, so its input width is the per-process batch size (a
smaller last batch is zero-padded: absent instances have similarity 0); query/key width =
batch // 4 (the released factor 4) unless sastc_embed_dim is set. rows "sorted" (snn2hw's
earlier batch-size-free variant): each row sorted decreasingly and resampled to row_bins values
(loses which instance is which).

Loss (Eqs. 6-8): each student map goes through a projector P_{l',l} (the released AAEmbed:
3x3 conv to 2 C_t + BN + ReLU + 1x1 conv to C_t, no biases); when the student map is spatially
larger it is adaptive-max-pooled to the teacher's size, otherwise the teacher map is adaptive-
average-pooled to the student's (as released). Then
    L_SASTC = mean_{i, t, l'} sum_l alpha_{t,l',l}^i * D_i(P(F_{t,l'}), F_l)
with D_i the MSE between instance i's projected student map and teacher map (variant "code",
the default: what the released SASTCLoss computes), or the MSE between instance i's rows of the
two similarity matrices (variant "paper": one reading of "MSE to align the pairwise similarity
matrices").
Total: L = CE + w * KD(tau) + beta * L_SASTC. Defaults: tau 4, w 1, beta 800: the released
run_distillation.sh runs every SASTC row with --beta 800 at --batch-size 16 (its argparse
default is 100; SemCKD, which the code builds on, uses 400).

STM score (Eq. 1): the mean over time steps and all (student layer, teacher layer) pairs of the
Euclidean (Frobenius) distance between A_{t,l'} of the raw student features and A_l, with raw
F F^T similarities, reported on a natural-log scale as the paper's tables ("we calculate the
(log-scale) values"; the base is not stated: ln assumed). Lower = less spatio-temporal
mismatch; it grows with b, so compare at one batch size. Logged as the term "stm".
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from snn2hw.distill.base import DistillMethod, FeatureShapes, StepOutputs, default
from snn2hw.distill.kd import kd_loss
from snn2hw.distill.kdsnn import as_map
from snn2hw.errors import ConfigError

BETA = 800.0
EMBED_FACTOR = 4  # released SelfAttentionTime: query/key width = batch // factor


def similarity(f: torch.Tensor, mode: str = "raw") -> torch.Tensor:
    """[b, ...] -> [b, b]: F F^T of the flattened features (mode l2: each row L2-normalised)."""
    f = f.flatten(1)
    a = f @ f.t()
    return F.normalize(a, dim=1) if mode == "l2" else a


def instance_rows(a: torch.Tensor, width: int) -> torch.Tensor:
    """[b, b] -> [b, width]: rows in batch order, zero-padded on the right (b <= width)."""
    b = a.shape[1]
    if b > width:
        raise ConfigError(
            f"sastc's query/key MLPs read similarity rows of width {width} (the per-process "
            f"batch), but a batch of {b} arrived; keep --batch-size, or use "
            "--set distill.sastc_rows=sorted")
    return F.pad(a, (0, width - b))


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
    """3x3 conv to 2*c_out + BN + ReLU + 1x1 conv to c_out, no biases (Eq. 2; released AAEmbed)."""
    mid = 2 * c_out
    return nn.Sequential(nn.Conv2d(c_in, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid),
                         nn.ReLU(), nn.Conv2d(mid, c_out, 1, bias=False))


def align_spatial(s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Released rule: a larger student map is max-pooled to the teacher's size, else the teacher
    map is average-pooled to the student's (both [N, C, H, W])."""
    if s.shape[-2:] == t.shape[-2:]:
        return s, t
    if s.shape[-2] * s.shape[-1] > t.shape[-2] * t.shape[-1]:
        return F.adaptive_max_pool2d(s, t.shape[-2:]), t
    return s, F.adaptive_avg_pool2d(t, s.shape[-2:])


def pair_distance(s: torch.Tensor, t: torch.Tensor, variant: str, sim: str = "raw") -> torch.Tensor:
    """Per-instance distance [b] between a projected student map and a teacher map."""
    if variant == "paper":
        return (similarity(s, sim) - similarity(t, sim)).pow(2).mean(1)
    return (s - t).pow(2).flatten(1).mean(1)


def sastc_loss(alpha: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """alpha, dist [b, T, S, L] -> mean over (b, T, S) of sum over L of alpha * dist."""
    return (alpha * dist).sum(-1).mean()


@torch.no_grad()
def stm_score(student_feats: list[torch.Tensor], teacher_feats: list[torch.Tensor],
              sim: str = "raw", log: bool = True) -> torch.Tensor:
    """ln of the mean over t and all (student, teacher) layer pairs of ||A_s(t) - A_t||_F
    (log false: the mean itself).

    student_feats: maps [T, b, ...]; teacher_feats: maps [b, ...].
    """
    a_t = [similarity(f.double(), sim) for f in teacher_feats]
    dists = [torch.linalg.matrix_norm(similarity(s[t].double(), sim) - at)
             for s in student_feats for t in range(s.shape[0]) for at in a_t]
    mean = torch.stack(dists).mean()
    return (mean.clamp_min(1e-300).log() if log else mean).float()


class SASTC(DistillMethod):
    """L = CE + w * KD + beta * L_SASTC; also logs the STM score of each batch."""

    needs_features = True

    def __init__(self, tau: float | None = None, kd_weight: float | None = None,
                 beta: float | None = None, variant: Literal["paper", "code"] = "code",
                 embed_dim: int | None = None, row_bins: int = 32,
                 similarity: Literal["raw", "l2"] = "raw",
                 rows: Literal["instance", "sorted"] = "instance") -> None:
        super().__init__()
        self.tau, self.kd_weight = default(tau, 4.0), default(kd_weight, 1.0)
        self.beta, self.variant = default(beta, BETA), variant
        self.embed_dim, self.row_bins = embed_dim, row_bins
        self.sim, self.rows = similarity, rows
        self.width = row_bins
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
        if self.rows == "instance":
            self.width = shapes.batch or 64  # the data default batch when the caller gives none
            dim = self.embed_dim or max(self.width // EMBED_FACTOR, 1)
        else:
            self.width, dim = self.row_bins, self.embed_dim or 64
        for s in self.s_taps:
            self.query[s] = Embed(self.width, dim)
        for t in self.t_taps:
            self.key[t] = Embed(self.width, dim)
        for s in self.s_taps:
            for t in self.t_taps:
                self.proj[f"{s}__{t}"] = projector(shapes.student[s][0], shapes.teacher[t][0])

    def _rows(self, f: torch.Tensor) -> torch.Tensor:
        a = similarity(f, self.sim)
        return instance_rows(a, self.width) if self.rows == "instance" else row_profile(a, self.width)

    def weights(self, s_feats: list[torch.Tensor], t_feats: list[torch.Tensor]) -> torch.Tensor:
        """alpha [b, T, S, L] from similarity rows of student maps [T, b, ...] and teacher maps."""
        keys = torch.stack([self.key[n](self._rows(f)) for n, f in zip(self.t_taps, t_feats)], dim=1)
        queries = torch.stack([
            torch.stack([self.query[n](self._rows(f[t])) for t in range(f.shape[0])], dim=1)
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
                s_map, t_map = align_spatial(s_map, t_map)
                p = self.proj[f"{sn}__{tn}"](s_map)
                d = torch.stack([pair_distance(p[k * b:(k + 1) * b], t_map[k * b:(k + 1) * b],
                                               self.variant, self.sim) for k in range(steps)], dim=1)
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
