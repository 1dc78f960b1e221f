"""The jobs behind `snn2hw export` and `snn2hw simulate`: typed functions the CLI calls."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exporters.errors import ExportError, SimulationError
from snn2hw.errors import Snn2hwError
from snn2hw.runs import RunDir, atomic_write_text, latest_run, open_run

EXPORT_FILES = ("model.nir", "model.net", "quantization.json")


def _resolve_run(run_dir: str | Path | None, runs_dir: str | Path = "runs") -> RunDir:
    return latest_run(runs_dir) if run_dir is None else open_run(run_dir)


def input_scale_for(dataset: str) -> float:
    """Integer levels per unit input: digits pixels are k/16 exactly; images use 8 bits."""
    return 16.0 if dataset == "digits" else 255.0


def input_range_for(dataset: str, bundle=None) -> tuple[float, float]:
    """(input scale, input max): images in [0, 1] scaled (input_scale_for); event frames hold
    integer event counts, sent unscaled up to the largest count seen in training (<= 255)."""
    from exporters.events_export import EVENT_DATASETS, event_input_range

    if dataset in EVENT_DATASETS and bundle is not None:
        return event_input_range(bundle)
    return input_scale_for(dataset), 1.0


@dataclass
class ExportResult:
    out_dir: Path
    files: list[str]
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


def _run_dataset(run: RunDir):
    from snn2hw.config import config_from_dict, load_yaml
    from snn2hw.pipeline import load_data

    cfg = config_from_dict(load_yaml(run.config_path))
    return cfg, load_data(cfg)


def export(run_dir: str | Path | None = None, *, target: str = "loihi",
           out: str | Path | None = None, qat_epochs: int = 0,
           runs_dir: str | Path = "runs", nir_import=None,
           nir_dt: float | None = None) -> ExportResult:
    """Export a run's student (nir, loihi) or teacher (onnx) into `out` (default RUN_DIR/export).

    `run_dir` may also be a NIR file written by any tool (exporters/nir_import.py; `nir_import`
    holds its ImportOptions: dt, discretization, T, input scale); it goes to --target loihi only.
    The files are written into a temp folder beside `out` and moved in only when all of them are
    done, so a failure (a bad checkpoint, a full disk) leaves `out` as it was.
    """
    from exporters.nir_pipeline import export_nir, is_nir_file
    from snn2hw.fileio import staged_dir

    if is_nir_file(run_dir):
        from exporters.nir_import import ImportOptions

        if target != "loihi":
            raise ExportError(f"a NIR file exports to --target loihi only (got {target!r}); it "
                              "already is the NIR graph")
        if qat_epochs:
            raise ExportError("--qat-epochs needs a training run; a NIR file has no training data")
        return export_nir(run_dir, out=out, opts=nir_import or ImportOptions())
    if nir_dt is not None and target != "nir":
        raise ExportError("--nir-dt applies to --target nir only (it re-times the float NIR graph "
                          "for peers that assume their own dt)")
    if nir_import is not None:
        raise ExportError("--dt, --discretization, --timesteps, --input-scale and --fix-norse "
                          "apply to a NIR file argument only (snn2hw runs know their own)")

    if target not in ("loihi", "nir", "onnx"):
        raise ExportError(f"unknown target {target!r}; use --target loihi, nir or onnx")
    if qat_epochs < 0:
        raise ExportError("--qat-epochs must be 0 (post-training quantization) or more")
    t0 = time.perf_counter()
    run = _resolve_run(run_dir, runs_dir)
    final = Path(out) if out is not None else run.path / "export"
    try:
        with staged_dir(final, what="export folder", option="--out") as stage:
            r = _export_into(run, stage, final, target, qat_epochs, nir_dt)
    except Snn2hwError as e:
        if run_dir is None:  # say which run "latest" picked
            raise type(e)(f"latest run under {runs_dir}: {run.path}: {e}") from None
        raise
    r.out_dir, r.seconds = final, time.perf_counter() - t0
    return r


def _export_into(run: RunDir, out_dir: Path, final_dir: Path, target: str,
                 qat_epochs: int, nir_dt: float | None = None) -> ExportResult:
    """The export's files, written into `out_dir` (a staging folder that becomes `final_dir`)."""
    t0 = time.perf_counter()
    from snn2hw.pipeline import load_model

    files: list[str] = []
    summary: dict[str, Any] = {}
    if target == "onnx":
        from exporters.onnx import export_onnx

        cfg, bundle = _run_dataset(run)
        teacher, _, _ = load_model(run.teacher_ckpt, "teacher", bundle)
        summary = export_onnx(teacher, tuple(bundle.in_shape), out_dir / "teacher.onnx")
        files.append("teacher.onnx")
        return ExportResult(out_dir, files, time.perf_counter() - t0, summary)

    from exporters.nir import student_to_nir, write_nir

    student, _, _ = load_model(run.student_ckpt, "student")
    from exporters.nir_graph import is_graph_student, student_to_nir_graph

    if is_graph_student(student):  # residual student: NIR graph + the graph artefact
        g = student_to_nir_graph(student)
        if nir_dt is not None:
            from exporters.nir_import import retime

            g = retime(g, nir_dt)
        write_nir(out_dir / "model.nir", g)
        files.append("model.nir")
        if target == "nir":
            return ExportResult(out_dir, files, time.perf_counter() - t0)
        from exporters.graph_pipeline import export_graph

        return export_graph(run, student, out_dir, files, t0, qat_epochs)
    graph = student_to_nir(student)
    if target == "nir" and nir_dt is not None:  # peers that assume their own dt (docs/nir_peers.md)
        from exporters.nir_import import retime

        write_nir(out_dir / "model.nir", retime(graph, nir_dt))
        return ExportResult(out_dir, ["model.nir"], time.perf_counter() - t0, {"nir_dt": nir_dt})
    write_nir(out_dir / "model.nir", graph)
    files.append("model.nir")
    if target == "nir":
        return ExportResult(out_dir, files, time.perf_counter() - t0)

    from exporters.checks import relative_run_dir
    from exporters.netx import write_netx
    from exporters.quantize import quantize
    from exporters.resources import load_target, markdown, resources

    cfg, bundle = _run_dataset(run)
    scale, in_max = input_range_for(cfg.data.dataset, bundle)
    q = quantize(graph, input_scale=scale, input_max=in_max)
    student_ckpt = run.student_ckpt
    qat_info: dict[str, Any] = {}
    if qat_epochs:
        from exporters.qat import finetune
        from snn2hw.runs import load_checkpoint, save_checkpoint

        qat_info = finetune(student, q, bundle.train, epochs=qat_epochs, seed=cfg.train.seed)
        ck = load_checkpoint(run.student_ckpt)
        ck["state_dict"] = student.state_dict()
        ck["qat"] = qat_info
        student_ckpt = out_dir / "student_qat.pt"
        save_checkpoint(student_ckpt, ck)
        files.append("student_qat.pt")
        graph = student_to_nir(student)
        write_nir(out_dir / "model.nir", graph)
        q = quantize(graph, input_scale=scale, input_max=in_max)
    write_netx(out_dir / "model.net", q)
    rep = q.report()
    # Paths relative to the export folder (it moves with its run), plus absolute copies.
    rep["run_dir"] = relative_run_dir(run.path, out_dir)
    rep["run_dir_absolute"] = str(run.path.resolve())
    rep["student_checkpoint"] = relative_run_dir(student_ckpt, out_dir)
    rep["student_checkpoint_absolute"] = str(
        (final_dir / "student_qat.pt").resolve() if qat_epochs else Path(student_ckpt).resolve())
    rep.update(qat_info)
    rep["dataset"] = cfg.data.dataset
    atomic_write_text(out_dir / "quantization.json", json.dumps(rep, indent=2))
    reps = [resources(q, load_target(n)) for n in ("loihi1", "loihi2_assumed")]
    atomic_write_text(out_dir / "resources.json", json.dumps(reps, indent=2))
    atomic_write_text(out_dir / "summary.md", markdown(reps, q))
    files += ["model.net", "quantization.json", "resources.json", "summary.md"]
    summary = {"neurons": reps[0]["neurons"], "synapses": reps[0]["synapses"],
               "cores_loihi1": reps[0]["cores"], "cores_loihi2_assumed": reps[1]["cores"],
               "latency_steps": q.latency_steps}
    return ExportResult(out_dir, files, time.perf_counter() - t0, summary)


@dataclass
class Target:
    """What `simulate` runs: the netx file, its run info, and (for export dirs) the float model."""

    net: Path
    info: dict
    export_dir: Path | None


def export_source(path: str | Path) -> tuple[Path | None, Path]:
    """(export folder, its run folder) for an export folder (netx or graph), else (None, path)."""
    p = Path(path)
    from exporters.nir_pipeline import imported_export

    if imported_export(p) is not None:
        raise SimulationError(
            f"{p} was exported from a NIR file, not from a training run, so there is no test set "
            "or float student behind it; profile it on your inputs with `snn2hw profile DIR "
            "--input X.npy` (Python: profilers.imported.profile_imported)")
    if (p / "model.net").is_file():
        return p, Path(open_target(p).info["quantization"]["run_dir"])
    from exporters.graph_pipeline import is_graph_export, read_graph_report

    if is_graph_export(p):
        return p, Path(read_graph_report(p)["run_dir"])
    return None, p


def open_target(path: str | Path, num_layers: int | None = None) -> Target:
    """An export directory (with model.net + quantization.json) or a bare .net file (its first
    num_layers layer groups only, when given)."""
    p = Path(path)
    if p.is_dir():
        missing = [f for f in EXPORT_FILES if not (p / f).is_file()]
        if missing:
            raise SimulationError(
                f"{p} is not a complete export directory (missing {', '.join(missing)}); run "
                "`snn2hw export RUN_DIR --target loihi --out DIR` again"
            )
        try:
            q = json.loads((p / "quantization.json").read_bytes().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise SimulationError(f"{p / 'quantization.json'} is corrupt ({e}); re-run "
                                  "`snn2hw export`") from None
        from exporters.checks import check_quantization, resolve_run
        from exporters.netx import read_netx

        q = resolve_run(check_quantization(q, p / "quantization.json"), p)

        net = read_netx(p / "model.net", num_layers=num_layers)
        return Target(p / "model.net", {**net.info, "quantization": q}, p)
    from exporters.netx import read_netx

    net = read_netx(p, num_layers=num_layers)
    return Target(p, net.info, None)


def _test_data(t: Target, samples: int):
    q = t.info["quantization"]
    run = open_run(q["run_dir"])
    _, bundle = _run_dataset(run)
    xs, ys = [], []
    for i in range(min(samples, len(bundle.test))):
        x, y = bundle.test[i]
        xs.append(torch.as_tensor(x))
        ys.append(int(y))
    return run, torch.stack(xs), np.array(ys)


def read_npy(p: str | Path, option: str) -> np.ndarray:
    """One array from a .npy file; errors name the option and the file."""
    try:
        a = np.load(p, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - numpy raises OSError, ValueError, EOFError...
        raise SimulationError(f"cannot read {option} {p} ({type(e).__name__}: {e}); give a "
                              ".npy file written by numpy.save (inputs [N, *in_shape] "
                              "integers, labels [N])") from None
    if not isinstance(a, np.ndarray):  # an .npz archive
        raise SimulationError(f"{option} {p} is an .npz archive; give one array as .npy "
                              "(numpy.save)")
    return a


def load_inputs(path: str | Path, labels: str | Path | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Integer input spikes [N, *in_shape] from a .npy file (and labels [N] if given)."""
    return read_npy(path, "--input"), (read_npy(labels, "--labels") if labels is not None else None)


def encode_inputs(x: np.ndarray, info: dict) -> np.ndarray:
    """Float inputs [N, *in_shape] -> the integer graded spikes the exported network takes."""
    return np.clip(np.round(np.asarray(x, np.float64) * float(info["input_scale"])), 0,
                   2 ** info["input_message_bits"] - 1).astype(np.int64)


def simulate(path: str | Path, *, backend: str = "emulator", samples: int = 100,
             compare: bool = False, device: str = "cpu", timeout_s: float = 600.0,
             x: np.ndarray | None = None, y: np.ndarray | None = None,
             x_int: np.ndarray | None = None, timesteps: int | None = None,
             input_message_bits: int | None = None, reset_interval: int | None = None,
             reset_offset: int | None = None, num_layers: int | None = None,
             steps: int | None = None) -> dict[str, Any]:
    """Run samples on the emulator and/or Lava; with compare, also the float student.

    An export directory brings its test data, T and input encoding, and runs windowed under its
    own reset schedule. Any other netx file (or streams, events, --num-layers, a reset or steps
    override) runs through exporters.netx_streams with Lava's semantics: `x_int` static
    [N, *in] (fed `timesteps` steps), one stream [S, *in], streams [N, S, *in] or events.
    """
    from exporters.emulator import Emulator, run_samples
    from exporters.graph_pipeline import is_graph_export, simulate_graph

    if backend not in ("emulator", "lava"):
        raise SimulationError(f"unknown backend {backend!r}; use --backend emulator or lava")
    from exporters.nir_pipeline import imported_export, simulate_imported

    if is_graph_export(path) and imported_export(path) is None:  # imported graphs take --input
        if x_int is not None or x is not None:
            raise SimulationError(f"{path} is a residual (graph) export: it simulates on its run's "
                                  "test samples; drop --input/--labels (they are for netx files)")
        return simulate_graph(path, backend=backend, samples=samples, compare=compare,
                              device=device, timeout_s=timeout_s)
    q_imp = imported_export(path)
    if q_imp is not None:
        return simulate_imported(path, q_imp, backend=backend, samples=samples, compare=compare,
                                 device=device, timeout_s=timeout_s,
                                 x_int=x_int if x_int is not None else x, y=y,
                                 timesteps=timesteps, input_message_bits=input_message_bits)
    t = open_target(path, num_layers)
    info = dict(t.info)
    from exporters.netx import read_netx

    in_shape = tuple(read_netx(t.net, num_layers=num_layers).in_shape)
    overrides = any(o is not None for o in (reset_interval, reset_offset, num_layers, steps))
    from exporters.events_export import is_sequence

    # frames [N, T, *in] for snn2hw's own event exports keep their windowed path (_simulate_frames)
    own_frames = (x_int is not None and bool(info.get("timesteps"))
                  and np.asarray(x_int).dtype.names is None and is_sequence(x_int, in_shape))
    odd_input = x_int is not None and not own_frames and (
        np.asarray(x_int).dtype.names is not None or np.asarray(x_int).ndim != len(in_shape) + 1)
    if not info.get("timesteps") or overrides or odd_input:
        return _simulate_streams(t, info, in_shape, backend=backend, samples=samples,
                                 compare=compare, device=device, timeout_s=timeout_s, x=x, y=y,
                                 x_int=x_int, timesteps=timesteps,
                                 input_message_bits=input_message_bits,
                                 reset_interval=reset_interval, reset_offset=reset_offset,
                                 num_layers=num_layers, steps=steps)
    T = int(info["timesteps"])  # our own export, static samples: windowed, its own schedule
    run = None
    if x_int is None:
        if x is None:
            run, xf, y = _test_data(t, samples)
            x = xf.numpy()
        x_int = encode_inputs(x, info)
    from exporters.checks import check_inputs
    from exporters.events_export import is_sequence
    from exporters.netx import read_netx

    if is_sequence(x_int, tuple(read_netx(t.net).in_shape)):  # event frames: one per step
        return _simulate_frames(t, info, x_int[:samples], x, y, backend=backend, compare=compare,
                                device=device, timeout_s=timeout_s, run=run)

    x_int, y = check_inputs(x_int, y, tuple(read_netx(t.net).in_shape),
                            int(info["input_message_bits"]))
    x_int = x_int[:samples]
    x = None if x is None else np.asarray(x)[:samples]
    y = None if y is None else np.asarray(y)[:samples]
    res: dict[str, Any] = {"samples": len(x_int), "net": str(t.net)}
    emu_sp = None
    if compare or backend == "emulator":
        emu = Emulator(t.net, device=device, input_message_bits=int(info["input_message_bits"]),
                       reset_interval=int(info["reset_interval"]),
                       reset_offset=int(info["reset_offset"]))
        t0 = time.perf_counter()
        v, emu_sp = run_samples(emu, x_int, T)
        dt = time.perf_counter() - t0
        voltage = info.get("readout") == "voltage"
        res["emulator"] = {"accuracy": _acc(v if voltage else emu_sp[-1].sum(0), y),
                           "steps_per_s": len(x_int) * (T + len(emu.net.layers)) / dt,
                           "seconds": dt}
    if compare or backend == "lava":
        from exporters.lava import run_lava

        L = int(info["num_layers"])
        lr = run_lava(t.net, x_int, timesteps=T, num_layers=L,
                      input_message_bits=int(info["input_message_bits"]),
                      record=compare or info.get("readout") != "voltage",
                      timeout_s=timeout_s)
        scores = lr.v_readout if info.get("readout") == "voltage" else lr.spikes[-1].sum(0)
        res["lava"] = {"accuracy": _acc(scores, y), "steps_per_s": lr.steps_per_s,
                       "seconds": lr.run_s, "compile_s": lr.compile_s}
        if compare:
            res["agreement"] = spike_agreement(emu_sp, lr.spikes, info.get("layer_names"))
            res["readout_equal"] = bool(np.array_equal(v, lr.v_readout))
    if compare and t.export_dir is not None and y is not None:
        from snn2hw.pipeline import load_model

        qinfo = info["quantization"]
        run = run or open_run(qinfo["run_dir"])
        student, _, _ = load_model(qinfo.get("student_checkpoint", run.student_ckpt), "student")
        with torch.no_grad():
            logits = student.eval()(torch.as_tensor(np.asarray(x), dtype=torch.float32))
        res["float"] = {"accuracy": _acc(logits.numpy(), y)}
    return res


def _simulate_frames(t: Target, info: dict, x_int: np.ndarray, x, y, *, backend: str,
                     compare: bool, device: str, timeout_s: float, run=None) -> dict[str, Any]:
    """simulate() for event students: frames [N, T, *in_shape], a new one every step."""
    from exporters.events_export import run_sequence_both

    y = None if y is None else np.asarray(y)[:len(x_int)]
    res = run_sequence_both(t.net, x_int, lava=compare or backend == "lava",
                            emulator=compare or backend == "emulator", device=device,
                            timeout_s=timeout_s, y=y)
    if compare and t.export_dir is not None and y is not None and x is not None:
        from snn2hw.pipeline import load_model

        qinfo = info["quantization"]
        run = run or open_run(qinfo["run_dir"])
        student, _, _ = load_model(qinfo.get("student_checkpoint", run.student_ckpt), "student")
        with torch.no_grad():
            xs = torch.as_tensor(np.asarray(x)[:len(x_int)], dtype=torch.float32)
            logits = student.eval()(xs)
        res["float"] = {"accuracy": _acc(logits.numpy(), y)}
    return res


def _simulate_streams(t: Target, info: dict, in_shape: tuple[int, ...], *, backend: str,
                      samples: int, compare: bool, device: str, timeout_s: float, x, y, x_int,
                      timesteps, input_message_bits, reset_interval, reset_offset, num_layers,
                      steps) -> dict[str, Any]:
    """Any netx file with Lava's semantics (exporters.netx_streams); test data for export dirs."""
    from exporters.netx_streams import prepare_inputs, simulate_netx

    bits = int(info.get("input_message_bits", 0)) if input_message_bits is None \
        else input_message_bits
    if x_int is None:
        if t.export_dir is None:
            raise SimulationError(
                f"{t.net} is not from `snn2hw export`: give --input X.npy (integer inputs "
                "[N, *in_shape] with --timesteps T, streams [N, S, *in_shape], one stream "
                "[S, *in_shape], or an event recording) and --labels Y.npy for accuracy")
        if x is None:
            _, xf, y = _test_data(t, samples)
            x = xf.numpy()
        x_int = encode_inputs(x, info)
    x_int = np.asarray(x_int)
    if timesteps is None and info.get("timesteps") and x_int.dtype.names is None \
            and x_int.ndim == len(in_shape) + 1:
        timesteps = int(info["timesteps"])  # our exports: [N, *in] are static samples of T steps
    inputs = prepare_inputs(x_int, y, in_shape, timesteps, bits)
    res = simulate_netx(t.net, inputs, backend=backend, compare=compare, samples=samples,
                        input_message_bits=bits, reset_interval=reset_interval,
                        reset_offset=reset_offset, num_layers=num_layers, period=steps,
                        device=device, timeout_s=timeout_s)
    if compare and t.export_dir is not None:
        res["note"] = "; ".join(filter(None, [res.get("note"), "float student not run with "
                                              "stream/override options (emulator vs Lava only)"]))
    return res


def _acc(scores: np.ndarray, y: np.ndarray | None) -> float | None:
    return None if y is None else float((np.asarray(scores).argmax(1) == y).mean())


def spike_agreement(a: list[np.ndarray], b: list[np.ndarray], names=None) -> list[dict[str, Any]]:
    """Per layer: fraction of identical spike trains (neuron x sample) and first mismatching step."""
    rows = []
    for k, (sa, sb) in enumerate(zip(a, b)):
        sa = sa.reshape(sa.shape[0], sa.shape[1], -1)
        sb = sb.reshape(sb.shape[0], sb.shape[1], -1)
        if sa.shape != sb.shape:
            raise SimulationError(f"layer {k}: emulator spikes {sa.shape} vs Lava {sb.shape}")
        diff = sa != sb
        same = ~diff.any(0)
        steps = np.nonzero(diff.any((1, 2)))[0]
        rows.append({"layer": names[k] if names else str(k), "trains": int(same.size),
                     "identical_fraction": float(same.mean()),
                     "first_mismatch_step": int(steps[0]) if len(steps) else None,
                     "spikes": int(sa.sum())})
    return rows
