"""Resources of a graph export (residual students) on a chip profile: per population neurons,
synapses, fan-in and cores, with the relay populations that carry branch delays.

A population's synapses are the non-zero connections of every synapse layer feeding it (conv:
kernel non-zeros x output positions that reach an input, borders exact); its fan-in is the
largest number of connections into one neuron summed over those layers. A branch delayed by d
extra steps needs d relay populations of the source's size (identity synapses, one per neuron),
shared by every synapse that reads the same source with that delay (as exporters/lava_graph_worker.py
builds them). Cores per population = max(neurons / neurons_per_core, synapse bytes / memory per core).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from exporters.quantize_graph import QuantGraph, QuantSynapse


def _synapse_counts(s: QuantSynapse) -> tuple[int, np.ndarray]:
    """(wired connections, fan-in per output neuron flattened) of one synapse layer."""
    w = np.asarray(s.weight)
    if s.syn.kind == "conv":
        import torch

        ones = torch.ones(1, *s.syn.in_shape)
        nz = torch.as_tensor((w != 0).astype(np.float32))
        fan = torch.nn.functional.conv2d(ones, nz, stride=s.syn.stride, padding=s.syn.padding,
                                         dilation=s.syn.dilation, groups=s.syn.groups)
        fan = fan[0].flatten().numpy().astype(np.int64)
        return int(fan.sum()), fan
    fan = np.count_nonzero(w, axis=1).astype(np.int64)
    return int(fan.sum()), fan


def population_counts(q: QuantGraph) -> list[dict[str, Any]]:
    """Per population (relay populations included): neurons, synapses, fan-in, sources."""
    rows = []
    for qp in q.populations:
        p = qp.pop
        ins = q.incoming(p.name)
        fan = np.zeros(int(np.prod(p.shape)), np.int64)
        syn = 0
        for s in ins:
            n, f = _synapse_counts(s)
            syn += n
            fan += f
        rows.append({"name": p.name, "kind": "readout" if p.neuron == "readout" else "neurons",
                     "neurons": int(np.prod(p.shape)), "synapses": syn, "weight_bytes": syn,
                     "fan_in_max": int(fan.max()) if fan.size else 0,
                     "fan_in_layers": [s.syn.name for s in ins], "depth": p.depth})
    shapes = {"input": tuple(q.in_shape), **{qp.pop.name: tuple(qp.pop.shape) for qp in q.populations}}
    relays = sorted({(s.syn.src, d) for s in q.synapses for d in range(1, s.syn.delay + 1)})
    for src, d in relays:
        n = int(np.prod(shapes[src]))
        rows.append({"name": f"relay:{src}:{d}", "kind": "relay", "neurons": n, "synapses": n,
                     "weight_bytes": n, "fan_in_max": 1, "fan_in_layers": [f"identity from {src}"],
                     "depth": None})
    return rows


def graph_resources(q: QuantGraph, target: dict[str, Any]) -> dict[str, Any]:
    """Resource report of a graph export on one chip profile (same keys as exporters/resources.py)."""
    rows = population_counts(q)
    for r in rows:
        by_n = r["neurons"] / target["neurons_per_core"]
        by_s = r["synapses"] * target["bits_per_synapse"] / 8 / target["synapse_memory_bytes_per_core"]
        r["cores"] = max(1, math.ceil(max(by_n, by_s)))
    cores = sum(r["cores"] for r in rows)
    return {
        "target": target["name"], "assumed": bool(target.get("assumed", False)),
        "source": target.get("source", ""), "populations": rows,
        "neurons": sum(r["neurons"] for r in rows), "synapses": sum(r["synapses"] for r in rows),
        "relay_neurons": sum(r["neurons"] for r in rows if r["kind"] == "relay"),
        "weight_memory_bytes": sum(r["weight_bytes"] for r in rows), "cores": cores,
        "chips": math.ceil(cores / target["cores_per_chip"]),
        "latency_steps": q.latency_steps, "timesteps": q.timesteps,
    }


def graph_markdown(reports: list[dict[str, Any]], q: QuantGraph) -> str:
    """summary.md of a graph export: populations, cores per chip profile."""
    lines = ["# Loihi graph export summary", "",
             f"- time steps T = {q.timesteps}; readout depth = {q.readout.pop.depth}; latency = "
             f"{q.latency_steps} steps per sample (each synapse layer adds one step; shorter "
             "branches wait in relay populations)",
             f"- input: graded spikes, x_int = round(x * {q.input_scale:g}), "
             f"{q.input_message_bits} message bits", "",
             "| population | kind | neurons | synapses | fan-in max |"
             + "".join(f" cores ({r['target']}) |" for r in reports),
             "|---|---|---|---|---|" + "---|" * len(reports)]
    base = reports[0]
    for i, row in enumerate(base["populations"]):
        lines.append(f"| {row['name']} | {row['kind']} | {row['neurons']} | {row['synapses']} | "
                     f"{row['fan_in_max']} |" + "".join(f" {r['populations'][i]['cores']} |"
                                                         for r in reports))
    lines.append(f"| **total** | | {base['neurons']} | {base['synapses']} | |"
                 + "".join(f" {r['cores']} |" for r in reports))
    lines.append("")
    for r in reports:
        flag = f" **(ASSUMED figures: edit exporters/targets/{r['target']}.yaml)**" if r["assumed"] else ""
        lines.append(f"- {r['target']}: {r['cores']} cores, {r['chips']} chip(s); source: "
                     f"{r['source']}{flag}")
    return "\n".join(lines) + "\n"
