"""Every op from Python against torch.autograd on the same f64 inputs: outputs and every input's gradient."""
import re

import numpy as np
import pytest

import liednet
from conftest import ROOT

ops = liednet.ops
RNG = np.random.default_rng(7)
TOL = dict(rtol=1e-10, atol=1e-12)


def rand(*shape, scale=1.0):
    return RNG.standard_normal(shape) * scale


def compare(torch, lied_fn, torch_fn, arrays, grads=None):
    """Runs both on the same f64 inputs; the outputs and the gradients of sum(out * g) must agree."""
    grads = grads if grads is not None else [True] * len(arrays)
    lt = [liednet.tensor(a, dtype="float64", requires_grad=g) for a, g in zip(arrays, grads)]
    tt = [torch.tensor(a, dtype=torch.float64, requires_grad=g) for a, g in zip(arrays, grads)]
    lo, to = lied_fn(*lt), torch_fn(*tt)
    np.testing.assert_allclose(np.asarray(lo), to.detach().numpy(), **TOL)
    g = rand(*to.shape)
    lo.backward(liednet.tensor(g, dtype="float64"))
    to.backward(torch.tensor(g))
    for i, (a, b) in enumerate(zip(lt, tt)):
        if grads[i]:
            np.testing.assert_allclose(np.asarray(a.grad), b.grad.numpy(), err_msg=f"input {i}", **TOL)


@pytest.mark.parametrize("name,tfn", [("relu", "relu"), ("silu", "silu"), ("gelu", "gelu"), ("sigmoid", "sigmoid_"),
                                      ("softplus", "softplus"), ("exp", "exp")])
def test_activations(torch, name, tfn):
    F = torch.nn.functional
    f = getattr(F, tfn, None) or getattr(torch, tfn.rstrip("_"))
    compare(torch, getattr(ops, name), f, [rand(2, 3, 4, 5) * 3])


def test_elementwise_and_reductions(torch):
    a, b = rand(2, 3, 4, 4), rand(2, 3, 4, 4)
    compare(torch, ops.add, torch.add, [a, b])
    compare(torch, ops.sub, torch.sub, [a, b])
    compare(torch, ops.mul, torch.mul, [a, b])
    compare(torch, lambda x: ops.scale(x, -1.5), lambda x: x * -1.5, [a])
    compare(torch, lambda x: ops.add_scalar(x, 0.25), lambda x: x + 0.25, [a])
    c = rand(3)
    compare(torch, ops.add_channel, lambda x, y: x + y[None, :, None, None], [a, c])
    compare(torch, ops.mul_channel, lambda x, y: x * y[None, :, None, None], [a, c])
    nc = rand(2, 3)
    compare(torch, ops.mul_channel, lambda x, y: x * y[:, :, None, None], [a, nc])
    compare(torch, ops.sum, torch.sum, [a])
    compare(torch, ops.mean, torch.mean, [a])
    compare(torch, ops.mean_hw, lambda x: x.mean(dim=(2, 3)), [a])
    compare(torch, ops.l1_loss, torch.nn.functional.l1_loss, [a, b])
    for beta in (1.0, 0.3):
        compare(torch, lambda x, y: ops.smooth_l1_loss(x, y, beta),
                lambda x, y: torch.nn.functional.smooth_l1_loss(x, y, beta=beta), [a, b])


def test_channels(torch):
    a, b = rand(2, 3, 4, 4), rand(2, 5, 4, 4)
    compare(torch, lambda x, y: ops.concat_channels([x, y]), lambda x, y: torch.cat([x, y], 1), [a, b])
    compare(torch, lambda x: ops.slice_channels(x, 1, 4), lambda x: x[:, 1:4], [b])
    compare(torch, lambda x: ops.mul(*ops.split_channels(x, [2, 2])[::-1]),
            lambda x: x[:, 2:4] * x[:, 0:2], [rand(2, 4, 3, 3)])


def test_convolutions(torch):
    F = torch.nn.functional
    x, w, bias = rand(2, 4, 7, 6), rand(6, 2, 3, 3), rand(6)
    compare(torch, lambda x, w, b: ops.conv2d(x, w, b, stride=2, padding=1, groups=2),
            lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2), [x, w, bias])
    compare(torch, lambda x, w: ops.conv2d(x, w), lambda x, w: F.conv2d(x, w), [rand(1, 3, 5, 5), rand(4, 3, 1, 1)])
    lw, lb = rand(5, 4), rand(5)
    compare(torch, ops.linear_channels, lambda x, w, b: F.conv2d(x, w[:, :, None, None], b), [rand(2, 4, 3, 3), lw, lb])


def test_norms(torch):
    F = torch.nn.functional
    x, w, b, z = rand(2, 6, 3, 4), rand(6), rand(6), rand(2, 6, 3, 4)

    def ln(x, w, b):
        return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), w, b, 1e-5).permute(0, 3, 1, 2)

    compare(torch, ops.layer_norm_channels, ln, [x, w, b])
    compare(torch, ops.norm_silu_gate, lambda y, w, b, z: ln(y, w, b) * F.silu(z), [x, w, b, z])


def test_layout_ops(torch):
    F = torch.nn.functional
    x = rand(2, 3, 6, 5)
    compare(torch, lambda x: ops.pad_reflect(x, 1, 2, 3, 0), lambda x: F.pad(x, (3, 0, 1, 2), mode="reflect"), [x])
    compare(torch, lambda x: ops.crop(x, 1, 2, 3, 2), lambda x: x[:, :, 1:4, 2:4], [x])
    compare(torch, ops.max_pool2x2, lambda x: F.max_pool2d(x, 2, 2), [x])
    compare(torch, lambda x: ops.resize_bicubic(x, 9, 4),
            lambda x: F.interpolate(x, size=(9, 4), mode="bicubic", align_corners=False), [x])
    compare(torch, ops.pixel_shuffle, lambda x: F.pixel_shuffle(x, 2), [rand(2, 8, 3, 4)])
    compare(torch, ops.pixel_unshuffle, lambda x: F.pixel_unshuffle(x, 2), [rand(2, 2, 4, 6)])


def test_selective_scan(torch):
    from ops_scan import selective_scan_loop

    b, dc, L, n, g = 2, 4, 9, 3, 2
    arrays = [rand(b, dc, L), rand(b, dc, L, scale=0.5), -np.exp(rand(dc, n, scale=0.5)), rand(b, g, n, L),
              rand(b, g, n, L), rand(dc), rand(dc, scale=0.3)]
    compare(torch, lambda *a: ops.selective_scan(*a, chunk=4), lambda *a: selective_scan_loop(*a), arrays)
    compare(torch, ops.selective_scan_reference, lambda *a: selective_scan_loop(*a), arrays)


def test_ss2d_scan(torch):
    from ops_scan import ss2d_core

    b, d, h, w, R, N = 1, 3, 4, 5, 2, 4
    arrays = [rand(b, d, h, w), rand(4, R + 2 * N, d, scale=0.4), rand(4, d, R, scale=R ** -0.5),
              rand(4, d, scale=0.5) - 1.0, np.log(np.arange(1, N + 1.0))[None].repeat(4 * d, 0) + rand(4 * d, N, scale=0.1),
              rand(4 * d)]
    compare(torch, lambda *a: ops.ss2d_scan(*a, chunk=8), ss2d_core, arrays)
    compare(torch, lambda *a: ops.ss2d_scan(*a, silu_input=True),
            lambda x, *r: ss2d_core(torch.nn.functional.silu(x), *r), arrays)


def test_dgdffn(torch):
    F = torch.nn.functional
    C, h = 4, 10

    def torch_fn(x, pin1, pin2, dw1, dw2, dw3, fusion, pout):  # liednet_ref.DGDFeedForward.forward, functional
        a, b = F.conv2d(x, pin1).chunk(2, dim=1)
        f = F.conv2d(torch.cat((F.relu(F.conv2d(a, dw1, padding=2, groups=h)),
                                F.relu(F.conv2d(b, dw2, padding=1, groups=h))), dim=1), fusion)
        g = F.conv2d(F.conv2d(x, pin2), dw3, padding=1, groups=h)
        return F.conv2d(F.gelu(g) * f, pout)

    arrays = [rand(2, C, 6, 5), rand(2 * h, C, 1, 1, scale=0.5), rand(h, C, 1, 1, scale=0.5), rand(h, 1, 5, 5, scale=0.2),
              rand(h, 1, 3, 3, scale=0.3), rand(h, 1, 3, 3, scale=0.3), rand(h, 2 * h, 1, 1, scale=0.2),
              rand(C, h, 1, 1, scale=0.3)]
    compare(torch, ops.dgdffn, torch_fn, arrays)


def test_every_op_is_exposed():
    """Each `Tensor name(` declared in ops/*.h (namespace liednet::ops, not detail) is in liednet.ops."""
    missing = []
    for h in sorted((ROOT / "ops").glob("*.h")):
        text = re.sub(r"namespace detail \{.*?\}  // namespace detail", "", h.read_text(), flags=re.S)
        for name in re.findall(r"^(?:Tensor|std::vector<Tensor>) (\w+)\(", text, flags=re.M):
            if not hasattr(ops, name):
                missing.append(f"{h.name}: {name}")
    assert not missing, missing


def test_docstrings_say_the_shapes():
    assert "(Bt, d, H, W)" in ops.ss2d_scan.__doc__
    assert "(Bt, Dc, L)" in ops.selective_scan.__doc__
    for name in dir(ops):
        if not name.startswith("_"):
            assert getattr(ops, name).__doc__, name
