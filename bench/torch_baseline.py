"""The strong PyTorch baseline of LIEDNet for the benchmarks (never an oracle of the tests).

tests/oracle/liednet_ref.py is written for exactness: its selective scan is a
plain Python loop over all L steps whose autograd keeps every state, and its
projections are nn.Linear / einsum, which a torch linked to a reference BLAS
(Debian's) runs many times slower than its convolutions. A benchmark against it
flatters us. This module makes the same network fast in the ways a PyTorch user
would, on any torch device:

- ChunkedScan, a torch.autograd.Function: L is cut into chunks of T = ceil(sqrt(L))
  steps. Each pass loops over the T positions of a chunk with tensor ops on all
  chunks at once, and over the chunks for the carry, so about 2 sqrt(L) Python
  steps instead of L. The forward keeps only the state at each chunk's start;
  the backward is analytic: it recomputes the states from those and walks the
  adjoint back with the same chunked structure. Every decay it forms is exp of a
  sum of dt*A <= 0 (never exp(-cumsum), which overflows), so it is safe in f32.
- the projections as oneDNN convolutions: in_proj/out_proj as 1x1 conv2d on
  NCHW (no permutes), x_proj and dt_proj (einsum in the reference) as grouped
  1x1 conv1d, one group per scan direction.

use_fast(model) switches every SS2D of a liednet_ref model to this path (same
parameters, same state dict). check() compares it with the plain loop in f64.
"""
import math
import pathlib
import sys
import types

import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "oracle"))

import liednet_ref as ref  # noqa: E402
from ops_scan import cross_merge, cross_scan  # noqa: E402


def _steps(t, g, nc, T):
    """(b, c, nc*T) -> (T, b, g, c/g, nc): one contiguous slice per position in the chunk."""
    b, c, _ = t.shape
    return t.reshape(b, g, c // g, nc, T).permute(4, 0, 1, 2, 3).contiguous()


def _unsteps(t, L):
    """(T, b, g, cg, nc) -> (b, g*cg, L): inverse of _steps, the padding dropped."""
    T, b, g, cg, nc = t.shape
    return t.permute(1, 2, 3, 4, 0).reshape(b, g * cg, nc * T)[..., :L]


def _group_steps(t, nc, T):
    """(b, g, n, nc*T) -> (T, b, g, 1, nc, n): B or C per position, broadcast over a group's channels."""
    b, g, n, _ = t.shape
    return t.reshape(b, g, n, nc, T).permute(4, 0, 1, 3, 2).contiguous().unsqueeze(3)


def _group_unsteps(t, L):
    """(T, b, g, nc, n) -> (b, g, n, L)."""
    T, b, g, nc, n = t.shape
    return t.permute(1, 2, 4, 3, 0).reshape(b, g, n, nc * T)[..., :L]


class ChunkedScan(torch.autograd.Function):
    """y = selective scan of x_t = dt_t u_t B_t with decay exp(dt_t A), read out by C_t.

    u, dt: (b, c, L), dt > 0 already (softplus applied); A: (c, n), <= 0; B, C:
    (b, g, n, L), group j shared by channels j*c/g ... Returns y: (b, c, L);
    h_t = exp(dt_t A) h_{t-1} + dt_t u_t B_t, y_t = sum_n C_t h_t, h_{-1} = 0.
    Inside, positions are padded to nc chunks of T (dt = u = 0 there: decay 1,
    no input) and held as (T, b, g, cg, nc[, n]).
    """

    @staticmethod
    def forward(ctx, u, dt, A, B, C, chunk):
        b, c, L = u.shape
        g, n = B.shape[1], A.shape[1]
        T = chunk or max(1, math.isqrt(L - 1) + 1)  # ceil(sqrt(L))
        nc = -(-L // T)
        dts, dtus, Bs, Cs, Av = ChunkedScan._prepare(u, dt, A, B, C, g, n, nc, T)
        # Pass 1: each chunk's end state, scanned from zero (all chunks at once).
        h = u.new_zeros(b, g, c // g, nc, n)
        for t in range(T):
            h = torch.addcmul(dtus[t].unsqueeze(-1) * Bs[t], torch.exp(dts[t].unsqueeze(-1) * Av), h)
        starts = ChunkedScan._carry(torch.exp(dts.sum(0).unsqueeze(-1) * Av), h, reverse=False)
        # Pass 2: the true states from each chunk's start state, read out by C.
        ys = u.new_empty(T, b, g, c // g, nc)
        h = starts
        for t in range(T):
            h = torch.addcmul(dtus[t].unsqueeze(-1) * Bs[t], torch.exp(dts[t].unsqueeze(-1) * Av), h)
            torch.sum(h * Cs[t], -1, out=ys[t])
        ctx.save_for_backward(u, dt, A, B, C, starts)
        ctx.chunk = T
        return _unsteps(ys, L)

    @staticmethod
    def backward(ctx, gy):
        u, dt, A, B, C, starts = ctx.saved_tensors
        b, c, L = u.shape
        g, n, T = B.shape[1], A.shape[1], ctx.chunk
        cg, nc = c // g, starts.shape[3]
        dts, dtus, Bs, Cs, Av = ChunkedScan._prepare(u, dt, A, B, C, g, n, nc, T)
        us = _steps(F.pad(u, (0, nc * T - L)), g, nc, T)
        gys = _steps(F.pad(gy, (0, nc * T - L)), g, nc, T)
        decay = [None] * T  # exp(dt_t A), formed once per position for both reverse passes

        def a(t):
            if decay[t] is None:
                decay[t] = torch.exp(dts[t].unsqueeze(-1) * Av)
            return decay[t]

        # The states h_{t-1} and h_t of every position, recomputed from the chunk starts.
        hs = u.new_empty(T + 1, b, g, cg, nc, n)
        hs[0] = starts
        for t in range(T):
            torch.addcmul(dtus[t].unsqueeze(-1) * Bs[t], a(t), hs[t], out=hs[t + 1])
        # Reverse pass 1: what each chunk's local adjoint sends into the state before it.
        q = u.new_zeros(b, g, cg, nc, n)
        for t in reversed(range(T)):
            q = a(t) * torch.addcmul(q, gys[t].unsqueeze(-1), Cs[t])
        ends = ChunkedScan._carry(torch.exp(dts.sum(0).unsqueeze(-1) * Av), q, reverse=True)
        # Reverse pass 2: the true adjoint gh_t = dLoss/dh_t, and every gradient.
        ddt, du = torch.empty_like(dts), torch.empty_like(dts)
        dB = u.new_empty(T, b, g, nc, n)
        dC = torch.empty_like(dB)
        dA = torch.zeros_like(hs[0])
        q = ends  # adjoint flowing into the chunk's last state from the later chunks
        for t in reversed(range(T)):
            gh = torch.addcmul(q, gys[t].unsqueeze(-1), Cs[t])
            q = a(t) * gh
            dl = q * hs[t]  # dLoss/d(dt_t A): through exp(dt_t A) h_{t-1}
            gx = (gh * Bs[t]).sum(-1)  # dLoss/d(dt_t u_t)
            torch.addcmul((dl * Av).sum(-1), gx, us[t], out=ddt[t])
            torch.mul(gx, dts[t], out=du[t])
            dA.addcmul_(dl, dts[t].unsqueeze(-1))
            torch.sum(gh * dtus[t].unsqueeze(-1), 2, out=dB[t])
            torch.sum(hs[t + 1] * gys[t].unsqueeze(-1), 2, out=dC[t])
            decay[t] = None
        dA = dA.sum((0, 3)).reshape(c, n)
        return _unsteps(du, L), _unsteps(ddt, L), dA, _group_unsteps(dB, L), _group_unsteps(dC, L), None

    @staticmethod
    def _prepare(u, dt, A, B, C, g, n, nc, T):
        """The inputs per position: dt, dt*u as (T, b, g, cg, nc); B, C as (T, b, g, 1, nc, n); A as (g, cg, 1, n)."""
        pad = (0, nc * T - u.shape[2])
        dts = _steps(F.pad(dt, pad), g, nc, T)
        dtus = _steps(F.pad(dt * u, pad), g, nc, T)
        return dts, dtus, _group_steps(F.pad(B, pad), nc, T), _group_steps(F.pad(C, pad), nc, T), \
            A.reshape(g, A.shape[0] // g, 1, n)

    @staticmethod
    def _carry(decays, local, reverse):
        """The carry between chunks: (b, g, cg, nc, n) decay over each chunk and each chunk's local
        result -> what enters each chunk (forward: its start state; reverse: the adjoint at its end)."""
        out = torch.empty_like(local)
        carry = torch.zeros_like(local[..., 0, :])
        nc = local.shape[3]
        for k in (reversed(range(nc)) if reverse else range(nc)):
            out[..., k, :] = carry
            carry = torch.addcmul(local[..., k, :], decays[..., k, :], carry)
        return out


def selective_scan(u, delta, A, B, C, D, delta_bias, chunk=None):
    """liednet_ref.selective_scan's signature and maths (delta_softplus=True), through ChunkedScan."""
    dt = F.softplus(delta + delta_bias[None, :, None])
    return ChunkedScan.apply(u, dt, A, B, C, chunk) + D[None, :, None] * u


def _ss2d_core(self, x):
    """liednet_ref.SS2D.core with x_proj/dt_proj as grouped 1x1 convolutions and the chunked scan."""
    b, d, h, w = x.shape
    K, R, N, L = ref.K_DIRECTIONS, self.dt_rank, self.d_state, h * w
    xs = cross_scan(x).reshape(b, K * d, L)
    x_dbl = F.conv1d(xs, self.x_proj_weight.reshape(K * (R + 2 * N), d, 1), groups=K).view(b, K, R + 2 * N, L)
    dts, Bs, Cs = torch.split(x_dbl, [R, N, N], dim=2)
    dts = F.conv1d(dts.reshape(b, K * R, L), self.dt_projs_weight.reshape(K * d, R, 1), groups=K)
    ys = selective_scan(xs, dts, -torch.exp(self.A_logs), Bs, Cs, self.Ds, self.dt_projs_bias.reshape(-1),
                        self.scan_chunk)
    y = cross_merge(ys.view(b, K, d, L), h, w).flatten(2).transpose(1, 2)  # (b, L, d)
    return self.out_norm(y).view(b, h, w, d)


def _ss2d_forward(self, x):
    """liednet_ref.SS2D.forward with in_proj/out_proj as 1x1 convolutions on NCHW."""
    xi, z = F.conv2d(x, self.in_proj.weight[:, :, None, None]).chunk(2, dim=1)
    xi = self.act(self.conv2d(xi))
    y = self.core(xi).permute(0, 3, 1, 2) * self.act(z)  # NCHW view of the NHWC out_norm result
    return F.conv2d(y, self.out_proj.weight[:, :, None, None])


def use_fast(model, chunk=None):
    """Switches every liednet_ref.SS2D in model to the fast path (in place); returns model."""
    for m in model.modules():
        if isinstance(m, ref.SS2D):
            m.scan_chunk = chunk
            m.core = types.MethodType(_ss2d_core, m)
            m.forward = types.MethodType(_ss2d_forward, m)
    return model


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-300)).item()


def check(device="cpu", log=print, tol=1e-10):
    """The fast path against liednet_ref in f64 on device: the scan alone (several lengths and chunk
    sizes, the softplus threshold path) and a whole small LIEDNet; the output and every gradient within
    tol of the reference's largest value. Returns the worst relative error; raises if over tol."""
    gen = torch.Generator().manual_seed(5)
    r = lambda *s: torch.randn(s, generator=gen, dtype=torch.float64).to(device)  # noqa: E731
    worst = 0.0
    for (b, c, L, n, g, chunk) in [(2, 8, 13, 5, 4, None), (1, 8, 37, 16, 2, 4), (2, 4, 9, 3, 1, 1),
                                   (1, 4, 16, 4, 4, 16), (1, 4, 7, 2, 2, 50)]:
        args = [r(b, c, L), r(b, c, L), -torch.exp(r(c, n) * 0.5), r(b, g, n, L), r(b, g, n, L), r(c), r(c) - 1.0]
        args[1][0, 0, L // 2] = 30.0  # softplus passes x through above 20
        gout = r(b, c, L)
        results = []
        for fn in (lambda *a: selective_scan(*a, chunk=chunk), ref.selective_scan):
            ins = [a.clone().requires_grad_() for a in args]
            y = fn(*ins)
            (y * gout).sum().backward()
            results.append([y.detach()] + [x.grad for x in ins])
        errs = [_rel(a, b) for a, b in zip(*results)]
        log(f"chunked scan b{b} c{c} L{L} n{n} g{g} chunk {chunk or 'sqrt(L)'}: out {errs[0]:.1e}, "
            f"grads (u, delta, A, B, C, D, bias) max {max(errs[1:]):.1e}")
        worst = max(worst, *errs)
    # A whole small LIEDNet (dim 8, one block per level, one refinement block) with its side output.
    x = r(1, 3, 16, 24)
    gs, go = r(1, 3, 2, 3), r(1, 3, 16, 24)
    results = []
    for fast in (True, False):
        net = ref.make("liednet", 8, seed=4, num_blocks=(1, 1, 1), num_refinement_blocks=1).to(device)
        if fast:
            use_fast(net)
        xi = x.clone().requires_grad_()
        side, out = net(xi, True)
        ((side * gs).sum() + (out * go).sum()).backward()
        results.append([side.detach(), out.detach(), xi.grad] + [p.grad for p in net.parameters()])
    errs = [_rel(a, b) for a, b in zip(*results)]
    log(f"fast LIEDNet (dim 8, blocks (1, 1, 1), 1 refinement block, 16x24) vs liednet_ref: side {errs[0]:.1e}, out {errs[1]:.1e}, input grad "
        f"{errs[2]:.1e}, worst of {len(errs) - 3} parameter gradients {max(errs[3:]):.1e} (relative to max)")
    worst = max(worst, *errs)
    if not worst <= tol:
        raise RuntimeError(f"the chunked scan / oneDNN projections differ from liednet_ref by {worst:.1e} "
                           f"(relative, f64) > {tol:.0e}")
    return worst
