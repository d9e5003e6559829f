"""Oracle cases for ops/channels: concat, split and slice along dim 1."""
import torch

from oracle import randn


def _split_weighted_sum(x, w0, w1, w2):
    p = torch.split(x, 2, dim=1)
    return p[0] * w0 + p[1] * w1 + p[2] * w2


def _split_reordered(x, w0, w1, w2):
    p = torch.split(x, [1, 2, 3], dim=1)
    return torch.cat([p[2] * w2, p[0] * w0, p[1] * w1], dim=1)


def _split_unused(x, w0, w2):
    p = torch.split(x, [2, 3, 2], dim=1)
    return p[0] * w0 + p[2] * w2


def register(g):
    cat = lambda *xs: torch.cat(xs, dim=1)  # noqa: E731
    g.case("cat 1x{2,1,4}x5x7", cat, randn(1, 2, 5, 7, seed=1), randn(1, 1, 5, 7, seed=2), randn(1, 4, 5, 7, seed=3))
    g.case("cat 2x{1,2,3}x3x5 middle without grad", cat, randn(2, 1, 3, 5, seed=4), randn(2, 2, 3, 5, seed=5),
           randn(2, 3, 3, 5, seed=6), grad=[True, False, True])
    g.case("cat NCL 2x{3,1}x9", cat, randn(2, 3, 9, seed=7), randn(2, 1, 9, seed=8))
    g.case("split equal weighted sum", _split_weighted_sum, randn(2, 6, 5, 7, seed=9),
           *[randn(2, 2, 5, 7, seed=10 + i) for i in range(3)])
    g.case("split {1,2,3} weighted reordered", _split_reordered, randn(2, 6, 5, 7, seed=13),
           randn(2, 1, 5, 7, seed=14), randn(2, 2, 5, 7, seed=15), randn(2, 3, 5, 7, seed=16))
    g.case("split unused piece", _split_unused, randn(1, 7, 3, 5, seed=17), randn(1, 2, 3, 5, seed=18),
           randn(1, 2, 3, 5, seed=19), grad=[True, False, False])
    g.case("slice 1:4", lambda x: x[:, 1:4], randn(2, 5, 5, 7, seed=20))
