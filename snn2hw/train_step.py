"""One optimisation step (forward + backward + optimizer), eager or replayed as one CUDA graph.

precision "bf16" runs the forward under torch.autocast (bf16 matmuls/convs; the spiking neurons
keep an fp32 membrane state, see neurons.fused / neurons.triton_lif). cuda_graphs records the
whole step, the optimizer's update included, as one CUDA graph per batch shape after a few eager
warm-up steps, and replays it: one launch instead of hundreds, for launch-bound sizes. Every
batch is trained exactly once either way; a batch of another shape (the last, smaller one) runs
eagerly on the same parameters, gradients and optimizer state. A graph is re-recorded when a
learning rate changes (the scheduler), since the rates are constants inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from snn2hw.errors import ConfigError

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")
# (net, x, y) -> ({"loss": total, named terms...}, logits), as train.StepFn
StepFn = Callable[[nn.Module, torch.Tensor, torch.Tensor],
                  tuple[dict[str, torch.Tensor], torch.Tensor]]


def check_step_options(device: torch.device, *, precision: str, cuda_graphs: bool,
                       distributed: bool = False, neuron_backend: str = "auto") -> None:
    """Raise ConfigError for a precision/--cuda-graphs/--neuron-backend choice that cannot run on
    this device."""
    if neuron_backend == "triton" and device.type != "cuda":
        raise ConfigError(
            f"--neuron-backend triton runs the neuron kernels on a CUDA device, but this run trains "
            f"on {device}. Use --neuron-backend auto (the fused path on CPU, triton on CUDA).")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)} "
                          "(option --precision)")
    if cuda_graphs and device.type != "cuda":
        raise ConfigError(
            f"--cuda-graphs records the training step as a CUDA graph and needs a CUDA device, but "
            f"this run trains on {device}. Drop --cuda-graphs, or train on a GPU (--device cuda).")
    if cuda_graphs and distributed:
        raise ConfigError("--cuda-graphs is not supported under torchrun (data-parallel gradient "
                          "synchronisation is not recorded in the graph); drop --cuda-graphs.")
    if cuda_graphs and not torch.cuda.is_available():
        raise ConfigError("--cuda-graphs needs CUDA, and this PyTorch sees no CUDA device; drop "
                          "--cuda-graphs.")


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    x: torch.Tensor
    y: torch.Tensor
    terms: dict[str, torch.Tensor]
    logits: torch.Tensor
    lrs: tuple[float, ...]


class TrainStep:
    """Callable (x, y) -> (terms, logits) that also updates the parameters once.

    net: the module step_fn calls (model, DDP or compiled wrapper); opt: the optimizer over all
    trained parameters (for cuda_graphs an Adam must be made with capturable=True);
    after_backward: called between backward and the optimizer step (eager steps), e.g. to
    average over data-parallel ranks the gradients of parameters DDP does not own.
    """

    def __init__(self, step_fn: StepFn, net: nn.Module, opt: torch.optim.Optimizer, *,
                 precision: str = "fp32", cuda_graphs: bool = False, warmup: int = 3,
                 after_backward: Callable[[], None] | None = None) -> None:
        self.step_fn, self.net, self.opt = step_fn, net, opt
        self.after_backward = after_backward
        self.precision, self.cuda_graphs, self.warmup = precision, cuda_graphs, warmup
        self._seen: dict[tuple, int] = {}
        self._graphs: dict[tuple, _Graph] = {}
        self.replays = 0
        """Steps run as graph replays (the others ran eagerly)."""

    def _autocast(self, device_type: str):
        if self.precision != "bf16":
            return nullcontext()
        # the autocast cache must be off while a graph is recorded (its casts are not reusable)
        return torch.autocast(device_type, dtype=torch.bfloat16,
                              cache_enabled=not self.cuda_graphs)

    def _forward(self, x, y):
        with self._autocast(x.device.type):
            return self.step_fn(self.net, x, y)

    def _eager(self, x, y, *, keep_grads: bool):
        # keep_grads: zero the gradient tensors in place (they belong to a recorded graph)
        terms, logits = self._forward(x, y)
        self.opt.zero_grad(set_to_none=not keep_grads)
        terms["loss"].backward()
        if self.after_backward is not None:
            self.after_backward()
        self.opt.step()
        return terms, logits

    def _lrs(self) -> tuple[float, ...]:
        return tuple(float(g["lr"]) for g in self.opt.param_groups)

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        if not self.cuda_graphs:
            return self._eager(x, y, keep_grads=False)
        key = (tuple(x.shape), x.dtype, tuple(y.shape), y.dtype)
        g = self._graphs.get(key)
        if g is not None and g.lrs == self._lrs():
            g.x.copy_(x, non_blocking=True)
            g.y.copy_(y, non_blocking=True)
            g.graph.replay()
            self.replays += 1
            return g.terms, g.logits
        n = self._seen.get(key, 0)
        self._seen[key] = n + 1
        if n < self.warmup or (g is None and self._graphs):
            # warm-up (lazy initialisation, cuDNN algorithm choice, optimizer state), or a second
            # shape: eager. On a side stream, as graph recording requires of the warm-up.
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = self._eager(x, y, keep_grads=bool(self._graphs))
            torch.cuda.current_stream().wait_stream(side)
            return out
        return self._record(key, x, y)

    def _record(self, key, x, y):
        self._graphs.pop(key, None)
        torch.cuda.synchronize()
        sx, sy = x.clone(), y.clone()
        self.opt.zero_grad(set_to_none=True)  # backward in the graph allocates (writes) them
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            terms, logits = self._forward(sx, sy)
            terms["loss"].backward()
            self.opt.step()
        self._graphs[key] = _Graph(graph, sx, sy, terms, logits, self._lrs())
        graph.replay()  # recording runs nothing: this batch is trained by the first replay
        self.replays += 1
        return terms, logits
