"""Driver for tests/test_ddp_methods.py: every distillation method trained 2 steps under torchrun.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_methods_driver.py OUT M...

Each rank trains the method's student through snn2hw.train.fit (DDP + the method-parts sync)
and writes OUT/<method>-rank<r>.pt (student and method state dicts). Rank 1's method parts are
first perturbed, so equal results also show that rank 0's initial values were broadcast. Rank 0
then trains a reference in one process on the same global batches: each batch split as the
sampler splits it over the two ranks, the loss of each half backpropagated with weight 1/2
(the mean of the ranks' gradients, which is what data-parallel training computes), one
optimizer step per batch; written to OUT/<method>-ref.pt.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch
from torch.utils.data import DistributedSampler

from snn2hw import distributed
from snn2hw.config import resolve_config, with_dataset_defaults
from snn2hw.data import load_dataset
from snn2hw.distill import build_method
from snn2hw.distill.taps import TeacherTaps, classifier_weight
from snn2hw.models import ModelSpec, build_model
from snn2hw.pipeline import neuron_spec, probe_shapes, student_step
from snn2hw.progress import Reporter
from snn2hw.runs import RunDir
from snn2hw.train import Phase, _optimizer, fit

GLOBAL_BATCH, STEPS, SEED = 16, 2, 0


def config(method: str):
    sets = {"distill.method": method, "student.arch": "digits-resnet",
            "teacher.arch": "digits-resnet", "data.batch_size": GLOBAL_BATCH, "train.epochs": 1,
            "train.optimizer": "sgd", "train.lr": 0.05, "train.device": "cpu",
            "train.schedule": "none"}
    if method == "ckdsnn":  # NLD's noise is drawn per rank; the reference cannot redraw it
        sets["distill.nld"] = False
    return with_dataset_defaults(resolve_config(overrides=sets))


def build(cfg, bundle):
    """Teacher (random, eval), student, bound method, and the student step function."""
    torch.manual_seed(SEED)
    tspec = ModelSpec("teacher", cfg.teacher.arch, bundle.in_shape, bundle.num_classes)
    teacher = build_model(tspec).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    torch.manual_seed(SEED + 1)
    sspec = ModelSpec("student", cfg.student.arch, bundle.in_shape, bundle.num_classes,
                      cfg.student.timesteps, neuron_spec(cfg))
    student = build_model(sspec)
    method = build_method(cfg.distill)
    method.check_models(student, teacher)
    taps = TeacherTaps(teacher, tspec.arch) if method.needs_features else None
    if taps is not None:
        method.bind(probe_shapes(student, teacher, taps, bundle, torch.device("cpu"),
                                 batch_size=GLOBAL_BATCH // distributed.current().world))
    method.init_student(student, teacher)
    step = student_step(method, teacher, taps, classifier_weight(teacher))
    return student, sspec, method, step


def state(student, method) -> dict:
    return {"student": copy.deepcopy(student.state_dict()),
            "method": copy.deepcopy(method.state_dict())}


def reference(cfg, bundle, init: dict) -> dict:
    """One process, the same global batches, the rank split emulated by two half-batch losses."""
    student, _, method, step = build(cfg, bundle)
    student.load_state_dict(init["student"])
    method.load_state_dict(init["method"])
    params = list(student.parameters()) + list(method.parameters())
    opt = _optimizer(params, cfg.train, cfg.train.lr)
    sampler = DistributedSampler(bundle.train, num_replicas=1, rank=0, shuffle=True, seed=SEED + 1)
    sampler.set_epoch(1)
    order = list(sampler)
    student.train()
    method.train()
    for k in range(STEPS):
        batch = order[k * GLOBAL_BATCH:(k + 1) * GLOBAL_BATCH]
        opt.zero_grad()
        for r in range(2):  # rank r of 2 takes every 2nd index of the batch
            idx = batch[r::2]
            x = torch.stack([bundle.train[i][0] for i in idx])
            y = torch.tensor([int(bundle.train[i][1]) for i in idx])
            terms, _ = step(student, x, y)
            (terms["loss"] / 2).backward()
        opt.step()
    return state(student, method)


def main(out: Path, methods: list[str]) -> None:
    torch.set_num_threads(1)
    info = distributed.init_from_env("cpu")
    bundle = load_dataset("digits", "data").limited(GLOBAL_BATCH * STEPS, 16, SEED)
    for name in methods:
        cfg = config(name)
        student, sspec, method, step = build(cfg, bundle)
        if info.rank == 1:  # rank 0's values must win (broadcast before training)
            with torch.no_grad():
                for p in method.parameters():
                    p.add_(0.1 * torch.randn_like(p))
        init = state(student, method)
        run = RunDir(out / f"{name}-run")
        run.path.mkdir(parents=True, exist_ok=True)
        fit(Phase("student", student, sspec, step, 1, cfg.train.lr, extra=method), bundle.train,
            bundle.test, batch_size=GLOBAL_BATCH, num_workers=0, cfg=cfg.train, seed=SEED + 1,
            run=run, ckpt_path=run.path / f"student-rank{info.rank}.pt", device=torch.device("cpu"),
            reporter=Reporter())
        torch.save(state(student, method), out / f"{name}-rank{info.rank}.pt")
        if info.rank == 0:
            torch.save(reference(cfg, bundle, init), out / f"{name}-ref.pt")
    distributed.barrier()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
