"""`snn2hw export --target loihi` and `snn2hw simulate` for residual (graph) students."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exporters.errors import ExportError, SimulationError
from snn2hw.runs import RunDir, atomic_write_text


def export_graph(run: RunDir, student, out_dir: Path, files: list[str], t0: float,
                 qat_epochs: int = 0):
    """Quantize a residual student and write model.graph.h5 + quantization.json into out_dir."""
    from exporters.checks import relative_run_dir
    from exporters.graph_file import GRAPH_FILE, write_graph
    from exporters.nir_graph import student_to_nir_graph
    from exporters.pipeline import ExportResult, _run_dataset, input_range_for
    from exporters.quantize_graph import quantize_graph

    if qat_epochs:
        raise ExportError("--qat-epochs is supported for sequential students only; export this "
                          "residual student with --qat-epochs 0 (post-training quantization)")
    cfg, bundle = _run_dataset(run)
    scale, in_max = input_range_for(cfg.data.dataset, bundle)  # event frames: counts, unscaled
    q = quantize_graph(student_to_nir_graph(student), input_scale=scale, input_max=in_max)
    write_graph(out_dir / GRAPH_FILE, q)
    rep = q.report()
    # Paths relative to the export folder (it moves with its run), plus absolute copies.
    rep.update(run_dir=relative_run_dir(run.path, out_dir),
               run_dir_absolute=str(run.path.resolve()),
               student_checkpoint=relative_run_dir(run.student_ckpt, out_dir),
               student_checkpoint_absolute=str(run.student_ckpt.resolve()),
               dataset=cfg.data.dataset)
    atomic_write_text(out_dir / "quantization.json", json.dumps(rep, indent=2))
    from exporters.resources import load_target
    from exporters.resources_graph import graph_markdown, graph_resources

    reps = [graph_resources(q, load_target(n)) for n in ("loihi1", "loihi2_assumed")]
    atomic_write_text(out_dir / "resources.json", json.dumps(reps, indent=2))
    atomic_write_text(out_dir / "summary.md", graph_markdown(reps, q))
    files += [GRAPH_FILE, "quantization.json", "resources.json", "summary.md"]
    summary = {"populations": len(q.populations), "synapse_layers": len(q.synapses),
               "neurons": sum(p["neurons"] for p in rep["populations"]),
               "synapses": sum(p["synapses"] for p in rep["populations"]),
               "relay_neurons": reps[0]["relay_neurons"],
               "cores_loihi1": reps[0]["cores"], "cores_loihi2_assumed": reps[1]["cores"],
               "latency_steps": q.latency_steps}
    return ExportResult(out_dir, files, time.perf_counter() - t0, summary)


def is_graph_export(path: str | Path) -> bool:
    from exporters.graph_file import GRAPH_FILE

    p = Path(path)
    return p.is_dir() and (p / GRAPH_FILE).is_file()


def read_graph_report(path: str | Path) -> dict[str, Any]:
    """quantization.json of a graph export, with its run and checkpoint paths resolved."""
    from exporters.checks import resolve_run

    p = Path(path)
    try:
        rep = json.loads((p / "quantization.json").read_bytes().decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise SimulationError(f"{p / 'quantization.json'} is missing or corrupt ({e}); re-run "
                              "`snn2hw export`") from None
    if not isinstance(rep, dict) or not isinstance(rep.get("run_dir"), str):
        raise SimulationError(f"{p / 'quantization.json'} is not a graph export's report (it needs "
                              "a mapping with a string run_dir); re-run `snn2hw export`")
    return resolve_run(rep, p)


def simulate_graph(path: str | Path, *, backend: str = "emulator", samples: int = 100,
                   compare: bool = False, device: str = "cpu", timeout_s: float = 600.0
                   ) -> dict[str, Any]:
    """Run a graph export on its run's test samples in the emulator and/or Lava; with compare,
    also the float student, and spike agreement emulator vs Lava on every population. Event data
    (test samples [N, T, *in_shape]) gets a new frame every step on both."""
    from exporters.emulator_graph import GraphEmulator, run_samples
    from exporters.graph_file import GRAPH_FILE, read_graph
    from exporters.pipeline import Target, _acc, _test_data, encode_inputs, spike_agreement
    from snn2hw.pipeline import load_model

    p = Path(path)
    rep = read_graph_report(p)
    q = read_graph(p / GRAPH_FILE)
    run, xf, y = _test_data(Target(p / GRAPH_FILE, {"quantization": rep}, p), samples)
    x_int = encode_inputs(xf.numpy(), {"input_scale": q.input_scale,
                                       "input_message_bits": q.input_message_bits})
    res: dict[str, Any] = {"samples": len(x_int), "net": str(p / GRAPH_FILE)}
    if x_int.ndim == len(q.in_shape) + 2:
        from exporters.events_export import check_frames

        x_int = check_frames(x_int, q.timesteps, q.input_message_bits)
        res["input"] = "frames"
    if compare or backend == "emulator":
        emu = GraphEmulator(q, device=device)
        t0 = time.perf_counter()
        v, emu_sp = run_samples(emu, x_int)
        dt = time.perf_counter() - t0
        res["emulator"] = {"accuracy": _acc(v, y), "seconds": dt,
                           "steps_per_s": len(x_int) * q.latency_steps / dt}
    if compare or backend == "lava":
        from exporters.lava_graph import run_lava_graph

        lr = run_lava_graph(p / GRAPH_FILE, x_int, record=compare, timeout_s=timeout_s)
        res["lava"] = {"accuracy": _acc(lr.v_readout, y), "steps_per_s": lr.steps_per_s,
                       "seconds": lr.run_s, "compile_s": lr.compile_s,
                       "relay_populations": lr.relays}
        if compare:
            names = [qp.pop.name for qp in q.populations]
            res["agreement"] = spike_agreement([emu_sp[k] for k in names],
                                               [lr.spikes[k] for k in names], names)
            res["readout_equal"] = bool(np.array_equal(v, lr.v_readout))
    if compare:
        student, _, _ = load_model(rep.get("student_checkpoint", run.student_ckpt), "student")
        with torch.no_grad():
            logits = student.eval()(torch.as_tensor(np.asarray(xf), dtype=torch.float32))
        res["float"] = {"accuracy": _acc(logits.numpy(), y)}
    return res
