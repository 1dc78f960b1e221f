"""`snn2hw export FILE.nir` and `snn2hw simulate` of such an export (no run folder behind it).

The export folder holds the original graph (model.nir), model.net (a chain) or model.graph.h5 (a
graph with branches or fan-in sums, exporters/nir_import_graph.py), quantization.json with
`source: nir-import` (dt, discretization, readout kind) and resources/summary. `simulate` runs
the given inputs on the emulator and/or Lava (each sample fed for T steps under netx's reset
schedule, as for snn2hw's own exports) and, with --compare, the float NIR interpreter on the same
inputs (exporters/nir_sim.py), with per-layer spike agreement float vs emulator vs Lava.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from exporters.errors import SimulationError
from exporters.nir_import import READOUTS, SOURCE, ImportOptions, export_foreign
from exporters.nir_sim import kind


def is_nir_file(path: str | Path | None) -> bool:
    """Whether `export`'s argument is a NIR file (not a run folder)."""
    return path is not None and Path(path).suffix.lower() == ".nir" and not Path(path).is_dir()


def export_nir(nir_path: str | Path, *, out: str | Path | None, opts: ImportOptions):
    """Export a foreign NIR graph into `out` (default: <file stem>_export beside it), staged."""
    from exporters.pipeline import ExportResult
    from snn2hw.fileio import staged_dir

    t0 = time.perf_counter()
    p = Path(nir_path)
    final = Path(out) if out is not None else p.with_name(p.stem + "_export")
    with staged_dir(final, what="export folder", option="--out") as stage:
        summary = export_foreign(p, stage, opts)
    files = ["model.nir", summary["file"], "quantization.json", "resources.json", "summary.md"]
    return ExportResult(final, files, time.perf_counter() - t0, summary)


def imported_export(path: str | Path) -> dict | None:
    """quantization.json of an imported-NIR export folder, else None."""
    p = Path(path)
    qf = p / "quantization.json"
    if not (p.is_dir() and qf.is_file()):
        return None
    try:
        q = json.loads(qf.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    return q if isinstance(q, dict) and q.get("source") == SOURCE else None


def _flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(*a.shape[:2], -1)


def float_run(export_dir: Path, q: dict, x_int: np.ndarray):
    """The float NIR interpretation of the export's graph on the same inputs, fed for T steps."""
    from exporters.nir_import import read_foreign
    from exporters.nir_sim import simulate

    graph = read_foreign(export_dir / "model.nir")
    x = np.asarray(x_int, np.float64) / float(q["input_scale"])
    T = int(q["timesteps"])
    seq = np.broadcast_to(x[None], (T, *x.shape))
    return graph, simulate(graph, seq, float(q["dt"]), discretization=q.get("discretization", "euler"))


def simulate_imported(path: str | Path, q: dict, *, backend: str, samples: int, compare: bool,
                      device: str, timeout_s: float, x_int: np.ndarray | None,
                      y: np.ndarray | None, timesteps: int | None,
                      input_message_bits: int) -> dict[str, Any]:
    """Emulator / Lava / float results for an imported NIR export on the given inputs."""
    from exporters.pipeline import _acc, simulate, spike_agreement

    export_dir = Path(path)
    T = int(q["timesteps"])
    if x_int is None:
        raise SimulationError(
            f"{export_dir} was exported from a NIR file ({q.get('nir_file')}), so it has no test "
            "set: give --input X.npy (inputs [N, *in_shape]; binary spikes unless the export used "
            "--input-scale) and optionally --labels Y.npy")
    if timesteps is not None and timesteps != T:
        raise SimulationError(f"--timesteps {timesteps} differs from the export's T = {T}; the "
                              "fixed point was chosen for T steps: re-export with --timesteps")
    if input_message_bits and input_message_bits != int(q["input_message_bits"]):
        raise SimulationError(f"--input-message-bits {input_message_bits} differs from the "
                              f"export's {q['input_message_bits']}; the export fixes its input "
                              "encoding, leave the option out")
    from exporters.graph_file import GRAPH_FILE

    if (export_dir / GRAPH_FILE).is_file():  # a branching graph: the graph format
        return simulate_imported_graph(export_dir, q, x_int, y, backend=backend, samples=samples,
                                       compare=compare, device=device, timeout_s=timeout_s)
    from exporters.netx import read_netx

    in_shape = tuple(read_netx(export_dir / "model.net").in_shape)
    xa = np.asarray(x_int)
    if xa.ndim == len(in_shape) + 2 and tuple(xa.shape[2:]) == in_shape:
        return simulate_stream(export_dir, q, xa, y, backend=backend, samples=samples,
                               compare=compare, device=device, timeout_s=timeout_s)
    res = simulate(export_dir / "model.net", backend=backend, samples=samples, compare=compare,
                   device=device, timeout_s=timeout_s, x_int=x_int, y=y)
    if not compare:
        return res
    from exporters.checks import check_inputs
    from exporters.emulator import Emulator, run_samples
    from exporters.netx import read_netx

    net = read_netx(export_dir / "model.net")
    xi, yy = check_inputs(x_int, y, tuple(net.in_shape), int(q["input_message_bits"]))
    xi = xi[:samples]
    yy = None if yy is None else yy[:samples]
    emu = Emulator(net, device=device)
    _, emu_sp = run_samples(emu, xi, T)
    graph, fr = float_run(export_dir, q, xi)
    layers = q["layers"]
    spiking = [k for k, lay in enumerate(layers) if lay["neuron"] != "readout"]
    agree = spike_agreement(
        [_flat(fr.outputs[layers[k]["sources"][-1]].numpy()) for k in spiking],
        [emu_sp[k].reshape(T, len(xi), -1) for k in spiking], [layers[k]["name"] for k in spiking])
    last = layers[-1]["sources"][-1]
    out = _flat(fr.outputs[last].numpy())
    if q.get("readout_kind") == "voltage":  # LI/Integrator: its voltage; Affine -> Output: the sum
        scores = out[-1] if kind(graph.nodes[last]) in READOUTS else out.sum(0)
    else:
        scores = out.sum(0)
    res["float"] = {"accuracy": _acc(scores, yy)}
    res["float_vs_emulator"] = agree
    res["note"] = ("float = snn2hw's NIR interpreter at dt = "
                   f"{q['dt']:g} s ({q.get('discretization', 'euler')}); 'float vs emulator' rows: "
                   "float spikes vs the fixed-point emulator's (quantization error); 'agreement' "
                   "rows: emulator vs Lava")
    return res


def simulate_stream(export_dir: Path, q: dict, x: np.ndarray, y: np.ndarray | None, *,
                    backend: str, samples: int, compare: bool, device: str,
                    timeout_s: float = 600.0) -> dict[str, Any]:
    """Time-varying input [N, T, *in_shape] (T = the export's): emulator and/or Lava (a new frame
    every step), with compare all of them (Lava when installed) and the float interpreter."""
    import torch

    from exporters.checks import check_inputs
    from exporters.emulator import Emulator, run_windowed
    from exporters.pipeline import _acc, spike_agreement

    T = int(q["timesteps"])
    if x.shape[1] != T:
        raise SimulationError(f"--input holds {x.shape[1]} steps per sample ([N, T, ...]) but the "
                              f"export runs T = {T}; re-export with --timesteps {x.shape[1]}")
    n = min(samples, len(x))
    flat, yy = check_inputs(x[:n].reshape(n * T, *x.shape[2:]), None, tuple(x.shape[2:]),
                            int(q["input_message_bits"]))
    xs = flat.reshape(n, T, *x.shape[2:])
    yy = None if y is None else np.asarray(y)[:n]
    layers = q["layers"]
    voltage = q.get("readout_kind") == "voltage"
    res: dict[str, Any] = {"samples": n, "net": str(export_dir / "model.net"), "input": "stream"}
    sp = v_emu = None
    if compare or backend == "emulator":
        emu = Emulator(export_dir / "model.net", device=device)
        t0 = time.perf_counter()
        r = run_windowed(emu, torch.as_tensor(xs).transpose(0, 1), T)
        secs = time.perf_counter() - t0
        sp = [s.cpu().numpy() for s in r.spikes]
        v_emu = r.v_last[0].cpu().numpy()
        scores = v_emu if voltage else sp[-1].sum(0).reshape(n, -1)
        res["emulator"] = {"accuracy": _acc(scores, yy), "seconds": secs,
                           "steps_per_s": n * T / secs}
    from exporters.lava import lava_available

    if backend == "lava" or (compare and lava_available()):
        from exporters.lava import run_lava

        L = len(layers)
        lr = run_lava(export_dir / "model.net", xs, timesteps=T, num_layers=L,
                      input_message_bits=int(q["input_message_bits"]), record=True,
                      timeout_s=timeout_s, per_step=True)
        scores = lr.v_readout if voltage else lr.spikes[-1].sum(0).reshape(n, -1)
        res["lava"] = {"accuracy": _acc(scores, yy), "steps_per_s": lr.steps_per_s,
                       "seconds": lr.run_s, "compile_s": lr.compile_s}
        if sp is not None:
            res["agreement"] = spike_agreement(sp, lr.spikes, [lay["name"] for lay in layers])
            res["readout_equal"] = bool(np.array_equal(v_emu, lr.v_readout))
    if compare:
        from exporters.nir_import import read_foreign
        from exporters.nir_sim import simulate as nir_simulate

        graph = read_foreign(export_dir / "model.nir")
        fr = nir_simulate(graph, xs.transpose(1, 0, *range(2, xs.ndim)) / float(q["input_scale"]),
                          float(q["dt"]), discretization=q.get("discretization", "euler"))
        spiking = [k for k, lay in enumerate(layers) if lay["neuron"] != "readout"]
        res["float_vs_emulator"] = spike_agreement(
            [_flat(fr.outputs[layers[k]["sources"][-1]].numpy()) for k in spiking],
            [sp[k].reshape(T, n, -1) for k in spiking], [layers[k]["name"] for k in spiking])
        last = layers[-1]["sources"][-1]
        out = _flat(fr.outputs[last].numpy())
        fs = (out[-1] if kind(graph.nodes[last]) in READOUTS else out.sum(0)) if voltage \
            else out.sum(0)
        res["float"] = {"accuracy": _acc(fs, yy)}
        res["note"] = ("time-varying input, a new frame every step; 'float vs emulator' rows: "
                       "quantization error; 'agreement' rows: emulator vs Lava"
                       + ("" if "lava" in res else " (Lava not installed: no Lava comparison)"))
    return res


def _graph_scores(q: dict, v: np.ndarray, spikes: dict[str, np.ndarray], readout: str, n: int
                  ) -> np.ndarray:
    """Class scores of a graph run: the readout voltage, or the last population's spike counts."""
    if q.get("readout_kind") == "voltage":
        return np.asarray(v).reshape(n, -1)
    return np.asarray(spikes[readout]).sum(0).reshape(n, -1)


def simulate_imported_graph(export_dir: Path, q: dict, x_int: np.ndarray, y: np.ndarray | None, *,
                            backend: str, samples: int, compare: bool, device: str,
                            timeout_s: float) -> dict[str, Any]:
    """Emulator / Lava / float results for an imported branching NIR export (model.graph.h5).

    Static input [N, *in_shape] (fed T steps) or a stream [N, T, *in_shape] (a new frame every
    step), on all three."""
    from exporters.checks import check_inputs
    from exporters.emulator_graph import GraphEmulator, run_samples
    from exporters.graph_file import GRAPH_FILE, read_graph
    from exporters.pipeline import _acc, spike_agreement

    qg = read_graph(export_dir / GRAPH_FILE)
    T, in_shape = qg.timesteps, tuple(qg.in_shape)
    xa = np.asarray(x_int)
    stream = xa.ndim == len(in_shape) + 2 and tuple(xa.shape[2:]) == in_shape
    n = min(samples, len(xa))
    if stream:
        if xa.shape[1] != T:
            raise SimulationError(f"--input holds {xa.shape[1]} steps per sample ([N, T, ...]) but "
                                  f"the export runs T = {T}; re-export with --timesteps "
                                  f"{xa.shape[1]}")
        flat, _ = check_inputs(xa[:n].reshape(n * T, *in_shape), None, in_shape,
                               int(qg.input_message_bits))
        xi = flat.reshape(n, T, *in_shape)
    else:
        xi, _ = check_inputs(xa, None, in_shape, int(qg.input_message_bits))
        xi = xi[:n]
    yy = None if y is None else np.asarray(y)[:n]
    names = [p.pop.name for p in qg.populations]
    ro = qg.readout.pop.name
    res: dict[str, Any] = {"samples": n, "net": str(export_dir / GRAPH_FILE),
                           **({"input": "stream"} if stream else {})}
    emu_sp = v = None
    if compare or backend == "emulator":
        t0 = time.perf_counter()
        v, emu_sp = run_samples(GraphEmulator(qg, device=device), xi)
        secs = time.perf_counter() - t0
        res["emulator"] = {"accuracy": _acc(_graph_scores(q, v, emu_sp, ro, n), yy),
                           "seconds": secs, "steps_per_s": n * qg.latency_steps / secs}
    if compare or backend == "lava":
        from exporters.lava_graph import run_lava_graph

        lr = run_lava_graph(export_dir / GRAPH_FILE, xi, record=compare or
                            q.get("readout_kind") != "voltage", timeout_s=timeout_s)
        res["lava"] = {"accuracy": _acc(_graph_scores(q, lr.v_readout, lr.spikes or {}, ro, n), yy),
                       "steps_per_s": lr.steps_per_s, "seconds": lr.run_s,
                       "compile_s": lr.compile_s, "relay_populations": lr.relays}
        if compare:
            res["agreement"] = spike_agreement([emu_sp[k] for k in names],
                                               [lr.spikes[k] for k in names], names)
            res["readout_equal"] = bool(np.array_equal(v, lr.v_readout))
    if compare:
        from exporters.nir_import import read_foreign
        from exporters.nir_sim import simulate as nir_simulate

        graph = read_foreign(export_dir / "model.nir")
        xf = np.asarray(xi, np.float64) / float(q["input_scale"])
        seq = xf.transpose(1, 0, *range(2, xf.ndim)) if stream else \
            np.broadcast_to(xf[None], (T, *xf.shape))
        fr = nir_simulate(graph, seq, float(q["dt"]), discretization=q.get("discretization", "euler"))
        spiking = [p for p in q["populations"] if p["neuron"] != "readout"]
        res["float_vs_emulator"] = spike_agreement(
            [_flat(fr.outputs[p["name"]].numpy()) for p in spiking],
            [emu_sp[p["name"]].reshape(T, n, -1) for p in spiking], [p["name"] for p in spiking])
        last = q["populations"][-1]
        if last["neuron"] != "readout":  # spiking readout: its spike counts
            fs = _flat(fr.outputs[last["name"]].numpy()).sum(0)
        else:  # LI/Integrator: the last voltage; Affine -> Output: the summed current
            (src,) = [a for a, b in graph.edges if b == last["name"]] if kind(
                graph.nodes[last["name"]]) == "Output" else [last["name"]]
            out = _flat(fr.outputs[src].numpy())
            fs = out[-1] if kind(graph.nodes[src]) in READOUTS else out.sum(0)
        res["float"] = {"accuracy": _acc(fs, yy)}
        res["note"] = ("float = snn2hw's NIR interpreter at dt = "
                       f"{q['dt']:g} s ({q.get('discretization', 'euler')}); graph format "
                       "(branches/fan-in); 'float vs emulator' rows: quantization error; "
                       "'agreement' rows: emulator vs Lava")
    return res
