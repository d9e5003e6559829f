#!/usr/bin/env python3
"""10 steps of upstream's low-light recipe (train_llie.py) in PyTorch, for the
C++ parity test train/llie_parity_test.cpp.

Usage: llie_train_cases.py --out DIR   (~20 s on 2 cores)

The recipe's step: restored = net(input) (no side output), loss =
SmoothL1(restored, target) (beta 1, mean), Adam(0.9, 0.999, eps 1e-8), the
learning rate of the per-epoch warm-up + cosine schedule (llie_cases.py's
LinearWarmup handing over to CosineAnnealingLR; base 1e-3, eta_min 1e-6,
EPOCHS 6, warm-up 3) stepped after every epoch. Data: 4 pairs (3, 16, 16) in
[0, 1], batch 2, so 2 iterations per epoch; augmentation off, the crop the
whole image, no shuffle: step i (1-based) uses samples 2(i-1) mod 4 and
2(i-1)+1 mod 4. The network: LIEDNet(dim 8, blocks (1, 1, 1), refinement 1)
with train_cases.py's initial weights.

DIR/llie_train.safetensors
    lq, gt            F32 (4, 3, 16, 16) in [0, 1]
    init/<key>        F32 initial weights (upstream keys)
    f32/curve         F64 (10, 2) [lr, loss] per step, the loss before that step's update
    f64/curve         F64 (10, 2) the same for the float64 run (same float32 start)
    f32/final/<key>   F32 weights after 10 steps; f64/final/<key> F64
"""
import argparse
import os
import sys
import warnings

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle import save_safetensors  # noqa: E402
import llie_cases  # noqa: E402
import train_cases  # noqa: E402

STEPS, EPOCHS, WARMUP, BASE, ETA_MIN, BATCH = 10, 6, 3, 1e-3, 1e-6, 2


def run(init, lq, gt, dtype):
    model = train_cases.make_model(train_cases.CONFIG, dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in init.items()})
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=BASE, betas=(0.9, 0.999), eps=1e-8)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS - WARMUP, eta_min=ETA_MIN)
    sched = llie_cases.LinearWarmup(opt, WARMUP, cosine)
    sched.step()
    per_epoch = lq.shape[0] // BATCH
    curve = []
    for i in range(STEPS):
        first = (BATCH * i) % lq.shape[0]
        x, y = lq[first:first + BATCH].to(dtype), gt[first:first + BATCH].to(dtype)
        for p in model.parameters():
            p.grad = None
        loss = F.smooth_l1_loss(model(x), y)
        loss.backward()
        curve.append([opt.param_groups[0]["lr"], loss.item()])
        opt.step()
        if (i + 1) % per_epoch == 0:
            sched.step()
    return torch.tensor(curve, dtype=torch.float64), {k: v.detach().clone() for k, v in model.state_dict().items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    init = train_cases.initial_weights(train_cases.CONFIG)
    g = torch.Generator().manual_seed(2703)
    gt = torch.rand(4, 3, 16, 16, generator=g)
    lq = (gt * 0.3 + 0.05 * torch.rand(4, 3, 16, 16, generator=g)).clamp(0, 1)
    out = {"lq": lq, "gt": gt}
    out.update({f"init/{k}": v for k, v in init.items()})
    for name, dtype in (("f32", torch.float32), ("f64", torch.float64)):
        curve, final = run(init, lq, gt, dtype)
        out[f"{name}/curve"] = curve
        out.update({f"{name}/final/{k}": v for k, v in final.items()})
    save_safetensors(os.path.join(args.out, "llie_train.safetensors"), out)
    print(f"llie_train_cases: {STEPS} steps, losses {out['f64/curve'][0, 1]:.6f} -> {out['f64/curve'][-1, 1]:.6f}")


if __name__ == "__main__":
    main()
