"""Oracle cases for ops/elementwise: add, sub, mul, scale, add_scalar, per-channel add/mul."""
from oracle import randn


def register(g):
    s = (1, 3, 5, 7)
    g.case("add", lambda a, b: a + b, randn(*s, seed=1), randn(*s, seed=2))
    g.case("sub", lambda a, b: a - b, randn(*s, seed=3), randn(*s, seed=4))
    g.case("mul", lambda a, b: a * b, randn(*s, seed=5), randn(*s, seed=6))
    g.case("scale", lambda x: x * -0.37, randn(*s, seed=7))
    g.case("add_scalar", lambda x: x + 1.25, randn(*s, seed=8))
    g.case("add_channel C", lambda x, b: x + b.view(1, -1, 1, 1), randn(2, 3, 5, 7, seed=9), randn(3, seed=10))
    g.case("add_channel NC", lambda x, b: x + b[:, :, None, None], randn(2, 3, 5, 7, seed=11), randn(2, 3, seed=12))
    g.case("mul_channel C", lambda x, b: x * b.view(1, -1, 1, 1), randn(2, 3, 5, 7, seed=13), randn(3, seed=14))
    g.case("mul_channel NC", lambda x, b: x * b[:, :, None, None], randn(2, 3, 5, 7, seed=15), randn(2, 3, seed=16))
