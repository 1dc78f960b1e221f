"""End to end on a tiny real run: `snn2hw profile` writes a JSON/MD/HTML report; bad input fails clearly."""

from __future__ import annotations

import base64
import json
import shutil
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from snn2hw.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    res = runner.invoke(app, [
        "distill", "--name", "tiny", "--runs-dir", str(runs), "--epochs", "1",
        "--teacher-epochs", "1", "--set", "data.train_subset=200", "--set", "data.test_subset=64",
        "--device", "cpu"])
    assert res.exit_code == 0, res.output
    return runs / "tiny"


@pytest.fixture(scope="module")
def profiled(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("profile")
    res = runner.invoke(app, ["profile", str(tiny_run), "--out", str(out), "--samples", "40",
                              "--timesteps", "1,2", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    return out, res.output


class _Imgs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])


def test_report_json_is_consistent(profiled):
    out, _ = profiled
    r = json.loads((out / "report.json").read_text())
    assert r["format"] == "snn2hw-profile/1" and r["samples"] == 40
    names = [L["name"] for L in r["layers"]]
    assert names == ["conv1", "conv2", "fc1", "readout"]
    assert r["totals"]["synops"] == pytest.approx(sum(L["synops"] for L in r["layers"]))
    for L in r["layers"]:
        if L["source"]:
            assert L["synops"] == pytest.approx(sum(L["synops_per_step"]))
            assert 0 <= L["synops"] <= r["timesteps"] * L["connections"]
        if L["neuron"]:
            assert len(L["firing_rate_per_step"]) == r["timesteps"]
            assert L["spikes"] == pytest.approx(L["firing_rate"] * L["neurons"] * r["timesteps"])
    # readout is linear: exact SynOps = spikes of lif3 x 10 outputs
    lif3 = next(L for L in r["layers"] if L["neuron"] == "lif3")
    assert r["layers"][-1]["synops"] == pytest.approx(lif3["spikes"] * 10)
    # spikes reach the readout directly: NeuroBench's input-side rule gives the same count
    assert r["layers"][-1]["input_side_ops"] == pytest.approx(r["layers"][-1]["synops"])
    assert r["layers"][-1]["input_side_kind"] == "AC"
    # after average pooling the input is graded and pooled first: fewer, multiply-type ops
    assert r["layers"][1]["input_side_kind"] == "MAC"
    assert r["layers"][1]["input_side_ops"] <= r["layers"][1]["synops"]
    assert r["layers"][0]["mac_policy"] == "once" and r["first_layer_policy"] == "once"
    assert r["teacher"]["macs"] > 0 and r["teacher"]["params"] > 0
    assert [p["timesteps"] for p in r["accuracy_vs_timesteps"]] == [1, 2]
    from profilers.report import paper_ratio

    t = r["totals"]
    assert paper_ratio(r) == pytest.approx(
        t["same_arch_ann_macs"] * 4.6 / (t["synops"] * 0.9 + t["macs"] * 4.6))
    for e in r["energy"]:
        assert e["snn_pj"] == pytest.approx(sum(e["per_layer_pj"].values()))
        assert e["source"] and e["status"] in ("measured", "simulated", "assumed")


def test_html_is_self_contained_with_valid_pngs(profiled):
    out, _ = profiled
    p = _Imgs()
    p.feed((out / "report.html").read_text())
    assert "script" not in p.tags
    assert len(p.srcs) == 5  # firing rate, ops, energy, raster, accuracy vs T
    for src in p.srcs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        import io

        from PIL import Image

        Image.open(io.BytesIO(png)).verify()
    md = (out / "report.md").read_text()
    assert "| conv2 | lif1 |" in md and "Horowitz" in md


def test_terminal_summary_names_tables_sources_and_status(profiled):
    _, output = profiled
    for needle in ("45nm-compute", "45nm-memory", "loihi1", "loihi2-proxy", "measured",
                   "assumed", "Davies", "SynOps"):
        assert needle in output


def test_run_without_student_is_a_clear_error(tiny_run, tmp_path):
    bare = tmp_path / "teacher-only"
    bare.mkdir()
    shutil.copy(tiny_run / "config.yaml", bare / "config.yaml")
    shutil.copy(tiny_run / "teacher.pt", bare / "teacher.pt")
    res = runner.invoke(app, ["profile", str(bare)])
    assert res.exit_code == 2
    assert "holds no student.pt" in res.output and "snn2hw distill" in res.output
    res = runner.invoke(app, ["profile", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "not an snn2hw run directory" in res.output


def test_cost_table_missing_field_is_a_clear_error(tiny_run, tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("tables:\n  - name: mine\n    title: t\n    source: s\n    status: assumed\n"
                   "    entries:\n      mac: {pj: 1, source: x, status: assumed}\n"
                   "      ac: {pj: 1, status: assumed}\n"
                   "      neuron_update: {pj: 1, source: x, status: assumed}\n")
    res = runner.invoke(app, ["profile", str(tiny_run), "--cost-table", str(bad),
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "entry 'ac' is missing field 'source'" in res.output
    assert "Traceback" not in res.output


def test_bad_timesteps_option(tiny_run, tmp_path):
    res = runner.invoke(app, ["profile", str(tiny_run), "--timesteps", "1,x"])
    assert res.exit_code == 2 and "--timesteps" in res.output


def test_latest_run_is_the_default(tiny_run, tmp_path, monkeypatch):
    res = runner.invoke(app, ["profile", "--runs-dir", str(tiny_run.parent), "--samples", "8",
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "report.html").is_file()


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))
                 if p), None)


@pytest.mark.skipif(_chromium() is None, reason="no headless chromium installed (optional check)")
def test_html_renders_in_headless_chromium_with_every_image_decoded(profiled, tmp_path):
    import subprocess

    out, _ = profiled
    page = tmp_path / "probe.html"
    probe = ("<script>window.addEventListener('load',()=>{const i=[...document.images];"
             "document.title='imgs:'+i.length+':ok:'+i.filter(x=>x.complete&&x.naturalWidth>0)"
             ".length;});</script></body>")
    page.write_text((out / "report.html").read_text().replace("</body>", probe))
    res = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
         "--dump-dom", page.as_uri()], check=False, capture_output=True, text=True, timeout=60)
    assert "<title>imgs:5:ok:5</title>" in res.stdout, res.stderr[-2000:]
