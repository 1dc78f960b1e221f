"""How many samples `simulate` runs by default when Lava is involved.

Lava's fixed-point simulator runs ~1e7 synapse updates per second on a CPU core, so the default of
100 samples that takes the emulator seconds can take Lava hours on a paper-sized student
(resnet19 at 8x8: 95M synapses x 23 steps = 145 s per sample). Without `--samples`, a run with
Lava gets as many samples as fit a fixed budget of synapse-steps (about 2-3 minutes), at least one;
an explicit `--samples` is always obeyed.
"""
from __future__ import annotations

import json
from pathlib import Path

DEFAULT_SAMPLES = 100
LAVA_SYNAPSE_STEPS = 2.5e9  # ~2.5 min of Lava on a 2-core CPU (measured: resnet19, 2.2e9 in 145 s)


def synapse_steps(export_dir: str | Path) -> int | None:
    """Synapses x steps per sample of an export directory (resources.json, quantization.json);
    None where the files are missing or unreadable (a bare .net file, a foreign netx file)."""
    d = Path(export_dir)
    try:
        res = json.loads((d / "resources.json").read_text())
        q = json.loads((d / "quantization.json").read_text())
        syn = int(res[0]["synapses"] if isinstance(res, list) else res["synapses"])
        steps = int(q["latency_steps"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    return syn * steps if syn > 0 and steps > 0 else None


def default_samples(export_dir: str | Path, uses_lava: bool,
                    budget: float | None = None) -> tuple[int, str | None]:
    """(samples, why) for a run without --samples: 100, or fewer where Lava would run for long;
    `why` is a line for the results table (None when the default stands)."""
    if not uses_lava:
        return DEFAULT_SAMPLES, None
    budget = LAVA_SYNAPSE_STEPS if budget is None else budget
    cost = synapse_steps(export_dir)
    if cost is None:
        return DEFAULT_SAMPLES, None
    n = max(1, min(DEFAULT_SAMPLES, int(budget // cost)))
    if n == DEFAULT_SAMPLES:
        return n, None
    return n, (f"{n} (Lava default for this network: {cost:.3g} synapse-steps per sample, about "
               f"{budget:.2g} in all fit in ~2-3 min of Lava; set --samples N for more)")
