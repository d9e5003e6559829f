#!/usr/bin/env python3
"""Oracle for liednet's LPIPS (VGG): a PyTorch reference written from the
metric's definition (not the lpips package), on a random VGG16 so nothing is
downloaded.

Usage: lpips_cases.py --out DIR

DIR/lpips_weights.safetensors  F32  features.N.weight/bias (torchvision's VGG16
    layout, N = 0 2 5 7 10 12 14 17 19 21 24 26 28) and lin0..4.model.1.weight
    (1, C, 1, 1), seeded random (He-normal convs, small biases, non-negative heads).
DIR/lpips_cases.safetensors    per case <name>: x, y (N, 3, H, W) F32 in [0, 1];
    dist F64 (N) the distance computed in float64 from those float32 values.

The reference: inputs mapped to [-1, 1], shifted and scaled per channel by
LPIPS's constants; the ReLU outputs relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
(2x2 max pools between stages); each normalised by its channel norm + 1e-10;
squared difference, weighted by the head over channels, averaged over space,
summed over the five layers. `--check-package` compares with the lpips package
when one is importable (a manual cross-check; tests never install it).
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle import save_safetensors  # noqa: E402

CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
CHANNELS = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
TAPS = [1, 3, 6, 9, 12]  # conv positions (0-based among CONVS) whose ReLU output is a tap
HEADS = [64, 128, 256, 512, 512]
SHIFT = [-0.030, -0.088, -0.188]
SCALE = [0.458, 0.448, 0.450]


def random_weights(seed):
    g = torch.Generator().manual_seed(seed)
    w, cin = {}, 3
    for n, cout in zip(CONVS, CHANNELS):
        w[f"features.{n}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5
        w[f"features.{n}.bias"] = torch.randn(cout, generator=g) * 0.01
        cin = cout
    for l, c in enumerate(HEADS):
        w[f"lin{l}.model.1.weight"] = torch.rand(1, c, 1, 1, generator=g) * (2.0 / c)
    return w


def lpips_reference(w, x, y):
    shift = torch.tensor(SHIFT, dtype=x.dtype).view(1, 3, 1, 1)
    scale = torch.tensor(SCALE, dtype=x.dtype).view(1, 3, 1, 1)

    def taps(img):
        h = ((2 * img - 1) - shift) / scale
        out = []
        for i, n in enumerate(CONVS):
            h = F.relu(F.conv2d(h, w[f"features.{n}.weight"], w[f"features.{n}.bias"], padding=1))
            if i in TAPS:
                out.append(h)
                if len(out) < 5:
                    h = F.max_pool2d(h, 2, 2)
        return out

    total = 0
    for l, (a, b) in enumerate(zip(taps(x), taps(y))):
        a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        d = F.conv2d((a - b) ** 2, w[f"lin{l}.model.1.weight"])
        total = total + d.mean(dim=(2, 3)).flatten()
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--check-package", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    w = random_weights(2701)
    save_safetensors(os.path.join(args.out, "lpips_weights.safetensors"), w)
    w64 = {k: v.double() for k, v in w.items()}
    g = torch.Generator().manual_seed(2702)
    cases = {}
    for name, shape in {"two 32x48": (2, 3, 32, 48), "odd 24x40": (1, 3, 24, 40), "one 37x29": (1, 3, 37, 29)}.items():
        x = torch.rand(*shape, generator=g)
        y = (x + 0.1 * torch.randn(*shape, generator=g)).clamp(0, 1)
        cases[f"{name}/x"], cases[f"{name}/y"] = x, y
        cases[f"{name}/dist"] = lpips_reference(w64, x.double(), y.double())
    save_safetensors(os.path.join(args.out, "lpips_cases.safetensors"), cases)
    print(f"lpips_cases: {len(cases) // 3} cases")
    if args.check_package:
        import lpips  # a throwaway venv's; never a test dependency
        m = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False).double()
        sd = m.state_dict()
        for k in list(sd):
            if k.startswith("net.slice"):
                n = k.split(".")[3]
                sd[k] = w64[f"features.{n}.{k.split('.')[-1]}"]
            elif k.startswith("lin"):
                sd[k] = w64[k]
        m.load_state_dict(sd)
        for name in ("two 32x48", "odd 24x40", "one 37x29"):
            x, y = cases[f"{name}/x"].double(), cases[f"{name}/y"].double()
            got = m(x, y, normalize=True).flatten()
            print(name, "package", got.tolist(), "reference", cases[f"{name}/dist"].tolist())


if __name__ == "__main__":
    main()
