"""Oracle cases for ops/layernorm: LayerNorm over the channels of an NCHW (or NCL) tensor."""
import torch
import torch.nn.functional as F
from torch.nn.utils import stateless

from oracle import randn


def _nn_layernorm(x, w, b):
    # nn.LayerNorm itself, with our weight and bias as its parameters, on the channels-last permutation.
    ln = torch.nn.LayerNorm(x.shape[1], eps=1e-5).double()
    y = stateless.functional_call(ln, {"weight": w, "bias": b}, (x.permute(0, 2, 3, 1),))
    return y.permute(0, 3, 1, 2)


def _layer_norm(eps=1e-5):
    def fn(x, w=None, b=None):
        perm = [0] + list(range(2, x.dim())) + [1]  # channels last
        back = [0, x.dim() - 1] + list(range(1, x.dim() - 1))
        return F.layer_norm(x.permute(*perm), (x.shape[1],), w, b, eps).permute(*back)
    return fn


def register(g):
    g.case("nn.LayerNorm 1x3x5x7", _nn_layernorm, randn(1, 3, 5, 7, seed=1), randn(3, seed=2), randn(3, seed=3))
    g.case("layer_norm 2x4x6x5", _layer_norm(), randn(2, 4, 6, 5, seed=4), randn(4, seed=5), randn(4, seed=6))
    g.case("layer_norm NCL 2x5x9", _layer_norm(), randn(2, 5, 9, seed=7), randn(5, seed=8), randn(5, seed=9))
    # Several tiles of pixels (P = 667), a mean far from zero against the spread.
    g.case("layer_norm 2x16x23x29 offset", _layer_norm(), 7 + randn(2, 16, 23, 29, seed=10, scale=0.3),
           randn(16, seed=11), randn(16, seed=12))
    g.case("layer_norm eps 1e-6", _layer_norm(1e-6), randn(2, 3, 5, 7, seed=13), randn(3, seed=14),
           randn(3, seed=15))
    g.case("layer_norm no affine", _layer_norm(), randn(2, 3, 5, 7, seed=16))
    g.case("layer_norm x only grad", _layer_norm(), randn(1, 6, 4, 3, seed=17), randn(6, seed=18),
           randn(6, seed=19), grad=[True, False, False])
