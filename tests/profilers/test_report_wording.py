"""The profile report reads right: labelled axes with units, steps from 0, accuracy up to 100%,
energy statuses defined in the report and worded as estimates, exclusions stated."""

from __future__ import annotations

import json

import pytest

import snn2hw


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A real profile (with a time-step sweep) of a tiny run, through the Python API."""
    runs = tmp_path_factory.mktemp("runs")
    cfg = snn2hw.resolve_config(overrides={
        "runs_dir": str(runs), "name": "tiny", "train.epochs": 1, "teacher.epochs": 1,
        "data.train_subset": 64, "data.test_subset": 32, "train.device": "cpu"})
    run = snn2hw.distill(cfg)["run_dir"]
    r = snn2hw.profile(run, samples=16, timesteps=(1, 2), device="cpu")
    assert set(r["report_files"]) == {"json", "md", "html"}
    assert json.loads(open(r["report_files"]["json"]).read())["samples"] == 16
    return r


@pytest.fixture(scope="module")
def figs(report):
    import matplotlib.pyplot as plt

    from profilers.report import figures

    out = figures(report)
    yield out
    for f in out.values():
        plt.close(f)


def test_every_axis_has_a_label_with_its_unit(figs):
    assert set(figs) == {"firing_rate", "ops", "energy", "raster", "timesteps"}
    for name, fig in figs.items():
        for ax in fig.axes:
            assert ax.get_ylabel().strip(), f"{name}: an axis without a y label"
            twin_of_labelled = any(
                o is not ax and o.get_xlabel() and ax.get_shared_x_axes().joined(ax, o)
                for o in fig.axes)
            stacked = name == "raster"  # one row per layer, the bottom row carries the x label
            assert ax.get_xlabel().strip() or twin_of_labelled or stacked, f"{name}: no x label"
        assert fig.axes[-1].get_xlabel() or name == "timesteps"
    rate_layer, rate_step = figs["firing_rate"].axes
    assert rate_layer.get_ylabel() == rate_step.get_ylabel() == "firing rate (spikes / neuron / step)"
    per_layer, total = figs["energy"].axes
    assert "nJ / sample" in per_layer.get_ylabel() and "nJ / sample" in total.get_ylabel()
    assert "estimate" in total.get_title()


def test_time_steps_count_from_zero_everywhere(figs, report):
    T = report["timesteps"]
    line = figs["firing_rate"].axes[1].get_lines()[0]
    assert list(line.get_xdata()) == list(range(T))
    assert [t for t in figs["firing_rate"].axes[1].get_xticks()] == list(range(T))
    raster_ax = figs["raster"].axes[0]
    assert raster_ax.get_ylim() == (-0.5, T - 0.5) and "from 0" in raster_ax.get_ylabel()
    steps = {t for pts in report["raster"].values() for t, _ in pts}
    assert steps <= set(range(T))


def test_accuracy_axis_ends_at_100_percent(figs):
    acc = figs["timesteps"].axes[0]
    assert acc.get_ylabel() == "accuracy (%)" and acc.get_ylim()[1] == 100


def test_report_defines_statuses_and_states_exclusions(report):
    from profilers.report import ENERGY_DEFINITIONS, STEP_RULE, status_label

    md = open(report["report_files"]["md"]).read()
    html = open(report["report_files"]["html"]).read()
    loihi = next(e for e in report["energy"] if e["table"] == "loihi1")
    assert loihi["status"] == "measured"  # the data keep the table's status...
    label = status_label(loihi)  # ...the reader sees what it means
    assert label.startswith("estimate from measured per-op costs")
    for text in (md, html):
        assert "| loihi1 | measured |" not in text and "| loihi1 | estimate from measured" in md
        assert "Nothing was measured on hardware" in text
        assert "static and leakage power" in text and "spike routing" in text
        assert "measured: measured on the chip" in text and "assumed: our assumption" in text
        assert "counted from 0" in text
    assert all(d.split(":")[0] in md for d in ENERGY_DEFINITIONS) and STEP_RULE in md
    assert "| 45nm-compute | estimate from circuit-simulated per-op costs" in md


def test_status_label_words_every_status_the_same_way():
    from profilers.report import status_label

    e = {"status": "assumed", "status_detail": "assumed, except ac simulated, mac measured"}
    assert status_label(e) == ("estimate from assumed per-op costs, except ac circuit-simulated, "
                               "mac measured")
