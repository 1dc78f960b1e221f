"""Recipes: one YAML per headline table row of the four papers (recipes/*.yaml).

A recipe holds an snn2hw run configuration (`config`, any key of a config file) and what the
paper reports for that row (`reported`: top-1 test accuracy in %, by number of time steps), with
the table, the row and where each hyperparameter comes from (`sources`). docs/recipes.md lists
them; tests/test_recipes.py checks each file against that table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from snn2hw.config import config_from_dict, set_key
from snn2hw.errors import ConfigError

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"
REQUIRED = ("paper", "table", "row", "reported", "augmentation", "config")


@dataclass
class Recipe:
    name: str
    paper: str
    table: str
    row: str
    augmentation: str
    config: dict
    reported: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    notes: str = ""
    path: Path | None = None

    @property
    def timesteps(self) -> int:
        return int(self.config["student"]["timesteps"])

    def expected(self, timesteps: int | None = None) -> float | None:
        """The paper's accuracy (%) for this row at T (default: the recipe's T); None if not reported."""
        by_t = self.reported.get("by_timesteps") or {}
        return by_t.get(int(timesteps or self.timesteps))

    def config_dict(self, overrides: dict[str, Any] | None = None) -> dict:
        """The recipe's config as a nested dict with dotted `overrides` applied (None = keep)."""
        import copy

        data = copy.deepcopy(self.config)
        for key, value in (overrides or {}).items():
            if value is not None:
                set_key(data, key, value)
        return data

    def summary(self) -> dict[str, Any]:
        """The fields `snn2hw recipes` shows."""
        c, t, s = self.config, self.config.get("train", {}), self.config.get("student", {})
        sched = t.get("schedule") or t.get("scheduler", "cosine")
        if sched == "multistep":
            sched = f"multistep {t.get('milestones')} x{t.get('gamma', 0.1)}"
        return {
            "name": self.name, "paper": self.paper, "source": f"{self.table}, {self.row}",
            "dataset": c["data"]["dataset"], "T": s.get("timesteps"), "student": s.get("arch"),
            "teacher": c.get("teacher", {}).get("arch"), "method": c["distill"]["method"],
            "optimizer": f"{t.get('optimizer', 'adam')} lr {t.get('lr')}", "schedule": sched,
            "epochs": t.get("epochs"), "batch": c["data"].get("batch_size"),
            "augmentation": self.augmentation, "reported": self.expected(),
        }


def _read(path: Path) -> Recipe:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"recipe {path} is not valid YAML: {e}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {path} must hold a mapping of keys")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise ConfigError(f"recipe {path} lacks the key {missing[0]!r} (needs {', '.join(REQUIRED)})")
    known = {"paper", "table", "row", "augmentation", "config", "reported", "sources", "notes", "name"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"recipe {path} has unknown key {unknown[0]!r}; valid: {', '.join(sorted(known))}")
    data.pop("name", None)
    return Recipe(name=path.stem, path=path, **data)


def recipe_paths(directory: Path = RECIPES_DIR) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def load_recipes(directory: Path = RECIPES_DIR) -> list[Recipe]:
    return [_read(p) for p in recipe_paths(directory)]


def load_recipe(name: str, directory: Path = RECIPES_DIR) -> Recipe:
    """A recipe by name (file stem under recipes/) or by the path of a recipe file."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return _read(p)
    path = directory / f"{name}.yaml"
    if not path.is_file():
        names = [q.stem for q in recipe_paths(directory)]
        close = [n for n in names if name.lower() in n] or names
        raise ConfigError(
            f"unknown recipe {name!r}; `snn2hw recipes` lists them (e.g. {', '.join(close[:5])})"
        )
    return _read(path)


def recipe_config(recipe: Recipe, assignments: list[str] = (), overrides: dict[str, Any] | None = None):
    """RunConfig of a recipe: recipe <- --set assignments <- explicit CLI options (None = not given)."""
    from snn2hw.config import parse_assignment

    data = recipe.config_dict()
    for text in assignments:
        set_key(data, *parse_assignment(text))
    for key, value in (overrides or {}).items():
        if value is not None:
            set_key(data, key, value)
    return config_from_dict(data)
