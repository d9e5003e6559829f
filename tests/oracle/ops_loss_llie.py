"""Oracle cases for ops/loss's smooth_l1_loss (the low-light recipe's loss, torch's F.smooth_l1_loss)."""
import torch.nn.functional as F

from oracle import randn


def register(g):
    # randn differences straddle |d| = beta for beta 1 and 0.5 (both pieces of the loss).
    for shape, seed in [((1, 3, 5, 7), 500), ((2, 3, 16, 24), 510)]:
        tag = "x".join(map(str, shape))
        g.case(f"smooth_l1_loss {tag}", F.smooth_l1_loss, randn(*shape, seed=seed), randn(*shape, seed=seed + 1))
        g.case(f"smooth_l1_loss fixed target {tag}", F.smooth_l1_loss, randn(*shape, seed=seed + 2),
               randn(*shape, seed=seed + 3), grad=[True, False])
        g.case(f"smooth_l1_loss beta 0.5 {tag}", lambda x, y: F.smooth_l1_loss(x, y, beta=0.5),
               randn(*shape, seed=seed + 4), randn(*shape, seed=seed + 5))
