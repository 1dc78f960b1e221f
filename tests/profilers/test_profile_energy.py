"""Energy = counts x table entries; every entry carries a source; bad tables give clear errors."""

from __future__ import annotations

import pytest
import yaml

from profilers.energy import (
    REQUIRED_ENTRIES,
    STATUSES,
    ann_energy,
    builtin_tables,
    load_tables,
    resolve_tables,
    snn_energy,
)
from profilers.errors import ProfileError


def test_builtin_tables_have_sources_and_statuses():
    tables = {t.name: t for t in builtin_tables()}
    assert set(tables) == {"45nm-compute", "45nm-memory", "loihi1", "loihi2-proxy"}
    for t in tables.values():
        assert t.source.strip() and t.status in STATUSES
        assert set(REQUIRED_ENTRIES) <= set(t.entries)
        for op, e in t.entries.items():
            assert e.source.strip(), (t.name, op)
            assert e.status in STATUSES
    assert tables["45nm-compute"].entries["mac"].pj == 4.6
    assert tables["45nm-compute"].entries["ac"].pj == 0.9
    assert tables["loihi1"].entries["ac"].pj == 23.6 and tables["loihi1"].status == "measured"
    assert all(e.status == "assumed" for e in tables["loihi2-proxy"].entries.values())


def test_energy_is_counts_times_prices():
    t = {t.name: t for t in builtin_tables()}
    counts = {"macs": 100, "synops": 1000, "neuron_updates": 50, "active_updates": 30,
              "spikes": 20, "mem_reads": 7, "mem_writes": 3}
    e = snn_energy(counts, t["45nm-memory"])
    assert e.total_pj == pytest.approx(100 * 4.6 + 1000 * 0.9 + 50 * 4.6 + 10 * 20.0)
    lo = snn_energy(counts, t["loihi1"])
    assert lo.total_pj == pytest.approx(100 * 23.6 + 1000 * 23.6 + 30 * 81 + 20 * 52 + 20 * 1.7)
    assert lo.compute_pj["memory"] == 0.0
    assert ann_energy(10, 25, t["45nm-memory"]).total_pj == pytest.approx(46 + 500)
    assert ann_energy(10, 25, t["45nm-compute"]).total_pj == pytest.approx(46)


GOOD = {"name": "mine", "title": "My chip", "source": "my lab notebook p. 3", "status": "measured",
        "entries": {op: {"pj": 1.0, "source": "bench", "status": "measured"}
                    for op in REQUIRED_ENTRIES}}


def _write(tmp_path, table):
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump({"tables": [table]}))
    return p


def test_user_table_loads_and_is_added(tmp_path):
    tables = resolve_tables([_write(tmp_path, GOOD)])
    assert [t.name for t in tables][-1] == "mine"
    assert len(tables) == 5


@pytest.mark.parametrize("drop,needle", [
    (("source",), "field 'source' is missing"),
    (("entries", "ac"), "entry 'ac' is missing"),
    (("entries", "mac", "source"), "entry 'mac' is missing field 'source'"),
    (("entries", "neuron_update", "pj"), "entry 'neuron_update' is missing field 'pj'"),
])
def test_missing_field_is_named(tmp_path, drop, needle):
    import copy

    bad = copy.deepcopy(GOOD)
    d = bad
    for k in drop[:-1]:
        d = d[k]
    del d[drop[-1]]
    with pytest.raises(ProfileError, match=needle) as ei:
        load_tables(_write(tmp_path, bad))
    assert "'mine'" in str(ei.value) and "t.yaml" in str(ei.value)


def test_bad_status_and_missing_file(tmp_path):
    bad = dict(GOOD, status="guessed")
    with pytest.raises(ProfileError, match="status 'guessed'"):
        load_tables(_write(tmp_path, bad))
    with pytest.raises(ProfileError, match="does not exist"):
        load_tables(tmp_path / "nope.yaml")
    with pytest.raises(ProfileError, match="not defined"):
        resolve_tables([_write(tmp_path, dict(GOOD, ann_reference="nope"))])
