"""Oracle cases for ops/pool: max_pool2x2 (kernel 2, stride 2, floor), including ties."""
import torch
import torch.nn.functional as F

from oracle import randn


def _pool(x):
    return F.max_pool2d(x, 2, 2)


def register(g):
    g.case("max_pool2x2 1x3x5x7", _pool, randn(1, 3, 5, 7, seed=300))
    g.case("max_pool2x2 2x4x6x8", _pool, randn(2, 4, 6, 8, seed=301))
    g.case("max_pool2x2 2x3x7x9", _pool, randn(2, 3, 7, 9, seed=302))
    # Values on a coarse grid (exact in f32) make many windows tie: torch's CPU
    # kernel sends the gradient to the first maximum in row-major window order.
    g.case("max_pool2x2 ties 2x3x7x9", _pool, torch.round(randn(2, 3, 7, 9, seed=303)))
