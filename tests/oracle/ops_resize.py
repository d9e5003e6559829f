"""Oracle cases for ops/resize: bicubic interpolation, align_corners=False, no antialias, by output size."""
import torch.nn.functional as F

from oracle import randn


def _to(h, w):
    return lambda x: F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)


def register(g):
    g.case("1x3x5x7 -> 3x4", _to(3, 4), randn(1, 3, 5, 7, seed=1))
    g.case("1x3x5x7 -> 11x13", _to(11, 13), randn(1, 3, 5, 7, seed=2))
    g.case("2x3x16x24 -> 2x3", _to(2, 3), randn(2, 3, 16, 24, seed=3))
    g.case("1x2x5x7 -> 1x1", _to(1, 1), randn(1, 2, 5, 7, seed=4))
    # The side loss: bicubic(gt, H/8, W/8).
    g.case("2x3x64x48 -> 8x6 (down x8)", _to(8, 6), randn(2, 3, 64, 48, seed=5))
    g.case("1x2x6x9 -> 7x3", _to(7, 3), randn(1, 2, 6, 9, seed=6))
    g.case("1x1x5x7 -> 10x14 (x2)", _to(10, 14), randn(1, 1, 5, 7, seed=7))
    g.case("2x1x4x6 -> 4x6 (same size)", _to(4, 6), randn(2, 1, 4, 6, seed=8))
    g.case("1x1x1x1 -> 3x2", _to(3, 2), randn(1, 1, 1, 1, seed=9))
