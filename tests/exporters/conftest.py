"""Fixtures for exporter tests: small students built in memory and one tiny distilled run."""

from __future__ import annotations

import shutil

import pytest
import torch

TINY_ARGS = [
    "--epochs", "1", "--teacher-epochs", "1",
    "--set", "data.train_subset=192", "--set", "data.test_subset=96", "--batch-size", "64",
]


@pytest.fixture
def digits_like() -> torch.Tensor:
    """Inputs like sklearn digits: 8x8 pixels with values k/16."""
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 17, (24, 1, 8, 8), generator=g).float() / 16


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A real run directory from a few-second `snn2hw distill`."""
    from typer.testing import CliRunner

    from snn2hw.cli import app

    runs = tmp_path_factory.mktemp("runs")
    r = CliRunner().invoke(app, ["distill", "--name", "tiny", "--runs-dir", str(runs), *TINY_ARGS])
    assert r.exit_code == 0, r.output
    return runs / "tiny"


@pytest.fixture
def cli():
    from typer.testing import CliRunner

    from snn2hw.cli import app

    def run(*args):
        return CliRunner().invoke(app, [str(a) for a in args])

    return run


@pytest.fixture
def resnet_run(tiny_run, tmp_path):
    """The tiny run with its student replaced by a digits-resnet (BN statistics randomized)."""
    from graph_helpers import randomize_bn

    from snn2hw.models.registry import ModelSpec, build_model
    from snn2hw.runs import load_checkpoint, save_checkpoint

    run = tmp_path / "res"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("export"))
    ck = load_checkpoint(run / "student.pt")
    ck["model"]["arch"] = "digits-resnet"
    model = build_model(ModelSpec.from_dict(ck["model"])).eval()
    randomize_bn(model)
    ck["state_dict"] = model.state_dict()
    save_checkpoint(run / "student.pt", ck)
    return run, model
