"""Our exact SynOps against the peers' counters and the `rate x full-layer MACs` approximation.

Counts on the same trained student and the same test samples:
  ours          each spike x the real fan-out of its position into the consuming layer
                (pooling folded into the path; padding and borders excluded), first layer as MACs;
  input-exact   our re-implementation of NeuroBench's rule: non-zero values at the conv/linear
                input x that layer's real fan-out (pooling happens before the count);
  rate x MACs   firing rate of the source layer x the consuming layer's dense MACs x T (the
                common approximation; dense MACs from FlopCounterMode include padded taps);
  NeuroBench    neurobench.metrics.workload.SynapticOperations (Effective ACs / MACs), when
                importable (an optional peer; see --help and README).
SpikingJelly 0.0.0.0.14 (latest on PyPI) ships no operation counter, so it is not compared.
Also quantifies the border error of `rate x MACs` on a padded conv fed uniform random spikes.

    python benchmarks/synops_vs_peers.py [RUN_DIR] [--samples N]
Writes benchmarks/results/synops_vs_peers.json. NeuroBench is not a project dependency; to
include it, run the script with a scratch venv that reuses the project's packages:
    python3.10 -m venv /tmp/peers && /tmp/peers/bin/pip install --no-deps neurobench==2.3.0 snntorch
    echo "$PWD/.venv/lib/python3.10/site-packages" > /tmp/peers/lib/python3.10/site-packages/p.pth
    PYTHONPATH=$PWD /tmp/peers/bin/python benchmarks/synops_vs_peers.py runs/<name>
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profilers import ops
from profilers.activity import ActivityRecorder
from profilers.graph import walk
from profilers.profile import count_layers, input_shapes


def synapse_inputs(model: nn.Module, plans, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Non-zero count per position at each synaptic layer's own input, summed over T x B."""
    acc: dict[str, torch.Tensor] = {}
    hs = []
    for p in plans:
        def pre(mod, inp, name=p.name):
            nz = (inp[0] != 0).double().sum(0)
            acc[name] = acc.get(name, 0) + nz
        hs.append(p.synapse.module.register_forward_pre_hook(pre))
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return acc


def neurobench_counts(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict | None:
    try:
        from neurobench.metrics.utils.layers import single_layer_MACs
        from neurobench.metrics.workload import SynapticOperations
        from neurobench.models import TorchModel
    except ImportError as e:
        return {"error": f"neurobench not importable ({e})"}
    import neurobench

    nb = TorchModel(model)
    nb.register_hooks()
    with torch.no_grad():
        preds = nb(x)
    per_layer = []
    for hook in nb.connection_hooks:
        ops_, spiking = single_layer_MACs(hook.inputs[0][0], hook.layer)
        per_layer.append({"layer": type(hook.layer).__name__, "ops": ops_ / len(x),
                          "counted_as": "AC" if spiking else "MAC"})
    with torch.no_grad():
        total = SynapticOperations()(nb, preds, (x, y))
    nb.cleanup_hooks()
    return {"version": getattr(neurobench, "__version__", "?"), "total": total,
            "per_layer": per_layer}


def border_error(rate: float = 0.2, seed: int = 0) -> list[dict]:
    """Exact vs rate x dense MACs on 3x3/pad-1 convs of growing size, uniform random spikes."""
    rows = []
    g = torch.Generator().manual_seed(seed)
    for hw in (4, 8, 16, 32):
        conv = nn.Conv2d(16, 32, 3, padding=1)
        shape = (16, hw, hw)
        spikes = (torch.rand(64, *shape, generator=g) < rate).double()
        fan = ops.fanout_map([conv], shape)
        exact = float(ops.synops(spikes, fan).sum()) / 64
        dense = 32 * hw * hw * 16 * 9
        approx = float(spikes.mean()) * shape[0] * hw * hw / (16 * hw * hw) * dense
        rows.append({"input": f"16x{hw}x{hw}", "exact": exact, "rate_x_macs": approx,
                     "rel_error": approx / exact - 1, "dense_over_connections":
                     dense / float(fan.sum()) - 1})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", nargs="?", default=None)
    ap.add_argument("--samples", type=int, default=128)
    a = ap.parse_args()

    from snn2hw.config import config_from_dict, load_yaml
    from snn2hw.pipeline import load_data, load_model
    from snn2hw.runs import latest_run, open_run

    run = open_run(a.run_dir) if a.run_dir else latest_run(ROOT / "runs")
    cfg = config_from_dict(load_yaml(run.config_path))
    bundle = load_data(cfg)
    model, _, _ = load_model(run.student_ckpt, "student", bundle)
    model.eval()
    n = min(a.samples, len(bundle.test))
    xs, ys = zip(*[bundle.test[i] for i in range(n)])
    x, y = torch.stack(xs), torch.tensor(ys)
    T = model.timesteps
    plans = walk(model)
    with ActivityRecorder(model) as rec, torch.no_grad():
        model(x)
    shapes = input_shapes(model, plans, x[:1])
    ours = count_layers(plans, rec.layers, shapes, timesteps=T, policy="every-step",
                        state_vars=1)
    dense = {p.name: a for p, a in zip(plans, _dense(model, x[:1], plans, T))}
    nz_in = synapse_inputs(model, plans, x)

    rows = []
    for p, c in zip(plans, ours):
        syn = p.synapse.module
        in_shape = nz_in[p.name].shape
        fan_syn = ops.fanout_map([syn], in_shape)
        input_exact = float((nz_in[p.name] * fan_syn).sum()) / n
        if p.source:
            src = rec.layers[p.source]
            approx = src.rate() * dense[p.name] * T
        else:
            approx = float(dense[p.name] * T)  # analog input: every MAC, every step
        rows.append({"layer": p.name, "input": p.source or "analog",
                     "ours": c.synops if p.source else c.macs,
                     "input_exact": input_exact, "rate_x_macs": approx,
                     "dense_macs_per_step": dense[p.name],
                     "connections_per_step": c.connections})
    nb = neurobench_counts(model, x, y)
    border = border_error()

    print(f"run {run.path}, {n} samples, T={T}; per sample")
    print(f"{'layer':8} {'input':7} {'ours':>12} {'input-exact':>12} {'rate x MACs':>12} "
          f"{'NeuroBench':>12}")
    nb_rows = (nb or {}).get("per_layer", [])
    for i, r in enumerate(rows):
        nbv = f"{nb_rows[i]['ops']:.0f} {nb_rows[i]['counted_as']}" if i < len(nb_rows) else "-"
        r["neurobench"] = nb_rows[i] if i < len(nb_rows) else None
        print(f"{r['layer']:8} {r['input']:7} {r['ours']:12.0f} {r['input_exact']:12.0f} "
              f"{r['rate_x_macs']:12.0f} {nbv:>12}")
    if nb and "total" in nb:
        print("NeuroBench totals:", {k: round(v, 1) for k, v in nb["total"].items()})
    elif nb:
        print(nb["error"])
    print("\nborder error of rate x MACs (3x3 conv, padding 1, 16->32 channels, rate 0.2):")
    for b in border:
        print(f"  {b['input']:9} exact {b['exact']:12.0f}  rate x MACs {b['rate_x_macs']:12.0f}"
              f"  over by {100 * b['rel_error']:5.1f}%")
    out = ROOT / "benchmarks" / "results" / "synops_vs_peers.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "machine": f"{platform.machine()} {torch.get_num_threads()} threads, torch {torch.__version__}",
        "run_dir": str(run.path), "samples": n, "timesteps": T, "layers": rows,
        "neurobench": nb, "spikingjelly": "0.0.0.0.14 has no operation counter",
        "border_error": border}, indent=1))
    print(f"wrote {out}")


def _dense(model: nn.Module, x1: torch.Tensor, plans, T: int) -> list[float]:
    by = {a.name: a for a in ops.ann_layers(model, x1, per=T)}
    from profilers.graph import short_name

    short = {short_name(k): v for k, v in by.items()}
    return [short[p.name].macs for p in plans]


if __name__ == "__main__":
    main()
