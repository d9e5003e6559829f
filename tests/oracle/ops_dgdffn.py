"""Oracle cases for ops/dgdffn: LIEDNet's DGDFFN composed from torch functions (as upstream's module)."""
import torch
import torch.nn.functional as F

from oracle import randn


def dgdffn(x, w_in1, w_in2, w_dw1, w_dw2, w_dw3, w_fus, w_out):
    h = w_fus.shape[0]
    a, b = F.conv2d(x, w_in1).chunk(2, dim=1)
    a = F.relu(F.conv2d(a, w_dw1, padding=w_dw1.shape[2] // 2, groups=h))
    b = F.relu(F.conv2d(b, w_dw2, padding=w_dw2.shape[2] // 2, groups=h))
    f = F.conv2d(torch.cat([a, b], dim=1), w_fus)
    g = F.conv2d(F.conv2d(x, w_in2), w_dw3, padding=w_dw3.shape[2] // 2, groups=h)
    return F.conv2d(F.gelu(g) * f, w_out)


def register(g):
    seed = iter(range(100, 1000))
    for name, (n, c, hh, ww, hidden) in [("2x3x5x7 h4", (2, 3, 5, 7, 4)), ("1x8x9x6 h21", (1, 8, 9, 6, 21))]:
        shapes = [(n, c, hh, ww), (2 * hidden, c, 1, 1), (hidden, c, 1, 1), (hidden, 1, 5, 5), (hidden, 1, 3, 3),
                  (hidden, 1, 3, 3), (hidden, 2 * hidden, 1, 1), (c, hidden, 1, 1)]
        g.case(name, dgdffn, *[randn(*s, seed=next(seed)) for s in shapes])
