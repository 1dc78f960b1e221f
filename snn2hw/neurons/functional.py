"""Pure single-step neuron dynamics over tensors (no modules, no hidden state).

Every function maps (input current x[t], state) -> (spikes z[t], new state). Shapes: any, as
long as x and the state tensors broadcast. Units: dimensionless, one step per call.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from snn2hw.neurons.surrogates import SpikeFn


class LIFState(NamedTuple):
    """Membrane potential v after the reset of the previous step."""

    v: torch.Tensor


class CubaState(NamedTuple):
    """Synaptic current i and membrane potential v (Norse / Loihi CUBA convention)."""

    v: torch.Tensor
    i: torch.Tensor


def reset_hard(v: torch.Tensor, z: torch.Tensor, v_reset: float, detach: bool) -> torch.Tensor:
    """v <- v_reset where z = 1; with detach, no gradient flows through the reset path."""
    r = z.detach() if detach else z
    return v * (1 - r) + r * v_reset


def reset_soft(v: torch.Tensor, z: torch.Tensor, v_th: float, detach: bool) -> torch.Tensor:
    """v <- v - v_th where z = 1 (reset by subtraction)."""
    r = z.detach() if detach else z
    return v - r * v_th


def lif_step(
    x: torch.Tensor,
    state: LIFState,
    *,
    leak: float,
    v_th: float,
    spike: SpikeFn,
    reset: str = "hard",
    v_reset: float = 0.0,
    detach_reset: bool = False,
) -> tuple[torch.Tensor, LIFState]:
    """Leak-factor LIF (TET style), one step.

        h[t] = leak * v[t-1] + x[t]
        z[t] = H(h[t] - v_th)
        v[t] = reset(h[t], z[t])

    leak = 1 is the IF neuron (no leak); leak = 0.5, v_th = 1 the TET/SASTC neuron; leak = 0.25,
    v_th = 0.5 with a detached reset the IDSNN neuron. Maps to Loihi CUBA with iDecay = 4096
    (no current memory) and vDecay = 4096 * (1 - leak).
    """
    h = leak * state.v + x
    z = spike(h - v_th)
    if reset == "hard":
        v = reset_hard(h, z, v_reset, detach_reset)
    else:
        v = reset_soft(h, z, v_th, detach_reset)
    return z, LIFState(v)


def cuba_lif_step(
    x: torch.Tensor,
    state: CubaState,
    *,
    dt: float,
    tau_syn_inv: float,
    tau_mem_inv: float,
    v_th: float,
    spike: SpikeFn,
    v_leak: float = 0.0,
    v_reset: float = 0.0,
    detach_reset: bool = False,
) -> tuple[torch.Tensor, CubaState]:
    """Current-based LIF in Norse's convention (norse.torch.functional.lif_feed_forward_step).

        i' = i[t-1] + x[t]                                  (current jump)
        h  = v[t-1] + dt * tau_mem_inv * (v_leak - v[t-1] + i')
        i[t] = i' * (1 - dt * tau_syn_inv)
        z[t] = H(h - v_th);  v[t] = reset(h, z[t])

    Kept identical to Norse so that a Norse-trained student exports with the same numbers; the
    surrogate is ours (Norse's SuperSpike ignores its alpha).
    """
    i_jump = state.i + x
    h = state.v + dt * tau_mem_inv * ((v_leak - state.v) + i_jump)
    i_new = i_jump * (1 - dt * tau_syn_inv)
    z = spike(h - v_th)
    v = reset_hard(h, z, v_reset, detach_reset)
    return z, CubaState(v=v, i=i_new)
