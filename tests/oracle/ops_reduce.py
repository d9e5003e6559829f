"""Oracle cases for ops/reduce: sum, mean (all elements), mean_hw (global average pool)."""
from oracle import randn


def register(g):
    for shape, seed in [((1, 3, 5, 7), 200), ((2, 4, 6, 8), 210), ((2, 3, 64, 96), 220)]:
        tag = "x".join(map(str, shape))
        g.case(f"sum {tag}", lambda x: x.sum(), randn(*shape, seed=seed))
        g.case(f"mean {tag}", lambda x: x.mean(), randn(*shape, seed=seed + 1))
        g.case(f"mean_hw {tag}", lambda x: x.mean(dim=(2, 3)), randn(*shape, seed=seed + 2))
