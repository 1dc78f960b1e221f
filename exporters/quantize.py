"""NIR graph -> Loihi layers -> Loihi fixed point (per-layer scale, 8-bit even weights, decays, threshold).

Lowering: every Conv2d/Affine plus the neuron after it becomes one Loihi layer; average pooling is
folded into the next conv (a strided conv with kernel K*k, stride s*k, padding p*k) or the next
dense layer (weights repeated over each pooled window / k^2); the last Affine (the readout,
averaged over T in the float student) becomes a layer of non-spiking integrators (iDecay = 4096,
vDecay = 0, threshold at its maximum) whose voltage is read after the last step.

Fixed point, per layer with gain g (input current -> voltage per step) and input scale s_in (graded
integer input per unit of float input for the first layer, 1 for spikes), one scale lambda:
    w_int = 2*round(lambda*g*W / (2*s_in)) in [-256, 254],  bias = round(lambda*g*b) in 13 bits,
    vThMant = round(lambda*v_th) <= 131071,  worst-case |a_in| <= 2^17 - 1 (24-bit current).
lambda is the largest value meeting all limits, so weights use the full 8-bit range unless the
threshold, bias or accumulator bounds say otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporters.errors import ExportError

W_MIN, W_MAX = -256, 254
BIAS_MIN, BIAS_MAX = -4096, 4095
VTH_MAX = 131071
A_IN_MAX = 2**17 - 1
READOUT_V_MAX = 8_000_000
DECAY_ONE = 4096


@dataclass
class LoihiLayer:
    """One lowered layer (float): a conv or dense synapse plus a neuron population."""

    name: str
    kind: str  # "conv" | "dense"
    weight: np.ndarray  # conv (O, I, kh, kw), dense (O, I)
    bias: np.ndarray  # (O,)
    in_shape: tuple[int, ...]  # CHW or (n,)
    out_shape: tuple[int, ...]
    neuron: str  # "lif" | "if" | "cuba" | "readout"
    v_th: float
    gain: float  # input current -> voltage increment per step
    i_decay: int  # netx iDecay (4096 = no current memory)
    v_decay: int  # netx vDecay (0 = no leak)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    flatten_before: bool = False
    sources: list[str] = field(default_factory=list)


def _arr(v) -> float:
    return float(np.ravel(np.asarray(v, dtype=np.float64))[0])


def _pair(v) -> tuple[int, int]:
    a = np.broadcast_to(np.asarray(v).ravel(), (2,)) if np.asarray(v).size in (1, 2) else np.asarray(v)
    return int(a[0]), int(a[1])


def neuron_params(node, dt: float) -> dict[str, Any]:
    """Loihi neuron parameters (decays, gain, threshold) of a NIR neuron node (Euler step dt)."""
    import nir

    if not np.allclose(np.asarray(node.v_reset if node.v_reset is not None else 0.0), 0.0):
        raise ExportError("Loihi resets the voltage to 0 after a spike; train with v_reset = 0")
    v_th = _arr(node.v_threshold)
    if isinstance(node, nir.IF):
        return {"neuron": "if", "gain": _arr(node.r) * dt, "i_decay": DECAY_ONE, "v_decay": 0,
                "v_th": v_th}
    if isinstance(node, nir.LIF):
        dv = dt / _arr(node.tau)
        return {"neuron": "lif", "gain": _arr(node.r) * dv, "i_decay": DECAY_ONE,
                "v_decay": int(round(DECAY_ONE * dv)), "v_th": v_th}
    if isinstance(node, nir.CubaLIF):
        du, dv = dt / _arr(node.tau_syn), dt / _arr(node.tau_mem)
        return {"neuron": "cuba", "gain": _arr(node.r) * dv * _arr(node.w_in) * du,
                "i_decay": int(round(DECAY_ONE * du)), "v_decay": int(round(DECAY_ONE * dv)),
                "v_th": v_th}
    raise ExportError(f"neuron node {type(node).__name__} has no Loihi CUBA mapping")


def _fuse_pool_conv(pool_k: int, w: np.ndarray, stride, padding, dilation) -> tuple:
    """conv(avgpool_k(x)) as one conv on x: kernel K*k, stride s*k, padding p*k."""
    if dilation != (1, 1):
        raise ExportError("a dilated conv after average pooling cannot be lowered; use dilation 1")
    w2 = np.repeat(np.repeat(w, pool_k, axis=2), pool_k, axis=3) / (pool_k * pool_k)
    return w2, (stride[0] * pool_k, stride[1] * pool_k), (padding[0] * pool_k, padding[1] * pool_k)


def _fuse_pool_dense(pool_k: int, w: np.ndarray, fine: tuple[int, int, int]) -> np.ndarray:
    """linear(flatten(avgpool_k(x))) as one dense layer on flatten(x).

    A map whose size is not a multiple of k (e.g. 17x17 with k = 2) is pooled as PyTorch does
    (floor: the last rows/columns are dropped), so their weights are zero.
    """
    c, h, wd = fine
    w4 = w.reshape(w.shape[0], c, h // pool_k, wd // pool_k)
    w4 = np.repeat(np.repeat(w4, pool_k, axis=2), pool_k, axis=3) / (pool_k * pool_k)
    full = np.zeros((w.shape[0], c, h, wd), dtype=w4.dtype)
    full[:, :, :w4.shape[2], :w4.shape[3]] = w4
    return full.reshape(w.shape[0], -1)


def _pool_fits(shape: tuple[int, ...], k: int) -> bool:
    return len(shape) == 3 and shape[1] % k == 0 and shape[2] % k == 0


def lower(graph) -> list[LoihiLayer]:
    """A sequential NIR graph -> Loihi layers (synapse + neuron), pooling folded into the next layer."""
    import nir

    from exporters.nir import chain

    dt = float((graph.metadata or {}).get("dt", 1e-3))
    nodes = chain(graph)
    shape = tuple(int(v) for v in np.ravel(nodes[0][1].input_type["input"]))
    layers: list[LoihiLayer] = []
    pool: tuple[str, int] | None = None
    flatten = False
    pending: LoihiLayer | None = None
    for name, node in nodes[1:]:
        if isinstance(node, (nir.IF, nir.LIF, nir.CubaLIF)):
            if pending is None:
                raise ExportError(f"neuron {name!r} has no conv/linear layer before it; Loihi "
                                  "neurons are driven by a synapse layer")
            p = neuron_params(node, dt)
            for k, v in p.items():
                setattr(pending, k, v)
            pending.sources.append(name)
            layers.append(pending)
            pending = None
            continue
        if pending is not None:
            if isinstance(node, nir.Output):
                pending.neuron, pending.gain, pending.i_decay, pending.v_decay = "readout", 1.0, DECAY_ONE, 0
                layers.append(pending)
                pending = None
                continue
            raise ExportError(f"layer {pending.sources[0]!r} is followed by {name!r} "
                              f"({type(node).__name__}) instead of a spiking neuron; Loihi needs a "
                              "neuron after every conv/linear layer except the readout")
        if isinstance(node, nir.AvgPool2d):
            k, s = _pair(node.kernel_size), _pair(node.stride)
            if k[0] != k[1] or s != k or pool is not None or len(shape) != 3:
                raise ExportError(
                    f"average pooling {name!r} (kernel {k}, stride {s}) on input {shape} cannot be "
                    "lowered to a strided conv; use square non-overlapping AvgPool2d(k) on sizes "
                    "divisible by k"
                )
            pool = (name, k[0], shape)  # the fine (unpooled) shape: odd sizes are cropped
            shape = (shape[0], shape[1] // k[0], shape[2] // k[0])
            continue
        if isinstance(node, nir.Flatten):
            flatten = True
            continue
        if isinstance(node, nir.Conv2d):
            w = np.asarray(node.weight, dtype=np.float64)
            stride, padding, dil = _pair(node.stride), _pair(node.padding), _pair(node.dilation)
            in_shape = shape
            srcs = [name]
            if pool is not None:
                if not _pool_fits(pool[2], pool[1]):
                    raise ExportError(
                        f"average pooling {pool[0]!r} (kernel {pool[1]}) on a {pool[2][1]}x"
                        f"{pool[2][2]} map drops its last rows/columns, which a strided conv "
                        f"({name!r}) cannot do; use maps divisible by {pool[1]} (e.g. another "
                        "input or frame size, or padding in the layer before the pooling)")
                w, stride, padding = _fuse_pool_conv(pool[1], w, stride, padding, dil)
                in_shape = pool[2]
                srcs = [pool[0], name]
                pool = None
            import torch

            out = torch.nn.functional.conv2d(torch.zeros(1, *in_shape), torch.zeros(*w.shape),
                                             stride=stride, padding=padding, dilation=dil,
                                             groups=int(node.groups))
            pending = LoihiLayer(name, "conv", w, np.asarray(node.bias, np.float64), in_shape,
                                 tuple(out.shape[1:]), "", 0.0, 1.0, DECAY_ONE, 0, stride,
                                 padding, dil, int(node.groups), False, srcs)
            shape = tuple(out.shape[1:])
            continue
        if isinstance(node, (nir.Affine, nir.Linear)):
            w = np.asarray(node.weight, dtype=np.float64)
            b = np.asarray(getattr(node, "bias", np.zeros(w.shape[0])), np.float64)
            in_shape = shape
            srcs = [name]
            if pool is not None:
                if not flatten:
                    raise ExportError(f"average pooling {pool[0]!r} must be followed by flatten "
                                      "before a linear layer")
                fine = pool[2]
                w = _fuse_pool_dense(pool[1], w, fine)
                in_shape = fine
                srcs = [pool[0], name]
                pool = None
            if int(np.prod(in_shape)) != w.shape[1]:
                raise ExportError(f"layer {name!r} expects {w.shape[1]} inputs, gets {in_shape}")
            pending = LoihiLayer(name, "dense", w, b, in_shape, (w.shape[0],), "", 0.0, 1.0,
                                 DECAY_ONE, 0, flatten_before=flatten and len(in_shape) > 1,
                                 sources=srcs)
            flatten = False
            shape = (w.shape[0],)
            continue
        if isinstance(node, nir.Output):
            if pool is not None:
                raise ExportError(f"average pooling {pool[0]!r} at the end has no layer to fold into")
            continue
        raise ExportError(f"NIR node {name!r} ({type(node).__name__}) is not supported by Loihi/netx "
                          "(supported: conv, linear, flatten, average pooling, IF/LIF/CUBA neurons)")
    if not layers or layers[-1].neuron != "readout":
        raise ExportError("the network must end with a linear readout layer before its Output")
    return layers


@dataclass
class QuantLayer:
    """One layer in Loihi fixed point, with what quantization cost."""

    name: str
    kind: str
    weight: np.ndarray  # int, even, in [-256, 254]
    bias: np.ndarray  # int, 13-bit signed
    v_th_mant: int
    i_decay: int
    v_decay: int
    scale: float  # lambda: hardware units (v/64) per float unit
    in_scale: float  # graded input integer per float unit (1 for spikes)
    limited_by: str
    weight_exponent: int
    clipped_fraction: float
    weight_rel_error: float
    bias_rel_error: float
    threshold_rel_error: float
    float_layer: LoihiLayer

    def report(self) -> dict[str, Any]:
        """The quantization.json entry of this layer."""
        lay = self.float_layer
        return {
            "name": self.name, "kind": self.kind, "sources": lay.sources, "neuron": lay.neuron,
            "in_shape": list(lay.in_shape), "out_shape": list(lay.out_shape),
            "weight_scale": self.scale, "input_scale": self.in_scale,
            "scale_limited_by": self.limited_by, "weight_exponent": self.weight_exponent,
            "weight_mantissa_bits": 8, "weight_range_allowed": [W_MIN, W_MAX],
            "weight_range_used": [int(self.weight.min()), int(self.weight.max())],
            "bias_range_used": [int(self.bias.min()), int(self.bias.max())],
            "i_decay": self.i_decay, "v_decay": self.v_decay, "v_th_mant": self.v_th_mant,
            "v_th_float": lay.v_th, "gain": lay.gain, "synaptic_delay_steps": 1,
            "axonal_delay_steps": 0, "clipped_fraction": self.clipped_fraction,
            "weight_rel_rms_error": self.weight_rel_error, "bias_rel_error": self.bias_rel_error,
            "threshold_rel_error": self.threshold_rel_error,
        }


def _rel(err: np.ndarray, ref: np.ndarray) -> float:
    n = float(np.sqrt(np.mean(ref**2))) if ref.size else 0.0
    return float(np.sqrt(np.mean(err**2)) / n) if n > 0 else 0.0


def row_abs_sum(lay: LoihiLayer) -> float:
    """Worst-case sum of |weights| feeding one neuron (conv: over a whole kernel)."""
    w = np.abs(lay.weight)
    return float(w.reshape(w.shape[0], -1).sum(1).max())


def _limit(bound: float, per_unit: float) -> float:
    """Largest scale with scale * per_unit <= bound; no limit when per_unit is 0 (or underflows)."""
    return bound / per_unit if per_unit > 0 else float("inf")


def choose_scale(lay: LoihiLayer, in_scale: float, in_max: float, timesteps: int) -> tuple[float, str]:
    """The largest lambda that keeps weights, bias, threshold and accumulators in range."""
    g = lay.gain
    wmax = float(np.abs(lay.weight).max())
    if wmax == 0.0:
        raise ExportError(
            f"layer {lay.name!r} has all-zero weights: it cannot carry any signal and lava-dl's "
            "netx loader crashes on it; retrain the student or remove the layer"
        )
    cands = {"weights": _limit(254.0 * in_scale, g * wmax)}
    bmax = float(np.abs(lay.bias).max()) if lay.bias.size else 0.0
    cands["bias"] = _limit(BIAS_MAX, g * bmax)
    rs = row_abs_sum(lay) * in_max / in_scale
    cands["accumulator"] = _limit(A_IN_MAX, g * rs * 1.01)
    if lay.neuron == "readout":
        cands["readout_voltage"] = _limit(READOUT_V_MAX, 64.0 * timesteps * g * (rs + bmax) * 1.01)
    elif lay.v_th > 0:
        cands["threshold"] = VTH_MAX / lay.v_th
    else:
        raise ExportError(f"layer {lay.name!r}: threshold {lay.v_th} must be > 0 on Loihi")
    key = min(cands, key=cands.get)
    if not np.isfinite(cands[key]):
        raise ExportError(
            f"layer {lay.name!r}: weights of magnitude {wmax:.3g} are too small to scale into "
            "Loihi's 8-bit range; retrain the student (e.g. with weight decay off) or remove the layer"
        )
    return cands[key], key


def quantize_layer(lay: LoihiLayer, scale: float, in_scale: float, limited_by: str) -> QuantLayer:
    """Round one lowered layer to Loihi integers with the given lambda."""
    g = lay.gain
    target = scale * g * lay.weight / in_scale
    w = 2.0 * np.round(target / 2.0)
    clipped = float(np.mean((w < W_MIN) | (w > W_MAX)))
    w = np.clip(w, W_MIN, W_MAX).astype(np.int64)
    if not np.any(w):
        raise ExportError(
            f"layer {lay.name!r} rounds to all-zero integer weights (largest |w| = "
            f"{np.abs(lay.weight).max():.3g}); lava-dl's netx loader crashes on such a layer; "
            "retrain the student or remove the layer"
        )
    bt = scale * g * lay.bias
    b = np.clip(np.round(bt), BIAS_MIN, BIAS_MAX).astype(np.int64)
    if lay.neuron == "readout":
        vth = VTH_MAX
        th_err = 0.0
    else:
        vth = int(np.clip(np.round(scale * lay.v_th), 1, VTH_MAX))
        th_err = abs(vth - scale * lay.v_th) / (scale * lay.v_th)
    return QuantLayer(
        name=lay.name, kind=lay.kind, weight=w, bias=b, v_th_mant=vth, i_decay=lay.i_decay,
        v_decay=lay.v_decay, scale=float(scale), in_scale=float(in_scale), limited_by=limited_by,
        weight_exponent=0, clipped_fraction=clipped, weight_rel_error=_rel(w - target, target),
        bias_rel_error=_rel(b - bt, bt) if np.any(bt) else 0.0, threshold_rel_error=float(th_err),
        float_layer=lay,
    )


@dataclass
class QuantizedNet:
    """A whole network in Loihi fixed point plus what is needed to run and read it."""

    layers: list[QuantLayer]
    in_shape: tuple[int, ...]
    timesteps: int
    input_scale: float
    input_max: int
    input_message_bits: int
    num_classes: int

    @property
    def latency_steps(self) -> int:
        """Steps from the first input to the last readout update: T + one per weight layer."""
        return self.timesteps + len(self.layers)

    def report(self) -> dict[str, Any]:
        return {
            "format": "snn2hw-quantization-1", "target": "loihi (lava-dl netx, CUBA fixed point)",
            "timesteps": self.timesteps, "input_encoding": "graded spikes (direct encoding)",
            "input_scale": self.input_scale, "input_max": self.input_max,
            "input_message_bits": self.input_message_bits, "latency_steps": self.latency_steps,
            "readout": "voltage of non-spiking integrators after T + L steps; logits = v / (64 * "
                       "weight_scale * T)",
            "layers": [q.report() for q in self.layers],
        }


def quantize(graph, *, input_scale: float = 16.0, input_max: float = 1.0) -> QuantizedNet:
    """Lower and quantize a NIR student graph; input x is sent as round(x * input_scale)."""
    meta = graph.metadata or {}
    T = int(meta.get("timesteps", 4))
    layers = lower(graph)
    out: list[QuantLayer] = []
    in_int_max = int(np.ceil(input_max * input_scale))
    bits = max(1, int(np.ceil(np.log2(in_int_max + 1))))
    for i, lay in enumerate(layers):
        s_in = input_scale if i == 0 else 1.0
        x_max = in_int_max if i == 0 else 1.0
        scale, why = choose_scale(lay, s_in, x_max, T)
        out.append(quantize_layer(lay, scale, s_in, why))
    in_shape = tuple(int(v) for v in np.ravel(meta.get("in_shape", layers[0].in_shape)))
    return QuantizedNet(out, in_shape, T, float(input_scale), in_int_max, bits,
                        int(layers[-1].out_shape[0]))


def encode_input(x: np.ndarray, qnet: QuantizedNet) -> np.ndarray:
    """Float inputs [B, *in_shape] -> the integer graded spikes sent to the chip."""
    return np.clip(np.round(np.asarray(x, np.float64) * qnet.input_scale), 0,
                   2**qnet.input_message_bits - 1).astype(np.int64)


