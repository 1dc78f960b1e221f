"""The `snn2hw profile` job: record a run's student on test samples, count, price, report."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from profilers import ops
from profilers.activity import ActivityRecorder, LayerActivity
from profilers.energy import CostTable, ann_energy, resolve_tables, snn_energy
from profilers.errors import ProfileError
from profilers.graph import LayerPlan, walk
from profilers.hooks import forward_observed

REPORT_FORMAT = "snn2hw-profile/1"


@dataclass
class ProfileOptions:
    """What to profile and how (the CLI's options)."""

    samples: int = 256
    """Test samples to record (the first N of the run's test split)."""
    timesteps: Sequence[int] = ()
    """Also measure accuracy and SynOps at these numbers of time steps."""
    cost_tables: Sequence[str | Path] = ()
    """Extra YAML cost table files."""
    first_layer: ops.FirstLayerPolicy = "auto"
    """How often the analog first layer's MACs are computed: auto, every-step, once."""
    device: str = "auto"
    batch_size: int = 128
    export_dir: Path | None = None
    """Count the spikes of this export's netx network in the bit-exact emulator, not the float model."""


def input_shapes(model: nn.Module, plans: list[LayerPlan], x: torch.Tensor) -> dict[str, tuple]:
    """Per-sample input shape of each plan's first chain module (one forward of x)."""
    shapes: dict[str, tuple] = {}
    handles = []
    for p in plans:
        if p.input_of:  # identity shortcut: no module of its own, the block's input shape
            continue
        first = p.chain[0]

        def pre(mod, inp, name=p.name):
            shapes.setdefault(name, tuple(inp[0].shape[1:]))

        handles.append(first.register_forward_pre_hook(pre))
    forward_observed(model, x, handles)
    for p in plans:
        if p.input_of:
            shapes[p.name] = shapes[p.input_of]
    return shapes


def count_layers(
    plans: list[LayerPlan], activity: dict[str, LayerActivity], shapes: dict[str, tuple], *,
    timesteps: int, policy: str, state_vars: int,
) -> list[ops.LayerCounts]:
    """LayerCounts for every plan from recorded (or emulated) per-layer activity."""
    out = []
    for p in plans:
        src = activity.get(p.source) if p.source else None
        if p.source and src is None:
            raise ProfileError(f"no activity was recorded for neuron layer {p.source!r}")
        dst = activity.get(p.neuron) if p.neuron else None
        samples = (src or dst).samples if (src or dst) else 1
        fan = ops.fanout_map(p.chain, shapes[p.name])
        out.append(ops.layer_counts(
            p, fan, samples=samples, timesteps=timesteps,
            in_counts=src.counts if src else None, out_counts=dst.counts if dst else None,
            out_active=dst.active if dst else None, state_vars=state_vars,
            first_layer_policy=policy,  # type: ignore[arg-type]
        ))
    return out


def _loader(bundle, samples: int, batch_size: int):
    from torch.utils.data import DataLoader, Subset

    n = min(samples, len(bundle.test))
    if n <= 0:
        raise ProfileError(f"--samples must be at least 1 (got {samples})")
    return DataLoader(Subset(bundle.test, list(range(n))), batch_size=batch_size, shuffle=False)


def _record(model: nn.Module, loader, device,
            synapses: dict[str, nn.Module] | None = None) -> tuple[ActivityRecorder, float, bool]:
    correct = total = 0
    static = True
    with ActivityRecorder(model, dict(synapses or {})) as rec, torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            static = static and tuple(x.shape[1:]) == tuple(model.in_shape)
            correct += (model(x).argmax(-1) == y).sum().item()
            total += y.numel()
    return rec, correct / max(total, 1), static


def _energy_rows(layers: list[ops.LayerCounts], teacher: list[ops.AnnLayer] | None,
                 same_arch: list[ops.AnnLayer], tables: list[CostTable]) -> list[dict[str, Any]]:
    by_name = {t.name: t for t in tables}
    rows = []
    for t in tables:
        ref = by_name[t.ann_reference] if t.ann_reference else t
        per_layer = {c.name: snn_energy(c.to_dict(), t) for c in layers}
        snn_total = sum(e.total_pj for e in per_layer.values())
        breakdown: dict[str, float] = {}
        for e in per_layer.values():
            for k, v in e.compute_pj.items():
                breakdown[k] = breakdown.get(k, 0.0) + v

        def ann_total(ls: list[ops.AnnLayer], ref: CostTable = ref) -> float:
            return sum(ann_energy(a.macs, 2 * a.macs + a.outputs, ref).total_pj for a in ls)

        mixed = sorted(
            f"{op} {t.entries[op].status}" for op in t.entries
            if t.entries[op].status != t.status and _uses(op, breakdown))
        paper = (sum(c.synops for c in layers) * t.price("ac")
                 + sum(c.macs for c in layers) * t.price("mac"))
        same = ann_total(same_arch)
        row = {
            "table": t.name, "title": t.title, "source": t.source, "status": t.status,
            "status_detail": t.status + (f", except {', '.join(mixed)}" if mixed else ""),
            "note": t.note, "ann_priced_with": ref.name, "origin": t.origin,
            "snn_pj": snn_total, "snn_breakdown_pj": breakdown,
            "per_layer_pj": {k: e.total_pj for k, e in per_layer.items()},
            "same_arch_ann_pj": same, "same_arch_ann_over_snn": same / snn_total if snn_total else None,
            "synops_only_pj": paper,
            "same_arch_ann_mac_only_pj": sum(a.macs for a in same_arch) * ref.price("mac"),
        }
        if teacher is not None:
            tt = ann_total(teacher)
            row.update(teacher_ann_pj=tt, teacher_over_snn=tt / snn_total if snn_total else None)
        rows.append(row)
    return rows


def _uses(op: str, breakdown: dict[str, float]) -> bool:
    """Whether the entry `op` contributed to the priced energy."""
    key = {"mem_access": "memory", "neuron_update_inactive": "neuron_update"}.get(op, op)
    return breakdown.get(key, 0.0) > 0


def emulator_activity(export_dir: Path, loader, plans: list[LayerPlan]) -> tuple[dict, float]:
    """The exported network's spikes in the bit-exact Loihi emulator, keyed by the student's
    neuron layers (the export keeps the student's layer names), and its accuracy."""
    import numpy as np

    from exporters.emulator import Emulator, run_samples
    from exporters.graph_pipeline import is_graph_export
    from exporters.pipeline import encode_inputs, open_target
    from profilers.activity import activity_from_spikes

    x = torch.cat([xb for xb, _ in loader]).numpy()
    y = torch.cat([yb for _, yb in loader]).numpy()
    if is_graph_export(export_dir):
        return _graph_activity(Path(export_dir), x, y, plans)
    t = open_target(export_dir)
    info = t.info
    emu = Emulator(t.net, input_message_bits=int(info["input_message_bits"]),
                   reset_interval=int(info["reset_interval"]), reset_offset=int(info["reset_offset"]))
    from exporters.events_export import emulate_sequence, is_sequence

    x_int = encode_inputs(x, info)
    if is_sequence(x_int, tuple(emu.net.in_shape)):  # event frames: a new one every step
        v, spikes = emulate_sequence(emu, x_int, int(info["timesteps"]))
    else:
        v, spikes = run_samples(emu, x_int, int(info["timesteps"]))
    by_name = {p.name: p for p in plans}
    names = list(info.get("layer_names") or [])
    if len(names) != len(spikes) or any(n not in by_name for n in names):
        raise ProfileError(
            f"the layers of {t.net} ({', '.join(map(str, names))}) do not match the run's student "
            f"({', '.join(by_name)}); re-export it with `snn2hw export {export_dir.parent}`"
        )
    recorded = {by_name[n].neuron: torch.as_tensor(s).float()
                for n, s in zip(names, spikes) if by_name[n].neuron}
    scores = v if info.get("readout") == "voltage" else spikes[-1].sum(0)
    return activity_from_spikes(recorded), float((np.asarray(scores).argmax(1) == y).mean())


def _export_file(export_dir) -> str:
    from exporters.graph_pipeline import is_graph_export

    return "model.graph.h5" if is_graph_export(export_dir) else "model.net"


def _graph_activity(export_dir: Path, x, y, plans: list[LayerPlan]) -> tuple[dict, float]:
    """emulator_activity for a residual (graph) export: populations carry the neuron names."""
    import numpy as np

    from exporters.emulator_graph import GraphEmulator, run_samples
    from exporters.graph_file import GRAPH_FILE, read_graph
    from exporters.pipeline import encode_inputs
    from profilers.activity import activity_from_spikes

    q = read_graph(export_dir / GRAPH_FILE)
    v, spikes = run_samples(GraphEmulator(q), encode_inputs(
        x, {"input_scale": q.input_scale, "input_message_bits": q.input_message_bits}))
    wanted = {p.neuron for p in plans if p.neuron}
    missing = wanted - set(spikes)
    if missing:
        raise ProfileError(
            f"the populations of {export_dir / GRAPH_FILE} do not include the run's neuron layers "
            f"{', '.join(sorted(missing))}; re-export it with `snn2hw export {export_dir.parent}`"
        )
    recorded = {n: torch.as_tensor(spikes[n]).float() for n in wanted}
    return activity_from_spikes(recorded), float((np.asarray(v).argmax(1) == y).mean())


def profile_run(run_dir: str | Path, opts: ProfileOptions | None = None) -> dict[str, Any]:
    """Profile the student of a run directory; returns the report dict (see report.py)."""
    from snn2hw.config import config_from_dict, load_yaml
    from snn2hw.pipeline import load_data, load_model
    from snn2hw.runs import open_run
    from snn2hw.train import resolve_device

    opts = opts or ProfileOptions()
    t0 = time.perf_counter()
    run = open_run(run_dir)
    if not run.student_ckpt.is_file():
        raise ProfileError(
            f"{run.path} holds no student.pt (only a teacher run, or an unfinished distill); "
            f"profile a run made by `snn2hw distill`, or finish this one with "
            f"`snn2hw distill --resume {run.path}`"
        )
    tables = resolve_tables(opts.cost_tables)
    ops.resolve_policy(opts.first_layer, static_input=True)  # validate before any work
    if any(t < 1 for t in opts.timesteps):
        raise ProfileError(f"--timesteps values must be >= 1 (got {list(opts.timesteps)})")
    cfg = config_from_dict(load_yaml(run.config_path))
    bundle = load_data(cfg)
    model, spec, _ = load_model(run.student_ckpt, "student", bundle)
    device = resolve_device(opts.device)
    model.to(device).eval()
    plans = walk(model)
    loader = _loader(bundle, opts.samples, opts.batch_size)

    rec, acc, static = _record(model, loader, device,
                               {p.name: p.synapse.module for p in plans
                                if p.source and not p.input_of})
    activity_source = "float student (PyTorch forward hooks)"
    if opts.export_dir is not None:
        emu_layers, acc = emulator_activity(Path(opts.export_dir), loader, plans)
        rec.layers.update(emu_layers)
        activity_source = (f"bit-exact Loihi fixed-point emulator on {Path(opts.export_dir) / _export_file(opts.export_dir)}"
                           " (raster and time-step sweep: float student)")
    policy = ops.resolve_policy(opts.first_layer, static)
    x1 = next(iter(loader))[0][:1].to(device)
    shapes = input_shapes(model, plans, x1)
    T = model.timesteps
    state_vars = 2 if spec.neuron.kind == "cuba" else 1
    layers = count_layers(plans, rec.layers, shapes, timesteps=T, policy=policy,
                          state_vars=state_vars)
    same_arch = ops.ann_layers(model, x1, per=T)
    same_by = {p.name: a for p, a in zip(plans, _match(plans, same_arch))}

    layer_rows = []
    for p, c in zip(plans, layers):
        row = c.to_dict()
        row["same_arch_ann_macs"] = same_by[p.name].macs if same_by[p.name] else None
        if p.neuron:
            act = rec.layers[p.neuron]
            row.update(firing_rate=act.rate(), firing_rate_per_step=act.rate_per_step())
        if p.source and p.input_of:  # identity shortcut: the spikes themselves reach sn2
            row["input_side_ops"] = row["synops"]
            row["input_side_kind"] = "AC"
        elif p.source:
            # NeuroBench's rule: non-zero values at the synapse's own input x its fan-out
            nz = rec.synapse_inputs[p.name]
            fan_syn = ops.fanout_map([p.synapse.module], tuple(nz.shape))
            row["input_side_ops"] = float((nz.cpu() * fan_syn).sum()) / rec.layers[p.source].samples
            row["input_side_kind"] = "AC" if rec.synapse_binary[p.name] else "MAC"
        if p.source and same_by[p.name]:
            src = rec.layers[p.source]
            approx = ops.rate_approx_synops(src.counts, same_by[p.name].macs, src.neurons)
            row["rate_x_macs_synops"] = float(approx.sum()) / src.samples
        layer_rows.append(row)

    teacher_info = None
    teacher_layers = None
    if run.teacher_ckpt.is_file():
        teacher, tspec, _ = load_model(run.teacher_ckpt, "teacher", bundle)
        teacher.to(device).eval()
        teacher_layers = ops.ann_layers(teacher, x1)
        teacher_info = {
            "arch": tspec.arch, "layers": [a.to_dict() for a in teacher_layers],
            "macs": sum(a.macs for a in teacher_layers),
            "flops": sum(a.flops for a in teacher_layers),
            "params": sum(p.numel() for p in teacher.parameters()),
        }

    sweep = []
    if opts.timesteps:
        for t in opts.timesteps:
            model.timesteps = int(t)
            r_t, acc_t, _ = _record(model, loader, device)
            c_t = count_layers(plans, r_t.layers, shapes, timesteps=int(t),
                               policy=policy, state_vars=state_vars)
            sweep.append({"timesteps": int(t), "accuracy": acc_t,
                          "synops": sum(c.synops for c in c_t), "firing_rate": r_t.total_rate()})
        model.timesteps = T

    totals = {k: sum(getattr(c, k) for c in layers) for k in (
        "synops", "macs", "neuron_updates", "active_updates", "spikes", "mem_reads", "mem_writes")}
    totals["mem_accesses"] = totals["mem_reads"] + totals["mem_writes"]
    totals["firing_rate"] = rec.total_rate()
    totals["neurons"] = sum(c.neurons for c in layers)
    totals["same_arch_ann_macs"] = sum(a.macs for a in same_arch)

    return {
        "format": REPORT_FORMAT,
        "run_dir": str(run.path), "dataset": bundle.name, "samples": min(opts.samples, len(bundle.test)),
        "device": str(device), "timesteps": T,
        "student": {"arch": spec.arch, "neuron": spec.neuron.to_dict(), "accuracy": acc,
                    "params": sum(p.numel() for p in model.parameters())},
        "static_input": static, "first_layer_policy": policy, "activity_source": activity_source,
        "layers": layer_rows, "totals": totals,
        "same_arch_ann": {"layers": [a.to_dict() for a in same_arch],
                          "macs": totals["same_arch_ann_macs"],
                          "flops": sum(a.flops for a in same_arch)},
        "teacher": teacher_info,
        "energy": _energy_rows(layers, teacher_layers, same_arch, tables),
        "cost_tables": [t.to_dict() for t in tables],
        "accuracy_vs_timesteps": sweep,
        "raster": {k: v.nonzero().tolist() for k, v in rec.raster.items()},
        "raster_shape": {k: list(v.shape) for k, v in rec.raster.items()},
        "notes": NOTES,
        "time_s": time.perf_counter() - t0,
    }


def _match(plans: list[LayerPlan], ann: list[ops.AnnLayer]) -> list[ops.AnnLayer | None]:
    from profilers.graph import short_name

    by = {short_name(a.name): a for a in ann}
    return [by.get(p.name) for p in plans]


NOTES = [
    ("SynOps: each spike times the number of synapses it reaches (real fan-out, padding and "
     "borders excluded; pooling/flatten/BN between a neuron layer and its consumer folded in), "
     "summed over time steps, averaged per sample. With average pooling before a conv this is "
     "the fan-out of the fused conv (kernel K*k, stride s*k, padding p*k) that the Loihi export "
     "runs, so it can exceed the ANN's MACs, which pool first."),
    ("MACs of the analog first layer: every real connection, computed every step or once "
     "(policy shown); ANN MACs come from torch.utils.flop_counter (FLOPs/2) and include padded taps."),
    ("Memory model: SynOp = weight read + accumulator read/write; MAC = weight + input read, one "
     "write per output; neuron update = state read + write per state variable."),
    ("input_side_ops: the count NeuroBench makes (non-zero values at the conv/linear input x its "
     "fan-out). It equals SynOps when spikes reach the layer directly; after average pooling the "
     "pooled values are graded (MACs) and one pooled value replaces up to k*k spike deliveries, "
     "so it is lower than SynOps, which deliver each spike through the pool into the layer."),
    "Active neuron update: the neuron's input current was non-zero that step (bias counts).",
    ("Residual blocks: conv1, conv2 and the shortcut are layers of their own; an identity "
     "shortcut counts one SynOp per block-input spike (the export's one-to-one synapse). "
     "Not covered: concatenation and max pooling raise an error."),
]
