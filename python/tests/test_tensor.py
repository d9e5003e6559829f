"""Tensors: NumPy and torch round trips without copies, lifetimes, autograd basics, bad input, leaks."""
import gc

import numpy as np
import pytest

import liednet
from conftest import rss_bytes


def test_numpy_view_is_zero_copy():
    t = liednet.zeros(2, 3, dtype="float32")
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.shape == (2, 3)
    a[1, 2] = 7.5  # written through the view ...
    assert t.tolist()[1][2] == 7.5  # ... read through the tensor
    assert t.numpy().ctypes.data == t.data_ptr()


def test_view_keeps_tensor_alive():
    t = liednet.ones(1000, dtype="float64")
    a = np.asarray(t)
    del t
    gc.collect()
    assert a.sum() == 1000.0
    a[:] = 2  # still writable memory
    assert a.sum() == 2000.0


def test_tensor_copies_and_from_numpy_shares():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    c = liednet.tensor(a)
    s = liednet.from_numpy(a)
    a[0, 0] = 42
    assert np.asarray(c)[0, 0] == 0  # copy
    assert np.asarray(s)[0, 0] == 42  # shared
    assert c.dtype == "float64" and liednet.tensor([1, 2]).dtype == "float32"
    assert liednet.tensor([1.5]).dtype == "float32" and liednet.tensor(2.5).shape == ()
    assert liednet.tensor(a, dtype="float32").dtype == "float32"


def test_from_numpy_keeps_array_alive():
    t = liednet.from_numpy(np.full((64, 64), 3.0, dtype=np.float32))
    gc.collect()
    assert liednet.ops.sum(t).item() == 3.0 * 64 * 64


def test_torch_round_trip_shares_memory(torch):
    t = liednet.zeros(2, 4, dtype="float64")
    x = torch.from_dlpack(t)
    x[1, 3] = 5.0  # torch writes, liednet reads
    assert np.asarray(t)[1, 3] == 5.0
    y = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    u = liednet.from_dlpack(y)
    np.asarray(u)[0, 1] = -1.0  # liednet writes, torch reads
    assert y[0, 1].item() == -1.0
    assert u.data_ptr() == y.data_ptr()
    back = torch.from_dlpack(u)  # and back again: still the same memory
    assert back.data_ptr() == y.data_ptr()


def test_dlpack_lifetimes(torch):
    y = torch.ones(256, dtype=torch.float64)
    u = liednet.from_dlpack(y)
    del y
    gc.collect()
    assert liednet.ops.sum(u).item() == 256.0  # the tensor keeps torch's memory
    t = liednet.ones(8, dtype="float32")
    x = torch.from_dlpack(t)
    del t
    gc.collect()
    assert x.sum().item() == 8.0  # torch keeps ours


def test_dlpack_from_numpy():
    a = np.arange(5, dtype=np.float32)
    t = liednet.from_dlpack(a)
    assert t.data_ptr() == a.ctypes.data


def test_bad_inputs(torch):
    with pytest.raises(ValueError, match="float32 or float64"):
        liednet.from_numpy(np.zeros(3, dtype=np.int32))
    with pytest.raises(ValueError, match="not C-contiguous"):
        liednet.from_numpy(np.zeros((4, 4), dtype=np.float32)[:, ::2])
    with pytest.raises(ValueError, match="not contiguous"):
        liednet.from_dlpack(torch.zeros(4, 4, dtype=torch.float64).t())
    with pytest.raises(ValueError, match="float32 or float64"):
        liednet.from_dlpack(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        liednet.zeros(2, dtype="int8")
    a, b = liednet.zeros(2, 3), liednet.zeros(3, 2)
    with pytest.raises(ValueError) as e:
        liednet.ops.add(a, b)
    assert "(2, 3)" in str(e.value) and "(3, 2)" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ValueError):
        liednet.ops.add(liednet.zeros(2, dtype="float32"), liednet.zeros(2, dtype="float64"))
    with pytest.raises(FileNotFoundError, match="no_such.safetensors"):
        liednet.load_safetensors("/nonexistent/no_such.safetensors")
    with pytest.raises(FileNotFoundError):
        liednet.LIEDNet.load("/nonexistent/w.safetensors")
    with pytest.raises(FileNotFoundError):
        liednet.read_image("/nonexistent/x.png")


def test_autograd_basics():
    x = liednet.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = liednet.ops.sum(liednet.ops.mul(x, x))
    y.backward()
    np.testing.assert_array_equal(np.asarray(x.grad), [2.0, -4.0, 6.0])
    with liednet.no_grad():
        assert not liednet.grad_enabled()
        z = liednet.ops.mul(x, x)
    assert liednet.grad_enabled()
    assert not z.requires_grad and x.requires_grad
    assert (x * 2.0 + 1.0 - x).requires_grad


def test_gradcheck():
    x = liednet.randn(2, 3, 4, 4, seed=3, dtype="float64")
    x.requires_grad = True
    w = liednet.randn(5, 3, 3, 3, seed=4, dtype="float64")
    w.requires_grad = True
    r = liednet.gradcheck(lambda a, b: liednet.ops.conv2d(a, b, None, 1, 1), [x, w])
    assert r and r.elements_checked == x.numel() + w.numel()
    # a wrong gradient is caught: relu's kink sampled right at 0 is fine, a
    # function whose gradient is not its derivative is not
    bad = liednet.gradcheck(lambda a: liednet.ops.mul(a.detach(), a), [liednet.tensor(np.ones(3), requires_grad=True)])
    assert not bad.ok and bad.first_failure


def test_no_leak_over_10000_conversions(torch):
    a = np.ones((128, 128), dtype=np.float32)  # 64 KiB: a leak of every conversion would be 640 MiB

    def rounds(n):
        for _ in range(n):
            t = liednet.tensor(a)
            v = np.asarray(t)
            s = liednet.from_numpy(a)
            x = torch.from_dlpack(t)
            u = liednet.from_dlpack(x)
            del t, v, s, x, u

    rounds(1000)
    gc.collect()
    before = rss_bytes()
    rounds(10000)
    gc.collect()
    grown = rss_bytes() - before
    assert grown < 8 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB over 10,000 conversions"
