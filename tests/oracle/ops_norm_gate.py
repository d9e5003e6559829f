"""Oracle cases for ops/norm_gate: SS2D's out_norm (LayerNorm over channels) times SiLU(z), as upstream writes it."""
import torch.nn.functional as F

from oracle import randn


def norm_silu_gate(y, w, b, z):
    # upstream: y = self.out_norm(y) (channels last), y = y * F.silu(z)
    ln = F.layer_norm(y.permute(0, 2, 3, 1), (y.shape[1],), w, b, 1e-5).permute(0, 3, 1, 2)
    return ln * F.silu(z)


def register(g):
    g.case("norm_silu_gate 2x5x3x4", norm_silu_gate, randn(2, 5, 3, 4, seed=1), randn(5, seed=2), randn(5, seed=3),
           randn(2, 5, 3, 4, seed=4, scale=3.0))
    # P = 99: two tiles of pixels, the second partial; a mean far from zero against the spread.
    g.case("norm_silu_gate 1x12x9x11 offset", norm_silu_gate, 5 + randn(1, 12, 9, 11, seed=5, scale=0.3),
           randn(12, seed=6), randn(12, seed=7), randn(1, 12, 9, 11, seed=8, scale=4.0))
    g.case("norm_silu_gate y and z grads only", norm_silu_gate, randn(1, 6, 4, 3, seed=9), randn(6, seed=10),
           randn(6, seed=11), randn(1, 6, 4, 3, seed=12), grad=[True, False, False, True])
