"""Load a teacher's weights from a plain state dict file: ours, torchvision-style, or the papers'
reference code (RepDistiller, PyramidNet-PyTorch, CKDSNN, pytorch-cifar).

Accepted files: a state dict {name: tensor}, or a dict holding one under "state_dict", "model",
"model_state_dict" or "net" (also snn2hw's own teacher.pt). Wrapper prefixes ("module." from
DataParallel/DDP, "_orig_mod." from torch.compile) are stripped, and a few layer names that the
reference codes spell differently are mapped onto ours (ALIASES). Anything that still does not
fit is reported by its first key, with the architecture that expects it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from snn2hw.errors import CheckpointError

WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")
PREFIXES = ("module.", "_orig_mod.")
# (their spelling, ours): tried only for keys the architecture does not have as they are.
ALIASES = (
    (".downsample.", ".shortcut."),  # torchvision / RepDistiller ResNets -> snn2hw.models.resnet
    ("linear.", "fc."),  # pytorch-cifar (kuangliu) head
    ("classifier.", "fc."),  # RepDistiller VGG head
)


def _tensor_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """The state dict inside `path` and, for snn2hw checkpoints, their model record."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"teacher weights file {p} does not exist (option --teacher-weights)")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickle/zip/unpickling errors come in many types
        raise CheckpointError(
            f"{p} is not a PyTorch weights file torch.load can read safely "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); pass a state dict "
            "saved with torch.save(model.state_dict(), FILE)"
        ) from None
    record = obj.get("model") if isinstance(obj, dict) and isinstance(obj.get("model"), dict) \
        and "arch" in obj["model"] else None
    if _tensor_dict(obj):
        return obj, None
    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            if _tensor_dict(obj.get(key)):
                return obj[key], record
    found = ", ".join(map(str, list(obj)[:6])) if isinstance(obj, dict) else type(obj).__name__
    raise CheckpointError(
        f"{p} holds no state dict of tensors (found: {found}); expected {{name: tensor}} or a dict "
        f"with one under {', '.join(map(repr, WRAPPER_KEYS))}"
    )


def translate_keys(source: dict[str, torch.Tensor], target: set[str]) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes; rename keys the target lacks through ALIASES where that makes them fit."""
    out: dict[str, torch.Tensor] = {}
    for key, value in source.items():
        k = key
        for prefix in PREFIXES:
            while k.startswith(prefix):
                k = k[len(prefix):]
        if k not in target:
            for theirs, ours in ALIASES:
                # ".x." renames a layer anywhere in the path, "x." only a top-level layer.
                if theirs.startswith("."):
                    cand = k.replace(theirs, ours)
                else:
                    cand = ours + k[len(theirs):] if k.startswith(theirs) else k
                if cand in target:
                    k = cand
                    break
        out[k] = value
    return out


def fit_report(model: nn.Module, arch: str, weights: dict[str, torch.Tensor]) -> str | None:
    """None if weights fit model exactly, else one sentence naming the first mismatched key (in
    the architecture's order), then the counts of missing, misshapen and extra keys."""
    expected = model.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in weights and k not in optional]
    shapes = [k for k in expected if k in weights and tuple(weights[k].shape) != tuple(expected[k].shape)]
    unexpected = [k for k in weights if k not in expected]
    counts = (f"{len(missing)} of {len(expected)} keys missing, {len(shapes)} of another shape, "
              f"{len(unexpected)} extra")
    bad = set(missing) | set(shapes)
    first = next((k for k in expected if k in bad), None)
    if first in shapes:
        return (f"key {first!r}: architecture {arch} expects shape {tuple(expected[first].shape)}, "
                f"the file has {tuple(weights[first].shape)} ({counts})")
    if first is not None:
        return (f"architecture {arch} expects key {first!r}, which the file lacks ({counts}"
                + (f"; the file has e.g. {unexpected[0]!r}" if unexpected else "") + ")")
    if unexpected:
        return f"the file has key {unexpected[0]!r}, which architecture {arch} does not have ({counts})"
    return None


def load_teacher_weights(model: nn.Module, arch: str, path: str | Path) -> None:
    """Load `path` into `model` (architecture `arch`) or raise CheckpointError naming the misfit."""
    source, record = read_state_dict(path)
    if record is not None and record.get("arch") not in (None, arch):
        raise CheckpointError(
            f"{path} is an snn2hw checkpoint of a {record.get('role')} {record.get('arch')!r}, but "
            f"the teacher architecture is {arch!r}; set --teacher-arch {record.get('arch')} (or pass "
            "the checkpoint with --teacher)"
        )
    weights = translate_keys(source, set(model.state_dict()))
    problem = fit_report(model, arch, weights)
    if problem:
        raise CheckpointError(
            f"the weights in {path} do not fit teacher architecture {arch}: {problem}. Choose the "
            "--teacher-arch these weights were trained as, or weights for this architecture and "
            "dataset (input channels and class count must match)"
        )
    model.load_state_dict(weights, strict=False)
