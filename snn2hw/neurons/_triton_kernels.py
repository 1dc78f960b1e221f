"""The Triton kernels of neurons.triton_lif (imported lazily: this module imports triton).

Module-level so that Triton's CPU interpreter (TRITON_INTERPRET=1) can patch `tl` in their globals.
Each program owns BLOCK neurons and walks the T steps by moving its pointers (64-bit pointer
arithmetic, so T * N may exceed 2**31).
"""

import triton
import triton.language as tl


@triton.jit
def lif_fwd(x_ptr, h_ptr, z_ptr, T, N, stride_xt, leak, v_th, v_reset,
            SOFT: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    xp, hp, zp = x_ptr + offs, h_ptr + offs, z_ptr + offs
    v = tl.zeros([BLOCK], dtype=tl.float32)
    for _ in range(T):
        x = tl.load(xp, mask=mask, other=0.0).to(tl.float32)
        h = x + leak * v  # v = 0 at t = 0
        spike = h >= v_th
        tl.store(hp, h, mask=mask)
        # via fp32: the interpreter cannot cast bool to bf16 directly
        tl.store(zp, spike.to(tl.float32).to(z_ptr.dtype.element_ty), mask=mask)
        if SOFT:
            v = tl.where(spike, h - v_th, h)
        else:
            v = tl.where(spike, v_reset, h)
        xp += stride_xt
        hp += N
        zp += N


@triton.jit
def lif_bwd(gz_ptr, h_ptr, gx_ptr, T, N, last, leak, v_th, v_reset, c0, c1,
            SOFT: tl.constexpr, DETACH: tl.constexpr, SURROGATE: tl.constexpr,
            BLOCK: tl.constexpr):
    # last = (T - 1) * N, the offset of the last step (passed in: may need 64 bits)
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    gzp, hp, gxp = gz_ptr + last + offs, h_ptr + last + offs, gx_ptr + last + offs
    g_next = tl.zeros([BLOCK], dtype=tl.float32)  # dL/dh_{t+1}
    for _ in range(T):
        h = tl.load(hp, mask=mask, other=0.0)
        gz = tl.load(gzp, mask=mask, other=0.0).to(tl.float32)
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
        # carry = leak * dv_t/dh_t
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
        tl.store(gxp, g.to(gx_ptr.dtype.element_ty), mask=mask)
        g_next = g
        gzp -= N
        hp -= N
        gxp -= N
