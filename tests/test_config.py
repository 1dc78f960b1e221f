"""Config: YAML in, overrides on top, saved config reloads equal."""

from __future__ import annotations

from snn2hw.config import RunConfig, config_from_dict, resolve_config


def test_precedence_defaults_yaml_set_cli(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  epochs: 7\n  lr: 0.5\ndistill:\n  tau: 2\n")
    cfg = resolve_config(f, {"train.lr": 0.1, "train.epochs": None}, ["distill.weight=0.3"])
    assert cfg.train.epochs == 7  # YAML (CLI option not given)
    assert cfg.train.lr == 0.1  # CLI beats YAML
    assert cfg.distill.tau == 2.0 and isinstance(cfg.distill.tau, float)  # int accepted as float
    assert cfg.distill.weight == 0.3  # --set
    assert cfg.data.dataset == "digits"  # default


def test_yaml_round_trip():
    import yaml

    cfg = RunConfig()
    cfg.student.neuron_params = {"leak": 0.9}
    again = config_from_dict(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg
