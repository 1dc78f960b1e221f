"""Multi-step layers over [T, B, ...] tensors: spiking neurons and time-folded stateless layers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from snn2hw.neurons import functional as F
from snn2hw.neurons import pooling
from snn2hw.neurons.surrogates import spike_fn

NeuronKind = Literal["if", "lif", "cuba"]
Surrogate = Literal["triangle", "rectangle", "superspike", "atan"]


@dataclass(frozen=True)
class NeuronSpec:
    """Parameters of one spiking neuron type; serialised into checkpoints and NIR export."""

    kind: NeuronKind = "lif"
    """if: no leak; lif: leak-factor LIF (TET); cuba: Norse current-based LIF."""
    leak: float = 0.5
    """lif: membrane kept per step (1 = IF)."""
    v_th: float = 1.0
    """Firing threshold."""
    reset: Literal["hard", "soft"] = "hard"
    """hard: v <- v_reset after a spike; soft: v <- v - v_th."""
    v_reset: float = 0.0
    detach_reset: bool = False
    """Stop gradients through the reset (IDSNN)."""
    surrogate: Surrogate = "triangle"
    surrogate_width: float = 1.0
    """triangle gamma, rectangle width, superspike/atan alpha."""
    dt: float = 1e-3
    """cuba: integration step in seconds."""
    tau_syn_inv: float = 1000.0
    """cuba: 1 / synaptic time constant in 1/s (1/dt = no synaptic memory)."""
    tau_mem_inv: float = 500.0
    """cuba: 1 / membrane time constant in 1/s."""

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def effective_leak(self) -> float:
        """Fraction of v kept per step (1 for IF)."""
        return 1.0 if self.kind == "if" else self.leak


PRESETS: dict[str, NeuronSpec] = {
    "tet": NeuronSpec(kind="lif", leak=0.5, v_th=1.0, surrogate="triangle", surrogate_width=1.0),
    "idsnn": NeuronSpec(
        kind="lif", leak=0.25, v_th=0.5, detach_reset=True, surrogate="rectangle",
        surrogate_width=1.0,
    ),
    "kdsnn": NeuronSpec(kind="if", v_th=1.0, surrogate="triangle", surrogate_width=1.0),
    "norse": NeuronSpec(kind="cuba", surrogate="superspike", surrogate_width=100.0),
}


Backend = Literal["auto", "fused", "reference", "triton"]
BACKENDS: tuple[str, ...] = ("auto", "fused", "reference", "triton")


class SpikingNeuron(nn.Module):
    """Runs one neuron type over time: input currents [T, B, ...] -> spikes [T, B, ...].

    State starts at zero for every forward call (one sample sequence per call). backend:
    "reference" steps functional.lif_step under autograd; "fused" runs neurons.fused (same spikes,
    same gradients, one autograd node); "triton" runs neurons.triton_lif (one kernel over all T,
    CUDA); "auto" takes triton for lif/if on CUDA when triton is installed, else fused for lif/if,
    else (cuba) the reference loop.
    """

    def __init__(self, spec: NeuronSpec, backend: Backend = "auto") -> None:
        super().__init__()
        self.spec = spec
        self.backend = backend
        self._spike = spike_fn(spec.surrogate, spec.surrogate_width)

    @property
    def resolved_backend(self) -> str:
        """The path forward() takes on CPU tensors: 'fused', 'reference' or 'triton'."""
        if self.backend == "reference" or self.spec.kind == "cuba":
            return "reference"
        return "triton" if self.backend == "triton" else "fused"

    def path_for(self, x: torch.Tensor) -> str:
        """The path forward(x) takes: resolved_backend, with auto -> triton for CUDA tensors."""
        path = self.resolved_backend
        if path == "fused" and self.backend == "auto" and x.is_cuda:
            from snn2hw.neurons.triton_lif import supports

            if supports(self.spec, x):
                return "triton"
        return path

    def extra_repr(self) -> str:
        s = self.spec
        return f"kind={s.kind}, leak={s.effective_leak}, v_th={s.v_th}, surrogate={s.surrogate}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec
        path = self.path_for(x)
        if path == "triton":
            from snn2hw.neurons.triton_lif import multistep_lif_triton

            return multistep_lif_triton(x, s)
        if path == "fused":
            from snn2hw.neurons.fused import multistep_lif

            return multistep_lif(x, s)
        zero = torch.zeros_like(x[0])
        out = []
        if s.kind == "cuba":
            state = F.CubaState(v=zero, i=zero)
            for x_t in x:
                z, state = F.cuba_lif_step(
                    x_t, state, dt=s.dt, tau_syn_inv=s.tau_syn_inv, tau_mem_inv=s.tau_mem_inv,
                    v_th=s.v_th, spike=self._spike, v_reset=s.v_reset,
                    detach_reset=s.detach_reset,
                )
                out.append(z)
        else:
            lif_state = F.LIFState(v=zero)
            for x_t in x:
                z, lif_state = F.lif_step(
                    x_t, lif_state, leak=s.effective_leak, v_th=s.v_th, spike=self._spike,
                    reset=s.reset, v_reset=s.v_reset, detach_reset=s.detach_reset,
                )
                out.append(z)
        return torch.stack(out)


class TimeFolded(nn.Module):
    """Applies a stateless layer (conv, BN, linear, pooling, flatten) to [T, B, ...] by folding T*B.

    fast (on unless set_backend chose "reference"): small CPU average pooling runs as one matrix
    product (neurons.pooling; same values on spikes, several times faster than avg_pool2d there).
    """

    def __init__(self, layer: nn.Module, fast: bool = True) -> None:
        super().__init__()
        self.layer = layer
        self.fast = fast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        x = x.flatten(0, 1)
        k = pooling.fast_pool_kernel(self.layer, x) if self.fast else None
        y = self.layer(x) if k is None else pooling.avg_pool_mm(x, k)
        return y.reshape(t, b, *y.shape[1:])


def set_backend(model: nn.Module, backend: str) -> nn.Module:
    """Select the neuron implementation of every SpikingNeuron in model (auto, fused, reference,
    triton); reference also runs TimeFolded layers as plain PyTorch (no fast pooling)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown neuron backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend in ("fused", "triton"):
        kinds = {m.spec.kind for m in model.modules() if isinstance(m, SpikingNeuron)}
        if "cuba" in kinds:
            raise ValueError(f"the {backend} backend covers lif and if neurons; this model has "
                             "cuba neurons (use auto or reference)")
    for m in model.modules():
        if isinstance(m, SpikingNeuron):
            m.backend = backend  # type: ignore[assignment]
        elif isinstance(m, TimeFolded):
            m.fast = backend != "reference"  # reference: plain PyTorch layers throughout
    return model
