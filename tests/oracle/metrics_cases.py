#!/usr/bin/env python3
"""Reference values for liednet's image metrics (data/metrics.h).

Usage: metrics_cases.py --out DIR

DIR/<case>_a.png, DIR/<case>_b.png   8-bit RGB image pairs (cases read from PNG,
                                      as `liednet eval` reads them)
DIR/float.safetensors                 f32 (3, H, W) pairs "<case>/a", "<case>/b" not on
                                      the 8-bit grid (and a little outside [0, 1])
DIR/cases.json                        [{name, source: "png"|"float", crop_border,
                                        psnr_basicsr, ssim_basicsr, psnr_paper,
                                        ssim_paper_bgr, ssim_paper_rgb}]; PSNR of
                                      identical images is the string "inf"

The values come from numpy implementations, written here from the formulas:
  basicsr  basicsr/metrics/psnr_ssim.py on tensor2img's 8-bit images: levels
           round(clip(x, 0, 1) * 255) (float32, half to even); crop_border;
           PSNR 20 log10(255 / sqrt(mse)) over all channels in float64; SSIM per
           channel, 11x11 Gaussian (sigma 1.5) window, the map only where the
           window fits (cv2.filter2D then [5:-5, 5:-5]), C1 = (0.01*255)^2,
           C2 = (0.03*255)^2, channels averaged.
  paper    pyiqa's 'psnr': 10 log10(1 / mse) on the values as given (float64 here).
           pyiqa's 'ssim' (test_y_channel, color_space 'yiq', no downsampling):
           Y = 0.299 c0 + 0.587 c1 + 0.114 c2 in float32, times 255, rounded;
           SSIM on Y as above but with the contrast-structure term clamped at 0.
           c0, c1, c2 = B, G, R for "bgr" (what upstream's calculate_pair.py
           feeds pyiqa: cv2.imread's BGR), R, G, B for "rgb".
The window is filtered as a plain 2-D correlation over the 121 offsets (no
separable shortcut, unlike the C++), so the two implementations differ.

As a cross-check the script also runs a float32 torch transcription of pyiqa's
ssim (F.conv2d with the Gaussian window, 'valid') and reports how far it is
from the float64 numpy value (float32 rounding only: ~1e-6).
"""
import argparse
import json
import os
import pathlib
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from oracle import save_safetensors  # noqa: E402

C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


# ---- PNG writer (8-bit RGB, filter 0), standard library only -----------------
def write_png(path, img):
    """img: uint8 (H, W, 3)."""
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


# ---- metrics -----------------------------------------------------------------
def gaussian_window():
    i = np.arange(11, dtype=np.float64) - 5
    g = np.exp(-(i * i) / (2 * 1.5 * 1.5))
    g /= g.sum()
    return np.outer(g, g)


WINDOW = gaussian_window()


def filter_valid(img):
    """2-D correlation with WINDOW where it fits: (H - 10, W - 10)."""
    h, w = img.shape
    out = np.zeros((h - 10, w - 10))
    for u in range(11):
        for v in range(11):
            out += WINDOW[u, v] * img[u:u + h - 10, v:v + w - 10]
    return out


def ssim_plane(x, y, clamp_cs):
    mu1, mu2 = filter_valid(x), filter_valid(y)
    s11 = filter_valid(x * x) - mu1 * mu1
    s22 = filter_valid(y * y) - mu2 * mu2
    s12 = filter_valid(x * y) - mu1 * mu2
    if clamp_cs:
        cs = np.maximum((2 * s12 + C2) / (s11 + s22 + C2), 0)
        m = (2 * mu1 * mu2 + C1) / (mu1 * mu1 + mu2 * mu2 + C1) * cs
    else:
        m = ((2 * mu1 * mu2 + C1) * (2 * s12 + C2)) / ((mu1 * mu1 + mu2 * mu2 + C1) * (s11 + s22 + C2))
    return float(m.mean())


def to_levels(a):
    """(3, H, W) float32 -> float64 levels, as tensor2img (clamp, x255, round half to even)."""
    return np.round(np.clip(a, 0, 1).astype(np.float32) * np.float32(255)).astype(np.float64)


def crop(x, c):
    return x[:, c:-c, c:-c] if c > 0 else x


def psnr_basicsr(a, b, c):
    x, y = crop(to_levels(a), c), crop(to_levels(b), c)
    mse = np.mean((x - y) ** 2)
    return float("inf") if mse == 0 else float(20 * np.log10(255.0 / np.sqrt(mse)))


def ssim_basicsr(a, b, c):
    x, y = crop(to_levels(a), c), crop(to_levels(b), c)
    return float(np.mean([ssim_plane(x[i], y[i], False) for i in range(3)]))


def psnr_paper(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def luma(a, order):
    c0, c1, c2 = (a[2], a[1], a[0]) if order == "bgr" else (a[0], a[1], a[2])
    y = (c0 * np.float32(0.299) + c1 * np.float32(0.587)) + c2 * np.float32(0.114)
    assert y.dtype == np.float32
    return np.round(y * np.float32(255)).astype(np.float64)


def ssim_paper(a, b, order):
    return ssim_plane(luma(a, order), luma(b, order), True)


def ssim_pyiqa_torch32(a, b, order):
    """pyiqa's ssim as it is structured (float32, conv2d 'valid'), for the cross-check only."""
    x = torch.from_numpy(np.ascontiguousarray(a[::-1] if order == "bgr" else a))[None].float()
    y = torch.from_numpy(np.ascontiguousarray(b[::-1] if order == "bgr" else b))[None].float()
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    x = ((x * weights).sum(1, keepdim=True) * 255).round()
    y = ((y * weights).sum(1, keepdim=True) * 255).round()
    win = torch.from_numpy(WINDOW).float()[None, None]
    mu1, mu2 = F.conv2d(x, win), F.conv2d(y, win)
    s11 = F.conv2d(x * x, win) - mu1 ** 2
    s22 = F.conv2d(y * y, win) - mu2 ** 2
    s12 = F.conv2d(x * y, win) - mu1 * mu2
    cs = F.relu((2 * s12 + C2) / (s11 + s22 + C2))
    return float((((2 * mu1 * mu2 + C1) / (mu1 ** 2 + mu2 ** 2 + C1)) * cs).mean())


# ---- images --------------------------------------------------------------------
def smooth(rng, h, w, cells=6):
    """A smooth random RGB image in [0, 1]: bilinear upsampling of a coarse grid."""
    coarse = rng.random((3, cells, cells))
    ys, xs = np.linspace(0, cells - 1, h), np.linspace(0, cells - 1, w)
    y0, x0 = np.floor(ys).astype(int).clip(0, cells - 2), np.floor(xs).astype(int).clip(0, cells - 2)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    c = coarse
    return ((1 - fy) * (1 - fx) * c[:, y0][:, :, x0] + (1 - fy) * fx * c[:, y0][:, :, x0 + 1]
            + fy * (1 - fx) * c[:, y0 + 1][:, :, x0] + fy * fx * c[:, y0 + 1][:, :, x0 + 1])


def quantise(img):
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def png_cases(rng):
    """name -> (a, b, crop_border) as uint8 (3, H, W)."""
    cases = {}
    gt = smooth(rng, 48, 64) * 0.8 + 0.1 * rng.random((3, 48, 64))
    pred = gt + rng.normal(0, 0.05, gt.shape)
    cases["noisy"] = (quantise(pred), quantise(gt), 0)
    cases["noisy_crop4"] = (quantise(pred), quantise(gt), 4)
    # Low light: dark, blurred prediction of a dark target.
    dark = smooth(rng, 40, 56, 10) ** 3 * 0.25
    blurred = dark.copy()
    blurred[:, 1:-1, 1:-1] = sum(dark[:, 1 + dy:dark.shape[1] - 1 + dy, 1 + dx:dark.shape[2] - 1 + dx]
                                 for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    cases["dark_blur"] = (quantise(blurred + rng.normal(0, 0.01, dark.shape)), quantise(dark), 0)
    # Odd, non-square sizes; the smallest image the window fits (11 x 11 -> one value).
    g = rng.random((3, 23, 17))
    cases["odd_23x17"] = (quantise(g + rng.normal(0, 0.1, g.shape)), quantise(g), 0)
    g = rng.random((3, 11, 11))
    cases["tiny_11x11"] = (quantise(g * 0.5), quantise(g), 0)
    g = rng.random((3, 21, 25))
    cases["crop5_21x25"] = (quantise(g * 0.9 + 0.05), quantise(g), 5)
    # Textures inverted on the left half: negative covariance there, where
    # pyiqa's clamp of the contrast-structure term matters.
    t = rng.random((3, 30, 36))
    inv = t.copy()
    inv[:, :, :18] = 1 - inv[:, :, :18]
    cases["half_inverted"] = (quantise(inv), quantise(t), 0)
    # Saturated colours: red and blue swap their luma weights between bgr and rgb.
    r = smooth(rng, 32, 40, 4)
    col = np.stack([r[0], 0.1 * r[1], 1 - r[0]])
    cases["colour"] = (quantise(col * 0.7 + rng.normal(0, 0.03, col.shape)), quantise(col), 0)
    # A larger image, for speed and accumulation.
    big = smooth(rng, 120, 160, 12)
    cases["large_120x160"] = (quantise(big + rng.normal(0, 0.02, big.shape)), quantise(big), 0)
    # Identical images: PSNR inf, SSIM 1.
    same = quantise(rng.random((3, 16, 20)))
    cases["identical"] = (same, same.copy(), 0)
    return cases


def float_cases(rng):
    """name -> (a, b, crop_border) as float32 (3, H, W), off the 8-bit grid."""
    cases = {}
    gt = smooth(rng, 26, 31, 5)
    pred = gt + rng.normal(0, 0.04, gt.shape)  # some values below 0 and above 1
    cases["float_noisy"] = (pred.astype(np.float32), gt.astype(np.float32), 0)
    cases["float_noisy_crop2"] = (pred.astype(np.float32), gt.astype(np.float32), 2)
    # Exact halves of a level: k + 0.5 rounds to the even neighbour.
    k = rng.integers(0, 255, (3, 14, 15)).astype(np.float32)
    halves = (k + np.float32(0.5)) / np.float32(255)
    cases["float_halves"] = (halves.astype(np.float32), (k / np.float32(255)).astype(np.float32), 0)
    return cases


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(20240611)

    records, worst = [], 0.0
    floats = {}

    def record(name, source, a, b, c):
        nonlocal worst
        rec = {
            "name": name, "source": source, "crop_border": c,
            "psnr_basicsr": psnr_basicsr(a, b, c), "ssim_basicsr": ssim_basicsr(a, b, c),
            "psnr_paper": psnr_paper(a, b),
            "ssim_paper_bgr": ssim_paper(a, b, "bgr"), "ssim_paper_rgb": ssim_paper(a, b, "rgb"),
        }
        for order in ("bgr", "rgb"):
            worst = max(worst, abs(ssim_pyiqa_torch32(a, b, order) - rec["ssim_paper_" + order]))
        for k, v in rec.items():
            if isinstance(v, float) and np.isinf(v):
                rec[k] = "inf"
        records.append(rec)

    for name, (a, b, c) in png_cases(rng).items():
        write_png(os.path.join(args.out, f"{name}_a.png"), a.transpose(1, 2, 0).copy())
        write_png(os.path.join(args.out, f"{name}_b.png"), b.transpose(1, 2, 0).copy())
        # As read back: level / 255 in float32.
        record(name, "png", a.astype(np.float32) / np.float32(255), b.astype(np.float32) / np.float32(255), c)
    for name, (a, b, c) in float_cases(rng).items():
        floats[f"{name}/a"] = torch.from_numpy(a)
        floats[f"{name}/b"] = torch.from_numpy(b)
        record(name, "float", a, b, c)
    save_safetensors(os.path.join(args.out, "float.safetensors"), floats)
    with open(os.path.join(args.out, "cases.json.tmp"), "w") as f:
        json.dump(records, f, indent=1)
    os.replace(os.path.join(args.out, "cases.json.tmp"), os.path.join(args.out, "cases.json"))
    assert worst < 1e-4, f"float32 torch transcription of pyiqa's ssim differs by {worst}"
    print(f"metrics_cases: {len(records)} cases in {args.out}; float32 torch pyiqa-style SSIM within {worst:.1e}")


if __name__ == "__main__":
    main()
