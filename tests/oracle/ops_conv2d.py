"""Oracle cases for ops/conv2d: conv2d (dense, strided, grouped, depthwise, 1x1) and linear_channels."""
import torch.nn.functional as F

from oracle import randn


def conv(stride=1, padding=0, groups=1):
    def with_bias(x, w, b):
        return F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups)

    def without_bias(x, w):
        return F.conv2d(x, w, None, stride=stride, padding=padding, groups=groups)

    return with_bias, without_bias


def linear_channels(x, w, b=None):
    # nn.Linear applied at every pixel: channels last, then back.
    return F.linear(x.permute(0, 2, 3, 1), w, b).permute(0, 3, 1, 2)


def register(g):
    seed = iter(range(100, 1000))

    def add(name, x_shape, w_shape, bias, stride=1, padding=0, groups=1, grad=None):
        with_bias, without_bias = conv(stride, padding, groups)
        x, w = randn(*x_shape, seed=next(seed)), randn(*w_shape, seed=next(seed))
        if bias:
            g.case(name, with_bias, x, w, randn(w_shape[0], seed=next(seed)), grad=grad)
        else:
            g.case(name, without_bias, x, w, grad=grad)

    add("3x3 pad 1", (1, 3, 5, 7), (4, 3, 3, 3), True, padding=1)
    add("2x2 stride 2", (1, 3, 6, 8), (4, 3, 2, 2), False, stride=2)
    add("2x2 stride 2 odd", (1, 3, 7, 9), (4, 3, 2, 2), True, stride=2)
    add("5x5 pad 2", (1, 2, 5, 7), (3, 2, 5, 5), True, padding=2)
    add("5x5 pad 2 small input", (1, 2, 2, 3), (3, 2, 5, 5), True, padding=2)
    add("3x3 stride 2 pad 1", (1, 3, 7, 9), (4, 3, 3, 3), True, stride=2, padding=1)
    add("3x3 pad 2", (1, 2, 3, 4), (3, 2, 3, 3), False, padding=2)
    add("1x1 stride 2", (1, 3, 5, 7), (4, 3, 1, 1), True, stride=2)
    add("batch 2 3x3 pad 1", (2, 3, 5, 7), (4, 3, 3, 3), True, padding=1)
    add("groups 2 3x3 pad 1", (1, 4, 5, 7), (6, 2, 3, 3), True, padding=1, groups=2)
    add("groups 2 1x1", (2, 4, 5, 7), (6, 2, 1, 1), True, groups=2)
    add("channel multiplier 2", (1, 2, 5, 7), (4, 1, 3, 3), True, padding=1, groups=2)
    add("depthwise 3x3 pad 1", (2, 4, 5, 7), (4, 1, 3, 3), True, padding=1, groups=4)
    add("depthwise 5x5 pad 2", (2, 4, 5, 7), (4, 1, 5, 5), True, padding=2, groups=4)
    add("depthwise 3x3 stride 2 pad 1", (1, 4, 7, 9), (4, 1, 3, 3), False, stride=2, padding=1, groups=4)
    add("depthwise 3x3 pad 2", (1, 3, 5, 6), (3, 1, 3, 3), False, padding=2, groups=3)
    add("depthwise 3x5 pad 1", (2, 3, 5, 7), (3, 1, 3, 5), True, padding=1, groups=3)
    add("1x1 bias", (1, 3, 5, 7), (5, 3, 1, 1), True)
    add("1x1 no bias", (2, 3, 5, 7), (5, 3, 1, 1), False)
    # Inputs without gradients: the image into the first layer, frozen VGG weights.
    add("3x3 pad 1 no input grad", (2, 3, 5, 7), (4, 3, 3, 3), True, padding=1, grad=[False, True, True])
    add("3x3 pad 1 frozen weight", (2, 3, 5, 7), (4, 3, 3, 3), True, padding=1, grad=[True, False, False])
    add("depthwise frozen weight", (2, 4, 5, 7), (4, 1, 3, 3), True, padding=1, groups=4, grad=[True, False, False])
    # Realistic sizes (the C++ side also runs the first under a small band bound, so it spans several bands).
    add("large 3x3 pad 1", (2, 16, 20, 24), (32, 16, 3, 3), False, padding=1)
    add("large 2x2 stride 2", (2, 3, 16, 20), (8, 3, 2, 2), False, stride=2)
    add("large 1x1", (2, 16, 20, 24), (32, 16, 1, 1), True)
    add("large depthwise 5x5 pad 2", (2, 16, 20, 24), (16, 1, 5, 5), True, padding=2, groups=16)

    g.case("linear_channels bias", linear_channels,
           randn(1, 3, 5, 7, seed=next(seed)), randn(4, 3, seed=next(seed)), randn(4, seed=next(seed)))
    g.case("linear_channels no bias", linear_channels,
           randn(2, 3, 5, 7, seed=next(seed)), randn(6, 3, seed=next(seed)))
    g.case("linear_channels large", linear_channels,
           randn(2, 32, 12, 16, seed=next(seed)), randn(64, 32, seed=next(seed)), randn(64, seed=next(seed)))
