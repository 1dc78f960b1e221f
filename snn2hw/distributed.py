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
from torch import nn


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


# --- Trainable parts outside the DDP-wrapped model (a distillation method's connectors, ...) ---
# DDP averages only the gradients of the module it wraps. A method's own parameters are kept in
# step by hand: rank 0's values broadcast once before training, their gradients averaged after
# every backward, their buffers (BN running statistics) taken from rank 0 after every epoch, as
# DDP does for the model's buffers.


def broadcast_module(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers of `module` to every rank (no-op when not distributed)."""
    if not current().active:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def broadcast_buffers(module: nn.Module) -> None:
    """Copy rank 0's buffers of `module` (e.g. BN running statistics) to every rank."""
    if not current().active:
        return
    for b in module.buffers():
        dist.broadcast(b.data, src=0)


def average_gradients(params: list[torch.Tensor]) -> None:
    """Replace each gradient by its mean over ranks, in one flat all-reduce (params without a
    gradient are skipped; every rank runs the same code path, so the set is the same)."""
    if not current().active:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= current().world
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def check_in_step(modules: dict[str, nn.Module], device: torch.device, rtol: float = 1e-5) -> None:
    """Raise RuntimeError when a module's parameters differ between ranks (a synchronisation bug).

    Compares per module the sum and the sum of squares of all parameters (min and max over ranks).
    """
    if not current().active:
        return
    names = list(modules)
    stats = []
    for name in names:
        ps = [p.detach().double() for p in modules[name].parameters()]
        stats += [sum(float(p.sum()) for p in ps), sum(float(p.pow(2).sum()) for p in ps)]
    hi = torch.tensor(stats, dtype=torch.float64, device=device)
    lo = -hi.clone()
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    dist.all_reduce(lo, op=dist.ReduceOp.MAX)
    lo = -lo
    for i, name in enumerate(names):
        for j in (2 * i, 2 * i + 1):
            if abs(hi[j] - lo[j]) > rtol * max(1.0, abs(float(hi[j]))):
                raise RuntimeError(
                    f"data-parallel ranks hold different {name} parameters after an epoch "
                    f"(min {float(lo[j]):.6g}, max {float(hi[j]):.6g}); this is a bug in snn2hw's "
                    "gradient synchronisation, please report it")
