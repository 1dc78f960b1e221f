"""The Triton kernels of neurons.triton_lif (imported lazily: this module imports triton).

Module-level so that Triton's CPU interpreter (TRITON_INTERPRET=1) can patch `tl` in their globals.
"""

import triton
import triton.language as tl


@triton.jit
def lif_fwd(x_ptr, h_ptr, z_ptr, T, N, stride_xt, leak, v_th, v_reset,
            SOFT: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.zeros([BLOCK], dtype=tl.float32)
    for t in range(T):
        x = tl.load(x_ptr + t * stride_xt + offs, mask=mask, other=0.0).to(tl.float32)
        h = x + leak * v  # v = 0 at t = 0
        spike = h >= v_th
        tl.store(h_ptr + t * N + offs, h, mask=mask)
        # via fp32: the interpreter cannot cast bool to bf16 directly
        tl.store(z_ptr + t * N + offs, spike.to(tl.float32).to(z_ptr.dtype.element_ty), mask=mask)
        if SOFT:
            v = tl.where(spike, h - v_th, h)
        else:
            v = tl.where(spike, v_reset, h)


@triton.jit
def lif_bwd(gz_ptr, h_ptr, gx_ptr, T, N, leak, v_th, v_reset, c0, c1,
            SOFT: tl.constexpr, DETACH: tl.constexpr, SURROGATE: tl.constexpr,
            BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    g_next = tl.zeros([BLOCK], dtype=tl.float32)  # dL/dh_{t+1}
    for i in range(T):
        t = T - 1 - i
        h = tl.load(h_ptr + t * N + offs, mask=mask, other=0.0)
        gz = tl.load(gz_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32)
        u = h - v_th
        # surrogate'(u), inlined (the interpreter cannot call a nested jit function); c0, c1
        # per surrogate (_constants): triangle (gamma, 1/gamma^2), rectangle (width/2,
        # 1/width), superspike (alpha, -), atan (alpha/2, pi/2 * alpha)
        if SURROGATE == 0:
            sg = tl.maximum(c0 - tl.abs(u), 0.0) * c1
        elif SURROGATE == 1:
            sg = tl.where(tl.abs(u) < c0, c1, 0.0)
        elif SURROGATE == 2:
            d = c0 * tl.abs(u) + 1.0
            sg = 1.0 / (d * d)
        else:
            a = c1 * u
            sg = c0 / (1.0 + a * a)
        z = (h >= v_th).to(tl.float32)
        # carry = leak * dv_t/dh_t, in the order neurons.fused builds it
        if SOFT:
            if DETACH:
                carry = leak + 0.0 * h
            else:
                carry = (sg * (-v_th) + 1.0) * leak
        else:
            if DETACH:
                carry = (1.0 - z) * leak
            else:
                carry = ((v_reset - h) * sg + 1.0 - z) * leak
        g = gz * sg + carry * g_next
        tl.store(gx_ptr + t * N + offs, g.to(gx_ptr.dtype.element_ty), mask=mask)
        g_next = g
