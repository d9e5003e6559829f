#!/usr/bin/env python3
"""Writes the PyTorch parity cases for the C++ LIEDNet module tests.

Usage: network_cases.py --out DIR

DIR/network.safetensors (float64), for each case name <case>:
  <case>/param/<key>   every parameter of the module (upstream's keys, relative to the module)
  <case>/in            the input (NCHW)
  <case>/out           the output; <case>/side the x8 side output (LIEDNet with side)
  <case>/gout          the upstream gradient of out (and <case>/gside of side):
                       the scalar loss is sum(out * gout) + sum(side * gside)
  <case>/grad_in       d loss / d in
  <case>/grad/<key>    d loss / d parameter, for every parameter
and under __metadata__[<case>] a JSON string with the module's config.

DIR/liednet_dim8.pth: torch.save({'params': state_dict}) of case "liednet dim8"'s
model in float32 (the layout of upstream's checkpoints), for `liednet convert`.
DIR/liednet_dim8_f32.safetensors: that float32 state dict, plus `input` (case
"liednet dim8"'s input in float32), `output` and `side`: the float32 model's
outputs on it.

Parameters come from liednet_ref.init_ (upstream's initialisation, seeded) and
liednet_ref.perturb_; inputs and upstream gradients are seeded randn.
"""
import json
import os
import pathlib
import sys
import time
import zlib

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

import liednet_ref as ref  # noqa: E402
from oracle import out_dir, randn, save_safetensors  # noqa: E402

# name, module, dim, input shape, extra config
CASES = [
    ("ss2d dim8", "ss2d", 8, (1, 8, 6, 10), {}),
    ("lfm dim8", "lfm", 8, (2, 8, 5, 7), {}),
    ("dgdffn dim8", "dgdffn", 8, (1, 8, 5, 7), {}),
    ("block dim8", "block", 8, (2, 8, 6, 4), {}),
    ("block dim32", "block", 32, (1, 32, 6, 8), {}),
    ("liednet dim8", "liednet", 8, (1, 3, 16, 24), {"blocks": [1, 1, 1], "refinement": 1, "side": True}),
    ("liednet dim32", "liednet", 32, (1, 3, 40, 56), {"blocks": [1, 2, 4], "refinement": 4, "side": True}),
    ("liednet dim32 batch2", "liednet", 32, (2, 3, 24, 32), {"blocks": [1, 2, 4], "refinement": 4, "side": True}),
]


def build(module, dim, cfg, seed, dtype=torch.float64):
    kw = {}
    if module == "liednet":
        kw = {"num_blocks": tuple(cfg["blocks"]), "num_refinement_blocks": cfg["refinement"]}
    return ref.make(module, dim, seed, dtype=dtype, **kw)


def loss_of(model, x, side, gout, gside):
    if side:
        s, y = model(x, side=True)
        return (y * gout).sum() + (s * gside).sum()
    return (model(x) * gout).sum()


def finite_difference_check(model, x, gout, gside, count=5, seed=99):
    """Finite differences on random parameter entries (and one input entry) of the f64 model,
    against the autograd gradients already in .grad / x.grad.

    The 4-point central stencil (f(-2e) - 8 f(-e) + 8 f(e) - f(2e)) / 12e, error O(e^4). The step
    is e = 1e-6 / |gradient|, clamped to [1e-6, 1e-2], so that every step moves the loss by about
    1e-6: large enough that rounding in the loss (about 1e-14 here) stays below 1e-7 of the
    difference, even for the scan's small gradients (A_logs ~1e-5), and small enough that the
    ReLUs in LFM and DGDFFN do not switch (a fixed e = 1e-3 already crosses kinks)."""
    gen = torch.Generator().manual_seed(seed)
    named = dict(model.named_parameters())
    keys = sorted(named)
    picks = [keys[i] for i in torch.randperm(len(keys), generator=gen)[:count].tolist()]
    # and always the scan's own parameters in the deepest block
    picks += [k for k in keys if k.startswith("encoder_level3.0.op.") and k.split(".")[-1] in
              ("A_logs", "Ds", "dt_projs_bias", "dt_projs_weight", "x_proj_weight")]
    targets = [(k, named[k]) for k in picks] + [("input", x)]
    worst = 0.0
    with torch.no_grad():
        for name, p in targets:
            g = p.grad
            cand = (g.abs() >= 0.1 * g.abs().max()).flatten().nonzero().flatten()
            i = cand[torch.randint(len(cand), (1,), generator=gen)].item()
            ad = g.view(-1)[i].item()
            eps = min(max(1e-6 / abs(ad), 1e-6), 1e-2)
            flat = p.view(-1)
            old = flat[i].item()
            f = {}
            for m in (-2, -1, 1, 2):
                flat[i] = old + m * eps
                f[m] = loss_of(model, x, True, gout, gside).item()
            flat[i] = old
            fd = (f[-2] - 8 * f[-1] + 8 * f[1] - f[2]) / (12 * eps)
            err = abs(fd - ad) / abs(ad)
            worst = max(worst, err)
            print(f"    fd check {name}[{i}]: autograd {ad:+.10e} finite difference {fd:+.10e} "
                  f"(step {eps:.0e}) rel err {err:.1e}")
            assert err < 1e-6, (name, i, ad, fd)
    return worst


def run_case(name, module, dim, shape, cfg, out):
    seed = zlib.crc32(name.encode()) % (2 ** 31)
    model = build(module, dim, cfg, seed)
    side = cfg.get("side", False)
    x = randn(*shape, seed=seed + 10).requires_grad_()
    if side:
        s, y = model(x, side=True)
    else:
        s, y = None, model(x)
    gout = randn(*y.shape, seed=seed + 11)
    gside = randn(*s.shape, seed=seed + 12) if side else None
    loss = (y * gout).sum() + ((s * gside).sum() if side else 0.0)
    loss.backward()

    if module == "liednet":
        b, _, h, w = shape
        assert y.shape == (b, 3, h, w) and s.shape == (b, 3, h // 8, w // 8), (y.shape, s.shape)
        ref.state_dict_upstream_order(model)
    else:
        assert y.shape == x.shape
    for k, v in model.state_dict().items():
        out[f"{name}/param/{k}"] = v
    out[f"{name}/in"] = x.detach()
    out[f"{name}/out"] = y.detach()
    out[f"{name}/gout"] = gout
    if side:
        out[f"{name}/side"] = s.detach()
        out[f"{name}/gside"] = gside
    out[f"{name}/grad_in"] = x.grad
    for k, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), k
        out[f"{name}/grad/{k}"] = p.grad
    assert torch.isfinite(y).all()
    return model, x, gout, gside


def main():
    out_path = out_dir(__doc__)
    t_all = time.time()
    ref.check_counts()

    tensors, metadata = {}, {}
    for name, module, dim, shape, cfg in CASES:
        assert "/" not in name
        t0 = time.time()
        model, x, gout, gside = run_case(name, module, dim, shape, cfg, tensors)
        metadata[name] = json.dumps({"module": module, "dim": dim, **cfg})
        n_params = sum(1 for k in tensors if k.startswith(name + "/param/"))
        if name == "liednet dim32":
            assert n_params == 402, n_params
        print(f"{name}: input {tuple(shape)}, {n_params} parameter tensors, {time.time() - t0:.1f} s")

        if name == "liednet dim8":
            t1 = time.time()
            finite_difference_check(model, x, gout, gside)
            x = x.detach()

            # the float32 checkpoint and the float32 model's outputs
            sd32 = {k: v.to(torch.float32) for k, v in model.state_dict().items()}
            m32 = build(module, dim, cfg, seed=0, dtype=torch.float32)
            m32.load_state_dict(sd32)
            with torch.no_grad():
                x32 = x.to(torch.float32)
                s32, y32 = m32(x32, side=True)
            torch.save({"params": m32.state_dict()}, os.path.join(out_path, "liednet_dim8.pth"))
            save_safetensors(os.path.join(out_path, "liednet_dim8_f32.safetensors"),
                             {**sd32, "input": x32, "output": y32, "side": s32})
            print(f"    float32 model vs float64: output max abs diff "
                  f"{(y32.double() - tensors[name + '/out']).abs().max().item():.1e}; "
                  f"finite differences and float32 files {time.time() - t1:.1f} s")

    save_safetensors(os.path.join(out_path, "network.safetensors"), tensors, metadata)
    size = os.path.getsize(os.path.join(out_path, "network.safetensors"))
    print(f"network.safetensors: {len(CASES)} cases, {len(tensors)} tensors, {size / 2**20:.1f} MiB; "
          f"total {time.time() - t_all:.1f} s")


if __name__ == "__main__":
    main()
