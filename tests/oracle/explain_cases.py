#!/usr/bin/env python3
"""The PyTorch reference for liednet explain (liednet/explain.h).

Usage: explain_cases.py --out DIR

DIR/explain.safetensors (float64), on the test-only reference network
(liednet_ref.LIEDNet, dim 8, blocks (1, 2, 2), 2 refinement blocks, seeded
init and perturbation) and two seeded images (2, 3, 24, 40) in [-1, 1]:
  param/<key>                      the network's weights (upstream's keys)
  images                           the images
  erf.<stage>                      (24, 40): for the stage output F (N, C, h, w), the input gradient
                                   g = torch.autograd.grad(sum over images and channels of F[:, :, h//2, w//2], x),
                                   |g| summed over the 3 input channels, averaged over the images
  erf_radius.<stage>               (3,): radii around pixel (H//2, W//2) holding 20/50/90% of erf.<stage>'s mass
  erf_without_ss2d.<stage>, erf_without_ss2d_radius.<stage>, output_without_ss2d:
                                   the same (and the output) with every SS2D module returning zeros
  output                           the unchanged network's output
  scan.<block>.k<0-3>              (h, w) for the first block of each level: the mean over channels of |y_k|,
                                   direction k's scan output put back at its pixels (before CrossMerge sums them),
                                   averaged over the images
  erf_dir.<block>.k<0-3>           (24, 40) for the first block of each level: the ERF of the block's output (as
                                   erf.<stage>) with that block's SS2D keeping only direction k (the other three
                                   directions' scan outputs set to zero before CrossMerge; other blocks unchanged)
  lfm.<block>                      (C,) for every block: the LFM's sigmoid output, averaged over the images
and __metadata__["config"], the network's configuration as JSON.
Stages: patch_embed, encoder_level1, encoder_level2, encoder_level3, decoder_level2,
decoder_level1, refinement (each level's output, i.e. its last block's) and output
(the network's output, after the global residual).
"""
import json
import os
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

import liednet_ref as ref  # noqa: E402
from oracle import out_dir, rand, save_safetensors  # noqa: E402
from ops_scan import cross_merge, cross_scan  # noqa: E402

DIM, BLOCKS, REFINEMENT = 8, (1, 2, 2), 2
SHAPE = (2, 3, 16, 32)
STAGES = ["patch_embed", "encoder_level1", "encoder_level2", "encoder_level3", "decoder_level2", "decoder_level1",
          "refinement", "output"]
LEVELS = ["encoder_level1", "encoder_level2", "encoder_level3", "decoder_level2", "decoder_level1", "refinement"]
FRACTIONS = (0.2, 0.5, 0.9)


def mass_radii(m):
    """Smallest Euclidean radius around (H//2, W//2) whose disc holds each fraction of the mass."""
    H, W = m.shape
    dy = torch.arange(H, dtype=torch.int64)[:, None] - H // 2
    dx = torch.arange(W, dtype=torch.int64)[None, :] - W // 2
    d2 = (dy * dy + dx * dx).flatten()
    rings, inverse = torch.unique(d2, sorted=True, return_inverse=True)
    mass = torch.zeros(len(rings), dtype=m.dtype).index_add_(0, inverse, m.flatten())
    inside = torch.cumsum(mass, 0)
    total = m.sum()
    out = []
    for f in FRACTIONS:
        i = int(torch.nonzero(inside >= f * total)[0])
        out.append(float(rings[i]) ** 0.5)
    return torch.tensor(out, dtype=torch.float64)


def stage_outputs(model, x):
    """The network's output and each stage's output (with graph), through forward hooks."""
    got = {}
    hooks = [getattr(model, s).register_forward_hook(lambda mod, inp, out, s=s: got.__setitem__(s, out))
             for s in STAGES[:-1]]
    y = model(x)
    for h in hooks:
        h.remove()
    got["output"] = y
    return y, got


def erfs(model, x0, prefix, out):
    x = x0.clone().requires_grad_()
    y, stages = stage_outputs(model, x)
    for s in STAGES:
        F = stages[s]
        h, w = F.shape[2:]
        (g,) = torch.autograd.grad(F[:, :, h // 2, w // 2].sum(), x, retain_graph=True)
        m = g.abs().sum(1).mean(0)
        out[f"{prefix}.{s}"] = m
        out[f"{prefix}_radius.{s}"] = mass_radii(m)
    return y.detach()


def block_inputs(model, x):
    """Every block's input, by a forward pre-hook on each VSSLocalBlock."""
    got = {}
    hooks = []
    for level in LEVELS:
        for i, blk in enumerate(getattr(model, level)):
            hooks.append(blk.register_forward_pre_hook(lambda mod, inp, k=f"{level}.{i}": got.__setitem__(k, inp[0])))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return got


def scan_maps(block, x):
    """Per direction k, mean over channels of |y_k| at each pixel, averaged over images: (h, w) each."""
    op = block.op
    n = block.norm(x.permute(0, 2, 3, 1))  # NHWC, as the block holds it
    xi, _ = op.in_proj(n).chunk(2, dim=-1)
    xi = op.act(op.conv2d(xi.permute(0, 3, 1, 2)))  # (b, d, h, w)
    b, d, h, w = xi.shape
    K, R, N, L = 4, op.dt_rank, op.d_state, h * w
    xs = cross_scan(xi)
    x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, op.x_proj_weight)
    dts, Bs, Cs = torch.split(x_dbl, [R, N, N], dim=2)
    dts = torch.einsum("bkrl,kdr->bkdl", dts, op.dt_projs_weight)
    ys = ref.selective_scan(xs.reshape(b, K * d, L), dts.reshape(b, K * d, L), -torch.exp(op.A_logs), Bs, Cs,
                            op.Ds, op.dt_projs_bias.reshape(-1)).view(b, K, d, L)
    # back to pixels: k0 row-major, k1 column-major, k2/k3 the reverses (as cross_merge undoes them)
    per_pixel = [ys[:, 0].reshape(b, d, h, w),
                 ys[:, 1].reshape(b, d, w, h).transpose(2, 3),
                 ys[:, 2].flip(-1).reshape(b, d, h, w),
                 ys[:, 3].flip(-1).reshape(b, d, w, h).transpose(2, 3)]
    return [y.abs().mean(1).mean(0) for y in per_pixel]


def single_direction_core(op, j):
    """op.core (liednet_ref.SS2D) with the scan outputs of every direction but j set to zero before the merge."""
    def core(x):
        b, d, h, w = x.shape
        K, R, N, L = 4, op.dt_rank, op.d_state, h * w
        xs = cross_scan(x)
        x_dbl = torch.einsum("bkdl,kcd->bkcl", xs, op.x_proj_weight)
        dts, Bs, Cs = torch.split(x_dbl, [R, N, N], dim=2)
        dts = torch.einsum("bkrl,kdr->bkdl", dts, op.dt_projs_weight)
        ys = ref.selective_scan(xs.reshape(b, K * d, L), dts.reshape(b, K * d, L), -torch.exp(op.A_logs), Bs, Cs,
                                op.Ds, op.dt_projs_bias.reshape(-1)).view(b, K, d, L)
        keep = torch.zeros(1, K, 1, 1, dtype=ys.dtype)
        keep[0, j] = 1
        y = cross_merge(ys * keep, h, w).flatten(2).transpose(1, 2)
        return op.out_norm(y).view(b, h, w, d)
    return core


def direction_erfs(model, x0, out):
    """erf_dir.<level>.0.k<j>: the first block of each level, its SS2D keeping only direction j."""
    for level in LEVELS:
        block = getattr(model, level)[0]
        for j in range(4):
            got = {}
            hook = block.register_forward_hook(lambda mod, inp, o: got.__setitem__("F", o))
            block.op.core = single_direction_core(block.op, j)
            x = x0.clone().requires_grad_()
            model(x)
            F = got["F"]
            h, w = F.shape[2:]
            (g,) = torch.autograd.grad(F[:, :, h // 2, w // 2].sum(), x)
            out[f"erf_dir.{level}.0.k{j}"] = g.abs().sum(1).mean(0)
            del block.op.core  # back to the class's method
            hook.remove()


def lfm_weights(block, x):
    n = block.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    return block.local.weight(block.local.avg_pool(n)).flatten(1).mean(0)


def main():
    out_path = out_dir(__doc__)
    t0 = time.time()

    model = ref.make("liednet", DIM, seed=1616, num_blocks=BLOCKS, num_refinement_blocks=REFINEMENT)
    x = rand(*SHAPE, seed=1617, lo=-1.0, hi=1.0)
    out = {f"param/{k}": v for k, v in model.state_dict().items()}
    out["images"] = x
    out["output"] = erfs(model, x, "erf", out)

    direction_erfs(model, x, out)
    inputs = block_inputs(model, x)
    with torch.no_grad():
        for level in LEVELS:
            for k, m in enumerate(scan_maps(getattr(model, level)[0], inputs[f"{level}.0"])):
                out[f"scan.{level}.0.k{k}"] = m
            for i, blk in enumerate(getattr(model, level)):
                out[f"lfm.{level}.{i}"] = lfm_weights(blk, inputs[f"{level}.{i}"])

    # The network without its global branch: every SS2D returns zeros.
    for m in model.modules():
        if isinstance(m, ref.SS2D):
            m.forward = lambda t: torch.zeros_like(t)
    out["output_without_ss2d"] = erfs(model, x, "erf_without_ss2d", out)
    assert (out["output_without_ss2d"] - out["output"]).abs().max() > 1e-3, "zeroing SS2D changed nothing"

    for k, v in out.items():
        assert torch.isfinite(v).all(), k
    for s in STAGES:
        assert out[f"erf.{s}"].sum() > 0, s
        print(f"{s:16s} ERF radii 20/50/90%: {out[f'erf_radius.{s}'].tolist()}  "
              f"without SS2D: {out[f'erf_without_ss2d_radius.{s}'].tolist()}")
    config = {"dim": DIM, "blocks": list(BLOCKS), "refinement": REFINEMENT}
    save_safetensors(os.path.join(out_path, "explain.safetensors"), out, {"config": json.dumps(config)})
    print(f"explain.safetensors: {len(out)} tensors, images {SHAPE}, {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
