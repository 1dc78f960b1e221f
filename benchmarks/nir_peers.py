"""Peer NIR graphs (tests/fixtures/nir_peers): float vs library, emulator vs Lava, steps/s.

For every fixture: snn2hw's float NIR interpreter on the library's recorded input vs the library's
own output spikes, and the fixed-point emulator on that input vs the same spikes; then the graph lowered to Loihi (export FILE.nir --dt ...), N random static
binary inputs fed for T steps: float vs emulator spike-train agreement per layer (quantization
error), emulator vs Lava (must be 100%), and steps/s of each. Prints a table, writes JSON.

    uv run python benchmarks/nir_peers.py [--samples 16] [--emulator-samples 256] [--no-lava]

Lava runs the --samples one after another (one stream, T + L steps each); the emulator's steps/s
counts the same samples x (T + L) steps, run batched (that is how it is used).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FIX = REPO / "tests" / "fixtures" / "nir_peers"
PEERS = {
    "snntorch": (1e-4, "euler"), "snntorch_conv": (1e-4, "euler"),
    "spikingjelly": (1e-4, "euler"), "spikingjelly_conv": (1e-4, "euler"),
    "sinabs": (1.0, "exact"), "sinabs_conv": (1.0, "euler"), "norse": (1e-6, "euler"),
    "norse_cuba": (1e-3, "euler"),  # read with --fix-norse (Norse 1.1's to_nir bugs undone)
    "spikingjelly_residual": (1e-4, "euler"),  # a DAG (skip): the graph format, model.graph.h5
}


def _is_graph(export_dir: Path) -> bool:
    return (export_dir / "model.graph.h5").is_file()


def _emulator_rate(export_dir: Path, shape, T: int, n: int) -> float:
    """Emulator steps/s (samples x (T + L) / s) on n static inputs, after a warm-up call."""
    import time

    from exporters.emulator import Emulator, run_samples

    x = (np.random.default_rng(1).random((n, *shape)) < 0.3).astype(np.int64)
    if _is_graph(export_dir):
        from exporters.emulator_graph import GraphEmulator
        from exporters.emulator_graph import run_samples as run_graph
        from exporters.graph_file import read_graph

        gemu = GraphEmulator(read_graph(export_dir / "model.graph.h5"))
        run_graph(gemu, x[:4])
        t0 = time.perf_counter()
        run_graph(gemu, x)
        return n * gemu.q.latency_steps / (time.perf_counter() - t0)
    emu = Emulator(export_dir / "model.net")
    run_samples(emu, x[:4], T)  # warm-up (first conv call, allocator)
    t0 = time.perf_counter()
    run_samples(emu, x, T)
    return n * (T + len(emu.net.layers)) / (time.perf_counter() - t0)


def _emulator_vs_library(export_dir: Path, io, T: int) -> float:
    """Fixed-point emulator on the library's own time-varying input: identical output trains."""
    import torch

    from exporters.emulator import Emulator, run_windowed

    if _is_graph(export_dir):
        from exporters.emulator_graph import GraphEmulator, run_samples
        from exporters.graph_file import read_graph

        q = read_graph(export_dir / "model.graph.h5")
        _, sp = run_samples(GraphEmulator(q), np.asarray(io["input"]).swapaxes(0, 1))
        out = sp[q.readout.pop.name].reshape(io["spikes"].shape)
        return float((out == io["spikes"]).all(0).mean())
    r = run_windowed(Emulator(export_dir / "model.net"), torch.as_tensor(io["input"]).double(), T)
    out = r.spikes[-1].numpy().reshape(io["spikes"].shape)
    return float((out == io["spikes"]).all(0).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--timesteps", type=int, default=12)
    ap.add_argument("--emulator-samples", type=int, default=256,
                    help="samples for the emulator's steps/s (timed after one warm-up call)")
    ap.add_argument("--no-lava", action="store_true", help="emulator and float only")
    ap.add_argument("--peers", nargs="*", choices=sorted(PEERS),
                    help="only these fixtures; their rows replace those in the --out JSON")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "nir_peers.json"))
    a = ap.parse_args()
    import nir

    from exporters.lava import lava_available
    from exporters.nir_import import ImportOptions
    from exporters.nir_pipeline import export_nir
    from exporters.nir_sim import simulate
    from exporters.pipeline import simulate as sim

    use_lava = not a.no_lava and lava_available()
    rows = []
    for name, (dt, disc) in PEERS.items():
        if a.peers and name not in a.peers:
            continue
        g = nir.read(str(FIX / f"{name}.nir"))
        fix = name == "norse_cuba"
        if fix:
            from exporters.nir_import import fix_norse

            g = fix_norse(g, dt)
        io = np.load(FIX / f"{name}_io.npz")
        ours = simulate(g, io["input"], dt, discretization=disc).output.numpy()
        lib = float((ours == io["spikes"]).mean())
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "e"
            export_nir(FIX / f"{name}.nir", out=out,
                       opts=ImportOptions(dt=dt, discretization=disc, timesteps=a.timesteps,
                                          fix_norse=fix))
            shape = tuple(int(s) for s in np.ravel(next(iter(
                g.nodes[[n for n, v in g.nodes.items() if type(v).__name__ == "Input"][0]]
                .input_type.values()))))
            x = (np.random.default_rng(0).random((a.samples, *shape)) < 0.3).astype(np.int64)
            r = sim(out, compare=use_lava, backend="lava" if use_lava else "emulator",
                    x_int=x, samples=a.samples, timeout_s=600)
            emu_rate = _emulator_rate(out, shape, a.timesteps, a.emulator_samples)
            emu_lib = _emulator_vs_library(out, io, a.timesteps) if a.timesteps == len(io["input"]) \
                else None
        row = {"peer": name, "library": str(io["library"]), "version": str(io["version"]),
               "dt": dt, "discretization": disc,
               "float_vs_library_spike_agreement": lib, "library_spikes": int(io["spikes"].sum()),
               "emulator_vs_library_identical_trains": emu_lib,
               "emulator_steps_per_s": emu_rate,
               "emulator_steps_per_s_in_simulate": r["emulator"]["steps_per_s"]}
        if "float_vs_emulator" in r:
            row["float_vs_emulator_min_identical"] = min(
                x["identical_fraction"] for x in r["float_vs_emulator"])
        if "agreement" in r:
            row["emulator_vs_lava_min_identical"] = min(x["identical_fraction"] for x in r["agreement"])
            row["readout_equal"] = r["readout_equal"]
            row["lava_steps_per_s"] = r["lava"]["steps_per_s"]
            row["emulator_over_lava"] = row["emulator_steps_per_s"] / row["lava_steps_per_s"]
        rows.append(row)
        print(json.dumps(row))
    cols = ["peer", "version", "dt", "float_vs_library_spike_agreement",
            "emulator_vs_library_identical_trains",
            "float_vs_emulator_min_identical", "emulator_vs_lava_min_identical",
            "emulator_steps_per_s", "lava_steps_per_s", "emulator_over_lava"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in rows:
        print("| " + " | ".join(f"{row[c]:.4g}" if isinstance(row.get(c), float) else
                                str(row.get(c, "-")) for c in cols) + " |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    if a.peers and Path(a.out).is_file():  # keep the other fixtures' rows
        new = {r["peer"] for r in rows}
        rows = [r for r in json.loads(Path(a.out).read_text())["rows"] if r["peer"] not in new] + rows
    Path(a.out).write_text(json.dumps({"samples": a.samples, "timesteps": a.timesteps,
                                       "machine": "2-core CPU, shared", "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
