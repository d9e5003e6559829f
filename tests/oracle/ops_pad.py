"""Oracle cases for ops/pad: reflect padding (F.pad mode='reflect') and cropping (slicing)."""
import torch.nn.functional as F

from oracle import randn


def register(g):
    g.case("pad_reflect bottom right", lambda x: F.pad(x, (0, 1, 0, 3), mode="reflect"), randn(1, 3, 5, 7, seed=1))
    g.case("pad_reflect all sides", lambda x: F.pad(x, (2, 2, 2, 1), mode="reflect"), randn(2, 2, 4, 3, seed=2))
    g.case("crop", lambda x: x[:, :, 1:4, 2:6], randn(1, 3, 5, 7, seed=3))
