"""How many samples `simulate` runs by default when Lava is involved.

Lava's fixed-point Conv and Dense processes touch every weight on every step (Conv converts and
flips its whole kernel each step), and every layer is a process spinning on the CPU, so a Lava
step costs about a microsecond per weight: measured on a 2-core CPU (benchmarks/
paper_students_lava.py), vgg11 at 8x8 (netx, 13.9M weights, 13 steps) took 116 s per sample,
resnet19-tet (graph, 13.5M weights, 23 steps, 50 processes) 520 s: 0.6-1.6M weight-steps/s.
The default of 100 samples that takes the emulator seconds would take Lava hours there. Without
`--samples`, a run with Lava gets as many samples as fit a fixed budget of weight-steps (2.5-6
min at those rates), at least one; an explicit `--samples` is always obeyed.
"""
from __future__ import annotations

import json
from pathlib import Path

DEFAULT_SAMPLES = 100
LAVA_WEIGHT_STEPS = 2.25e8  # 140 s (vgg11, 1.6M/s) to 375 s (resnet19-tet, 0.6M/s) of Lava
_FILES = ("model.net", "model.graph.h5")


def weight_count(path: str | Path) -> int:
    """Weights stored in a netx or graph HDF5 file (every dataset named weight or weight_rec)."""
    import h5py

    total = 0

    def add(name: str, obj) -> None:
        nonlocal total
        if isinstance(obj, h5py.Dataset) and name.rsplit("/", 1)[-1] in ("weight", "weight_rec"):
            total += int(obj.size)

    with h5py.File(path, "r") as f:
        f.visititems(add)
    return total


def weight_steps(export_dir: str | Path) -> int | None:
    """Weights x steps per sample of an export directory (its model file, quantization.json);
    None where the files are missing or unreadable (a bare .net file, a foreign netx file)."""
    d = Path(export_dir)
    try:
        steps = int(json.loads((d / "quantization.json").read_text())["latency_steps"])
        (model,) = [d / n for n in _FILES if (d / n).is_file()]
        w = weight_count(model)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return w * steps if w > 0 and steps > 0 else None


def default_samples(export_dir: str | Path, uses_lava: bool,
                    budget: float | None = None) -> tuple[int, str | None]:
    """(samples, why) for a run without --samples: 100, or fewer where Lava would run for long;
    `why` is a line for the results table (None when the default stands)."""
    if not uses_lava:
        return DEFAULT_SAMPLES, None
    budget = LAVA_WEIGHT_STEPS if budget is None else budget
    cost = weight_steps(export_dir)
    if cost is None:
        return DEFAULT_SAMPLES, None
    n = max(1, min(DEFAULT_SAMPLES, int(budget // cost)))
    if n == DEFAULT_SAMPLES:
        return n, None
    return n, (f"{n} (Lava default for this network: {cost:.3g} weight-steps per sample; Lava "
               f"runs ~0.6-1.6e6/s on a 2-core CPU; set --samples N for more)")
