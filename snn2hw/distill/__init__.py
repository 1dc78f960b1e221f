"""Distillation methods: a name -> builder registry (one module per method)."""

from __future__ import annotations

from collections.abc import Callable

from snn2hw.config import DistillConfig
from snn2hw.distill.base import DistillMethod, FeatureShapes, StepOutputs
from snn2hw.distill.ckdsnn import CKDSNN
from snn2hw.distill.idsnn import IDSNN
from snn2hw.distill.kdsnn import KDSNNFeature, KDSNNResponse
from snn2hw.distill.methods import Baseline, ResponseKD
from snn2hw.distill.sastc import SASTC
from snn2hw.errors import ConfigError


def _kd(cfg: DistillConfig) -> DistillMethod:
    return ResponseKD(4.0 if cfg.tau is None else cfg.tau, 1.0 if cfg.weight is None else cfg.weight)


METHODS: dict[str, Callable[[DistillConfig], DistillMethod]] = {
    "baseline": lambda cfg: Baseline(),
    "kd": _kd,
    "kdsnn": lambda cfg: KDSNNResponse(cfg.tau, cfg.weight, cfg.kdsnn_response),
    "kdsnn-feature": lambda cfg: KDSNNFeature(cfg.feature_weight, cfg.feature_pairs, cfg.weight,
                                              cfg.tau, cfg.kdsnn_response),
    "sastc": lambda cfg: SASTC(cfg.tau, cfg.weight, cfg.feature_weight, cfg.sastc_variant,
                               cfg.sastc_embed_dim, cfg.sastc_row_bins, cfg.sastc_similarity,
                               cfg.sastc_rows),
    "ckdsnn": lambda cfg: CKDSNN(cfg.tau, cfg.weight, cfg.feature_weight, cfg.samd_tau, cfg.nld,
                                 cfg.nld_scale, cfg.nld_mode, cfg.nld_weight),
    "idsnn": lambda cfg: IDSNN(cfg.tau, cfg.weight, cfg.idsnn_init, cfg.idsnn_copy_shortcuts,
                               cfg.idsnn_bn_init),
}


def build_method(cfg: DistillConfig) -> DistillMethod:
    if cfg.method not in METHODS:
        raise ConfigError(
            f"unknown distillation method {cfg.method!r}; choose one of {', '.join(METHODS)} "
            "(option --method)"
        )
    return METHODS[cfg.method](cfg)


__all__ = ["METHODS", "DistillMethod", "FeatureShapes", "StepOutputs", "build_method"]
