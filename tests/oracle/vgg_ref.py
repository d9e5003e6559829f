#!/usr/bin/env python3
"""A test-only PyTorch reference of upstream's perceptual loss (VGG19 features).

This is an oracle for the C++ loss, never part of the product. It computes what
upstream's `basicsr/losses/losses.py` PerceptualLoss computes with the options of
`options/train_LOLBlur.yml` (vgg19, layers conv1_2, conv2_2, conv3_4, conv4_4 with
weight 1 each, use_input_norm, range_norm, criterion 'l1', perceptual_weight 0.01,
style_weight 0), through `basicsr/archs/vgg_arch.py` VGGFeatureExtractor:

- the network is torchvision's `vgg19().features[:26]` (indices 0..25; index 25
  is conv4_4), with parameters named `features.N.weight` / `features.N.bias` as in
  torchvision's state dict (conv indices 0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23,
  25; channels 64, 64 | 128, 128 | 256 x4 | 512 x4; 3x3, padding 1, with bias;
  ReLU after each conv except the last; MaxPool2d(2, 2) at 4, 9, 18);
- the input x in [-1, 1] is mapped (x + 1) / 2, then (x - mean) / std with
  ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225);
- the features are the outputs of the convs at 2, 7, 16, 25, BEFORE their ReLU;
- P(x, gt) = weight * sum over the 4 layers of mean |f(x) - f(gt)|, the gt
  features detached; the VGG weights are frozen (requires_grad False).

Upstream registers mean/std as float32 buffers; here they are Python floats cast
to the input's dtype (a difference of ~1e-8 relative in a float64 run, below
float32 rounding).

Upstream needs each side of the input to be at least 8: the third max-pool of a
1x1 map fails ("Output size is too small"). The side output of LIEDNet is H/8,
so a training image must be at least 64x64.

The real weights are ImageNet-pretrained; `random_vgg19` gives seeded random
weights (Kaiming-normal, std sqrt(2 / fan_in), so that activations stay O(1)
through the 12 convs; biases N(0, 0.05^2)).

Usage: vgg_ref.py [--save FILE] [--seed S]   random weights, a self-check, and
       optionally the weights as float32 safetensors.
"""
import argparse
import math
import pathlib
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from oracle import save_safetensors  # noqa: E402

# torchvision's cfg "E" (vgg19) up to conv4_4: channels, "M" = max-pool
CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512]
CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25)
FEATURE_INDICES = (2, 7, 16, 25)  # conv1_2, conv2_2, conv3_4, conv4_4 (pre-ReLU)
FEATURE_NAMES = ("conv1_2", "conv2_2", "conv3_4", "conv4_4")
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
PERCEPTUAL_WEIGHT = 0.01


class VGG19Features(nn.Module):
    """torchvision vgg19().features[:26]; forward(x) returns the 4 pre-ReLU features."""

    def __init__(self):
        super().__init__()
        layers, c = [], 3
        for v in CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=False)]
                c = v
        layers.pop()  # no ReLU after conv4_4 (index 26 is outside [:26])
        self.features = nn.Sequential(*layers)
        assert len(self.features) == 26
        assert tuple(i for i, m in enumerate(self.features) if isinstance(m, nn.Conv2d)) == CONV_INDICES
        for p in self.parameters():
            p.requires_grad_(False)

    def normalize(self, x):
        mean = torch.tensor(MEAN, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(STD, dtype=x.dtype).view(1, 3, 1, 1)
        return ((x + 1) / 2 - mean) / std

    def forward(self, x):
        x = self.normalize(x)
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in FEATURE_INDICES:
                out.append(x)
        return out

    def perceptual_loss(self, x, gt, weight=PERCEPTUAL_WEIGHT, gt_features=None):
        return perceptual_loss(self, x, gt, weight, gt_features)


def features(vgg, x):
    """The 4 pre-ReLU features [conv1_2, conv2_2, conv3_4, conv4_4] of x in [-1, 1]."""
    return vgg(x)


def perceptual_loss(vgg, x, gt, weight=PERCEPTUAL_WEIGHT, gt_features=None):
    """weight * sum_l mean|f_l(x) - f_l(gt)|, gt's features detached (upstream: vgg(gt.detach())).
    gt_features: vgg(gt) if already computed (the same values; the VGG is frozen)."""
    fx = vgg(x)
    if gt_features is None:
        with torch.no_grad():
            gt_features = vgg(gt.detach())
    fg = gt_features
    loss = 0
    for a, b in zip(fx, fg):
        loss = loss + F.l1_loss(a, b.detach())  # layer weights 1
    return loss * weight


def random_vgg19(seed, dtype=torch.float64, bias_std=0.05):
    """Seeded random weights: Kaiming-normal (std sqrt(2/fan_in)), bias N(0, bias_std^2)."""
    vgg = VGG19Features().to(dtype)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in vgg.features:
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen, dtype=torch.float64)
                               * math.sqrt(2.0 / fan_in))
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen, dtype=torch.float64) * bias_std)
    return vgg


def state_dict_f32(vgg):
    return {k: v.detach().to(torch.float32).contiguous() for k, v in vgg.state_dict().items()}


def save(vgg, path):
    """features.N.weight / features.N.bias as float32 safetensors."""
    save_safetensors(path, state_dict_f32(vgg))


def load_state(vgg, tensors, dtype=None):
    """Loads features.N.* from a dict of tensors (e.g. read back), cast to dtype."""
    sd = {k: v.to(dtype) if dtype is not None else v for k, v in tensors.items() if k.startswith("features.")}
    vgg.load_state_dict(sd)
    return vgg


def self_check(seed=1):
    vgg = random_vgg19(seed)
    keys = list(vgg.state_dict())
    want = [f"features.{i}.{s}" for i in CONV_INDICES for s in ("weight", "bias")]
    assert keys == want, keys
    shapes = [tuple(vgg.state_dict()[f"features.{i}.weight"].shape) for i in CONV_INDICES]
    assert [s[0] for s in shapes] == [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512], shapes
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(2, 3, 64, 64, generator=gen, dtype=torch.float64) * 2 - 1
    gt = torch.rand(2, 3, 64, 64, generator=gen, dtype=torch.float64) * 2 - 1
    fs = vgg(x)
    for name, f in zip(FEATURE_NAMES, fs):
        print(f"  {name}: {tuple(f.shape)}, rms {f.pow(2).mean().sqrt().item():.3f}")
    assert [tuple(f.shape) for f in fs] == [(2, 64, 64, 64), (2, 128, 32, 32), (2, 256, 16, 16), (2, 512, 8, 8)]
    # against a direct functional re-implementation
    h = ((x + 1) / 2 - torch.tensor(MEAN, dtype=x.dtype)[None, :, None, None]) / \
        torch.tensor(STD, dtype=x.dtype)[None, :, None, None]
    sd, direct = vgg.state_dict(), []
    for i in range(26):
        if i in CONV_INDICES:
            h = F.conv2d(h, sd[f"features.{i}.weight"], sd[f"features.{i}.bias"], padding=1)
            if i in FEATURE_INDICES:
                direct.append(h)
            if i != 25:
                h = F.relu(h)
        elif i in (4, 9, 18):
            h = F.max_pool2d(h, 2)
    assert all(torch.equal(a, b) for a, b in zip(fs, direct))
    xr = x.clone().requires_grad_()
    loss = perceptual_loss(vgg, xr, gt)
    loss.backward()
    assert all(p.grad is None for p in vgg.parameters())
    print(f"  perceptual loss {loss.item():.6f}, |grad x| max {xr.grad.abs().max().item():.3e}")
    assert torch.isfinite(loss) and torch.isfinite(xr.grad).all()
    print("vgg_ref self-check ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--save", metavar="FILE")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(2)
    t0 = time.time()
    self_check(args.seed)
    if args.save:
        save(random_vgg19(args.seed), args.save)
        print(f"wrote {args.save}")
    print(f"{time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
