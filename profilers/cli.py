"""`snn2hw profile`: a thin adapter over profilers.profile.profile_run and profilers.report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def parse_timesteps(text: str | None) -> tuple[int, ...]:
    """'1,2,4,8' -> (1, 2, 4, 8); errors name the option."""
    from profilers.errors import ProfileError

    if not text:
        return ()
    try:
        vals = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ProfileError(
            f"--timesteps takes a comma-separated list of integers like 1,2,4,8 (got {text!r})"
        ) from None
    if not vals or min(vals) < 1:
        raise ProfileError(f"--timesteps values must be integers >= 1 (got {text!r})")
    return vals


def _profile_imported(export_dir: Path, q: dict, inputs: Path | None, out: Path | None,
                      samples: int, cost_table) -> None:
    """profile of an imported NIR export: emulator spikes on --input, report.{json,md}."""
    from exporters.pipeline import load_inputs
    from profilers.imported import profile_imported, require_input, write_imported_report
    from snn2hw.cli import _table
    from snn2hw.fileio import staged_dir

    x = require_input(export_dir, None if inputs is None else load_inputs(inputs, None)[0])
    r = profile_imported(export_dir, q, x[:samples], tuple(cost_table or ()))
    out_dir = Path(out) if out is not None else export_dir / "profile"
    with staged_dir(out_dir, what="report folder", option="--out") as stage:
        write_imported_report(r, stage)
    rows = [(lay["layer"], f"SynOps {lay['synops']:.4g}, spikes {lay['spikes']:.4g}, rate "
             f"{lay['firing_rate']:.4f}") for lay in r["layers"]]
    rows += [(f"energy {k}", f"{1e9 * v:.4g} nJ/sample") for k, v in r["totals"]["energy_j"].items()]
    rows.append(("report", str(out_dir / "report.md")))
    _table(f"snn2hw profile {export_dir} ({r['samples']} samples, T={r['timesteps']})", rows)


def print_summary(r: dict[str, Any], paths: dict[str, Path]) -> None:
    """One screen: SNN vs ANN ops, and energy ratio per cost table with source and status."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from profilers.report import (
        ENERGY_DEFINITIONS,
        energy_str,
        paper_ratio,
        ratio_str,
        si,
        status_label,
    )

    con = Console()
    t = r["totals"]
    s = r["student"]
    ops = Table(title=f"snn2hw profile: {r['run_dir']} ({r['samples']} samples, T={r['timesteps']})",
                show_header=False)
    ops.add_row("spikes counted in", r.get("activity_source", "float student"))
    ops.add_row("student accuracy (these samples)", f"{100 * s['accuracy']:.2f}%")
    ops.add_row("mean firing rate", f"{t['firing_rate']:.3f}")
    ops.add_row("SNN SynOps / sample", si(t["synops"]))
    ops.add_row(f"SNN first-layer MACs ({r['first_layer_policy']})", si(t["macs"]))
    ops.add_row("same-architecture ANN MACs", si(t["same_arch_ann_macs"]))
    if r["teacher"]:
        ops.add_row(f"teacher ANN ({r['teacher']['arch']}) MACs", si(r["teacher"]["macs"]))
    con.print(ops)
    en = Table(title="Estimated energy per sample (ANN = same architecture; "
                     "ratio > 1: SNN cheaper)")
    for col in ("table", "status", "SNN", "ANN", "ANN/SNN", "teacher", "teacher/SNN"):
        en.add_column(col, no_wrap=True)
    for e in r["energy"]:
        en.add_row(e["table"], status_label(e), energy_str(e["snn_pj"]),
                   energy_str(e["same_arch_ann_pj"]), ratio_str(e["same_arch_ann_over_snn"]),
                   energy_str(e.get("teacher_ann_pj")), ratio_str(e.get("teacher_over_snn")))
    con.print(en)
    for e in r["energy"]:
        ann = "" if e["ann_priced_with"] == e["table"] else f"; ANN priced with {e['ann_priced_with']}"
        con.print(f"[bold]{e['table']}[/]: {escape(status_label(e))}{escape(ann)}",
                  highlight=False)
        con.print(f"  source: {escape(e['source'])}", overflow="ellipsis", no_wrap=True,
                  highlight=False)
    paper = paper_ratio(r)
    if paper is not None:
        con.print(f"paper-style ratio (45nm compute, MACs and SynOps only): {paper:.2f}x",
                  highlight=False)
    con.print(ENERGY_DEFINITIONS[0], ENERGY_DEFINITIONS[2], highlight=False)
    con.print(f"Report: {paths['html']} (also report.md, report.json)")


def register(app: typer.Typer) -> None:
    """Add `snn2hw profile` to the snn2hw app."""
    from snn2hw.cli import user_errors

    @app.command()
    @user_errors
    def profile(
        run_dir: Path | None = typer.Argument(None, help="Run folder with a student.pt (default: the latest run under --runs-dir), or an export folder (model.net): then the spikes are counted in the bit-exact Loihi emulator."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Report folder (default: RUN_DIR/profile)."),
        samples: int = typer.Option(256, "--samples", "-n", help="Test samples to record (the first N of the test split)."),
        timesteps: str | None = typer.Option(None, "--timesteps", "-T", help="Also measure accuracy at these time steps, e.g. 1,2,4,8."),
        cost_table: list[Path] | None = typer.Option(None, "--cost-table", help="Extra YAML cost table file (repeatable; schema: profilers/cost_tables.yaml)."),
        first_layer: str = typer.Option("auto", "--first-layer", help="Analog first-layer MACs: auto (once if the input is constant over time), every-step, once."),
        runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where to look for the latest run."),
        device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N."),
        inputs: Path | None = typer.Option(None, "--input", help="Export of a NIR file (no test set): inputs [N, *in_shape] (.npy) whose spikes are counted in the emulator."),
    ) -> None:
        """Firing rates, exact SynOps, ANN MACs and energy of a run's student, as a report."""
        from profilers.profile import ProfileOptions, profile_run
        from profilers.report import write_report
        from snn2hw.runs import latest_run

        target = run_dir if run_dir is not None else latest_run(runs_dir).path
        from exporters.nir_pipeline import imported_export

        q_imp = imported_export(target)
        if q_imp is not None:
            _profile_imported(Path(target), q_imp, inputs, out, samples, cost_table)
            return
        if inputs is not None:
            from snn2hw.errors import ConfigError

            raise ConfigError("--input is for exports of NIR files only; a run or its export "
                              "profiles its own test set (--samples N)")
        from exporters.pipeline import export_source

        export_dir, target = export_source(target)  # an export folder: profile its network
        opts = ProfileOptions(samples=samples, timesteps=parse_timesteps(timesteps),
                              cost_tables=tuple(cost_table or ()), first_layer=first_layer,
                              device=device, export_dir=export_dir)  # type: ignore[arg-type]
        report = profile_run(target, opts)
        default_out = (export_dir if export_dir is not None else Path(target)) / "profile"
        from snn2hw.fileio import staged_dir

        out_dir = Path(out) if out is not None else default_out
        with staged_dir(out_dir, what="report folder", option="--out") as stage:  # all or nothing
            paths = write_report(report, stage)
        print_summary(report, {k: out_dir / p.name for k, p in paths.items()})
