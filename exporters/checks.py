"""Checks of what `simulate` and `profile` read before anything runs it: quantization.json, the
run info and layer structure of a netx file, --input/--labels arrays and numeric options. Each
failure is a SimulationError naming the file, key or option and the fix. Also where an export's
run folder is: exports store it relative to themselves, so a moved run (with its export) works.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from exporters.errors import SimulationError

REEXPORT = "re-create it with `snn2hw export RUN_DIR --target loihi`"


def _number(d: dict, key: str, where: str, *, integer: bool = False, minimum: float | None = None,
            required: bool = False) -> None:
    """d[key] must be a finite number (an integer if asked) >= minimum; absent is fine unless required."""
    if key not in d:
        if required:
            raise SimulationError(f"{where} lacks the key {key!r}; the file was edited or is "
                                  f"damaged; {REEXPORT}")
        return
    v = d[key]
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok and integer:
        ok = float(v).is_integer()
    if not ok:
        kind = "an integer" if integer else "a finite number"
        raise SimulationError(f"{where}: {key!r} must be {kind} (got {v!r}); the file was edited "
                              f"or is damaged; {REEXPORT}")
    if minimum is not None and v < minimum:
        raise SimulationError(f"{where}: {key!r} must be >= {minimum:g} (got {v!r}); {REEXPORT}")


def check_quantization(q: Any, path: Path) -> dict:
    """quantization.json must be a mapping with a string run_dir and sane numbers."""
    where = str(path)
    if not isinstance(q, dict):
        raise SimulationError(f"{where} holds a {type(q).__name__}, not the mapping `snn2hw export` "
                              f"writes; {REEXPORT}")
    for key in () if q.get("source") == "nir-import" else ("run_dir",):  # imported NIR: no run
        if key not in q:
            raise SimulationError(f"{where} lacks the key {key!r} (the run folder the export came "
                                  f"from); {REEXPORT}")
    for key in ("run_dir", "run_dir_absolute", "student_checkpoint", "dataset"):
        if key in q and not isinstance(q[key], str):
            raise SimulationError(f"{where}: {key!r} must be a path string (got {q[key]!r}); "
                                  f"{REEXPORT}")
    _number(q, "timesteps", where, integer=True, minimum=1)
    _number(q, "input_scale", where, minimum=1e-12)
    _number(q, "input_message_bits", where, integer=True, minimum=0)
    layers = q.get("layers", [])
    if not isinstance(layers, list) or not all(isinstance(lay, dict) for lay in layers):
        raise SimulationError(f"{where}: 'layers' must be a list of layer records; {REEXPORT}")
    for i, lay in enumerate(layers):
        for key in ("weight_scale", "input_scale"):
            _number(lay, key, f"{where} layer {i}", minimum=1e-300)
    return q


RUN_INFO_INTS = {"timesteps": 1, "num_layers": 1, "reset_interval": 1, "reset_offset": 0,
                 "input_message_bits": 0}


def check_run_info(info: Any, path: Path) -> dict:
    """The `snn2hw` attribute of a netx file (T, input encoding, reset schedule, readout)."""
    where = f"the run info (attribute 'snn2hw') of {path}"
    if not isinstance(info, dict):
        raise SimulationError(f"{where} is a {type(info).__name__}, not a mapping; {REEXPORT}")
    for key, low in RUN_INFO_INTS.items():
        _number(info, key, where, integer=True, minimum=low)
    _number(info, "input_scale", where, minimum=1e-12)
    _number(info, "readout_scale", where, minimum=1e-300)
    if info.get("input_message_bits", 0) > 24:
        raise SimulationError(f"{where}: 'input_message_bits' {info['input_message_bits']} is "
                              f"more than Loihi's 24-bit graded spikes; {REEXPORT}")
    if "readout" in info and info["readout"] not in ("voltage", "spikes"):
        raise SimulationError(f"{where}: 'readout' must be 'voltage' or 'spikes' (got "
                              f"{info['readout']!r}); {REEXPORT}")
    names = info.get("layer_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise SimulationError(f"{where}: 'layer_names' must be a list of strings; {REEXPORT}")
    return info


# ---- netx layer structure -----------------------------------------------------------------------


def _ints(g, key: str, where: str) -> tuple[int, ...]:
    if key not in g:
        raise SimulationError(f"{where} has no {key!r}; the file was edited or is damaged")
    a = np.asarray(g[key][()])
    if a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and np.all(np.isfinite(a))
                                         and np.all(a == np.round(a))):
        raise SimulationError(f"{where}: {key!r} must hold integers (got {a.dtype} {a.ravel()[:4]})")
    return tuple(int(v) for v in a.ravel())


def _type_name(g, where: str) -> str:
    if "type" not in g:
        raise SimulationError(f"{where} has no 'type' (input, conv, flatten or dense); the file "
                              "was edited or is damaged")
    t = g["type"][()]
    t = t[0] if np.ndim(t) and np.size(t) else t
    if isinstance(t, bytes):
        try:
            return t.decode()
        except UnicodeDecodeError:
            raise SimulationError(f"{where}: its 'type' is not text") from None
    return str(t)


def _check_weight_rec(g, n: int, w: np.ndarray, where: str) -> None:
    """A dense_rec layer's recurrent weight: [n, n] (flat n * n only beside a flat 'weight', which
    netx reshapes both of), from the layer's own n neurons to themselves."""
    wr = np.asarray(g["weight_rec"][()]) if "weight_rec" in g else None
    ok = wr is not None and ((wr.ndim == 2 and wr.shape == (n, n))
                             or (w.ndim == 1 and wr.ndim == 1 and wr.size == n * n))
    if not ok:
        raise SimulationError(f"{where}: a recurrent dense layer ('dense_rec') of {n} neurons "
                              f"needs a 'weight_rec' [{n}, {n}] from its own neurons (got "
                              f"{'none' if wr is None else wr.shape})")
    if wr.dtype.kind not in "iuf":
        raise SimulationError(f"{where}: 'weight_rec' must hold numbers (got {wr.dtype})")


def check_netx_layers(f, path: Path, num_layers: int | None = None) -> None:
    """Structure of a netx file's `layer` group: integer keys 0..n-1, a type per layer, positive
    integer shapes, weights whose shapes fit the layer and the layer before, and complete neurons.

    Only checks what a wrong edit or a damaged file breaks; what the layers compute is read_netx's.
    """
    if "layer" not in f:
        raise SimulationError(f"{path} has no 'layer' group: not a netx network file")
    grp = f["layer"]
    keys = list(grp.keys())
    bad = [k for k in keys if not k.isdigit()]
    if bad:
        raise SimulationError(f"{path}: layer key {bad[0]!r} is not an integer; netx layers are "
                              "named 0, 1, 2, ...; the file was edited or is damaged")
    order = sorted(int(k) for k in keys)
    if order != list(range(len(order))):
        raise SimulationError(f"{path}: layers must be numbered 0..{len(order) - 1} without gaps "
                              f"(found {order[:8]}); the file was edited or is damaged")
    if not order:
        raise SimulationError(f"{path} has an empty 'layer' group: no network in it")
    prev: tuple[int, ...] | None = None  # output shape of the layer before (None = unknown)
    if num_layers is not None and num_layers >= 1:
        order = order[:num_layers]  # netx builds only these; later layers are not read
    for k in map(str, order):
        g = grp[k]
        where = f"layer {k} of {path}"
        t = _type_name(g, where)
        if t in ("input", "conv", "dense", "dense_rec"):
            shape = _ints(g, "shape", where)
            if not shape or min(shape) < 1:
                raise SimulationError(f"{where}: 'shape' must be positive integers (got {shape})")
        if "neuron" in g:
            for key in ("iDecay", "vDecay", "vThMant"):
                _ints(g["neuron"], key, f"{where} (neuron)")
        if t == "input":
            prev = shape
        elif t == "flatten":
            prev = (int(np.prod(prev)),) if prev is not None else None
        elif t == "conv":
            w = np.asarray(g["weight"][()]) if "weight" in g else None
            if w is None or w.ndim < 4:
                raise SimulationError(f"{where}: a conv layer needs a 4-D 'weight' [out, in, kh, "
                                      f"kw] (got {None if w is None else w.shape})")
            groups = _ints(g, "groups", where)[0] if "groups" in g else 1
            for key in ("stride", "padding", "dilation"):
                _ints(g, key, where)
            if w.shape[0] != shape[0]:
                raise SimulationError(f"{where}: weight {w.shape} has {w.shape[0]} output channels "
                                      f"but the layer's shape {shape} has {shape[0]}")
            if prev is not None and len(prev) == 3 and w.shape[1] * max(groups, 1) != prev[0]:
                raise SimulationError(f"{where}: weight {w.shape} takes {w.shape[1] * groups} input "
                                      f"channels but the layer before gives {prev[0]} ({prev})")
            prev = shape
        elif t in ("dense", "dense_rec"):
            n = int(np.prod(shape))
            w = np.asarray(g["weight"][()]) if "weight" in g else None
            if w is None or w.ndim not in (1, 2) or (w.ndim == 2 and w.shape[0] != n) \
                    or (w.ndim == 1 and w.size % n):
                raise SimulationError(f"{where}: a dense layer of {n} neurons needs a 'weight' "
                                      f"[{n}, inputs] (got {None if w is None else w.shape})")
            n_in = w.shape[1] if w.ndim == 2 else w.size // n
            if prev is not None and int(np.prod(prev)) != n_in:
                raise SimulationError(f"{where}: weight {w.shape} takes {n_in} inputs but the "
                                      f"layer before gives {int(np.prod(prev))} ({prev})")
            if t == "dense_rec":
                _check_weight_rec(g, n, w, where)
            if "bias" in g and np.size(g["bias"][()]) not in (1, n):
                raise SimulationError(f"{where}: bias of size {np.size(g['bias'][()])} does not "
                                      f"fit {n} neurons")
            prev = shape
        else:
            prev = None  # a type another reader may know: stop the shape chain, read_netx decides
        for key in ("weight", "bias"):
            if key in g and np.asarray(g[key][()]).dtype.kind not in "iuf":
                raise SimulationError(f"{where}: {key!r} must hold numbers (got "
                                      f"{np.asarray(g[key][()]).dtype})")


# ---- run folder of an export (relocatable) -------------------------------------------------------


def relative_run_dir(run_path: Path, out_dir: Path) -> str:
    """run_path as written into quantization.json: relative to the export folder."""
    return os.path.relpath(Path(run_path).resolve(), Path(out_dir).resolve())


def resolve_export_path(value: str, export_dir: Path, absolute: str | None = None,
                        is_ok=lambda p: p.exists()) -> Path:
    """A path stored in an export: relative to the export folder (new), the absolute copy, relative
    to the working directory (exports before 2026-12), in that order; the first that is_ok."""
    raw = Path(value)
    tries = [raw] if raw.is_absolute() else [export_dir / raw]
    if absolute:
        tries.append(Path(absolute))
    if not raw.is_absolute():
        tries.append(raw)
    for p in tries:
        if is_ok(p):
            return p
    return tries[0]


def resolve_run(q: dict, export_dir: Path) -> dict:
    """q with run_dir and student_checkpoint replaced by existing paths where one is found."""
    q = dict(q)
    if "run_dir" not in q and q.get("source") == "nir-import":
        return q
    run = resolve_export_path(q["run_dir"], export_dir, q.get("run_dir_absolute"),
                              lambda p: (p / "config.yaml").is_file())
    if not (run / "config.yaml").is_file() and (export_dir.parent / "config.yaml").is_file():
        run = export_dir.parent  # the default layout RUN_DIR/export
    q["run_dir"] = str(run)
    if isinstance(q.get("student_checkpoint"), str):
        ck = resolve_export_path(q["student_checkpoint"], export_dir,
                                 q.get("student_checkpoint_absolute"), lambda p: p.is_file())
        q["student_checkpoint"] = str(ck if ck.is_file() else run / "student.pt")
    return q


# ---- inputs and options of `simulate` ------------------------------------------------------------


def check_option(value: float, option: str, *, minimum: float = 0.0, integer: bool = False) -> None:
    """A numeric CLI option: finite and >= minimum (a ConfigError naming the option)."""
    from snn2hw.errors import ConfigError

    if not math.isfinite(value) or value < minimum or (integer and not float(value).is_integer()):
        raise ConfigError(f"{option} must be a finite number >= {minimum:g} (got {value})")


def check_inputs(x: Any, y: Any, in_shape: tuple[int, ...], message_bits: int,
                 x_name: str = "--input", y_name: str = "--labels",
                 streams: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Integer inputs [N, *in_shape] (binary unless message_bits > 0) and labels [N].

    streams: also accept time-varying input [N, S, *in_shape] (S >= 1 steps per sample).
    """
    x = np.asarray(x)
    dims = ", ".join(map(str, in_shape))
    want = f"[N, {dims}]" + (f" (static) or [N, S, {dims}] (a stream of S steps per sample)"
                             if streams else "")
    if x.dtype.kind not in "biuf":
        raise SimulationError(f"{x_name} must hold numbers (got dtype {x.dtype}); give an integer "
                              f".npy array {want}")
    static_ok = x.ndim == len(in_shape) + 1 and tuple(x.shape[1:]) == tuple(in_shape)
    stream_ok = streams and x.ndim == len(in_shape) + 2 and tuple(x.shape[2:]) == tuple(in_shape)
    if not (static_ok or stream_ok) or x.size == 0:
        raise SimulationError(f"{x_name} has shape {list(x.shape)}, but the network takes "
                              f"{want} (N >= 1 samples of shape {list(in_shape)})")
    if x.dtype.kind == "f" and not (np.all(np.isfinite(x)) and np.all(x == np.round(x))):
        raise SimulationError(f"{x_name} must hold integer spike values (got fractions or NaN); "
                              "scale and round the inputs first")
    x = x.astype(np.int64)
    hi = 1 if message_bits == 0 else 2 ** message_bits - 1
    if x.min() < 0 or x.max() > hi:
        kind = "binary spikes (0 or 1)" if message_bits == 0 else f"{message_bits}-bit graded spikes"
        raise SimulationError(f"{x_name} values span [{x.min()}, {x.max()}], but {kind} take "
                              f"0..{hi}; change the inputs or --input-message-bits")
    if y is None:
        return x, None
    y = np.asarray(y)
    if y.dtype.kind not in "biu" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise SimulationError(f"{y_name} must hold integer class labels (got dtype {y.dtype})")
    if y.ndim != 1 or len(y) != len(x):
        raise SimulationError(f"{y_name} has shape {list(y.shape)}, but {x_name} holds {len(x)} "
                              f"samples: give one label per sample, shape [{len(x)}]")
    return x, y.astype(np.int64)
