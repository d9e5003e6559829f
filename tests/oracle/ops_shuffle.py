"""Oracle cases for ops/shuffle: pixel_shuffle and pixel_unshuffle."""
import torch.nn.functional as F

from oracle import randn


def register(g):
    g.case("pixel_shuffle r2 1x12x5x7", lambda x: F.pixel_shuffle(x, 2), randn(1, 12, 5, 7, seed=1))
    g.case("pixel_shuffle r3 2x18x3x4", lambda x: F.pixel_shuffle(x, 3), randn(2, 18, 3, 4, seed=2))
    g.case("pixel_shuffle r2 2x8x6x4", lambda x: F.pixel_shuffle(x, 2), randn(2, 8, 6, 4, seed=3))
    g.case("pixel_unshuffle r2 1x3x10x14", lambda x: F.pixel_unshuffle(x, 2), randn(1, 3, 10, 14, seed=4))
    g.case("pixel_unshuffle r3 2x2x9x6", lambda x: F.pixel_unshuffle(x, 3), randn(2, 2, 9, 6, seed=5))
    g.case("pixel_unshuffle r2 2x5x6x8", lambda x: F.pixel_unshuffle(x, 2), randn(2, 5, 6, 8, seed=6))
