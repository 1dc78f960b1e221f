"""The training loop shared by teacher and student phases: epochs, checkpoints, resume, metrics."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from snn2hw import distributed
from snn2hw.config import TrainConfig
from snn2hw.models import ModelSpec
from snn2hw.progress import Reporter
from snn2hw.runs import RunDir, check_spec, load_checkpoint, load_state, save_checkpoint
from snn2hw.train_step import TrainStep, check_step_options

# (net, x, y) -> ({"loss": total, named terms...}, logits); net is the model to call (the model
# itself, or its DistributedDataParallel wrapper under torchrun, so gradients are synchronised).
StepFn = Callable[[nn.Module, torch.Tensor, torch.Tensor],
                  tuple[dict[str, torch.Tensor], torch.Tensor]]


@dataclass
class Phase:
    """One model being trained: teacher (CE) or student (distillation method)."""

    name: str
    model: nn.Module
    spec: ModelSpec
    step: StepFn
    epochs: int
    lr: float
    extra: nn.Module | None = None
    """Trainable parts outside the model (e.g. a method's connectors); optimised and saved too."""
    compile: bool = False
    """Call the model through torch.compile in training steps (evaluation stays eager)."""
    precision: str = "fp32"
    """fp32, or bf16 autocast in the training forward (neuron state stays fp32)."""
    cuda_graphs: bool = False
    """Replay the whole training step (forward, backward, optimizer) as one CUDA graph."""


def resolve_device(name: str) -> torch.device:
    """auto -> CUDA when present; under torchrun each process takes cuda:LOCAL_RANK.

    An unknown name or a GPU that is not there is a ConfigError naming --device.
    """
    from snn2hw.config import DEVICE_PATTERN
    from snn2hw.errors import ConfigError

    if not DEVICE_PATTERN.fullmatch(name):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N (option --device)")
    if name.startswith("cuda"):
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= n:
            have = f"this machine has {n} CUDA device(s)" if n else "no CUDA GPU is available here"
            raise ConfigError(f"--device {name} was asked for, but {have}; use --device cpu or auto")
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ConfigError("--device mps was asked for, but Apple's MPS is not available here; use "
                          "--device cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and distributed.current().active:
        return torch.device("cuda", distributed.current().local_rank)
    return torch.device(name)


class _RngState:
    """torch's global RNG behind load_state_dict, so its restore is checked like the others."""

    def load_state_dict(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device) -> float:
    """Top-1 accuracy of model on loader, in eval mode."""
    model.eval()
    correct = total = 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        correct += (model(x).argmax(-1) == y).sum().item()
        total += y.numel()
    return correct / max(total, 1)


def make_loaders(train: Dataset, test: Dataset, batch_size: int, num_workers: int,
                 seed: int, pin: bool) -> tuple[DataLoader, DataLoader]:
    """Training loader shuffled by a seeded DistributedSampler (call set_epoch), test loader in order.

    The sampler is used with one process too: rank r of W takes every W-th index of the same
    seeded permutation, so W ranks with batch B/W see exactly the batches one process sees with B.
    """
    info = distributed.current()
    sampler = DistributedSampler(train, num_replicas=info.world, rank=info.rank, shuffle=True,
                                 seed=seed)
    tr = DataLoader(train, batch_size=batch_size // info.world, sampler=sampler,
                    num_workers=num_workers, pin_memory=pin, persistent_workers=num_workers > 0)
    return tr, eval_loader(test, batch_size, num_workers, pin)


def eval_loader(test: Dataset, batch_size: int, num_workers: int = 0, pin: bool = False) -> DataLoader:
    """The evaluation loader: in order, batches of at least 256."""
    return DataLoader(test, batch_size=max(batch_size, 256), shuffle=False,
                      num_workers=num_workers, pin_memory=pin)


def _optimizer(params, cfg: TrainConfig, lr: float, capturable: bool = False) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               nesterov=cfg.nesterov)
    # capturable: the step count lives on the GPU, so a CUDA graph can record the update
    return torch.optim.Adam(params, lr=lr, weight_decay=cfg.weight_decay, capturable=capturable)


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, epochs: int):
    """The per-epoch learning-rate schedule of cfg (train.schedule, else train.scheduler)."""
    kind = cfg.schedule or cfg.scheduler
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    if kind == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.milestones), gamma=cfg.gamma)
    return None


def fit(
    phase: Phase,
    train_set: Dataset,
    test_set: Dataset,
    *,
    batch_size: int,
    num_workers: int,
    cfg: TrainConfig,
    seed: int,
    run: RunDir,
    ckpt_path: Path,
    device: torch.device,
    reporter: Reporter,
) -> dict:
    """Train phase.model for phase.epochs, resuming from ckpt_path when it holds an unfinished run.

    After every epoch: one metrics line, then an atomic checkpoint with model, optimizer,
    scheduler and RNG states, so a killed run continues exactly where its last epoch ended.
    Under torchrun the model is wrapped in DistributedDataParallel (batch_size is the global
    batch); phase.extra (a method's connectors, projectors, ...) is kept in step by hand: rank 0's
    values broadcast before training, gradients averaged after every backward, buffers taken from
    rank 0 after every epoch, and every epoch checks that all ranks hold equal parameters.
    Metrics are summed over ranks, and rank 0 alone writes. Returns the last record.
    """
    info = distributed.current()
    check_step_options(device, precision=phase.precision, cuda_graphs=phase.cuda_graphs,
                       distributed=info.active)
    model = phase.model.to(device)
    extra = phase.extra.to(device) if phase.extra is not None else None
    params = list(model.parameters()) + (list(extra.parameters()) if extra is not None else [])
    opt = _optimizer(params, cfg, phase.lr, capturable=phase.cuda_graphs)
    sched = _scheduler(opt, cfg, phase.epochs)
    start, last = 1, {}
    if ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        check_spec(ck, ckpt_path, phase.spec.to_dict())
        load_state(model, ck["state_dict"], ckpt_path, phase.name)
        if extra is not None and ck.get("extra_state"):
            load_state(extra, ck["extra_state"], ckpt_path, f"{phase.name}'s method parts")
        last = ck.get("metrics", {})
        if ck.get("complete"):
            return last
        load_state(opt, ck["optimizer"], ckpt_path, "optimizer")
        if sched is not None and ck.get("scheduler"):
            load_state(sched, ck["scheduler"], ckpt_path, "scheduler")
        load_state(_RngState(), ck["rng"], ckpt_path, "random generator")
        start = ck["epoch"] + 1
        if info.is_main:
            run.truncate_metrics(phase.name, ck["epoch"])
        reporter.message(f"resuming {phase.name} from epoch {ck['epoch']} ({ckpt_path})")

    train_loader, test_loader = make_loaders(train_set, test_set, batch_size, num_workers, seed,
                                             pin=device.type == "cuda")
    net: nn.Module = model
    after_backward = None
    if info.active:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if extra is not None and any(True for _ in extra.parameters()):
            distributed.broadcast_module(extra)
            extra_params = list(extra.parameters())
            after_backward = functools.partial(distributed.average_gradients, extra_params)
    if phase.compile:
        net = torch.compile(net)
    train_step = TrainStep(phase.step, net, opt, precision=phase.precision,
                           cuda_graphs=phase.cuda_graphs, after_backward=after_backward)
    for epoch in range(start, phase.epochs + 1):
        t0 = time.perf_counter()
        train_loader.sampler.set_epoch(epoch)  # type: ignore[union-attr]
        model.train()
        if extra is not None:
            extra.train()
        sums: dict[str, float] = {}
        correct = seen = 0
        for x, y in reporter.iterate(train_loader, f"{phase.name} {epoch}/{phase.epochs}",
                                     total=len(train_loader)):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            terms, logits = train_step(x, y)  # forward, backward, optimizer step
            n = y.numel()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v.detach().item() * n
            correct += (logits.detach().argmax(-1) == y).sum().item()
            seen += n
            reporter.update(f"loss {sums['loss'] / seen:.3f} acc {100 * correct / seen:.1f}%")
        if sched is not None:
            sched.step()
        if info.active:  # DDP syncs the model's buffers only at the next forward: do it now
            distributed.broadcast_buffers(model)
            if extra is not None:
                distributed.broadcast_buffers(extra)
            distributed.check_in_step({phase.name: model, **({"method": extra} if extra is not None
                                                             else {})}, device)
        keys = sorted(sums)
        totals = distributed.all_reduce_sum([sums[k] for k in keys] + [correct, seen], device)
        sums, correct, seen = dict(zip(keys, totals[:-2])), totals[-2], totals[-1]
        test_acc = evaluate(model, test_loader, device)
        last = {
            "phase": phase.name, "epoch": epoch, "epochs": phase.epochs,
            **{("train_loss" if k == "loss" else k): v / seen for k, v in sums.items()},
            "train_acc": correct / seen, "test_acc": test_acc,
            "lr": opt.param_groups[0]["lr"], "time_s": time.perf_counter() - t0,
        }
        if not info.is_main:
            continue
        run.log_metrics(last)
        reporter.epoch(last)
        save_checkpoint(ckpt_path, {
            "model": phase.spec.to_dict(), "state_dict": model.state_dict(),
            "extra_state": extra.state_dict() if extra is not None else {},
            "epoch": epoch, "complete": epoch == phase.epochs, "metrics": last,
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict() if sched else {},
            "rng": {"torch": torch.get_rng_state()},
        })
    distributed.barrier()
    return last
