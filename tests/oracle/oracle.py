"""Shared pieces of the PyTorch oracle: a case registry and a safetensors writer.

torch is used here only as a test oracle; the liednet library never calls it.
The writer uses the standard library alone (8-byte little-endian header length,
JSON header, raw little-endian data), so no extra Python package is needed.
"""
import argparse
import json
import os
import struct
import zlib

import torch

_DTYPES = {torch.float32: "F32", torch.float64: "F64"}


def save_safetensors(path, tensors, metadata=None):
    """safetensors with the given tensors (and a "__metadata__" map of str -> str when given)."""
    header, blobs, offset = {}, [], 0
    for key, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.numpy().tobytes()
        header[key] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata is not None:
        header["__metadata__"] = metadata
    head = json.dumps(header).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


class Group:
    """The cases of one op group: each is a torch function and its inputs."""

    def __init__(self):
        self.cases = []

    def case(self, name, fn, *inputs, grad=None):
        """inputs: f64 tensors; grad: which inputs get gradients (default all)."""
        assert "/" not in name, name
        grad = grad if grad is not None else [True] * len(inputs)
        self.cases.append((name, fn, inputs, grad))

    def run(self):
        out = {}
        for name, fn, inputs, grad in self.cases:
            xs = [x.detach().clone().requires_grad_(g) for x, g in zip(inputs, grad)]
            y = fn(*xs)
            gen = torch.Generator().manual_seed(zlib.crc32(name.encode()) + 1)
            gout = torch.randn(y.shape, generator=gen, dtype=y.dtype)
            if any(grad):
                y.backward(gout)
            for i, x in enumerate(xs):
                out[f"{name}/in{i}"] = x
                if grad[i]:
                    out[f"{name}/grad{i}"] = x.grad
            out[f"{name}/out"] = y
            out[f"{name}/gout"] = gout
        return out


def randn(*shape, seed, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64) * scale


def rand(*shape, seed, lo=0.0, hi=1.0):
    gen = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float64)


def out_dir(description, threads=2):
    """The `--out DIR` of a script that takes nothing else: DIR, created; torch on `threads` threads."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(threads)
    return out
