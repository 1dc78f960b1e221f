"""Use snn2hw from Python: distill a student on the embedded digits set, then reload it.

Run: uv run python examples/python_api.py
"""

import torch

from snn2hw.config import resolve_config
from snn2hw.pipeline import distill, load_model

cfg = resolve_config(None, {"name": "api-demo", "train.epochs": 10, "teacher.epochs": 5})
summary = distill(cfg)
print(f"student test accuracy: {summary['student']['test_acc']:.3f} in {summary['run_dir']}")

student, spec, _ = load_model(f"{summary['run_dir']}/student.pt", "student")
with torch.no_grad():
    logits = student(torch.rand(2, *spec.in_shape))
print("logits for two random images:", logits.shape)
