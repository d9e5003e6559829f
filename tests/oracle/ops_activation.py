"""Oracle cases for ops/activation: relu, silu, gelu (exact), sigmoid, softplus, exp."""
import torch
import torch.nn.functional as F

from oracle import randn


def _wide(*shape, seed):
    """randn * 4 with some entries pushed to +-40, where a naive exp overflows in f32."""
    x = randn(*shape, seed=seed, scale=4.0)
    flat = x.view(-1)
    flat[::7] = torch.where(flat[::7] > 0, 40.0, -40.0) + flat[::7] * 0.1
    return x


def _softplus_input(*shape, seed):
    """Values on both sides of the threshold 20, far-negative values, and ordinary ones."""
    x = randn(*shape, seed=seed, scale=3.0)
    flat = x.view(-1)
    flat[::3] = 20.0 + torch.where(flat[::3] > 0, 0.5, -0.5) + flat[::3] * 0.5
    flat[1::5] = -30.0 + flat[1::5]
    return x


def register(g):
    a, b = (1, 3, 5, 7), (2, 4, 6, 8)
    for name, fn, seed in [("relu", F.relu, 100), ("silu", F.silu, 110), ("gelu", F.gelu, 120),
                           ("sigmoid", torch.sigmoid, 130), ("exp", torch.exp, 140)]:
        g.case(f"{name} 1x3x5x7", fn, randn(*a, seed=seed))
        g.case(f"{name} 2x4x6x8", fn, randn(*b, seed=seed + 1))
    g.case("silu wide", F.silu, _wide(*b, seed=112))
    g.case("sigmoid wide", torch.sigmoid, _wide(*b, seed=132))
    g.case("gelu wide", F.gelu, _wide(*a, seed=122))
    g.case("softplus 1x3x5x7", F.softplus, randn(*a, seed=150, scale=3.0))
    g.case("softplus 2x4x6x8 threshold", F.softplus, _softplus_input(*b, seed=151))
