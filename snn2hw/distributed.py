"""Data-parallel training under torchrun: process-group setup, rank-0 duties, metric reduction.

`torchrun --nproc-per-node N -m snn2hw distill ...` sets RANK/WORLD_SIZE/LOCAL_RANK; without them
everything here degrades to a single process (rank 0 of 1) and costs nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_from_env(device: str) -> DistInfo:
    """Join the process group torchrun describes (gloo on CPU, nccl on CUDA), once per process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        use_cuda = device != "cpu" and torch.cuda.is_available()
        if use_cuda:
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return info


def current() -> DistInfo:
    """The DistInfo of an initialised process group, else single-process."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistInfo()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's value of obj on every rank (identity when not distributed)."""
    if not current().active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over ranks of a list of floats (identity when not distributed)."""
    if not current().active:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def barrier() -> None:
    if current().active:
        dist.barrier()
