"""Teacher ANN -> ONNX, checked with onnx.checker and onnxruntime against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from exporters.errors import ExportError


def export_onnx(model: nn.Module, in_shape: tuple[int, ...], path: Path, *,
                atol: float = 1e-4) -> dict[str, Any]:
    """Write `model` (eval mode) as ONNX at `path` (atomic) and verify it; returns the check."""
    from snn2hw.fileio import atomic_write_with

    model = model.eval()
    x = torch.rand(4, *in_shape, generator=torch.Generator().manual_seed(0))
    check: dict[str, Any] = {}
    atomic_write_with(path, lambda tmp: check.update(_export_checked(model, x, tmp, atol)),
                      what="ONNX file")
    return check


def _export_checked(model: nn.Module, x: torch.Tensor, tmp: Path, atol: float) -> dict[str, Any]:
    """torch.onnx.export into `tmp`, then onnx.checker and onnxruntime against PyTorch."""
    import onnx
    import onnxruntime as ort

    torch.onnx.export(model, (x,), str(tmp), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    onnx.checker.check_model(onnx.load(str(tmp)))
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        ref = model(x).numpy()
    err = float(np.abs(got - ref).max())
    if err > atol:
        raise ExportError(f"ONNX output differs from PyTorch by {err:.2e} (> {atol}); the teacher "
                          "uses an operator ONNX/onnxruntime translates differently")
    return {"onnx_max_abs_error": err, "checked_with": "onnx.checker + onnxruntime"}
