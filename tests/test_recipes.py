"""Recipes: each file equals its row in docs/recipes.md (the transcribed sources), builds, and
trains 2 steps through the real pipeline on random data of the dataset's shape."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from snn2hw.config import config_from_dict
from snn2hw.models import STUDENTS, TEACHERS, ModelSpec, build_model
from snn2hw.recipes import load_recipe, load_recipes, recipe_config

DOCS = Path(__file__).resolve().parents[1] / "docs" / "recipes.md"
RECIPES = load_recipes()
# One recipe per method trains in the default run (the lightest of each method at its dataset's
# real shape); the other recipes' 2-step runs are marked slow (2-8 s each on a quiet 2-core CPU,
# about 5 min together, 3x that on a loaded one).
PER_METHOD = ("kdsnn-cifar10-vgg11-resnet18", "kdsnn-cifar10-wrn16-2-preresnet20-feature",
              "sastc-cifar10-wrn16-2-pyramidnet20", "idsnn-cifar10-resnet18-resnet34",
              "ckdsnn-cifar10-resnet19")


def docs_table() -> dict[str, dict[str, str]]:
    """The recipe table of docs/recipes.md: {recipe: {column: cell}}."""
    lines = [ln for ln in DOCS.read_text().splitlines() if ln.startswith("| ")]
    header_i = next(i for i, ln in enumerate(lines) if ln.startswith("| recipe |"))
    cols = [c.strip() for c in lines[header_i].strip("|").split("|")]
    rows = {}
    for ln in lines[header_i + 1:]:
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if len(cells) == len(cols):
            rows[cells[0]] = dict(zip(cols, cells))
    return rows


def test_every_recipe_has_one_docs_row_and_back():
    rows = docs_table()
    assert sorted(rows) == sorted(r.name for r in RECIPES)
    assert len(RECIPES) >= 30  # KDSNN 13 + SASTC 15 + IDSNN 2 + CKDSNN 2


def _num(cell: str):
    return None if cell == "-" else float(cell)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.name)
def test_recipe_equals_its_source_row(recipe):
    row = docs_table()[recipe.name]
    c, t = recipe.config, recipe.config["train"]
    assert (recipe.paper, recipe.table, recipe.row) == (row["paper"], row["table"], row["row"])
    assert c["data"]["dataset"] == row["dataset"] and c["data"]["batch_size"] == int(row["batch"])
    assert c["student"]["timesteps"] == int(row["T"]) and c["student"]["arch"] == row["student"]
    assert c["teacher"]["arch"] == row["teacher"] and c["distill"]["method"] == row["method"]
    assert c["student"]["neuron"] == row["neuron"] and t["optimizer"] == row["optimizer"]
    assert t["lr"] == _num(row["lr"]) and t["momentum"] == _num(row["momentum"])
    assert t["weight_decay"] == _num(row["weight decay"]) and t["epochs"] == int(row["epochs"])
    m = re.fullmatch(r"multistep (\[[0-9, ]+\]) x([0-9.]+)", row["schedule"])
    if m:
        assert t["schedule"] == "multistep" and t["milestones"] == json.loads(m.group(1))
        assert t["gamma"] == float(m.group(2))
    else:
        assert t["schedule"] == row["schedule"]
    assert recipe.expected() == _num(row["reported (%)"])
    assert recipe.sources["training"] == row["source of the training hyperparameters"]
    # The teacher is trained the same way (all four papers train both with one recipe).
    for k in ("optimizer", "lr", "momentum", "weight_decay", "schedule", "epochs"):
        assert c["teacher"][k] == t[k]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.name)
def test_recipe_config_is_valid_and_names_registered_networks(recipe):
    cfg = config_from_dict(recipe.config)
    assert cfg.student.arch in STUDENTS and cfg.teacher.arch in TEACHERS
    assert cfg.train.schedule in ("cosine", "multistep")


def _smoke(recipe, tmp_path):
    """Build the recipe's teacher (random weights, given as --teacher-weights) and student, and
    train the student 2 steps (batch 2, T=1) through snn2hw.pipeline.distill on fake data."""
    from snn2hw.data import load_dataset
    from snn2hw.pipeline import distill, event_options

    dataset = "fake-" + recipe.config["data"]["dataset"]
    over = {"data.dataset": dataset, "data.batch_size": 2, "data.train_subset": 4,
            "data.test_subset": 2, "student.timesteps": 1, "train.epochs": 1,
            "runs_dir": str(tmp_path), "train.device": "cpu", "name": "smoke",
            "data.frame_size": 32 if recipe.config["data"].get("frame_size") else None}
    cfg = recipe_config(recipe, [], over)
    bundle = load_dataset(dataset, "data", False, event_options(cfg))
    torch.manual_seed(0)
    teacher = build_model(ModelSpec("teacher", cfg.teacher.arch, bundle.in_shape, bundle.num_classes))
    weights = tmp_path / "teacher_weights.pt"
    torch.save({"model": {k: v for k, v in teacher.state_dict().items()}}, weights)
    cfg = recipe_config(recipe, [], {**over, "teacher.weights": str(weights)})
    s = distill(cfg)
    lines = (tmp_path / "smoke" / "metrics.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    assert last["phase"] == "student" and last["epoch"] == 1
    assert s["student"]["arch"] == recipe.config["student"]["arch"]
    assert s["teacher"]["source"] == str(weights)
    assert (tmp_path / "smoke" / "student.pt").exists()


def test_one_recipe_per_method_is_in_the_default_run():
    methods = {load_recipe(n).config["distill"]["method"] for n in PER_METHOD}
    assert methods == {r.config["distill"]["method"] for r in RECIPES}


@pytest.mark.parametrize("recipe", [r for r in RECIPES if r.name in PER_METHOD], ids=lambda r: r.name)
def test_recipe_trains_two_steps_on_fake_data(recipe, tmp_path):
    _smoke(recipe, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", [r for r in RECIPES if r.name not in PER_METHOD],
                         ids=lambda r: r.name)
def test_every_other_recipe_trains_two_steps_on_fake_data(recipe, tmp_path):
    _smoke(recipe, tmp_path)


def test_recipes_command_lists_recipes_with_reported_numbers(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    r = cli("recipes", "--json")
    assert r.exit_code == 0, r.output
    rows = {x["name"]: x for x in json.loads(r.output)}
    assert rows["sastc-cifar10-vgg11-resnet19"]["reported"] == 93.55
    assert rows["idsnn-cifar100-resnet18-resnet34"]["reported"] == 75.24
    assert rows["kdsnn-cifar10-vgg11-pyramidnet18"]["teacher"] == "pyramidnet18"
    r = cli("recipes", "--paper", "idsnn")
    assert r.exit_code == 0 and "idsnn-cifar10-resnet18-resnet34" in r.output
    assert "94.03%" in r.output and "75.24%" in r.output and "sastc-" not in r.output


def test_distill_recipe_with_cli_overrides(cli, tmp_path):
    r = cli("distill", "--recipe", "kdsnn-cifar10-resnet14-preresnet20-feature",
            "--dataset", "fake-cifar10", "--batch-size", "2", "--set", "data.train_subset=4",
            "--set", "data.test_subset=2", "-T", "1", "--epochs", "1", "--teacher-epochs", "1",
            "--runs-dir", tmp_path, "--name", "run", "--device", "cpu")
    assert r.exit_code == 0, r.output
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert "arch: resnet14" in saved and "arch: preresnet20" in saved  # from the recipe
    assert "timesteps: 1" in saved and "milestones: []" in saved  # overridden; recipe's schedule
    assert "method: kdsnn-feature" in saved and "optimizer: sgd" in saved


def test_unknown_recipe_and_recipe_with_config_are_clean_errors(cli, tmp_path):
    r = cli("distill", "--recipe", "sastc-cifar10-vgg12", "--runs-dir", tmp_path)
    assert r.exit_code == 2 and "unknown recipe 'sastc-cifar10-vgg12'" in r.output
    assert "snn2hw recipes" in r.output
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train: {epochs: 1}\n")
    r = cli("distill", "--recipe", "sastc-cifar10-vgg11-resnet19", "--config", cfg, "--runs-dir", tmp_path)
    assert r.exit_code == 2 and "--recipe and --config" in r.output


def test_recipe_T_override_picks_the_papers_number_for_that_T():
    r = load_recipe("sastc-cifar100-resnet18-resnet32x4")
    assert (r.expected(), r.expected(3), r.expected(7), r.expected(5)) == (80.28, 80.24, 80.68, None)


def test_teacher_weights_of_another_architecture_is_a_clean_error(cli, tmp_path):
    from snn2hw.models import ModelSpec, build_model

    torch.save(build_model(ModelSpec("teacher", "wrn40-2", (3, 32, 32), 10)).state_dict(),
               tmp_path / "wrn.pth")
    r = cli("distill", "--recipe", "kdsnn-cifar10-resnet14-preresnet20-feature",
            "--dataset", "fake-cifar10", "--teacher-weights", tmp_path / "wrn.pth",
            "--runs-dir", tmp_path, "--device", "cpu")
    assert r.exit_code == 2, r.output
    assert "do not fit teacher architecture preresnet20" in r.output
    assert "key 'conv1.weight'" in r.output or "expects key" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "runs").exists()


def test_multistep_without_milestones_is_a_config_error():
    from snn2hw.errors import ConfigError

    r = load_recipe("idsnn-cifar10-resnet18-resnet34")
    with pytest.raises(ConfigError, match=r"train.schedule multistep needs .*train.milestones"):
        recipe_config(r, ["train.milestones=[]"])
    with pytest.raises(ConfigError, match=r"teacher.milestones must be a list of positive epoch"):
        recipe_config(r, ["teacher.milestones=[0, 10]"])
    cfg = recipe_config(r, ["teacher.milestones=[5]"], {"train.epochs": 9})
    from snn2hw.config import teacher_train_config

    t = teacher_train_config(cfg)
    assert (t.milestones, t.weight_decay, t.optimizer, t.schedule) == ([5], 1e-4, "sgd", "multistep")


def test_schedules_give_the_learning_rates_of_the_papers():
    import dataclasses

    from snn2hw.config import TrainConfig
    from snn2hw.train import _optimizer, _scheduler

    def lrs(**kw):
        cfg = dataclasses.replace(TrainConfig(), optimizer="sgd", **kw)
        opt = _optimizer([torch.nn.Parameter(torch.zeros(1))], cfg, 0.05)
        sched, out = _scheduler(opt, cfg, 6), []
        for _ in range(6):
            out.append(round(opt.param_groups[0]["lr"], 6))
            opt.step()
            if sched is not None:
                sched.step()
        return out, opt

    steps, opt = lrs(schedule="multistep", milestones=[2, 4], gamma=0.1, nesterov=True)
    assert steps == [0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005] and opt.defaults["nesterov"]
    assert lrs(schedule="none")[0] == [0.05] * 6
    assert lrs()[0][0] == 0.05 and lrs()[0][3] == 0.025  # cosine over 6 epochs (old key)


def test_teacher_command_trains_a_recipes_teacher_with_its_schedule(cli, tmp_path):
    r = cli("teacher", "--recipe", "kdsnn-cifar10-wrn16-2-preresnet20-feature", "--dataset",
            "fake-cifar10", "--batch-size", "2", "--set", "data.train_subset=4", "--set",
            "data.test_subset=2", "--epochs", "1", "--runs-dir", tmp_path, "--name", "t",
            "--device", "cpu")
    assert r.exit_code == 0, r.output
    ck = torch.load(tmp_path / "t" / "teacher.pt", weights_only=False)
    assert ck["model"]["arch"] == "preresnet20" and ck["complete"]
    assert ck["optimizer"]["param_groups"][0]["momentum"] == 0.9  # the recipe's SGD, not Adam
    assert ck["optimizer"]["param_groups"][0]["weight_decay"] == 5e-4
