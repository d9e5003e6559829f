#!/usr/bin/env python3
"""Writes PyTorch checkpoints for nn/torch_checkpoint_test.cpp, and beside each
good one the tensors it must load as (safetensors, f16/bf16 widened to f32).

Usage: make_checkpoints.py --out DIR [--big]
The CMake oracle step runs it with --out <oracle dir>/checkpoints. --big also
writes big.pth (> 4 GiB, so torch itself writes zip64 fields); the C++ test
reads it only when it is there.

torch is a test oracle only; the liednet library never calls it. Besides
torch.save's own files this writes hand-made zips (zip64 in every field, a
legacy "archive/" folder) and broken files, each for one error message.
"""
import argparse
import collections
import io
import os
import pathlib
import pickle
import random
import struct
import sys
import zipfile
import zlib

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from oracle import save_safetensors  # noqa: E402

FUZZ_CASES = 300


def randn(*shape, seed, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)


def with_specials(t):
    """Overwrites the first elements with values whose conversion is easy to get wrong."""
    flat = t.view(-1)
    tiny = 2.0 ** -24 if t.dtype == torch.float16 else 2.0 ** -130  # the smallest subnormals
    specials = [float("inf"), float("-inf"), float("nan"), -0.0, tiny, -tiny, 65504.0, 1.0 / 3]
    flat[: len(specials)] = torch.tensor(specials, dtype=torch.float64).to(t.dtype)
    return t


def state_dict(seed):
    """The tensors of every good checkpoint, in order; one int64 entry that must be skipped."""
    sd = collections.OrderedDict()
    sd["conv1.weight"] = randn(8, 3, 3, 3, seed=seed)
    sd["conv1.bias"] = randn(8, seed=seed + 1)
    sd["blocks.0.proj.weight"] = randn(16, 8, 1, 1, seed=seed + 2)
    sd["blocks.0.norm.weight"] = randn(16, seed=seed + 3)
    sd["blocks.0.scan.A_log"] = randn(16, 4, seed=seed + 4, dtype=torch.float64)
    sd["head.half"] = with_specials(randn(5, 7, seed=seed + 5, dtype=torch.float16))
    sd["head.bf16"] = with_specials(randn(5, 7, seed=seed + 6, dtype=torch.bfloat16))
    sd["mix.transposed"] = randn(6, 4, seed=seed + 7).t()  # strides (1, 4)
    shared = randn(40, seed=seed + 8)
    sd["shared.a"] = shared[3:15].view(3, 4)  # two views of one storage at different offsets
    sd["shared.b"] = shared[20:30]
    sd["strided"] = randn(6, 8, seed=seed + 9)[1:, 1::3]  # offset 9, strides (8, 3)
    sd["expanded"] = randn(3, 1, seed=seed + 13).expand(3, 4)  # strides (1, 0)
    sd["param"] = torch.nn.Parameter(randn(3, 3, seed=seed + 10))
    sd["five_d"] = randn(2, 1, 2, 3, 2, seed=seed + 11)
    sd["scalar"] = randn(seed=seed + 12)
    sd["empty"] = torch.zeros(0, 3)
    sd["bn.num_batches_tracked"] = torch.tensor(7)
    return sd


def expected(sd):
    """What the reader must return: float tensors only, f16/bf16 widened exactly to f32
    (and zero-element ones, see below)."""
    out = collections.OrderedDict()
    for k, v in sd.items():
        # Zero-element tensors are checked in C++ by name: our safetensors reader
        # cannot be used on them under UBSan (it memcpy's into a null buffer).
        if not isinstance(v, torch.Tensor) or not v.is_floating_point() or v.numel() == 0:
            continue
        v = v.detach()
        out[k] = v.float() if v.dtype in (torch.float16, torch.bfloat16) else v
    return out


def entries_of(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_stored_zip(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in entries:
            z.writestr(name, data)


def write_zip64(path, entries):
    """A stored zip with zip64 fields, as torch's writer makes them for files over
    4 GiB: a classic field that overflowed reads 0xffffffff and its value sits in
    the entry's zip64 extra field; which fields overflow varies by entry here."""
    out, central = bytearray(), bytearray()
    for i, (name, data) in enumerate(entries):
        nb, crc, offset = name.encode(), zlib.crc32(data), len(out)
        local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(nb),
                           len(local_extra)) + nb + local_extra + data
        sizes_overflow, offset_overflows = i % 3 != 1, i % 3 != 0
        fields = (struct.pack("<QQ", len(data), len(data)) if sizes_overflow else b"") + \
                 (struct.pack("<Q", offset) if offset_overflows else b"")
        extra = struct.pack("<HH", 1, len(fields)) + fields
        size32 = 0xFFFFFFFF if sizes_overflow else len(data)
        offset32 = 0xFFFFFFFF if offset_overflows else offset
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, size32, size32, len(nb),
                               len(extra), 0, 0, 0, 0, offset32) + nb + extra
    cd_offset = len(out)
    out += central
    z64 = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(entries), len(entries), len(central),
                       cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    pathlib.Path(path).write_bytes(out)


class Storage:
    """Stands for a torch storage in a hand-written pickle (see write_crafted)."""

    def __init__(self, cls, key, numel):
        self.cls, self.key, self.numel = cls, key, numel


class Call:
    """Pickles as a call of `fn(*args)`, the way torch.save pickles a tensor."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def write_crafted(path, obj, storages, protocol=2):
    """A checkpoint whose pickle is written here rather than by torch.save, for
    forms that torch 1.13 cannot produce (newer torch) or must not (bad views)."""
    buf = io.BytesIO()
    p = pickle.Pickler(buf, protocol=protocol)
    p.persistent_id = lambda o: ("storage", o.cls, o.key, "cpu", o.numel) if isinstance(o, Storage) else None
    p.dump(obj)
    entries = [("crafted/data.pkl", buf.getvalue())]
    entries += [(f"crafted/data/{k}", v) for k, v in storages.items()]
    entries += [("crafted/version", b"3\n")]
    write_stored_zip(path, entries)


def newer_torch_functions():
    """torch 2.x's _rebuild_parameter_with_state, registered under its real name so
    that pickle writes the same GLOBAL as newer torch does."""
    def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
        raise AssertionError("never called")
    _rebuild_parameter_with_state.__module__ = "torch._utils"
    _rebuild_parameter_with_state.__qualname__ = "_rebuild_parameter_with_state"
    torch._utils._rebuild_parameter_with_state = _rebuild_parameter_with_state
    return _rebuild_parameter_with_state


class NotAllowed:
    """An arbitrary user class: its GLOBAL must be refused."""

    def __init__(self):
        self.x = 1


class SmallNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.norm = torch.nn.LayerNorm(4)
        self.fc = torch.nn.Linear(4, 2)


def write_good(out):
    sd, sd2 = state_dict(100), state_dict(200)
    save_safetensors(str(out / "sd.safetensors"), expected(sd))
    save_safetensors(str(out / "sd2.safetensors"), expected(sd2))

    torch.save({"params": sd}, out / "params.pth")
    torch.save({"params_ema": sd, "params": sd2}, out / "ema.pth")
    torch.save({"state_dict": sd}, out / "state_dict.pth")
    torch.save(sd, out / "bare.pth")
    torch.save(sd, out / "proto4.pth", pickle_protocol=4)  # SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE, FRAME

    mixed = collections.OrderedDict(sd)
    mixed["step"] = 5
    mixed["note"] = "not a tensor"
    mixed["bare_storage"] = torch.FloatStorage(4)
    torch.save({"epoch": 3, "name": "liednet", "history": [1, 2.5, None, True, "x", (1, 2)],
                "meta": {"lr": 1e-4, "betas": (0.9, 0.99), "nested": {"deep": [[]]}}, "huge": 2 ** 100,
                "negative": -123456789012, "params": mixed}, out / "nested.pth")

    torch.manual_seed(0)
    net = SmallNet()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
        net.bn.running_mean.normal_()
        net.bn.running_var.uniform_(0.5, 2.0)
    torch.save(net.state_dict(), out / "module.pth")  # an OrderedDict with _metadata (BUILD)
    save_safetensors(str(out / "module.safetensors"), expected(net.state_dict()))

    # A state dict as long as LIEDNet's: memo slots past 255 (LONG_BINPUT, LONG_BINGET).
    many = collections.OrderedDict()
    for i in range(300):
        many[f"layers.{i}.weight"] = randn(1 + i % 5, 3, seed=1000 + i)
    many["late.d1"] = randn(4, seed=2000, dtype=torch.float64)
    many["late.d2"] = randn(2, 2, seed=2001, dtype=torch.float64)
    late = randn(20, seed=2002)
    many["late.view1"], many["late.view2"] = late[:8], late[10:].view(2, 5)
    torch.save({"params": many}, out / "many.pth")
    save_safetensors(str(out / "many.safetensors"), expected(many))

    # Every f16 and bf16 bit pattern (NaN payloads included), and what torch's .float() makes of them.
    bits = torch.arange(65536, dtype=torch.int32).to(torch.int16)
    halves = collections.OrderedDict([("f16", bits.view(torch.float16).reshape(256, 256)),
                                      ("bf16", bits.clone().view(torch.bfloat16).reshape(256, 256))])
    torch.save(halves, out / "all_halves.pth")
    save_safetensors(str(out / "all_halves.safetensors"), expected(halves))

    # Zip64 in every field, and the folder name torch used before 1.8.
    entries = [("archive/" + n.split("/", 1)[1], d) for n, d in entries_of(out / "params.pth")]
    write_zip64(out / "zip64.pth", entries)

    # torch 2.x's extra entries: a byteorder record and a serialization id.
    write_stored_zip(out / "torch2_layout.pth", entries_of(out / "params.pth") + [
        ("params/byteorder", b"little"), ("params/.data/serialization_id", b"0123456789012345678901234567890123456789")])

    # Newer torch: a Parameter with state, a metadata argument, an UntypedStorage entry (skipped).
    rebuild_v2 = torch._utils._rebuild_tensor_v2
    w = randn(2, 3, seed=7)
    tensor = Call(rebuild_v2, Storage(torch.FloatStorage, "0", 6), 0, (2, 3), (3, 1), True,
                  collections.OrderedDict(), {})
    crafted = collections.OrderedDict([
        ("w", Call(newer_torch_functions(), tensor, True, collections.OrderedDict(), {})),
        ("bytes", Storage(torch.UntypedStorage, "1", 8)),
    ])
    write_crafted(out / "newer.pth", {"params": crafted},
                  {"0": w.numpy().tobytes(), "1": bytes(8)}, protocol=2)
    save_safetensors(str(out / "newer.safetensors"), {"w": w})


def write_bad(out):
    params = (out / "params.pth").read_bytes()
    (out / "truncated.pth").write_bytes(params[: len(params) // 2])
    (out / "text.pth").write_text("these are not the weights you are looking for\n")
    torch.save(state_dict(100), out / "old_format.pth", _use_new_zipfile_serialization=False)

    entries = entries_of(out / "params.pth")
    write_stored_zip(out / "no_pickle.pth", [(n, d) for n, d in entries if not n.endswith("data.pkl")])
    write_stored_zip(out / "missing_storage.pth", [(n, d) for n, d in entries if not n.endswith("/data/0")])
    write_stored_zip(out / "deflated.pth", entries, compression=zipfile.ZIP_DEFLATED)
    write_stored_zip(out / "big_endian.pth", entries + [("params/byteorder", b"big")])

    # One flipped bit in the first storage: the zip's CRC must catch it.
    with zipfile.ZipFile(out / "params.pth") as z:
        info = z.getinfo("params/data/0")
    name_len, extra_len = struct.unpack("<HH", params[info.header_offset + 26: info.header_offset + 30])
    at = info.header_offset + 30 + name_len + extra_len + 5
    corrupt = bytearray(params)
    corrupt[at] ^= 0x10
    (out / "corrupt.pth").write_bytes(bytes(corrupt))

    torch.save({"params": state_dict(100), "obj": NotAllowed()}, out / "custom_class.pth")
    pkl = b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo hello\x85R."
    write_stored_zip(out / "os_system.pth", [("x/data.pkl", pkl), ("x/version", b"3\n")])
    pkl = b"\x80\x02}(X\x01\x00\x00\x00aI42\nu."  # INT: protocol 0's text integer
    write_stored_zip(out / "bad_opcode.pth", [("x/data.pkl", pkl), ("x/version", b"3\n")])

    rebuild_v2 = torch._utils._rebuild_tensor_v2
    too_long = Call(rebuild_v2, Storage(torch.FloatStorage, "0", 4), 0, (10,), (1,), False, collections.OrderedDict())
    write_crafted(out / "out_of_range.pth", {"params": {"w": too_long}}, {"0": bytes(16)})
    short = Call(rebuild_v2, Storage(torch.FloatStorage, "0", 8), 0, (8,), (1,), False, collections.OrderedDict())
    write_crafted(out / "short_storage.pth", {"params": {"w": short}}, {"0": bytes(16)})
    write_crafted(out / "no_tensors.pth", {"model": {"w": 1}, "epoch": 3}, {})


def write_fuzz(out):
    """Damaged pickles inside intact zips (so that the CRC passes and the pickle
    machine itself must cope): random byte edits, and cuts at many lengths."""
    fuzz = out / "fuzz"
    fuzz.mkdir(exist_ok=True)
    for old in fuzz.glob("*.pth"):
        old.unlink()
    entries = entries_of(out / "params.pth")
    pkl = next(d for n, d in entries if n.endswith("data.pkl"))
    rest = [(n, d) for n, d in entries if not n.endswith("data.pkl")]
    rng = random.Random(1234)
    for i in range(FUZZ_CASES):
        b = bytearray(pkl)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(b))
            kind = rng.randrange(3)
            if kind == 0:
                b[at] = rng.randrange(256)
            elif kind == 1:
                b.insert(at, rng.randrange(256))
            else:
                del b[at]
        write_stored_zip(fuzz / f"edit_{i:03d}.pth", [("params/data.pkl", bytes(b))] + rest)
    # Containers nested 200000 deep, and a list that holds itself: no recursion, no leak.
    nests = {"deep_lists": b"\x80\x02" + b"]" * 200000 + b"a" * 199999 + b".",
             "deep_tuples": b"\x80\x02N" + b"\x85" * 200000 + b".",
             "deep_dicts": b"\x80\x02}q\x00" + b"}X\x01\x00\x00\x00kh\x00sq\x00" * 100000 + b".",
             "self_list": b"\x80\x02}X\x01\x00\x00\x00k]q\x00h\x00as."}
    for name, data in nests.items():
        write_stored_zip(fuzz / f"nest_{name}.pth", [("params/data.pkl", data)] + rest)
    for cut in range(0, len(pkl), 13):
        write_stored_zip(fuzz / f"cut_{cut:05d}.pth", [("params/data.pkl", pkl[:cut])] + rest)


def write_big(out):
    """Over 4 GiB, so that torch's own writer uses zip64 sizes and offsets."""
    big = torch.zeros(1_100_000_000)
    big[-1] = 1.5
    torch.save({"big": big, "small": torch.arange(5.0)}, out / "big.pth")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--big", action="store_true", help="also write big.pth (4.4 GB)")
    args = ap.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    write_good(out)
    write_bad(out)
    write_fuzz(out)
    if args.big:
        write_big(out)
    print(f"make_checkpoints: wrote {sum(1 for _ in out.rglob('*.pth'))} checkpoints to {out}")


if __name__ == "__main__":
    main()
