"""Distillation methods: a name -> builder registry (one module per method)."""

from __future__ import annotations

from typing import Callable

from snn2hw.config import DistillConfig
from snn2hw.distill.base import DistillMethod, StepOutputs
from snn2hw.distill.methods import Baseline, ResponseKD
from snn2hw.errors import ConfigError

METHODS: dict[str, Callable[[DistillConfig], DistillMethod]] = {
    "baseline": lambda cfg: Baseline(),
    "kd": lambda cfg: ResponseKD(cfg.tau, cfg.weight),
}


def build_method(cfg: DistillConfig) -> DistillMethod:
    if cfg.method not in METHODS:
        raise ConfigError(
            f"unknown distillation method {cfg.method!r}; choose one of {', '.join(METHODS)} "
            "(option --method)"
        )
    return METHODS[cfg.method](cfg)


__all__ = ["METHODS", "DistillMethod", "StepOutputs", "build_method"]
