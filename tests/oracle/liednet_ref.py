#!/usr/bin/env python3
"""A test-only PyTorch reference of LIEDNet (Liu et al., IEEE TCSVT 2025).

This is an oracle for the C++ network, never part of the product. It computes
exactly what upstream's `basicsr/archs/lied_arch.py` (class LIED) and
`basicsr/archs/vmamba.py` (SS2D forward type "v2", initialize "v0",
channel_first False; LocalFeatureModule, DGDFeedForward, VSSLocalBlock) compute,
written afresh without einops and without CUDA kernels:

- every module here takes and returns NCHW tensors; inside, the ops run in
  upstream's layout (NHWC for nn.Linear in_proj/out_proj and nn.LayerNorm over
  channels, NCHW for the convolutions), with upstream's permutes;
- the selective scan is a plain loop over time, vectorised over batch,
  directions and channels (checked against ops_scan.selective_scan_loop in
  --self-check), so the whole network runs on the CPU in float64 and torch's
  autograd gives every gradient;
- parameter names, shapes and state-dict order are upstream's.

One deliberate difference: upstream hard-codes `side_out` as Conv2d(128, 3, 3);
here it is Conv2d(4*dim, 3, 3) (the same for dim 32).

Usage:
  liednet_ref.py --check-counts              parameter counts and the key order
  liednet_ref.py --self-check                the vectorised scan vs the plain loop
  liednet_ref.py --check-upstream GIT_DIR    run upstream's own lied_arch.py and
        vmamba.py (read from the bare git repo GIT_DIR, e.g.
        /work/.mirror/MingyuLiu1+LIEDNet/repo) on the CPU with stubs for its
        CUDA/triton/einops/timm/fvcore imports, and compare state-dict keys,
        shapes, order, the output, the side output and every gradient with
        this reference on the same weights.
"""
import argparse
import math
import pathlib
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from ops_scan import cross_merge, cross_scan, selective_scan_loop  # noqa: E402

D_STATE = 16
K_DIRECTIONS = 4


# --------------------------------------------------------------------------
# Selective scan
def selective_scan(u, delta, A, B, C, D, delta_bias):
    """Mamba's selective scan with delta_softplus=True.

    u, delta: (b, c, L); A: (c, n); B, C: (b, g, n, L), group j shared by the
    c/g consecutive channels j*c/g ... ; D, delta_bias: (c,). Returns (b, c, L).
    Same maths as ops_scan.selective_scan_loop, but the per-step factors
    exp(dt*A) and dt*B*u are formed for all steps at once, so the Python loop
    does only h = a_t * h + b_t.
    """
    b, c, L = u.shape
    g = B.shape[1]
    dt = F.softplus(delta + delta_bias[None, :, None])  # torch: x for x > 20, like the CUDA kernel
    Bc = B.repeat_interleave(c // g, dim=1).transpose(2, 3)  # (b, c, L, n)
    Cc = C.repeat_interleave(c // g, dim=1).transpose(2, 3)
    dA = torch.exp(dt[..., None] * A[None, :, None, :])  # (b, c, L, n)
    dBu = (dt * u)[..., None] * Bc
    h = u.new_zeros(b, c, A.shape[1])
    hs = []
    for a_t, b_t in zip(dA.unbind(2), dBu.unbind(2)):
        h = a_t * h + b_t
        hs.append(h)
    y = (torch.stack(hs, dim=2) * Cc).sum(-1)
    return y + D[None, :, None] * u


# --------------------------------------------------------------------------
# SS2D (vmamba.py, forward type "v2")
class SS2D(nn.Module):
    def __init__(self, d_model, d_state=D_STATE, ssm_ratio=2.0):
        super().__init__()
        d = int(ssm_ratio * d_model)
        R = math.ceil(d_model / 16)
        K = K_DIRECTIONS
        self.d_model, self.d_inner, self.dt_rank, self.d_state = d_model, d, R, d_state
        # Registration order as upstream's __initv2__: out_norm, in_proj, act,
        # conv2d, x_proj_weight, out_proj, dropout, then (initialize "v0")
        # dt_projs_weight, dt_projs_bias, A_logs, Ds. state_dict() lists a
        # module's own parameters before its children, hence upstream's order
        # x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds, out_norm.*,
        # in_proj.weight, conv2d.*, out_proj.weight.
        self.out_norm = nn.LayerNorm(d)  # eps 1e-5 (out_norm_shape "v0": over the last dim of (B, L, d))
        self.in_proj = nn.Linear(d_model, 2 * d, bias=False)
        self.act = nn.SiLU()
        self.conv2d = nn.Conv2d(d, d, 3, padding=1, groups=d, bias=True)
        self.x_proj_weight = nn.Parameter(torch.empty(K, R + 2 * d_state, d))
        self.out_proj = nn.Linear(d, d_model, bias=False)
        self.dt_projs_weight = nn.Parameter(torch.empty(K, d, R))
        self.dt_projs_bias = nn.Parameter(torch.empty(K, d))
        self.A_logs = nn.Parameter(torch.empty(K * d, d_state))
        self.Ds = nn.Parameter(torch.empty(K * d))

    def core(self, x):
        """cross_selective_scan: (B, d, H, W) after the dwconv -> out_norm'd (B, H, W, d)."""
        b, d, h, w = x.shape
        K, R, N, L = K_DIRECTIONS, self.dt_rank, self.d_state, h * w
        xs = cross_scan(x)  # (b, K, d, L): row-major, column-major, both reversed
        x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, self.x_proj_weight)
        dts, Bs, Cs = torch.split(x_dbl, [R, N, N], dim=2)
        dts = torch.einsum("bkrl,kdr->bkdl", dts, self.dt_projs_weight)
        ys = selective_scan(xs.reshape(b, K * d, L), dts.reshape(b, K * d, L), -torch.exp(self.A_logs),
                            Bs, Cs, self.Ds, self.dt_projs_bias.reshape(-1))
        y = cross_merge(ys.view(b, K, d, L), h, w)  # (b, d, h, w)
        y = y.flatten(2).transpose(1, 2)  # (b, L, d)
        return self.out_norm(y).view(b, h, w, d)

    def forward(self, x):
        """x: (B, d_model, H, W) -> (B, d_model, H, W)."""
        xz = self.in_proj(x.permute(0, 2, 3, 1))  # NHWC, Linear over channels
        xi, z = xz.chunk(2, dim=-1)  # first half feeds the scan, second half is the gate
        z = self.act(z)
        xi = self.act(self.conv2d(xi.permute(0, 3, 1, 2)))
        y = self.core(xi) * z  # (B, H, W, d)
        return self.out_proj(y).permute(0, 3, 1, 2)


# --------------------------------------------------------------------------
# LocalFeatureModule, DGDFeedForward, VSSLocalBlock (vmamba.py)
class LocalFeatureModule(nn.Module):
    """Squeeze-and-excitation: x * sigmoid(conv(relu(conv(mean_HW(x)))))."""

    def __init__(self, dim, growth_rate=2.0):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        hidden = int(dim // growth_rate)
        self.weight = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, dim, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.weight(self.avg_pool(x))


class DGDFeedForward(nn.Module):
    def __init__(self, dim, ffn_expansion_factor=2.66, bias=False):
        super().__init__()
        h = int(dim * ffn_expansion_factor)
        self.hidden = h
        self.project_in1 = nn.Conv2d(dim, 2 * h, 1, bias=bias)
        self.project_in2 = nn.Conv2d(dim, h, 1, bias=bias)
        self.dwconv1 = nn.Conv2d(h, h, 5, padding=2, groups=h, bias=bias)
        self.dwconv2 = nn.Conv2d(h, h, 3, padding=1, groups=h, bias=bias)
        self.dwconv3 = nn.Conv2d(h, h, 3, padding=1, groups=h, bias=bias)
        self.fusion = nn.Conv2d(2 * h, h, 1, bias=bias)
        self.project_out = nn.Conv2d(h, dim, 1, bias=bias)

    def forward(self, x):
        a, b = self.project_in1(x).chunk(2, dim=1)
        f = self.fusion(torch.cat((F.relu(self.dwconv1(a)), F.relu(self.dwconv2(b))), dim=1))
        g = self.dwconv3(self.project_in2(x))
        return self.project_out(F.gelu(g) * f)  # exact (erf) GELU


class VSSLocalBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        # upstream order: norm, op, drop_path (DropPath(0), no parameters), local, fusion, norm2, ffn
        self.norm = nn.LayerNorm(dim)  # eps 1e-5
        self.op = SS2D(dim)
        self.local = LocalFeatureModule(dim)
        self.fusion = nn.Conv2d(2 * dim, dim, 1)  # with bias
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = DGDFeedForward(dim, 2.66, bias=False)

    def forward(self, x):
        """x: (B, C, H, W) -> (B, C, H, W); upstream takes and returns NHWC."""
        x = x.permute(0, 2, 3, 1)  # NHWC, as upstream holds it
        n = self.norm(x).permute(0, 3, 1, 2)  # LayerNorm over channels
        x = self.fusion(torch.cat((self.op(n), self.local(n)), dim=1)).permute(0, 2, 3, 1) + x
        x = self.ffn(self.norm2(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1) + x
        return x.permute(0, 3, 1, 2)


# --------------------------------------------------------------------------
# LIEDNet (lied_arch.py, class LIED)
class OverlapPatchEmbed(nn.Module):
    def __init__(self, in_c, dim):
        super().__init__()
        self.proj = nn.Conv2d(in_c, dim, kernel_size=2, stride=2, bias=False)

    def forward(self, x):
        return self.proj(x)


class Downsample(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(n, n // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2))

    def forward(self, x):
        return self.body(x)


class Upsample(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(n, 2 * n, 3, padding=1, bias=False), nn.PixelShuffle(2))

    def forward(self, x):
        return self.body(x)


def _blocks(n, dim):
    return nn.Sequential(*[VSSLocalBlock(dim) for _ in range(n)])


class LIEDNet(nn.Module):
    def __init__(self, dim=32, num_blocks=(1, 2, 4), num_refinement_blocks=4, in_channels=3, out_channels=3):
        super().__init__()
        self.dim, self.num_blocks, self.num_refinement_blocks = dim, tuple(num_blocks), num_refinement_blocks
        self.patch_embed = OverlapPatchEmbed(in_channels, dim)
        self.encoder_level1 = _blocks(num_blocks[0], dim)
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = _blocks(num_blocks[1], 2 * dim)
        self.down2_3 = Downsample(2 * dim)
        self.encoder_level3 = _blocks(num_blocks[2], 4 * dim)
        self.up3_2 = Upsample(4 * dim)
        self.reduce_chan_level2 = nn.Conv2d(4 * dim, 2 * dim, 1, bias=False)
        self.decoder_level2 = _blocks(num_blocks[1], 2 * dim)
        self.up2_1 = Upsample(2 * dim)
        self.decoder_level1 = _blocks(num_blocks[0], 2 * dim)  # cat(up, e1): 2*dim channels, no reduction
        self.refinement = _blocks(num_refinement_blocks, 2 * dim)
        self.recover = nn.Sequential(nn.Conv2d(2 * dim, 8 * dim, 3, padding=1, bias=False), nn.PixelShuffle(2))
        self.output = nn.Conv2d(2 * dim, out_channels, 3, padding=1, bias=False)
        self.side_out = nn.Conv2d(4 * dim, 3, 3, padding=1)  # upstream: Conv2d(128, 3, 3, padding=1), with bias

    def forward(self, x, side=False):
        e1 = self.encoder_level1(self.patch_embed(x))
        e2 = self.encoder_level2(self.down1_2(e1))
        e3 = self.encoder_level3(self.down2_3(e2))
        d2 = self.decoder_level2(self.reduce_chan_level2(torch.cat((self.up3_2(e3), e2), dim=1)))
        d1 = self.decoder_level1(torch.cat((self.up2_1(d2), e1), dim=1))
        r = self.refinement(d1)
        out = self.output(self.recover(r)) + x  # global residual, not clamped
        if side:
            return self.side_out(e3), out
        return out


# --------------------------------------------------------------------------
# Initialisation
def _uniform_(t, bound, gen):
    with torch.no_grad():
        t.uniform_(-bound, bound, generator=gen)


def init_(model, seed):
    """Upstream's initialisation, drawn from a seeded torch.Generator.

    nn.Linear / nn.Conv2d: torch's default, kaiming_uniform(a=sqrt(5)) for the
    weight, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the
    bias. LayerNorm: weight 1, bias 0. SS2D: x_proj_weight[k] as the default of
    nn.Linear(d, R+2N) (bound 1/sqrt(d)); dt_projs_weight U(-R^-0.5, R^-0.5);
    dt_projs_bias = inverse softplus of dt = exp(U(log 1e-3, log 1e-1))
    floored at 1e-4; A_logs[c, n] = log(n+1); Ds = 1.
    Returns the model.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                _uniform_(m.weight, 1.0 / math.sqrt(fan_in), gen)
                if m.bias is not None:
                    _uniform_(m.bias, 1.0 / math.sqrt(fan_in), gen)
            elif isinstance(m, nn.LayerNorm):
                m.weight.fill_(1.0)
                m.bias.fill_(0.0)
            elif isinstance(m, SS2D):
                d, R, N = m.d_inner, m.dt_rank, m.d_state
                _uniform_(m.x_proj_weight, 1.0 / math.sqrt(d), gen)
                _uniform_(m.dt_projs_weight, R ** -0.5, gen)
                u = torch.rand(m.dt_projs_bias.shape, generator=gen, dtype=m.dt_projs_bias.dtype)
                dt = torch.exp(u * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
                m.dt_projs_bias.copy_(dt + torch.log(-torch.expm1(-dt)))
                m.A_logs.copy_(torch.log(torch.arange(1, N + 1, dtype=m.A_logs.dtype)).repeat(m.A_logs.shape[0], 1))
                m.Ds.fill_(1.0)
    return model


def perturb_(model, seed, scale=0.1):
    """Adds N(0, scale^2) noise to A_logs, Ds, dt_projs_bias and every LayerNorm's
    weight and bias, so that no gradient path is degenerate (at upstream's init
    every channel has the same A, D = 1, LayerNorm is the identity map ...).
    Returns the model."""
    gen = torch.Generator().manual_seed(seed)

    def add(p):
        p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, SS2D):
                add(m.A_logs)
                add(m.Ds)
                add(m.dt_projs_bias)
            elif isinstance(m, nn.LayerNorm):
                add(m.weight)
                add(m.bias)
    return model


def make(module, dim, seed, dtype=torch.float64, **kw):
    """A module with seeded init and perturbation: module in ss2d, lfm, dgdffn, block, liednet."""
    cls = {"ss2d": SS2D, "lfm": LocalFeatureModule, "dgdffn": DGDFeedForward, "block": VSSLocalBlock,
           "liednet": LIEDNet}[module]
    m = cls(dim, **kw).to(dtype)
    init_(m, seed)
    perturb_(m, seed + 1)
    return m


# --------------------------------------------------------------------------
# Counts and upstream's key order, as read from upstream's __init__ code
def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def expected_keys(dim=32, num_blocks=(1, 2, 4), num_refinement_blocks=4):
    """(key, shape) in upstream's state_dict() order, written from reading
    upstream's LIED.__init__, VSSLocalBlock.__init__, SS2D.__initv2__,
    LocalFeatureModule and DGDFeedForward (own parameters first, then children
    in assignment order; Sequential children named 0, 1, ...)."""
    keys = []

    def ss2d(p, c):
        d, R, N = 2 * c, math.ceil(c / 16), D_STATE
        keys.extend([(p + "x_proj_weight", (4, R + 2 * N, d)), (p + "dt_projs_weight", (4, d, R)),
                     (p + "dt_projs_bias", (4, d)), (p + "A_logs", (4 * d, N)), (p + "Ds", (4 * d,)),
                     (p + "out_norm.weight", (d,)), (p + "out_norm.bias", (d,)),
                     (p + "in_proj.weight", (2 * d, c)), (p + "conv2d.weight", (d, 1, 3, 3)),
                     (p + "conv2d.bias", (d,)), (p + "out_proj.weight", (c, d))])

    def block(p, c):
        h = int(c * 2.66)
        keys.extend([(p + "norm.weight", (c,)), (p + "norm.bias", (c,))])
        ss2d(p + "op.", c)
        keys.extend([(p + "local.weight.0.weight", (c // 2, c, 1, 1)), (p + "local.weight.0.bias", (c // 2,)),
                     (p + "local.weight.2.weight", (c, c // 2, 1, 1)), (p + "local.weight.2.bias", (c,)),
                     (p + "fusion.weight", (c, 2 * c, 1, 1)), (p + "fusion.bias", (c,)),
                     (p + "norm2.weight", (c,)), (p + "norm2.bias", (c,)),
                     (p + "ffn.project_in1.weight", (2 * h, c, 1, 1)), (p + "ffn.project_in2.weight", (h, c, 1, 1)),
                     (p + "ffn.dwconv1.weight", (h, 1, 5, 5)), (p + "ffn.dwconv2.weight", (h, 1, 3, 3)),
                     (p + "ffn.dwconv3.weight", (h, 1, 3, 3)), (p + "ffn.fusion.weight", (h, 2 * h, 1, 1)),
                     (p + "ffn.project_out.weight", (c, h, 1, 1))])

    def level(name, n, c):
        for i in range(n):
            block(f"{name}.{i}.", c)

    C = dim
    keys.append(("patch_embed.proj.weight", (C, 3, 2, 2)))
    level("encoder_level1", num_blocks[0], C)
    keys.append(("down1_2.body.0.weight", (C // 2, C, 3, 3)))
    level("encoder_level2", num_blocks[1], 2 * C)
    keys.append(("down2_3.body.0.weight", (C, 2 * C, 3, 3)))
    level("encoder_level3", num_blocks[2], 4 * C)
    keys.append(("up3_2.body.0.weight", (8 * C, 4 * C, 3, 3)))
    keys.append(("reduce_chan_level2.weight", (2 * C, 4 * C, 1, 1)))
    level("decoder_level2", num_blocks[1], 2 * C)
    keys.append(("up2_1.body.0.weight", (4 * C, 2 * C, 3, 3)))
    level("decoder_level1", num_blocks[0], 2 * C)
    level("refinement", num_refinement_blocks, 2 * C)
    keys.append(("recover.0.weight", (8 * C, 2 * C, 3, 3)))
    keys.append(("output.weight", (3, 2 * C, 3, 3)))
    keys.extend([("side_out.weight", (3, 4 * C, 3, 3)), ("side_out.bias", (3,))])
    return keys


def state_dict_upstream_order(model):
    """Asserts that model.state_dict() has upstream's keys, shapes and order."""
    got = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    want = expected_keys(model.dim, model.num_blocks, model.num_refinement_blocks)
    assert len(got) == len(want), (len(got), len(want))
    for g, w in zip(got, want):
        assert g == w, (g, w)
    return True


def check_counts():
    m32 = LIEDNet(32)
    m64 = LIEDNet(64)
    n32, n64 = count_parameters(m32), count_parameters(m64)
    print(f"LIEDNet dim 32: {n32:,} parameters, {len(m32.state_dict())} tensors")
    print(f"LIEDNet dim 64: {n64:,} parameters, {len(m64.state_dict())} tensors")
    assert n32 == 4_755_554, n32
    assert n64 == 17_790_901, n64
    assert len(m32.state_dict()) == 402 and len(m64.state_dict()) == 402
    for m in (m32, m64, LIEDNet(8, (1, 1, 1), 1), LIEDNet(16, (2, 1, 3), 2)):
        state_dict_upstream_order(m)
    print("state-dict keys, shapes and order match the reading of upstream's __init__ code")


def self_check():
    """The vectorised scan against ops_scan.selective_scan_loop (checked against the C++)."""
    gen = torch.Generator().manual_seed(7)
    r = lambda *s: torch.randn(s, generator=gen, dtype=torch.float64)  # noqa: E731
    b, c, L, n, g = 2, 8, 13, 5, 4
    args = [r(b, c, L), r(b, c, L), -torch.exp(r(c, n) * 0.5), r(b, g, n, L), r(b, g, n, L), r(c), r(c) - 1.0]
    args[1][0, 0, 3] = 30.0  # the softplus threshold path
    a1 = [a.clone().requires_grad_() for a in args]
    a2 = [a.clone().requires_grad_() for a in args]
    y1 = selective_scan(*a1)
    y2 = selective_scan_loop(*a2[:5], D=a2[5], delta_bias=a2[6], softplus=True)
    gout = r(b, c, L)
    (y1 * gout).sum().backward()
    (y2 * gout).sum().backward()
    err = (y1 - y2).abs().max().item()
    gerr = max((x1.grad - x2.grad).abs().max().item() for x1, x2 in zip(a1, a2))
    print(f"vectorised scan vs selective_scan_loop: out {err:.1e}, grads {gerr:.1e}")
    assert err < 1e-12 and gerr < 1e-12


# --------------------------------------------------------------------------
# Upstream's own code on the CPU
def load_upstream(git_dir):
    """Imports upstream's lied_arch.py and vmamba.py from a bare git repo.

    Stubs: einops.repeat (the three patterns A_log_init/D_init use), timm's
    DropPath (identity, only drop_path=0 occurs) and trunc_normal_, fvcore and
    csm_triton (only imported), basicsr's ARCH_REGISTRY, and the CUDA module
    selective_scan_cuda_core, whose fwd/bwd run ops_scan.selective_scan_loop
    (the plain loop checked against our C++), bwd through torch autograd.
    One textual edit: cross_selective_scan casts to torch.float (float32);
    those casts become torch.float64 so the comparison can be made in f64.
    """
    import importlib
    import re
    import shutil
    import subprocess
    import tempfile
    import types

    def show(path):
        return subprocess.run(["git", "-C", git_dir, "show", "HEAD:" + path], check=True, capture_output=True,
                              text=True).stdout

    vm = show("basicsr/archs/vmamba.py")
    vm, n_casts = re.subn(r"\.to\(torch\.float\)", ".to(torch.float64)", vm)
    # 7 in cross_selective_scan (As, Ds, delta_bias; xs, dts, Bs, Cs under force_fp32), 3 in the unused forwardxv
    assert n_casts == 10, n_casts
    lied = show("basicsr/archs/lied_arch.py")

    def stub(name, **attrs):
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        sys.modules[name] = mod
        return mod

    def repeat(t, pattern, **axes):
        lhs, rhs = [s.split() for s in pattern.split("->")]
        assert rhs[1:] == lhs and len(axes) == 1 and rhs[0] in axes, pattern
        return t.unsqueeze(0).expand(axes[rhs[0]], *t.shape).contiguous()

    class DropPath(nn.Module):
        def __init__(self, drop_prob=0.0):
            super().__init__()
            assert drop_prob == 0
            self.drop_prob = drop_prob

        def forward(self, x):
            return x

    def fwd(u, delta, A, B, C, D, delta_bias, delta_softplus, nrows):
        assert delta_softplus
        with torch.no_grad():
            return selective_scan_loop(u, delta, A, B, C, D, delta_bias, softplus=True), None

    def bwd(u, delta, A, B, C, D, delta_bias, dout, x, delta_softplus, nrows):
        ins = [t.detach().requires_grad_() for t in (u, delta, A, B, C, D, delta_bias)]
        with torch.enable_grad():
            y = selective_scan_loop(*ins[:5], ins[5], ins[6], softplus=True)
            return torch.autograd.grad(y, ins, dout)

    stub("einops", rearrange=None, repeat=repeat)
    stub("timm")
    stub("timm.models")
    stub("timm.models.layers", DropPath=DropPath, trunc_normal_=None)
    stub("fvcore")
    stub("fvcore.nn", FlopCountAnalysis=None, flop_count_str=None, flop_count=None, parameter_count=None)
    stub("csm_triton", CrossScanTriton=None, CrossMergeTriton=None, CrossScanTriton1b1=None)
    registry = types.SimpleNamespace(register=lambda: (lambda cls: cls))
    stub("basicsr")
    stub("basicsr.utils")
    stub("basicsr.utils.registry", ARCH_REGISTRY=registry)
    stub("selective_scan_cuda_core", fwd=fwd, bwd=bwd)

    tmp = tempfile.mkdtemp(prefix="liednet_upstream_")
    pkg = pathlib.Path(tmp) / "upstream_liednet"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "vmamba.py").write_text(vm)
    (pkg / "lied_arch.py").write_text(lied)
    sys.path.insert(0, tmp)
    import warnings
    warnings.filterwarnings("ignore", message=".*CUDA is not available.*")
    try:
        return importlib.import_module("upstream_liednet.lied_arch")
    finally:
        sys.path.remove(tmp)
        shutil.rmtree(tmp)


def check_upstream(git_dir):
    up = load_upstream(git_dir)
    torch.manual_seed(0)
    theirs = up.LIED().double()
    ours = make("liednet", 32, seed=11)
    sd_t, sd_o = theirs.state_dict(), ours.state_dict()
    assert [(k, tuple(v.shape)) for k, v in sd_t.items()] == [(k, tuple(v.shape)) for k, v in sd_o.items()]
    print(f"upstream LIED(): {len(sd_t)} tensors, {count_parameters(theirs):,} parameters; "
          "keys, shapes and order equal ours")
    theirs.load_state_dict(sd_o)
    # the same for LIED(dim=64): counts differ only by side_out (128 vs 256 input channels)
    n64 = count_parameters(up.LIED(dim=64))
    print(f"upstream LIED(dim=64): {n64:,} parameters (ours {count_parameters(LIEDNet(64)):,})")
    assert n64 == 17_787_445

    gen = torch.Generator().manual_seed(12)
    x = torch.randn(1, 3, 16, 24, generator=gen, dtype=torch.float64)
    gs = torch.randn(1, 3, 2, 3, generator=gen, dtype=torch.float64)
    go = torch.randn(1, 3, 16, 24, generator=gen, dtype=torch.float64)
    results = []
    for net in (theirs, ours):
        xi = x.clone().requires_grad_()
        side, out = net(xi, True)
        ((side * gs).sum() + (out * go).sum()).backward()
        results.append((side.detach(), out.detach(), xi.grad, {k: p.grad for k, p in net.named_parameters()}))
    (s1, o1, gx1, g1), (s2, o2, gx2, g2) = results

    def rel(a, b):
        return ((a - b).abs().max() / b.abs().max().clamp(min=1e-300)).item()

    worst = max(rel(g1[k], g2[k]) for k in g2)
    print(f"upstream vs reference, f64: out {rel(o1, o2):.1e}, side {rel(s1, s2):.1e}, "
          f"grad_in {rel(gx1, gx2):.1e}, worst parameter gradient {worst:.1e} (relative to max)")
    assert rel(o1, o2) < 1e-12 and rel(s1, s2) < 1e-12 and rel(gx1, gx2) < 1e-10 and worst < 1e-10


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check-counts", action="store_true")
    ap.add_argument("--self-check", action="store_true")
    ap.add_argument("--check-upstream", metavar="GIT_DIR")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if not (args.check_counts or args.self_check or args.check_upstream):
        args.check_counts = args.self_check = True
    if args.check_counts:
        check_counts()
    if args.self_check:
        self_check()
    if args.check_upstream:
        check_upstream(args.check_upstream)


if __name__ == "__main__":
    main()
