"""Oracle cases for the selective scan and the fused SS2D scan.

The torch references are plain loops written for the test: mamba's selective
scan semantics, and upstream LIEDNet's SS2D core (forward type v2:
CrossScan -> x_proj/dt_proj einsums -> selective scan -> CrossMerge, before
out_norm). torch's autograd provides the reference gradients.
"""
import math

import torch
import torch.nn.functional as F

from oracle import randn


def selective_scan_loop(u, delta, A, B, C, D=None, delta_bias=None, softplus=True):
    """u, delta (b, dc, L); A (dc, n); B, C (b, g, n, L) shared by dc/g channels each."""
    b, dc, L = u.shape
    g = B.shape[1]
    if delta_bias is not None:
        delta = delta + delta_bias[None, :, None]
    if softplus:
        delta = F.softplus(delta)
    Bc = B.repeat_interleave(dc // g, dim=1)  # (b, dc, n, L)
    Cc = C.repeat_interleave(dc // g, dim=1)
    h = u.new_zeros(b, dc, A.shape[1])
    ys = []
    for t in range(L):
        dt = delta[:, :, t, None]
        h = torch.exp(dt * A) * h + dt * Bc[:, :, :, t] * u[:, :, t, None]
        ys.append((h * Cc[:, :, :, t]).sum(-1))
    y = torch.stack(ys, dim=-1)
    if D is not None:
        y = y + D[None, :, None] * u
    return y


def cross_scan(x):
    """(b, d, h, w) -> (b, 4, d, h*w): row-major, column-major, and both reversed."""
    rows = x.flatten(2)
    cols = x.transpose(2, 3).flatten(2)
    return torch.stack([rows, cols, rows.flip(-1), cols.flip(-1)], dim=1)


def cross_merge(ys, h, w):
    """(b, 4, d, h*w) -> (b, d, h, w): every direction's output back at its pixel, summed."""
    b, _, d, L = ys.shape
    rows = ys[:, 0] + ys[:, 2].flip(-1)
    cols = ys[:, 1] + ys[:, 3].flip(-1)
    return (rows + cols.view(b, d, w, h).transpose(2, 3).reshape(b, d, L)).view(b, d, h, w)


def ss2d_core(x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds):
    b, d, h, w = x.shape
    K, _, R = dt_projs_weight.shape
    N = A_logs.shape[1]
    xs = cross_scan(x)
    x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, x_proj_weight)
    dts, Bs, Cs = torch.split(x_dbl, [R, N, N], dim=2)
    dts = torch.einsum("bkrl,kdr->bkdl", dts, dt_projs_weight)
    ys = selective_scan_loop(xs.reshape(b, K * d, h * w), dts.reshape(b, K * d, h * w), -torch.exp(A_logs),
                             Bs, Cs, Ds, dt_projs_bias.reshape(-1), softplus=True)
    return cross_merge(ys.view(b, K, d, h * w), h, w)


def scan_inputs(b, dc, L, n, g, seed):
    return [randn(b, dc, L, seed=seed), randn(b, dc, L, seed=seed + 1, scale=0.5),
            -torch.exp(randn(dc, n, seed=seed + 2, scale=0.5)), randn(b, g, n, L, seed=seed + 3),
            randn(b, g, n, L, seed=seed + 4), randn(dc, seed=seed + 5), randn(dc, seed=seed + 6, scale=0.3)]


def ss2d_inputs(b, d, h, w, R, N, seed):
    A_logs = torch.log(torch.arange(1, N + 1, dtype=torch.float64)).repeat(4 * d, 1)
    return [randn(b, d, h, w, seed=seed), randn(4, R + 2 * N, d, seed=seed + 1, scale=0.4),
            randn(4, d, R, seed=seed + 2, scale=R ** -0.5), randn(4, d, seed=seed + 3, scale=0.5) - 1.0,
            A_logs + randn(4 * d, N, seed=seed + 4, scale=0.1), randn(4 * d, seed=seed + 5)]


def register(g):
    g.case("selective_scan 2x4 L=9 N=3 G=2", lambda *x: selective_scan_loop(*x), *scan_inputs(2, 4, 9, 3, 2, 100))
    g.case("selective_scan 1x6 L=40 N=16 G=1", lambda *x: selective_scan_loop(*x), *scan_inputs(1, 6, 40, 16, 1, 200))
    u, dl, A, B, C = scan_inputs(1, 2, 7, 4, 1, 300)[:5]
    g.case("selective_scan without D, bias, softplus",
           lambda *x: selective_scan_loop(*x, softplus=False), u, dl.abs() + 0.1, A, B, C)
    g.case("ss2d_scan 1x4x5x7 R=1 N=4", ss2d_core, *ss2d_inputs(1, 4, 5, 7, 1, 4, 400))
    g.case("ss2d_scan 2x3x3x5 R=2 N=16", ss2d_core, *ss2d_inputs(2, 3, 3, 5, 2, 16, 500))
    g.case("ss2d_scan 1x8x8x6 R=2 N=16", ss2d_core, *ss2d_inputs(1, 8, 8, 6, 2, 16, 600))
    # SS2D's SiLU after the depthwise convolution, fused into the op (silu_input).
    x, *rest = ss2d_inputs(1, 8, 8, 6, 2, 16, 700)
    g.case("ss2d_scan silu input 1x8x8x6 R=2 N=16", lambda x, *r: ss2d_core(F.silu(x), *r), 3 * x, *rest)
