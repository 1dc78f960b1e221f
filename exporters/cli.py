"""`snn2hw export` and `snn2hw simulate`: thin adapters over exporters.pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def _rate(steps_per_s: float) -> str:
    """Steps/s for the table: Lava on a large network runs < 1 step/s, which ':.0f' shows as 0."""
    return f"{steps_per_s:.0f}" if steps_per_s >= 10 else f"{steps_per_s:.2g}"


def register(app: typer.Typer) -> None:
    """Add the export and simulate commands to the snn2hw app."""
    from snn2hw.cli import _table, user_errors

    @app.command()
    @user_errors
    def export(
        run_dir: Path | None = typer.Argument(None, help="Run directory (default: the latest run under --runs-dir), or a NIR file (.nir) written by any tool (snnTorch, SpikingJelly, sinabs, Norse, snn2hw) to lower to Loihi."),
        target: str = typer.Option("loihi", "--target", help="loihi (NIR + netx + quantization + resources), nir, onnx (the teacher)."),
        out: Path | None = typer.Option(None, "--out", help="Output folder (default: RUN_DIR/export)."),
        qat_epochs: int = typer.Option(0, "--qat-epochs", help="Quantization-aware fine-tune epochs through the Loihi weight grid (0 = post-training quantization only)."),
        runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where to look for the latest run."),
        dt: float | None = typer.Option(None, "--dt", help="NIR file: the time step in seconds the writing library assumes (needed unless the file has snn2hw metadata; snnTorch 1e-4, SpikingJelly its export dt, sinabs 1, Norse dt**2; see docs/nir_peers.md)."),
        discretization: str | None = typer.Option(None, "--discretization", help="NIR file: euler (v += dt/tau (v_leak - v + r x); snnTorch, SpikingJelly, Norse; default) or exact (decay exp(-dt/tau); sinabs LIF)."),
        timesteps: int | None = typer.Option(None, "--timesteps", help="NIR file: steps per sample T the Loihi run lasts (default 10)."),
        fix_norse: bool = typer.Option(False, "--fix-norse", help="NIR file from Norse 1.1's to_nir: undo its bugs (tau written dt times too small, CubaLIF w_in missing); give --dt = the dt passed to to_nir."),
        nir_dt: float | None = typer.Option(None, "--nir-dt", help="--target nir: write the graph at this nominal step (time constants rescaled, same dynamics) for peers that assume one, e.g. 1e-4 for snnTorch's import."),
        input_scale: float | None = typer.Option(None, "--input-scale", help="NIR file: integer input levels per unit input (default 1: binary spikes; e.g. 16 for inputs k/16)."),
    ) -> None:
        """Export a distilled student to NIR / Loihi (lava-dl netx), or its teacher to ONNX; or lower a NIR file to Loihi."""
        from exporters.pipeline import export as run_export

        imp = None
        if fix_norse or any(v is not None for v in (dt, discretization, timesteps, input_scale)):
            from exporters.nir_import import ImportOptions

            imp = ImportOptions(dt=dt, discretization=discretization or "euler",
                                timesteps=10 if timesteps is None else timesteps,
                                input_scale=1.0 if input_scale is None else input_scale,
                                fix_norse=fix_norse)
        r = run_export(run_dir, target=target, out=out, qat_epochs=qat_epochs, runs_dir=runs_dir,
                       nir_import=imp, nir_dt=nir_dt)
        rows = [("written to", str(r.out_dir)), ("files", ", ".join(r.files)),
                ("time", f"{r.seconds:.1f} s")]
        rows += [(k.replace("_", " "), str(v)) for k, v in r.summary.items()]
        _table(f"snn2hw export --target {target}", rows)

    @app.command()
    @user_errors
    def simulate(
        path: Path | None = typer.Argument(None, help="Export directory or a .net file (default: the latest run's export/)."),
        backend: str = typer.Option("emulator", "--backend", help="emulator (bit-exact PyTorch) or lava (Lava fixed_pt, slow)."),
        samples: int | None = typer.Option(None, "--samples", help="Number of test samples (default 100; with Lava, as many as fit 2.25e8 weight-steps, a few minutes, at least 1)."),
        compare: bool = typer.Option(False, "--compare", help="Run float student, emulator and Lava; report per-layer spike agreement."),
        device: str = typer.Option("cpu", "--device", help="Emulator device: cpu or cuda."),
        timeout: float = typer.Option(600.0, "--timeout", help="Seconds before a Lava run is stopped."),
        json_out: Path | None = typer.Option(None, "--json", help="Also write the results as JSON here."),
        inputs: Path | None = typer.Option(None, "--input", help="For any netx file (.npy): integer inputs [N, *in_shape] fed for --timesteps steps, streams [N, S, *in_shape], one stream [S, *in_shape], or an event recording (structured .npy with x, y, t, p, or N-MNIST .bs2; binned into --timesteps steps)."),
        labels: Path | None = typer.Option(None, "--labels", help="For --input: labels [N] (.npy); accuracy by last-layer spike count."),
        timesteps: int | None = typer.Option(None, "--timesteps", help="For --input: steps per static sample, or time bins of an event recording."),
        message_bits: int | None = typer.Option(None, "--input-message-bits", help="For --input: 0 = binary spikes, >0 = graded integer input (default: the file's own, else 0)."),
        reset_interval: int | None = typer.Option(None, "--reset-interval", help="netx reset schedule: reset layer k when t % interval == (offset + 1 + k) % interval; 0 = never (default: the file's own; lava-dl files have none)."),
        reset_offset: int | None = typer.Option(None, "--reset-offset", help="Phase of the reset schedule (default: the file's own, else 0)."),
        num_layers: int | None = typer.Option(None, "--num-layers", help="Build only the first N layer groups of the file, as lava-dl netx's num_layers does."),
        steps: int | None = typer.Option(None, "--steps", help="Steps each sample runs (default: input steps + layers + largest delays)."),
        runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where to look for the latest run."),
    ) -> None:
        """Run test samples on the emulator and/or Lava and print accuracy (and agreement)."""
        from exporters.pipeline import simulate as run_sim

        if samples is not None and samples < 1:
            from snn2hw.errors import ConfigError

            raise ConfigError("--samples must be at least 1")
        from exporters.checks import check_option
        from snn2hw.train import resolve_device

        check_option(timeout, "--timeout", minimum=1e-3)
        for value, name, low in ((message_bits, "--input-message-bits", 0),
                                 (reset_interval, "--reset-interval", 0),
                                 (reset_offset, "--reset-offset", 0),
                                 (num_layers, "--num-layers", 1), (steps, "--steps", 1)):
            if value is not None:
                check_option(value, name, minimum=low)
        if message_bits is not None and message_bits > 24:
            from snn2hw.errors import ConfigError

            raise ConfigError(f"--input-message-bits is at most 24 (Loihi's graded spikes; got "
                              f"{message_bits})")
        if timesteps is not None:
            check_option(timesteps, "--timesteps", minimum=1)
        if labels is not None and inputs is None:
            from snn2hw.errors import ConfigError

            raise ConfigError("--labels needs --input (the samples they label)")
        resolve_device(device)
        if path is None:
            from snn2hw.runs import latest_run

            path = latest_run(runs_dir).path / "export"
        x_int = y = None
        if inputs is not None:
            from exporters.netx_streams import read_input_file
            from exporters.pipeline import read_npy

            x_int = read_input_file(inputs)
            y = read_npy(labels, "--labels") if labels is not None else None
        why = None
        if samples is None:
            from exporters.lava_budget import default_samples

            samples, why = default_samples(path, compare or backend == "lava")
        r = run_sim(path, backend=backend, samples=samples, compare=compare, device=device,
                    timeout_s=timeout, x_int=x_int, y=y, timesteps=timesteps,
                    input_message_bits=message_bits, reset_interval=reset_interval,
                    reset_offset=reset_offset, num_layers=num_layers, steps=steps)
        rows = [("samples", why if why and r["samples"] == samples else str(r["samples"]))]
        for key in ("layers", "steps_per_sample", "reset"):
            if key in r:
                rows.append((key.replace("_", " "), str(r[key])))
        for key in ("float", "emulator", "lava"):
            if key in r:
                extra = f"  ({_rate(r[key]['steps_per_s'])} steps/s)" if "steps_per_s" in r[key] else ""
                rows.append((f"{key} accuracy", _pct(r[key]["accuracy"]) + extra))
        for a in r.get("float_vs_emulator", []):
            first = "-" if a["first_mismatch_step"] is None else str(a["first_mismatch_step"])
            rows.append((f"float vs emulator {a['layer']}",
                         f"{100 * a['identical_fraction']:.2f}% identical trains; first mismatch step {first}"))
        for a in r.get("agreement", []):
            first = "-" if a["first_mismatch_step"] is None else str(a["first_mismatch_step"])
            rows.append((f"agreement {a['layer']}",
                         f"{100 * a['identical_fraction']:.2f}% identical trains; first mismatch step {first}"))
        if "note" in r:
            rows.append(("note", r["note"]))
        if "readout_equal" in r:
            rows.append(("readout voltages equal", str(r["readout_equal"])))
        _table(f"snn2hw simulate {path}", rows)
        if json_out is not None:
            from snn2hw.runs import atomic_write_text

            atomic_write_text(json_out, json.dumps(r, indent=2))
