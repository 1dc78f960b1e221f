"""Quantized network <-> lava-dl netx HDF5 (`model.net`), in the layout lava-dl's slayer export writes.

File: group `layer/<i>` per layer with `type` ('input' | 'conv' | 'flatten' | 'dense'), `shape`
(C, H, W) or (n,), integer `weight` (conv: O, I, kh, kw in PyTorch layout; dense: O, I), `bias`,
conv `stride/padding/dilation` (H, W) and `groups`, and `neuron/{type, iDecay, vDecay, vThMant,
refDelay, gradedSpike}`. Other tools' files may also hold 'dense_rec' layers (a dense layer with a
recurrent `weight_rec` [n, n] from its own spikes, lava-dl's RecurrentDense), which `read_netx`
reads. snn2hw adds root attributes (ignored by netx): `snn2hw` (JSON with
timesteps, input scale, message bits, readout scale) so files run the same way everywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exporters.errors import SimulationError
from exporters.quantize import QuantizedNet


def _neuron(g, i_decay: int, v_decay: int, vth: int) -> None:
    g.create_dataset("neuron/type", data="CUBA")
    g.create_dataset("neuron/iDecay", data=int(i_decay))
    g.create_dataset("neuron/vDecay", data=int(v_decay))
    g.create_dataset("neuron/vThMant", data=int(vth))
    g.create_dataset("neuron/refDelay", data=1)
    g.create_dataset("neuron/gradedSpike", data=False)


def _type(g, name: str) -> None:
    g.create_dataset("type", (1,), "S10", [name.encode("ascii")])


def run_info(q: QuantizedNet, readout: str = "voltage") -> dict[str, Any]:
    """What a runner needs beyond the layers: T, input encoding, reset schedule, readout scale."""
    return {
        "format": "snn2hw-netx-1", "timesteps": q.timesteps, "input_scale": q.input_scale,
        "input_message_bits": q.input_message_bits, "num_layers": len(q.layers),
        "reset_interval": q.timesteps + len(q.layers), "reset_offset": 1,
        "readout": readout, "readout_scale": 64.0 * q.layers[-1].scale * q.timesteps,
        "layer_names": [lay.name for lay in q.layers],
    }


def write_netx(path: Path, q: QuantizedNet, readout: str = "voltage") -> None:
    """Write `q` as a netx HDF5 file (temp file + rename); readout: last layer's voltage or spikes."""
    from snn2hw.fileio import atomic_write_with

    write = (lambda tmp: _write_netx_to(tmp, q)) if readout == "voltage" else \
        (lambda tmp: _write_netx_to(tmp, q, readout))
    atomic_write_with(path, write, what="netx file")


def _write_netx_to(tmp: Path, q: QuantizedNet, readout: str = "voltage") -> None:
    import h5py

    with h5py.File(tmp, "w") as f:
        f.attrs["snn2hw"] = json.dumps(run_info(q, readout))
        root = f.create_group("layer")
        g = root.create_group("0")
        _type(g, "input")
        g.create_dataset("shape", data=np.array(q.in_shape))
        i = 1
        for lay in q.layers:
            fl = lay.float_layer
            if fl.flatten_before:
                g = root.create_group(str(i))
                _type(g, "flatten")
                g.create_dataset("shape", data=np.array([int(np.prod(fl.in_shape))]))
                i += 1
            g = root.create_group(str(i))
            i += 1
            _type(g, lay.kind)
            g.create_dataset("shape", data=np.array(fl.out_shape))
            g.create_dataset("weight", data=lay.weight.astype(np.int64))
            g.create_dataset("bias", data=lay.bias.astype(np.int64))
            if lay.kind == "conv":
                g.create_dataset("inChannels", data=int(fl.in_shape[0]))
                g.create_dataset("outChannels", data=int(fl.out_shape[0]))
                g.create_dataset("kernelSize", data=np.array(lay.weight.shape[2:]))
                g.create_dataset("stride", data=np.array(fl.stride))
                g.create_dataset("padding", data=np.array(fl.padding))
                g.create_dataset("dilation", data=np.array(fl.dilation))
                g.create_dataset("groups", data=int(fl.groups))
            else:
                g.create_dataset("inFeatures", data=int(lay.weight.shape[1]))
                g.create_dataset("outFeatures", data=int(lay.weight.shape[0]))
            _neuron(g, lay.i_decay, lay.v_decay, lay.v_th_mant)


# ---- reading any netx file (ours or lava-dl slayer's) -------------------------------------------


@dataclass
class NetxLayer:
    """One layer as netx builds it: synapse integers exactly as Lava will use them, plus neuron."""

    kind: str  # input | conv | dense (a dense_rec layer is a dense one with weight_rec)
    shape: tuple[int, ...]  # netx order reversed back to (C, H, W) or (n,)
    weight: np.ndarray | None = None  # effective integer weight (after netx's weight handling)
    weight_rec: np.ndarray | None = None  # dense_rec: effective recurrent weight [n, n], same exp
    weight_exp: int = 0
    bias: np.ndarray | None = None  # bias_mant broadcast to `shape`
    i_decay: int = 4096
    v_decay: int = 0
    vth: int = 0
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    flatten_before: bool = False
    delay: np.ndarray | None = None
    in_shape: tuple[int, ...] | None = None
    in_weight: int = 64  # input layer: netx's input transform a_in = in_weight * x + in_bias
    in_bias: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class NetxFile:
    """A parsed netx network: neuron layers in order, input shape, and snn2hw run info if present."""

    path: Path
    in_shape: tuple[int, ...]
    layers: list[NetxLayer]
    info: dict
    groups_read: int = 0  # hdf5 layer groups parsed (netx's `num_layers` counts these)
    groups_total: int = 0

    @property
    def is_snn2hw(self) -> bool:
        """True for files `snn2hw export` wrote (they carry their run info and reset schedule)."""
        return bool(self.info.get("timesteps"))


# netx 0.6 layer types it cannot build (hdf5.Network raises NotImplementedError), and the others
NOT_IN_NETX = ("pool", "convT", "unpool", "average", "concat")


def optimize_weight_bits(weight: np.ndarray) -> tuple[np.ndarray, int, int, int]:
    """lava.lib.dl.netx.utils.optimize_weight_bits, re-implemented (importing netx costs ~7 s)."""
    weight = np.asarray(weight)
    max_w, min_w = np.max(weight), np.min(weight)
    if max_w > 254 and min_w < 0:
        weight = np.clip(weight, -256, 254)
        max_w = np.max(weight)
    if min_w < -256 and max_w > 0:
        weight = np.clip(weight, -256, 254)
        min_w = np.min(weight)
    if max_w < 0:
        sign_mode, is_signed = 3, 0
    elif min_w >= 0:
        sign_mode, is_signed = 2, 0
    else:
        sign_mode, is_signed = 1, 1
    with np.errstate(divide="ignore"):
        if sign_mode == 1:
            scale = min(127 / max_w, -128 / min_w)
        elif sign_mode == 3:
            scale = -256 / min_w
        else:
            scale = 255 / max_w
    if not np.isfinite(scale):
        raise SimulationError("a dense layer has all-zero weights; lava-dl's netx cannot load it")
    scale_bits = int(np.floor(np.log2(scale)) + is_signed)
    n = 8
    while n > 0:
        if np.sum(np.abs(weight / (2**n) - np.round(weight / (2**n)))) == 0:
            break
        n -= 1
    n -= is_signed
    num_weight_bits = 8 - scale_bits - n
    weight = np.left_shift(weight.astype(np.int32), scale_bits)
    return weight.astype(np.int64), int(num_weight_bits), int(-scale_bits), sign_mode


def lava_truncate(w: np.ndarray, nbits: int) -> np.ndarray:
    """What Lava's fixed-point Dense does to the weights it is given: clip and truncate to nbits
    in the sign mode of these weights (lava.utils.weightutils; each Dense decides its own)."""
    mode = 1 if (w.min() < 0 < w.max()) else (2 if w.min() >= 0 else 3)  # lava determine_sign_mode
    w = w.astype(np.int64)
    mixed, inhib = int(mode == 1), int(mode == 3)
    if inhib:
        w = -w
    w = np.clip(w, -(2**8) * mixed, 2**8 - 1)
    trunc = 8 - nbits + mixed
    w = (w >> trunc) << trunc
    if inhib:
        w = -w
    return w


def dense_effective(weight: np.ndarray) -> tuple[np.ndarray, int]:
    """What Lava's fixed-point Dense does to netx weights: optimize bits, clip, truncate."""
    w, nbits, wexp, _ = optimize_weight_bits(weight)
    return lava_truncate(w, nbits), wexp


def dense_rec_effective(weight: np.ndarray, weight_rec: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, int]:
    """netx's create_dense(rec=True): bits optimised on [weight | weight_rec] together (one
    exponent and bit count), then each of RecurrentDense's two Dense synapses truncates its half."""
    n_in = weight.shape[1]
    w, nbits, wexp, _ = optimize_weight_bits(np.hstack((weight, weight_rec)))
    return lava_truncate(w[:, :n_in], nbits), lava_truncate(w[:, n_in:], nbits), wexp


def netx_delays(delay: np.ndarray, wshape: tuple[int, int]) -> np.ndarray:
    """Per-synapse delays [out, in] as netx's create_dense expands them (clamped to 0..62)."""
    delay = np.clip(np.asarray(delay), 0, 62).astype(np.int64)
    n_out, n_in = wshape
    if delay.ndim == 0:
        return np.full(wshape, int(delay), np.int64)
    if delay.ndim == 1:
        if delay.size == n_out:  # axonal delays (netx checks this case first)
            return np.repeat(delay.reshape(-1, 1), n_in, axis=1)
        if delay.size == n_in:
            return np.repeat(delay.reshape(1, -1), n_out, axis=0)
        raise SimulationError(f"delay of shape {delay.shape} fits neither {n_out} outputs nor "
                              f"{n_in} inputs of its dense layer")
    return delay.reshape(wshape)


def _get(g, key, default=None):
    if key not in g:
        return default
    v = g[key][()]
    return v


def _neuron_from(g) -> dict[str, int]:
    n = g["neuron"]
    t = n["type"][()]
    t = t.decode() if isinstance(t, bytes) else str(t)
    if t not in ("CUBA", "LOIHI"):
        raise SimulationError(f"neuron type {t!r} is not supported (only CUBA/LOIHI)")
    return {"i_decay": int(n["iDecay"][()]), "v_decay": int(n["vDecay"][()]),
            "vth": int(n["vThMant"][()])}


def _pair(v) -> tuple[int, int]:
    a = np.asarray(v).ravel()
    a = np.repeat(a, 2) if a.size == 1 else a
    return int(a[0]), int(a[1])


def _json_attr(f, path: Path) -> Any:
    raw = f.attrs["snn2hw"]
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except (ValueError, UnicodeDecodeError) as e:
        raise SimulationError(f"the run info (attribute 'snn2hw') of {path} is not valid JSON "
                              f"({e}); re-create the file with `snn2hw export`") from None


def _scalar_int(g, key: str, default: int, where: str) -> int:
    """An input-transform value (netx reads it with int(...)): one integer."""
    if key not in g:
        return default
    a = np.ravel(np.asarray(g[key][()]))
    if a.size != 1 or not np.isfinite(a[0]) or float(a[0]) != round(float(a[0])):
        raise SimulationError(f"{where}: input-transform {key!r} must be one integer (got "
                              f"{a[:4]}); netx reads it as int({key})")
    return int(round(float(a[0])))


def _before(k: str) -> str:
    """How to run what comes before layer group k (netx's num_layers)."""
    return f"run the layers before it with --num-layers {k}" if k != "0" else \
        "no layer before it can run"


def _refuse(t: str, k: str, path: Path) -> SimulationError:
    """The named error for a layer type netx or the emulator cannot run."""
    before = _before(k)
    if t in NOT_IN_NETX:
        return SimulationError(
            f"layer {k} of {path} has type {t!r}, which lava-dl netx 0.6 cannot build "
            f"(hdf5.Network raises NotImplementedError for {', '.join(NOT_IN_NETX)}); {before}, "
            "as netx's num_layers does")
    if t == "dense_comp":
        return SimulationError(
            f"layer {k} of {path} is a complex dense layer ('dense_comp'), which lava-dl netx 0.6 "
            f"cannot build (it calls a create_complex_dense that does not exist); {before}")
    return SimulationError(
        f"layer {k} of {path} has type {t!r}; netx (and the emulator) run only input, conv, "
        f"flatten, dense and dense_rec layers; {before}")


def read_netx(path: str | Path, num_layers: int | None = None) -> NetxFile:
    """Parse a netx HDF5 network (input, conv, flatten, dense, dense_rec) into integer layers.

    num_layers: parse only the first num_layers hdf5 layer groups, as netx's
    `hdf5.Network(num_layers=...)` builds only those (so a file whose later layers netx or the
    emulator cannot run still runs up to them).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise SimulationError(f"netx file {path} does not exist; run `snn2hw export` first")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SimulationError(f"{path} is not a readable HDF5 netx file ({e}); re-run "
                              "`snn2hw export`") from None
    with f:
        from exporters.checks import check_netx_layers, check_run_info

        info = check_run_info(_json_attr(f, path), path) if "snn2hw" in f.attrs else {}
        check_netx_layers(f, path, num_layers)  # structure only; damage is named here
        grp = f["layer"]
        keys = sorted(grp.keys(), key=int)
        total = len(keys)
        if num_layers is not None:
            if num_layers < 1:
                raise SimulationError(f"--num-layers must be at least 1 (got {num_layers})")
            keys = keys[:num_layers]
        layers: list[NetxLayer] = []
        in_shape: tuple[int, ...] | None = None
        shape: tuple[int, ...] | None = None
        flatten = False
        for k in keys:
            g = grp[k]
            t = g["type"][()]
            t = (t[0] if np.ndim(t) else t)
            t = t.decode() if isinstance(t, bytes) else str(t)
            try:
                if t == "input":
                    s = tuple(int(v) for v in np.ravel(g["shape"][()]))
                    in_shape = shape = s
                    if "neuron" in g:  # netx: neuron without bias; weight/bias = input transform
                        where = f"layer {k} (input) of {path}"
                        layers.append(NetxLayer(
                            "input", s, bias=np.zeros(s, np.int64),
                            in_weight=_scalar_int(g, "weight", 64, where),
                            in_bias=_scalar_int(g, "bias", 0, where), **_neuron_from(g)))
                elif t == "flatten":
                    flatten = True
                elif t == "conv":
                    s = tuple(int(v) for v in np.ravel(g["shape"][()]))
                    w = np.asarray(g["weight"][()]).astype(np.int64)
                    w = w.reshape(w.shape[:4])
                    b = _get(g, "bias")
                    bias = np.zeros(s, np.int64) if b is None else \
                        np.broadcast_to(np.asarray(b, np.int64).reshape(-1, 1, 1), s).copy()
                    layers.append(NetxLayer(
                        "conv", s, weight=w, bias=bias, stride=_pair(g["stride"][()]),
                        padding=_pair(g["padding"][()]), dilation=_pair(g["dilation"][()]),
                        groups=int(np.ravel(g["groups"][()])[0]), in_shape=shape, **_neuron_from(g)))
                    shape = s
                elif t in ("dense", "dense_rec"):
                    n = int(np.prod(g["shape"][()]))
                    w = np.asarray(g["weight"][()]).astype(np.int64)
                    w_rec = None
                    if t == "dense_rec":
                        if "delay" in g:
                            raise SimulationError(
                                f"layer {k} of {path} is a recurrent dense layer with a 'delay': "
                                "lava-dl netx 0.6 builds its delayed RecurrentDense without the "
                                "weight exponent and with the feed-forward delays on the "
                                f"recurrent weights, so neither runs it as written; {_before(k)}")
                        w_rec = np.asarray(g["weight_rec"][()]).astype(np.int64)
                        w_rec = w_rec.reshape(n, -1) if w.ndim == 1 else w_rec
                    if w.ndim == 1:
                        w = w.reshape(n, -1)
                    if w_rec is None:
                        w_eff, wexp = dense_effective(w)
                    else:
                        w_eff, w_rec, wexp = dense_rec_effective(w, w_rec)
                    b = _get(g, "bias")
                    neuron = _neuron_from(g) if "neuron" in g else \
                        {"i_decay": 0, "v_decay": 4096, "vth": (1 << 17)}
                    delay = netx_delays(np.asarray(g["delay"][()]), w.shape) \
                        if "delay" in g else None
                    layers.append(NetxLayer(
                        "dense", (n,), weight=w_eff, weight_rec=w_rec, weight_exp=wexp,
                        bias=np.zeros(n, np.int64) if b is None else np.asarray(b, np.int64).reshape(n),
                        flatten_before=flatten, in_shape=shape, delay=delay, **neuron))
                    flatten = False
                    shape = (n,)
                else:
                    raise _refuse(t, k, path)
            except SimulationError:
                raise
            except (KeyError, ValueError, TypeError) as e:
                raise SimulationError(f"layer {k} ({t}) of {path} is malformed: {e!r}") from None
        if in_shape is None:  # netx infers a dense first layer's input from its weights
            if layers and layers[0].kind == "dense":
                in_shape = (int(layers[0].weight.shape[1]),)
            else:
                raise SimulationError(f"{path} has no input layer; netx needs layer 0 of type "
                                      "input before a conv layer")
        if not layers:
            raise SimulationError(f"the first {len(keys)} layer group(s) of {path} hold no neuron "
                                  "layer; give a larger --num-layers")
        return NetxFile(path, in_shape, layers, info, groups_read=len(keys), groups_total=total)
