"""Library calls that have no single pipeline function behind the CLI (the rest of the API is
re-exported from the pipelines by snn2hw/__init__.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snn2hw.runs import latest_run


def profile(target: str | Path | None = None, *, out: str | Path | None = None,
            runs_dir: str | Path = "runs", **options: Any) -> dict[str, Any]:
    """`snn2hw profile` from Python: profile a run (or an export folder) and write the report.

    `target` is a run folder with a student.pt (default: the latest run under `runs_dir`) or an
    export folder (model.net), whose spikes are then counted in the bit-exact emulator.
    `options` are profilers.profile.ProfileOptions fields (samples, timesteps, cost_tables,
    first_layer, device). The report goes to `out` (default: TARGET/profile); the returned report
    dict has the written files under "report_files" (json, md, html).
    """
    from profilers.profile import ProfileOptions, profile_run
    from profilers.report import write_report

    run_dir = Path(target) if target is not None else latest_run(runs_dir).path
    from exporters.pipeline import export_source

    export_dir, run_dir = export_source(run_dir)  # an export folder: profile its network
    opts = ProfileOptions(**{**options, "export_dir": export_dir})
    report = profile_run(run_dir, opts)
    default_out = (export_dir if export_dir is not None else run_dir) / "profile"
    paths = write_report(report, out if out is not None else default_out)
    return {**report, "report_files": {k: str(v) for k, v in paths.items()}}
