"""Energy = operation counts x per-operation prices from cost tables that carry their sources.

Built-in tables live in cost_tables.yaml beside this file; users add their own with
`--cost-table FILE` (same schema: see that file's header).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from profilers.errors import ProfileError

BUILTIN_FILE = Path(__file__).with_name("cost_tables.yaml")
STATUSES = ("measured", "simulated", "assumed")
REQUIRED_ENTRIES = ("mac", "ac", "neuron_update")
OPTIONAL_ENTRIES = ("neuron_update_inactive", "spike", "mem_access")
TABLE_FIELDS = ("name", "title", "source", "status", "entries")
ENTRY_FIELDS = ("pj", "source", "status")


@dataclass(frozen=True)
class CostEntry:
    """Price of one operation in picojoules, with where the number comes from."""

    pj: float
    source: str
    status: str  # measured | simulated | assumed


@dataclass(frozen=True)
class CostTable:
    """A named set of prices (mac, ac, neuron_update[, neuron_update_inactive, spike, mem_access])."""

    name: str
    title: str
    source: str
    status: str
    entries: Mapping[str, CostEntry]
    note: str = ""
    ann_reference: str | None = None
    """Table that prices the ANN in the ratio (None: this one)."""
    origin: str = "built-in"

    def price(self, op: str) -> float:
        e = self.entries.get(op)
        return e.pj if e is not None else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["entries"] = {k: asdict(v) for k, v in self.entries.items()}
        return d


def _fail(where: str, problem: str) -> ProfileError:
    return ProfileError(
        f"cost table {where}: {problem}. Each table needs {', '.join(TABLE_FIELDS)}; each entry "
        f"({', '.join(REQUIRED_ENTRIES)} required; {', '.join(OPTIONAL_ENTRIES)} optional) needs "
        f"{', '.join(ENTRY_FIELDS)}, with status one of {', '.join(STATUSES)} "
        f"(see {BUILTIN_FILE.name} in the profilers package for examples)"
    )


def parse_table(d: Any, origin: str) -> CostTable:
    """Validate one table dict; every problem names the file, table and field."""
    if not isinstance(d, dict):
        raise _fail(origin, f"a table must be a mapping, got {type(d).__name__}")
    where = f"{d.get('name', '<unnamed>')!r} in {origin}"
    for f in TABLE_FIELDS:
        if f not in d:
            raise _fail(where, f"field {f!r} is missing")
    if d["status"] not in STATUSES:
        raise _fail(where, f"status {d['status']!r} is not one of {', '.join(STATUSES)}")
    raw = d["entries"]
    if not isinstance(raw, dict):
        raise _fail(where, "'entries' must be a mapping of operation -> {pj, source, status}")
    for op in REQUIRED_ENTRIES:
        if op not in raw:
            raise _fail(where, f"entry {op!r} is missing")
    entries: dict[str, CostEntry] = {}
    for op, e in raw.items():
        if op not in REQUIRED_ENTRIES + OPTIONAL_ENTRIES:
            raise _fail(where, f"unknown entry {op!r}")
        if not isinstance(e, dict):
            raise _fail(where, f"entry {op!r} must be a mapping with {', '.join(ENTRY_FIELDS)}")
        for f in ENTRY_FIELDS:
            if f not in e or e[f] in (None, ""):
                raise _fail(where, f"entry {op!r} is missing field {f!r}")
        if e["status"] not in STATUSES:
            raise _fail(where, f"entry {op!r} has status {e['status']!r}")
        try:
            pj = float(e["pj"])
        except (TypeError, ValueError):
            raise _fail(where, f"entry {op!r} has a non-numeric pj {e['pj']!r}") from None
        if pj < 0:
            raise _fail(where, f"entry {op!r} has a negative price {pj}")
        entries[op] = CostEntry(pj, str(e["source"]), e["status"])
    return CostTable(str(d["name"]), str(d["title"]), str(d["source"]), d["status"], entries,
                     str(d.get("note", "")), d.get("ann_reference"), origin)


def load_tables(path: str | Path) -> list[CostTable]:
    """Tables from a YAML file holding {tables: [...]} (or a single table mapping)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"cost table file {path} does not exist (option --cost-table)")
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ProfileError(f"cost table file {path} is not a text file (not UTF-8); give a YAML "
                           "file like profilers/cost_tables.yaml (option --cost-table)") from None
    except yaml.YAMLError as e:
        raise ProfileError(f"cost table file {path} is not valid YAML: {e}") from None
    raw = data.get("tables", [data]) if isinstance(data, dict) else None
    if not isinstance(raw, list) or not raw:
        raise _fail(str(path), "expected a mapping with a non-empty list under 'tables'")
    return [parse_table(t, str(path)) for t in raw]


def builtin_tables() -> list[CostTable]:
    return load_tables(BUILTIN_FILE)


def resolve_tables(extra_files: Iterable[str | Path] = ()) -> list[CostTable]:
    """Built-in tables followed by the user's; a user table may replace a built-in by name."""
    tables = {t.name: t for t in builtin_tables()}
    for f in extra_files:
        for t in load_tables(f):
            tables[t.name] = t
    for t in tables.values():
        if t.ann_reference and t.ann_reference not in tables:
            raise ProfileError(
                f"cost table {t.name!r} ({t.origin}) prices the ANN with table "
                f"{t.ann_reference!r}, which is not defined; name one of {', '.join(tables)}"
            )
    return list(tables.values())


@dataclass
class Energy:
    """Energy in picojoules, split by what it was spent on."""

    compute_pj: dict[str, float] = field(default_factory=dict)

    @property
    def total_pj(self) -> float:
        return sum(self.compute_pj.values())


def snn_energy(c: Mapping[str, float], table: CostTable) -> Energy:
    """Price one layer's counts (keys as in ops.LayerCounts) with `table`.

    E = macs*mac + synops*ac + active*neuron_update + inactive*neuron_update_inactive
        + spikes*spike + (reads+writes)*mem_access; missing optional entries cost 0, and a
    table without neuron_update_inactive prices every update as neuron_update.
    """
    active = c.get("active_updates", c.get("neuron_updates", 0.0))
    inactive = c.get("neuron_updates", 0.0) - active
    inactive_price = (table.price("neuron_update_inactive")
                      if "neuron_update_inactive" in table.entries else table.price("neuron_update"))
    return Energy({
        "mac": c.get("macs", 0.0) * table.price("mac"),
        "ac": c.get("synops", 0.0) * table.price("ac"),
        "neuron_update": active * table.price("neuron_update") + inactive * inactive_price,
        "spike": c.get("spikes", 0.0) * table.price("spike"),
        "memory": (c.get("mem_reads", 0.0) + c.get("mem_writes", 0.0)) * table.price("mem_access"),
    })


def ann_energy(macs: float, mem_accesses: float, table: CostTable) -> Energy:
    """An ANN layer: MACs x mac + memory accesses x mem_access."""
    return Energy({"mac": macs * table.price("mac"),
                   "memory": mem_accesses * table.price("mem_access")})
