"""Oracle cases for ops/loss: l1_loss (mean absolute error), with and without a target gradient."""
import torch.nn.functional as F

from oracle import randn


def register(g):
    for shape, seed in [((1, 3, 5, 7), 400), ((2, 4, 6, 8), 410), ((2, 3, 64, 96), 420)]:
        tag = "x".join(map(str, shape))
        g.case(f"l1_loss {tag}", F.l1_loss, randn(*shape, seed=seed), randn(*shape, seed=seed + 1))
        g.case(f"l1_loss fixed target {tag}", F.l1_loss, randn(*shape, seed=seed + 2),
               randn(*shape, seed=seed + 3), grad=[True, False])
    # Equal elements: the subgradient there is sign(0) = 0 for both inputs.
    x = randn(2, 3, 5, 7, seed=430)
    y = randn(2, 3, 5, 7, seed=431)
    y.view(-1)[::4] = x.view(-1)[::4]
    g.case("l1_loss equal elements", F.l1_loss, x, y)
