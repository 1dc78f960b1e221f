"""STM score of a trained student against its teacher on a data set (SASTC's Eq. 1, evaluation).

Every method's student can be scored, which is how SASTC's Table 1 compares baseline, KD and
feature KD: the mean over full batches of stm_score over all (student tap, teacher tap) pairs.
The score grows with the batch size b (a distance between b x b matrices), so compare scores
taken at the same b; a last partial batch is skipped.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from snn2hw.distill.sastc import stm_score
from snn2hw.distill.taps import TeacherTaps


@torch.no_grad()
def measure_stm(student: nn.Module, teacher: nn.Module, teacher_arch: str, data: Dataset,
                device: torch.device, batch_size: int = 64) -> float | None:
    """Mean STM score over the full batches of `data` (None if no full batch or no taps)."""
    if not getattr(student, "feature_taps", ()):
        return None
    student.eval()
    teacher.eval()
    taps = TeacherTaps(teacher, teacher_arch)
    scores = []
    try:
        for x, _ in DataLoader(data, batch_size=batch_size, shuffle=False, drop_last=True):
            x = x.to(device)
            _, s_feats = student.forward_sequence(x)
            teacher(x)
            t_feats = [torch.relu(f) for f in taps.pop().values()]
            scores.append(stm_score(list(s_feats.values()), t_feats).item())
    finally:
        taps.close()
    return sum(scores) / len(scores) if scores else None
