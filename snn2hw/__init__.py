"""snn2hw: spiking networks from training to (simulated) Loihi.

The Python API is the functions behind the CLI. They are imported on first use, so
`import snn2hw` stays cheap:

    import snn2hw

    cfg = snn2hw.resolve_config(overrides={"train.epochs": 2, "teacher.epochs": 1})
    summary = snn2hw.distill(cfg)               # teacher + student into runs/<name>/
    run = summary["run_dir"]
    snn2hw.evaluate_run(run)                    # reload both models, re-measure accuracy
    snn2hw.export(run)                          # NIR + netx + quantization in RUN/export
    snn2hw.simulate(f"{run}/export", samples=20)   # bit-exact emulator accuracy
    snn2hw.profile(run, samples=32)             # report.{json,md,html} in RUN/profile
    student, spec, _ = snn2hw.load_model(f"{run}/student.pt", "student")

Errors a user can cause are `snn2hw.Snn2hwError` subclasses whose message names the fix.
See examples/python_api.py.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    "RunConfig": "snn2hw.config",
    "resolve_config": "snn2hw.config",
    "train_teacher": "snn2hw.pipeline",
    "evaluate_run": "snn2hw.pipeline",
    "load_model": "snn2hw.pipeline",
    "open_run": "snn2hw.runs",
    "latest_run": "snn2hw.runs",
    "export": "exporters.pipeline",
    "simulate": "exporters.pipeline",
    "profile": "snn2hw.api",
    "Snn2hwError": "snn2hw.errors",
}

__all__ = ["__version__", "distill", *_API]


def distill(cfg: Any, *, resume: Any = None, reporter: Any = None) -> dict[str, Any]:
    """Teacher (trained or loaded) -> spiking student trained with the configured method, in a
    new run folder (or the `resume` one); returns the run summary (snn2hw.pipeline.distill)."""
    from snn2hw.pipeline import distill as run

    return run(cfg, resume=resume, reporter=reporter)


class _Package(types.ModuleType):
    """`snn2hw.distill` is the function above, though a subpackage has the same name: importing
    the subpackage (the distillation methods, reached as `from snn2hw.distill import ...`) would
    otherwise rebind the attribute to the module."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "distill" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'snn2hw' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
