"""Writes a profile (the dict from profilers.profile) as report.json, report.md and report.html.

The HTML is self-contained: plots are PNGs (matplotlib, Agg backend, imported lazily) embedded
as base64 data URIs, styles inline, no scripts.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from snn2hw.runs import atomic_write_bytes, atomic_write_text


def si(x: float | None, unit: str = "") -> str:
    """1234567 -> '1.23 M' (+unit); None -> '-'."""
    if x is None:
        return "-"
    for div, p in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g} {p}{unit}"
    return f"{x:.3g} {unit}".rstrip()


def energy_str(pj: float | None) -> str:
    """Picojoules in the most readable unit."""
    if pj is None:
        return "-"
    for div, u in ((1e6, "uJ"), (1e3, "nJ")):
        if abs(pj) >= div:
            return f"{pj / div:.3g} {u}"
    return f"{pj:.3g} pJ"


def ratio_str(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


# --------------------------------------------------------------------------- what the numbers mean

STATUS_WORDS = {"measured": "measured", "simulated": "circuit-simulated", "assumed": "assumed"}


def status_label(e: dict[str, Any]) -> str:
    """An energy row's status as read by a person: 'measured' -> 'estimate from measured per-op
    costs' (the energy is our counts x published per-operation prices, never a measurement)."""
    import re

    status = e["status"]
    rest = e.get("status_detail", status)[len(status):]  # e.g. ", except mac simulated"
    rest = re.sub(r"\b(measured|simulated|assumed)\b", lambda m: STATUS_WORDS[m.group(1)], rest)
    return f"estimate from {STATUS_WORDS.get(status, status)} per-op costs{rest}"


ENERGY_DEFINITIONS = [
    ("Every energy in this report is an estimate: the operations counted in this run (SynOps, "
     "MACs, neuron updates, spikes, memory accesses) times a price per operation from a cost "
     "table. Nothing was measured on hardware."),
    ("Status = where a cost table's per-operation prices come from. measured: measured on the "
     "chip and published (Loihi 1: Davies et al., IEEE Micro 2018); circuit-simulated: "
     "circuit-level estimates (45 nm: Horowitz, ISSCC 2014); assumed: our assumption (e.g. "
     "Loihi 2 reuses Loihi 1's prices; Loihi's price for an analog input). 'except ...' names "
     "the entries of a table whose status differs from the table's."),
    ("Not included in any total: static and leakage power (energy spent while idle or over the "
     "run's duration), spike routing between cores and chips (Loihi tile hops, 3-4 pJ each), "
     "off-chip I/O and host traffic, and, except in the 45nm-memory table, memory accesses."),
    ("Energy is per test sample (all T time steps); ratios > 1 mean the SNN estimate is the "
     "cheaper one."),
]
STEP_RULE = ("Time steps are counted from 0 (the first step is step 0) in every plot, table and "
             "JSON field (firing_rate_per_step[k], raster [step, neuron] pairs).")


# --------------------------------------------------------------------------- tables


def layer_table(r: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["layer", "input", "neurons", "firing rate", "spikes", "SynOps", "MACs (policy)",
            "input-side ops (NeuroBench rule)", "same-arch ANN MACs", "neuron updates",
            "memory accesses"]
    rows = []
    for L in r["layers"]:
        macs = f"{si(L['macs'])} ({L['mac_policy']})" if L["mac_policy"] else "-"
        rows.append([
            L["name"], L["source"] or "analog input", str(L["neurons"] or "-"),
            f"{L['firing_rate']:.3f}" if "firing_rate" in L else "-",
            si(L["spikes"]) if L["neurons"] else "-", si(L["synops"]) if L["source"] else "-",
            macs,
            f"{si(L['input_side_ops'])} {L['input_side_kind']}" if "input_side_ops" in L else "-",
            si(L["same_arch_ann_macs"]), si(L["neuron_updates"]) if L["neurons"] else "-",
            si(L["mem_reads"] + L["mem_writes"]),
        ])
    t = r["totals"]
    rows.append(["total", "", str(t["neurons"]), f"{t['firing_rate']:.3f}", si(t["spikes"]),
                 si(t["synops"]), si(t["macs"]), "", si(t["same_arch_ann_macs"]),
                 si(t["neuron_updates"]), si(t["mem_accesses"])])
    return head, rows


def energy_table(r: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["cost table", "status (see definitions)", "SNN", "same-arch ANN", "ANN/SNN",
            "teacher ANN",
            "teacher/SNN", "ANN priced with", "source"]
    rows = []
    for e in r["energy"]:
        rows.append([e["table"], status_label(e), energy_str(e["snn_pj"]),
                     energy_str(e["same_arch_ann_pj"]), ratio_str(e["same_arch_ann_over_snn"]),
                     energy_str(e.get("teacher_ann_pj")), ratio_str(e.get("teacher_over_snn")),
                     e["ann_priced_with"], e["source"]])
    return head, rows


def entries_table(r: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = ["table", "operation", "pJ per operation", "status of this price", "source"]
    rows = []
    for t in r["cost_tables"]:
        for op, e in t["entries"].items():
            rows.append([t["name"], op, f"{e['pj']:g}", e["status"], e["source"]])
    return head, rows


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in row] for row in rows]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in esc]
    return "\n".join(lines)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _header_lines(r: dict[str, Any]) -> list[str]:
    s = r["student"]
    n = s["neuron"]
    teacher = r["teacher"]
    lines = [
        f"Run: {r['run_dir']} (dataset {r['dataset']}, {r['samples']} test samples, device {r['device']})",
        f"Spikes counted in: {r.get('activity_source', 'float student (PyTorch forward hooks)')}",
        f"Student: {s['arch']}, T={r['timesteps']}, neuron {n['kind']} (leak {n['leak']}, "
        f"v_th {n['v_th']}, {n['reset']} reset), accuracy on these samples {100 * s['accuracy']:.2f}%",
        f"Per sample: {si(r['totals']['synops'])} SynOps + {si(r['totals']['macs'])} MACs "
        f"(first layer, policy '{r['first_layer_policy']}') vs same-architecture ANN "
        f"{si(r['totals']['same_arch_ann_macs'])} MACs"
        + (f"; teacher {teacher['arch']} {si(teacher['macs'])} MACs "
           f"({si(teacher['params'])} parameters)" if teacher else ""),
        f"Mean firing rate {r['totals']['firing_rate']:.3f}",
    ]
    paper = paper_ratio(r)
    if paper is not None:
        lines.append(
            f"Paper-style ratio (45nm compute only, ANN MACs x 4.6 pJ over SynOps x 0.9 pJ + "
            f"first-layer MACs x 4.6 pJ, neuron updates and memory ignored): {paper:.2f}x")
    return lines


def paper_ratio(r: dict[str, Any]) -> float | None:
    """Same-architecture ANN over SNN energy counting only MACs and SynOps (45nm-compute)."""
    e = next((e for e in r["energy"] if e["table"] == "45nm-compute"), None)
    if e is None or not e["synops_only_pj"]:
        return None
    return e["same_arch_ann_mac_only_pj"] / e["synops_only_pj"]


# --------------------------------------------------------------------------- plots


def plots(r: dict[str, Any]) -> dict[str, bytes]:
    """PNG bytes of each figure: name -> png."""
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    for name, fig in figures(r).items():
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        out[name] = buf.getvalue()
    return out


def figures(r: dict[str, Any]) -> dict[str, Any]:
    """The report's matplotlib figures (name -> Figure; the caller closes them).

    Every axis is labelled with its unit; time steps count from 0 (STEP_RULE); accuracy axes end
    at 100%.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, Any] = {}

    def save(fig, name: str) -> None:
        out[name] = fig

    spiking = [L for L in r["layers"] if "firing_rate" in L]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
    ax[0].bar([L["neuron"] for L in spiking], [L["firing_rate"] for L in spiking], color="#4c72b0")
    ax[0].set_xlabel("neuron layer")
    ax[0].set_ylabel("firing rate (spikes / neuron / step)")
    ax[0].set_title("Firing rate per layer (mean over steps)")
    for L in spiking:
        ax[1].plot(range(len(L["firing_rate_per_step"])), L["firing_rate_per_step"],
                   marker="o", label=L["neuron"])
    ax[1].set_xticks(range(r["timesteps"]))
    ax[1].set_xlabel("time step (from 0)")
    ax[1].set_ylabel("firing rate (spikes / neuron / step)")
    ax[1].set_title("Firing rate per time step")
    ax[1].legend()
    save(fig, "firing_rate")

    names = [L["name"] for L in r["layers"]]
    snn_ops = [L["synops"] + L["macs"] for L in r["layers"]]
    ann_ops = [L["same_arch_ann_macs"] or 0 for L in r["layers"]]
    fig, ax = plt.subplots(figsize=(8, 3.4))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], snn_ops, 0.4, label="SNN SynOps (+ first-layer MACs)")
    ax.bar([x + 0.2 for x in xs], ann_ops, 0.4, label="same-architecture ANN MACs")
    ax.set_xticks(list(xs), names)
    ax.set_xlabel("layer")
    ax.set_yscale("log")
    ax.set_ylabel("operations / sample (log scale)")
    ax.set_title("SNN operations vs ANN MACs per layer")
    ax.legend()
    save(fig, "ops")

    fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    width = 0.8 / max(len(r["energy"]), 1)
    for i, e in enumerate(r["energy"]):
        ax[0].bar([x + i * width for x in xs], [e["per_layer_pj"][n] / 1e3 for n in names],
                  width, label=e["table"])
    ax[0].set_xticks([x + 0.4 - width / 2 for x in xs], names)
    ax[0].set_xlabel("layer")
    ax[0].set_yscale("log")
    ax[0].set_ylabel("estimated energy (nJ / sample, log)")
    ax[0].set_title("SNN energy per layer")
    ax[0].legend(fontsize=8)
    tx = range(len(r["energy"]))
    ax[1].bar([x - 0.2 for x in tx], [e["snn_pj"] / 1e3 for e in r["energy"]], 0.4, label="SNN")
    ax[1].bar([x + 0.2 for x in tx], [e["same_arch_ann_pj"] / 1e3 for e in r["energy"]], 0.4,
              label="same-arch ANN")
    ax[1].set_xticks(list(tx), [e["table"] for e in r["energy"]], fontsize=8)
    ax[1].set_xlabel("cost table")
    ax[1].set_yscale("log")
    ax[1].set_ylabel("estimated energy (nJ / sample, log)")
    ax[1].set_title("Total energy per cost table (estimates)")
    ax[1].legend(fontsize=8)
    save(fig, "energy")

    if r["raster"]:
        layers = list(r["raster"])
        fig, axes = plt.subplots(len(layers), 1, figsize=(9, 1.6 * len(layers)), squeeze=False)
        for a, name in zip(axes[:, 0], layers):
            pts = r["raster"][name]
            T, n = r["raster_shape"][name]
            if pts:
                ts, ns = zip(*pts)
                a.scatter(ns, ts, s=2, marker="|", color="k")
            a.set_xlim(0, n)
            a.set_ylim(-0.5, T - 0.5)
            a.set_ylabel(f"{name}\nstep (from 0)")
        axes[-1, 0].set_xlabel("neuron index")
        axes[0, 0].set_title("Spike raster, first test sample")
        save(fig, "raster")

    if r["accuracy_vs_timesteps"]:
        sw = r["accuracy_vs_timesteps"]
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ts = [p["timesteps"] for p in sw]
        ax.plot(ts, [100 * p["accuracy"] for p in sw], marker="o", color="#4c72b0")
        ax.set_xlabel("time steps T")
        ax.set_ylabel("accuracy (%)", color="#4c72b0")
        ax.set_ylim(top=100)  # not the autoscale margin past 100%
        ax.set_xscale("log", base=2)
        ax.set_xticks(ts, [str(t) for t in ts])
        ax2 = ax.twinx()
        ax2.plot(ts, [p["synops"] for p in sw], marker="s", color="#dd8452")
        ax2.set_ylabel("SynOps / sample", color="#dd8452")
        ax.set_title("Accuracy and SynOps vs time steps")
        save(fig, "timesteps")
    return out


# --------------------------------------------------------------------------- writers


def to_markdown(r: dict[str, Any], images: dict[str, str] | None = None) -> str:
    parts = ["# snn2hw profile", ""] + [f"- {line}" for line in _header_lines(r)] + [""]
    parts += ["## Layers (per sample)", "", _md_table(*layer_table(r)), ""]
    parts += ["## Energy per cost table (per sample)", "", _md_table(*energy_table(r)), ""]
    for e in r["energy"]:
        if e["note"]:
            parts.append(f"- **{e['table']}** ({status_label(e)}): {e['note']}")
    parts += ["", "## What the energy numbers are (and are not)", ""]
    parts += [f"- {d}" for d in ENERGY_DEFINITIONS]
    parts += ["", "## Cost table entries", "", _md_table(*entries_table(r)), ""]
    if r["accuracy_vs_timesteps"]:
        parts += ["## Accuracy vs time steps", "", _md_table(
            ["T", "accuracy", "SynOps / sample", "firing rate"],
            [[str(p["timesteps"]), f"{100 * p['accuracy']:.2f}%", si(p["synops"]),
              f"{p['firing_rate']:.3f}"] for p in r["accuracy_vs_timesteps"]]), ""]
    if images:
        parts += ["## Figures", ""] + [f"![{k}]({v})" for k, v in images.items()] + [""]
    parts += ["## How it was counted", ""] + [f"- {n}" for n in [*r["notes"], STEP_RULE]] + [""]
    return "\n".join(parts)


CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;
padding:3px 8px;text-align:left}th{background:#f0f0f0}img{max-width:100%;display:block;
margin:1em 0}code{background:#f4f4f4}"""


def to_html(r: dict[str, Any], pngs: dict[str, bytes]) -> str:
    h = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
         "<title>snn2hw profile</title>", f"<style>{CSS}</style></head><body>",
         "<h1>snn2hw profile</h1><ul>"]
    h += [f"<li>{html.escape(line)}</li>" for line in _header_lines(r)] + ["</ul>"]
    h += ["<h2>Layers (per sample)</h2>", _html_table(*layer_table(r))]
    h += ["<h2>Energy per cost table (per sample)</h2>", _html_table(*energy_table(r)), "<ul>"]
    h += [f"<li><b>{html.escape(e['table'])}</b> ({html.escape(status_label(e))}): "
          f"{html.escape(e['note'])}</li>" for e in r["energy"] if e["note"]] + ["</ul>"]
    h += ["<h3>What the energy numbers are (and are not)</h3><ul>"]
    h += [f"<li>{html.escape(d)}</li>" for d in ENERGY_DEFINITIONS] + ["</ul>"]
    titles = {"firing_rate": "Firing rates", "ops": "SynOps vs ANN MACs", "energy": "Energy",
              "raster": "Spike raster", "timesteps": "Accuracy vs time steps"}
    for name, png in pngs.items():
        b64 = base64.b64encode(png).decode()
        h.append(f"<h2>{titles.get(name, name)}</h2>"
                 f"<img alt='{name}' src='data:image/png;base64,{b64}'>")
    if r["accuracy_vs_timesteps"]:
        h.append(_html_table(["T", "accuracy", "SynOps / sample", "firing rate"], [
            [str(p["timesteps"]), f"{100 * p['accuracy']:.2f}%", si(p["synops"]),
             f"{p['firing_rate']:.3f}"] for p in r["accuracy_vs_timesteps"]]))
    h += ["<h2>Cost table entries</h2>", _html_table(*entries_table(r))]
    h += ["<h2>How it was counted</h2><ul>"]
    h += [f"<li>{html.escape(n)}</li>" for n in [*r["notes"], STEP_RULE]]
    h += ["</ul></body></html>"]
    return "\n".join(h)


def write_report(r: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """report.json, report.md (+ PNGs beside it) and a self-contained report.html in out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pngs = plots(r)
    for name, png in pngs.items():
        atomic_write_bytes(out / f"{name}.png", png)
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    atomic_write_text(paths["json"], json.dumps(r, indent=1) + "\n")
    atomic_write_text(paths["md"], to_markdown(r, {k: f"{k}.png" for k in pngs}))
    atomic_write_text(paths["html"], to_html(r, pngs))
    return paths
