"""`snn2hw profile` of an export made from a foreign NIR graph (no run, no float student behind it).

Spikes are counted in the bit-exact Loihi emulator (the graph emulator for a branching graph's
model.graph.h5, per population over all synapses feeding it) on the inputs the user gives (--input X.npy,
each sample fed for T steps, as `simulate` does). Per Loihi layer and sample: exact SynOps (each
spike of the layer before x its real fan-out in this layer's integer weights, borders included,
through profilers.ops.fanout_map), the graded first layer's MACs (non-zero inputs x fan-out) when
the input is not binary, neuron updates (neurons x T, all counted active: the emulator does not
expose input currents), spikes, firing rate; energy under every cost table (memory accesses are
not counted here, so tables that price them read low: the report says so).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from profilers.errors import ProfileError

FORMAT = "snn2hw-profile-imported/1"
NOTE = ("Spikes from the bit-exact Loihi emulator on the given inputs; neuron updates are counted "
        "as active every step; memory accesses are not counted (cost tables that price them read "
        "low); static power, routing and I/O are not included.")


def _fanout(lay, in_shape: tuple[int, ...]) -> torch.Tensor:
    """Per input position, the synapses of `lay` it reaches (non-zero integer weights only)."""
    from profilers.ops import fanout_map

    mask = torch.as_tensor(np.asarray(lay.weight) != 0, dtype=torch.float64)
    if lay.kind == "conv":
        conv = torch.nn.Conv2d(mask.shape[1] * lay.groups, mask.shape[0], tuple(mask.shape[2:]),
                               stride=lay.stride, padding=lay.padding, dilation=lay.dilation,
                               groups=lay.groups, bias=False).double()
        conv.weight.data = mask
        return fanout_map([conv], in_shape)
    return mask.sum(0).reshape(in_shape)


def profile_imported(export_dir: Path, q: dict, x_int: np.ndarray, cost_tables=()) -> dict[str, Any]:
    """Counts and energy of an imported export's network on x_int [N, *in_shape]."""
    from exporters.checks import check_inputs
    from exporters.emulator import Emulator, run_samples
    from exporters.graph_file import GRAPH_FILE
    from exporters.netx import read_netx
    from profilers.energy import resolve_tables

    if (Path(export_dir) / GRAPH_FILE).is_file():
        return profile_imported_graph(Path(export_dir), q, x_int, cost_tables)
    t0 = time.perf_counter()
    net = read_netx(export_dir / "model.net")
    bits = int(q["input_message_bits"])
    x_int, _ = check_inputs(x_int, None, tuple(net.in_shape), bits)
    T, n = int(q["timesteps"]), len(x_int)
    _, spikes = run_samples(Emulator(net), x_int, T)
    tables = resolve_tables(cost_tables)
    rows, prev = [], None
    for k, (lay, rec) in enumerate(zip(net.layers, spikes)):
        in_shape = tuple(net.in_shape) if k == 0 else tuple(net.layers[k - 1].shape)
        fan = _fanout(lay, in_shape)
        if k == 0:
            active = torch.as_tensor(x_int != 0, dtype=torch.float64).sum(0)  # per position, 1 step
            per_step = float((active * fan).sum()) / n
            ops = {"synops": per_step * T, "macs": 0.0} if bits == 0 else \
                {"synops": 0.0, "macs": per_step * T}
        else:
            counts = torch.as_tensor(prev, dtype=torch.float64).sum(1)  # [T, *in_shape]
            ops = {"synops": float((counts * fan).sum()) / n, "macs": 0.0}
        name = (q.get("layers") or [{}] * len(net.layers))[k].get("name", str(k))
        rows.append(_row(name, lay.kind, lay.shape, ops, float(rec.sum()) / n, T, tables))
        prev = rec
    return _report(export_dir, q, rows, n, T, tables,
                   f"bit-exact Loihi emulator on {export_dir / 'model.net'}", t0)


def _row(name: str, kind: str, shape, ops: dict, spikes: float, T: int, tables) -> dict[str, Any]:
    """One layer's (population's) report row: counts per sample and energy per cost table."""
    from profilers.energy import snn_energy

    neurons = int(np.prod(shape))
    row = {"layer": name, "kind": kind, "neurons": neurons, **ops,
           "neuron_updates": float(neurons * T), "active_updates": float(neurons * T),
           "spikes": spikes, "firing_rate": spikes / (neurons * T)}
    row["energy_j"] = {t.name: 1e-12 * snn_energy(row, t).total_pj for t in tables}
    return row


def _report(export_dir: Path, q: dict, rows: list, n: int, T: int, tables, source: str,
            t0: float) -> dict[str, Any]:
    """The report dict around the rows: totals, cost tables, where the activity came from."""
    totals = {key: sum(r[key] for r in rows) for key in
              ("synops", "macs", "neuron_updates", "spikes", "neurons")}
    totals["energy_j"] = {t.name: sum(r["energy_j"][t.name] for r in rows) for t in tables}
    return {"format": FORMAT, "export_dir": str(export_dir), "nir_file": q.get("nir_file"),
            "samples": n, "timesteps": T, "dt": q.get("dt"), "activity_source": source,
            "layers": rows, "totals": totals,
            "cost_tables": [t.to_dict() for t in tables], "notes": NOTE,
            "time_s": time.perf_counter() - t0}


def profile_imported_graph(export_dir: Path, q: dict, x_int: np.ndarray, cost_tables=()
                           ) -> dict[str, Any]:
    """The same counts for an imported branching graph (model.graph.h5), per population: SynOps
    summed over every synapse feeding it (each source spike x its fan-out in that synapse)."""
    from exporters.checks import check_inputs
    from exporters.emulator_graph import GraphEmulator, run_samples
    from exporters.graph_file import GRAPH_FILE, read_graph
    from profilers.energy import resolve_tables

    t0 = time.perf_counter()
    g = read_graph(export_dir / GRAPH_FILE)
    binary = g.input_max == 1
    x_int, _ = check_inputs(x_int, None, tuple(g.in_shape), int(g.input_message_bits))
    T, n = g.timesteps, len(x_int)
    _, spikes = run_samples(GraphEmulator(g), x_int)
    shapes = {"input": tuple(g.in_shape), **{p.pop.name: tuple(p.pop.shape) for p in g.populations}}
    tables = resolve_tables(cost_tables)
    rows = []
    for qp in g.populations:
        name = qp.pop.name
        ops = {"synops": 0.0, "macs": 0.0}
        for qs in g.incoming(name):
            # an identity skip drives one synapse per spike; other synapses as for chains
            fan = torch.ones(shapes[qs.syn.src], dtype=torch.float64) if qs.syn.identity else \
                _fanout(qs.syn, shapes[qs.syn.src])
            if qs.syn.src == "input":
                active = torch.as_tensor(x_int != 0, dtype=torch.float64).sum(0)
                ops["synops" if binary else "macs"] += float((active * fan).sum()) / n * T
            else:
                counts = torch.as_tensor(spikes[qs.syn.src], dtype=torch.float64).sum(1)
                ops["synops"] += float((counts * fan).sum()) / n
        rows.append(_row(name, qp.pop.neuron, qp.pop.shape, ops, float(spikes[name].sum()) / n,
                         T, tables))
    return _report(export_dir, q, rows, n, T, tables,
                   f"bit-exact Loihi graph emulator on {export_dir / GRAPH_FILE}", t0)


def markdown(r: dict[str, Any]) -> str:
    """The report as a Markdown table per layer plus totals."""
    tabs = list(r["totals"]["energy_j"])
    head = ["layer", "kind", "neurons", "SynOps", "MACs", "spikes", "firing rate"] + \
        [f"E {t} (nJ)" for t in tabs]
    out = [f"# Profile of {r['export_dir']} (imported NIR graph)", "",
           f"{r['samples']} samples, T = {r['timesteps']}; {r['activity_source']}.", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in r["layers"] + [{"layer": "total", "kind": "", **r["totals"],
                               "firing_rate": float("nan")}]:
        out.append("| " + " | ".join([
            str(row["layer"]), row["kind"], str(int(row["neurons"])), f"{row['synops']:.4g}",
            f"{row['macs']:.4g}", f"{row['spikes']:.4g}",
            "-" if np.isnan(row["firing_rate"]) else f"{row['firing_rate']:.4f}"]
            + [f"{1e9 * row['energy_j'][t]:.4g}" for t in tabs]) + " |")
    out += ["", r["notes"], ""]
    return "\n".join(out)


def write_imported_report(r: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """report.json and report.md into out_dir (a staging folder)."""
    from snn2hw.runs import atomic_write_text

    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md"}
    atomic_write_text(paths["json"], json.dumps(r, indent=2))
    atomic_write_text(paths["md"], markdown(r))
    return paths


def require_input(export_dir: Path, x: np.ndarray | None) -> np.ndarray:
    """Imported exports have no test set: --input is required."""
    if x is None:
        raise ProfileError(f"{export_dir} was exported from a NIR file, so it has no test set: "
                           "give --input X.npy (inputs [N, *in_shape], binary spikes unless the "
                           "export used --input-scale)")
    return x
