"""Resource estimate of a quantized network on a chip profile (targets/*.yaml): neurons, synapses, cores."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from exporters.quantize import QuantizedNet

TARGETS_DIR = Path(__file__).parent / "targets"


def load_target(name: str) -> dict[str, Any]:
    """A chip profile by name (file targets/<name>.yaml)."""
    path = TARGETS_DIR / f"{name}.yaml"
    if not path.is_file():
        from exporters.errors import ExportError

        names = ", ".join(p.stem for p in sorted(TARGETS_DIR.glob("*.yaml")))
        raise ExportError(f"unknown chip profile {name!r}; choose one of {names}")
    return yaml.safe_load(path.read_text())


def layer_counts(q: QuantizedNet) -> list[dict[str, Any]]:
    """Per layer: neurons, synapses (non-zero connections actually wired), fan-in, fan-out."""
    rows = []
    for lay in q.layers:
        fl = lay.float_layer
        n_out = int(np.prod(fl.out_shape))
        if lay.kind == "conv":
            import torch

            ones = torch.ones(1, *fl.in_shape)
            w = torch.as_tensor((lay.weight != 0).astype(np.float32))
            fan_in_map = torch.nn.functional.conv2d(ones, w, stride=fl.stride, padding=fl.padding,
                                                    dilation=fl.dilation, groups=fl.groups)
            synapses = int(fan_in_map.sum())
            fan_in = int(fan_in_map.max())
        else:
            synapses = int(np.count_nonzero(lay.weight))
            fan_in = int(np.count_nonzero(lay.weight, axis=1).max())
        n_in = int(np.prod(fl.in_shape))
        rows.append({"name": lay.name, "kind": lay.kind, "neurons": n_out, "synapses": synapses,
                     "weight_bytes": synapses, "fan_in_max": fan_in,
                     "fan_out_avg_of_inputs": synapses / n_in})
    return rows


def resources(q: QuantizedNet, target: dict[str, Any]) -> dict[str, Any]:
    """Cores per layer = max(neurons / neurons_per_core, synapse bits / synapse memory per core)."""
    rows = layer_counts(q)
    total_cores = 0
    for r in rows:
        by_n = r["neurons"] / target["neurons_per_core"]
        by_s = r["synapses"] * target["bits_per_synapse"] / 8 / target["synapse_memory_bytes_per_core"]
        r["cores"] = max(1, math.ceil(max(by_n, by_s)))
        total_cores += r["cores"]
    return {
        "target": target["name"], "assumed": bool(target.get("assumed", False)),
        "source": target.get("source", ""), "layers": rows,
        "neurons": sum(r["neurons"] for r in rows), "synapses": sum(r["synapses"] for r in rows),
        "weight_memory_bytes": sum(r["weight_bytes"] for r in rows), "cores": total_cores,
        "chips": math.ceil(total_cores / target["cores_per_chip"]),
        "latency_steps": q.latency_steps, "timesteps": q.timesteps,
    }


def markdown(reports: list[dict[str, Any]], q: QuantizedNet) -> str:
    """A short Markdown summary of the resource reports and quantization."""
    lines = ["# Loihi export summary", "",
             f"- time steps T = {q.timesteps}; weight layers L = {len(q.layers)}; latency = T + L = "
             f"{q.latency_steps} steps per sample (each weight layer adds one step in netx)",
             f"- input: graded spikes, x_int = round(x * {q.input_scale:g}), "
             f"{q.input_message_bits} message bits", ""]
    base = reports[0]
    lines += [("| layer | kind | neurons | synapses | weight bytes | fan-in max | fan-out avg |"
               + "".join(f" cores ({r['target']}) |" for r in reports)),
              "|---|---|---|---|---|---|---|" + "---|" * len(reports)]
    for i, row in enumerate(base["layers"]):
        lines.append(f"| {row['name']} | {row['kind']} | {row['neurons']} | {row['synapses']} | "
                     f"{row['weight_bytes']} | {row['fan_in_max']} | "
                     f"{row['fan_out_avg_of_inputs']:.1f} |"
                     + "".join(f" {r['layers'][i]['cores']} |" for r in reports))
    lines.append(f"| **total** | | {base['neurons']} | {base['synapses']} | "
                 f"{base['weight_memory_bytes']} | | |" + "".join(f" {r['cores']} |" for r in reports))
    lines.append("")
    for r in reports:
        flag = f" **(ASSUMED figures: edit exporters/targets/{r['target']}.yaml)**" if r["assumed"] else ""
        lines.append(f"- {r['target']}: {r['cores']} cores, {r['chips']} chip(s); source: "
                     f"{r['source']}{flag}")
    lines += ["", "## Quantization", "",
              "| layer | scale | limited by | w range | iDecay | vDecay | vThMant | w rel. error |",
              "|---|---|---|---|---|---|---|---|"]
    for lay in q.layers:
        rep = lay.report()
        lines.append(f"| {lay.name} | {lay.scale:.1f} | {lay.limited_by} | "
                     f"{rep['weight_range_used']} | {lay.i_decay} | {lay.v_decay} | "
                     f"{lay.v_th_mant} | {lay.weight_rel_error:.3f} |")
    return "\n".join(lines) + "\n"
