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
    import onnx
    import onnxruntime as ort

    model = model.eval()
    x = torch.rand(4, *in_shape, generator=torch.Generator().manual_seed(0))
    tmp = path.with_name(path.name + ".tmp")
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
        tmp.unlink(missing_ok=True)
        raise ExportError(f"ONNX output differs from PyTorch by {err:.2e} (> {atol}); the teacher "
                          "uses an operator ONNX/onnxruntime translates differently")
    tmp.replace(path)
    return {"onnx_max_abs_error": err, "checked_with": "onnx.checker + onnxruntime"}
