"""The GPU suite's driver: what it records when a variant cannot run here, and its summary."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

SUITE = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_suite.py"


def _suite():
    spec = importlib.util.spec_from_file_location("gpu_suite", SUITE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cuda_graph_variant_on_cpu_is_recorded_as_skipped():
    s = _suite()
    row = s.bench_snn2hw("snn2hw triton + cuda-graphs", "auto", True, False, dev=torch.device("cpu"),
                         B=2, T=2, dtype="fp32", iters=1, warmup=1)
    assert row["skipped"] == "CUDA graphs need a CUDA device" and "img_per_s" not in row


def test_summary_takes_the_best_of_each_side_per_size():
    rows = [
        {"source": "snn2hw", "variant": "a", "B": 512, "dtype": "bf16", "img_per_s": 50.0},
        {"source": "snn2hw", "variant": "b", "B": 512, "dtype": "bf16", "img_per_s": 60.0},
        {"source": "peer", "variant": "p", "B": 512, "dtype": "bf16", "img_per_s": 40.0},
        {"source": "peer", "variant": "q", "B": 512, "dtype": "bf16", "error": "missing"},
        {"source": "snn2hw", "variant": "a", "B": 128, "dtype": "fp32", "img_per_s": 10.0},
    ]
    out = _suite().summarize(rows)
    assert out["B512 bf16"]["snn2hw"]["variant"] == "b"
    assert out["B512 bf16"]["ratio"] == 1.5
    assert "ratio" not in out["B128 fp32"]  # no peer measured at that size
