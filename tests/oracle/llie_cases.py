#!/usr/bin/env python3
"""Oracle cases for upstream's low-light recipe (train_llie.py).

Usage: llie_cases.py --out DIR

DIR/llie_lr.safetensors  F64  lr/<name>: the learning rate of every iteration
    (1-based iteration i is row i - 1) of a run of EPOCHS epochs with ITERS
    iterations each, under Adam stepped as train_llie.py steps it: a linear
    warm-up scheduler (multiplier 1 over WARMUP epochs, handing over to
    torch's CosineAnnealingLR(T_max = EPOCHS - WARMUP, eta_min)) stepped once
    before training and after every epoch; the rate is read from the
    optimiser's param group at each iteration. "__metadata__"[<name>] is
    {"base", "eta_min", "epochs", "warmup", "iters"} as JSON.

DIR/llie_data.safetensors  F32  the sampling's image operations:
    orient/in (3, 5, 7) and orient/<k>, k = 1..7: upstream's seven
    orientations (torch flip / rot90 on dims H, W) of it;
    pad/<name>/in and pad/<name>/out: numpy's 'reflect' padding at the bottom
    and right (what torchvision's PIL padding does), to 8x10 (pads below the
    image size) and from 3x2 to 8x8 (pads beyond it, reflected again).

DIR/llie_module.pth   what train_llie.py saves: torch.save({'epoch', 'state_dict',
    'optimizer'}) with a LIEDNet(dim 8, blocks (1, 1, 1), refinement 1) state
    dict under nn.DataParallel's "module." prefix and Adam's state after one step.
DIR/llie_bare.pth     the same weights as a bare state dict (no entry tells the recipe).
DIR/llie_input.safetensors  input (1, 3, 16, 16) in [0, 1], for liednet forward.

torch is a test oracle only.
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, _LRScheduler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle import save_safetensors  # noqa: E402


class LinearWarmup(_LRScheduler):
    """Warm-up behaving as the scheduler train_llie.py uses with multiplier 1:
    base * step / warmup up to `warmup`, then the wrapped scheduler's rates
    (its base rates set once, when it takes over), stepped in its place."""

    def __init__(self, optimizer, warmup, after):
        self.warmup, self.after, self.handed_over = warmup, after, False
        super().__init__(optimizer)

    def get_lr(self):
        if self.last_epoch > self.warmup:
            if not self.handed_over:
                self.after.base_lrs = list(self.base_lrs)
                self.handed_over = True
            return self.after.get_lr()
        return [b * float(self.last_epoch) / self.warmup for b in self.base_lrs]

    def step(self, epoch=None):
        if self.handed_over:
            self.after.step()
        else:
            super().step()


def lr_sequence(base, eta_min, epochs, warmup, iters):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=base, betas=(0.9, 0.999), eps=1e-8)
    cosine = CosineAnnealingLR(opt, epochs - warmup, eta_min=eta_min)
    sched = LinearWarmup(opt, warmup, cosine)
    sched.step()
    out = []
    for _ in range(epochs):
        for _ in range(iters):
            out.append(opt.param_groups[0]["lr"])
        sched.step()
    return torch.tensor(out, dtype=torch.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    warnings.filterwarnings("ignore")  # torch's notes on get_lr and step order
    tensors, meta = {}, {}
    for name, cfg in {"lolv1": dict(base=1e-4, eta_min=1e-6, epochs=4000, warmup=3, iters=2),
                      "short": dict(base=2e-4, eta_min=1e-6, epochs=10, warmup=3, iters=3),
                      "minimal": dict(base=1e-3, eta_min=0.0, epochs=4, warmup=3, iters=1)}.items():
        tensors[f"lr/{name}"] = lr_sequence(**cfg)
        meta[name] = json.dumps(cfg)
    save_safetensors(os.path.join(args.out, "llie_lr.safetensors"), tensors, meta)
    print(f"llie_cases: {len(tensors)} learning-rate sequences")

    g = torch.Generator().manual_seed(2700)
    x = torch.rand(3, 5, 7, generator=g)
    data = {"orient/in": x}
    variants = {1: x.flip(1), 2: x.flip(2), 3: torch.rot90(x, dims=(1, 2)), 4: torch.rot90(x, dims=(1, 2), k=2),
                5: torch.rot90(x, dims=(1, 2), k=3), 6: torch.rot90(x.flip(1), dims=(1, 2)),
                7: torch.rot90(x.flip(2), dims=(1, 2))}
    for k, v in variants.items():
        data[f"orient/{k}"] = v
    for name, (shape, size) in {"small": ((3, 5, 6), (8, 10)), "beyond": ((3, 3, 2), (8, 8))}.items():
        img = torch.rand(*shape, generator=g)
        pads = ((0, 0), (0, size[0] - shape[1]), (0, size[1] - shape[2]))
        data[f"pad/{name}/in"] = img
        data[f"pad/{name}/out"] = torch.from_numpy(np.pad(img.numpy(), pads, mode="reflect"))
    save_safetensors(os.path.join(args.out, "llie_data.safetensors"), data)
    print(f"llie_cases: {len(data)} sampling tensors")

    import liednet_ref
    torch.manual_seed(27)
    net = liednet_ref.LIEDNet(8, (1, 1, 1), 1)
    liednet_ref.init_(net, 27)
    wrapped = torch.nn.DataParallel(net)  # on the CPU it only wraps: keys get "module."
    opt = torch.optim.Adam(wrapped.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8)
    out = wrapped(torch.rand(1, 3, 16, 16))
    loss = torch.nn.functional.smooth_l1_loss(out[1] if isinstance(out, tuple) else out, torch.rand(1, 3, 16, 16))
    loss.backward()
    opt.step()
    torch.save({"epoch": 3, "state_dict": wrapped.state_dict(), "optimizer": opt.state_dict()},
               os.path.join(args.out, "llie_module.pth"))
    torch.save(net.state_dict(), os.path.join(args.out, "llie_bare.pth"))
    save_safetensors(os.path.join(args.out, "llie_input.safetensors"), {"input": torch.rand(1, 3, 16, 16)})
    print("llie_cases: llie_module.pth, llie_bare.pth, llie_input.safetensors")


if __name__ == "__main__":
    main()
