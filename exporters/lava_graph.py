"""Run a graph artefact (model.graph.h5, residual students) in Lava, in a child process with a timeout.

The child (exporters/lava_worker.py, builder in exporters/lava_graph_worker.py) builds the
Lava process graph straight from the artefact (LIF populations, Conv/Dense synapses, fan-in on one
port, relay chains for branch delays) and runs all samples back to back, one every P = T + depth(readout) steps; this side cuts
each population's T valid steps per sample out of the recordings, as the emulator reports them.
Same design as exporters/lava.py: own session, whole group killed on timeout or exit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exporters.errors import SimulationError


@dataclass
class GraphLavaResult:
    """Readout voltage per sample [N, n], valid spikes per population {name: [T, N, *shape]}."""

    v_readout: np.ndarray
    spikes: dict[str, np.ndarray] | None
    steps: int
    run_s: float
    compile_s: float
    relays: int = 0  # relay populations Lava needed for the branch delays
    samples: int = 0
    pipelined: bool = False

    @property
    def steps_per_s(self) -> float:
        """Lava time steps simulated per second (pipelined: several samples share a step)."""
        return self.steps / self.run_s if self.run_s > 0 else float("inf")

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.run_s if self.run_s > 0 else float("inf")


def run_lava_graph(graph_path: str | Path, x_int: np.ndarray, *, record: bool = True,
                   timeout_s: float = 600.0, pipelined: bool = False,
                   worker: str = "exporters.lava_worker") -> GraphLavaResult:
    """Run samples x_int [N, *in_shape] (integer graded input, fed T steps each) or frames
    [N, T, *in_shape] (a new frame every step: event data) through Lava.

    Samples follow each other every T + depth(readout) steps (each runs through the whole
    network alone, as netx exports run), or every T steps with `pipelined` (several samples in
    flight at different depths; each population still sees one sample per window)."""
    from exporters.graph_file import read_graph
    from exporters.lava import _run_worker, require_lava

    require_lava()
    q = read_graph(graph_path)
    x_int = np.asarray(x_int, np.int64)
    per_step = x_int.ndim == len(q.in_shape) + 2 and x_int.shape[1] == q.timesteps
    if (tuple(x_int.shape[1 + per_step:]) != tuple(q.in_shape)
            or x_int.ndim != len(q.in_shape) + 1 + per_step):
        raise SimulationError(f"inputs of shape {x_int.shape[1:]} do not fit the graph's input "
                              f"{tuple(q.in_shape)} (or frames [T = {q.timesteps}, *input])")
    cfg = {"graph": str(Path(graph_path).resolve()), "record": record, "pipelined": pipelined,
           "input": "frames" if per_step else "static"}
    r = _run_worker(graph_path, x_int, cfg, timeout_s, worker,
                    timeout_fix="run fewer samples (--samples), raise --timeout, or use "
                                "--backend emulator",
                    failure_fix="re-create the file with `snn2hw export`, or use --backend "
                                "emulator",
                    env_defaults={"OMP_NUM_THREADS": "1"})  # one Lava process per layer
    names = [p.pop.name for p in q.populations]
    T, n = q.timesteps, len(x_int)
    P = T if pipelined else q.latency_steps
    v = r[f"mon{len(names) if record else 0}"]
    v_read = np.stack([v[i * P + q.latency_steps - 1] for i in range(n)])
    spikes = None
    if record:
        spikes = {}
        for k, p in enumerate(q.populations):
            m = r[f"mon{k}"]
            d = p.pop.depth
            idx = np.concatenate([np.arange(i * P + d, i * P + d + T) for i in range(n)])
            spikes[p.pop.name] = m[idx].reshape(n, T, *m.shape[1:]).swapaxes(0, 1)
    comp, run_s, steps = r["timing"]
    return GraphLavaResult(v_read, spikes, int(steps), float(run_s), float(comp),
                           int(r["relays"]), n, pipelined)
