#!/usr/bin/env python3
"""Writes the generated part of the fuzz seed corpora (tests/fuzz/corpus/):
PNGs of every colour type, BMPs, safetensors files and YAML snippets, each
small and valid (or damaged in one known way), so that the fuzzers start from
inputs that reach deep into each reader. The rest of the corpus is listed in
tests/fuzz/README.md. Run from anywhere: python3 tests/fuzz/make_seeds.py"""
import json
import os
import struct
import zlib

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(kind, name, data):
    with open(os.path.join(HERE, kind, name), "wb") as f:
        f.write(data)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(w, h, depth, color, rows, extra=(), interlace=0):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    for kind, data in extra:
        out += chunk(kind, data)
    return out + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def images():
    rgb = b"".join(b"\0" + bytes((x * 40 + y * 7 + c * 90) % 256 for x in range(4) for c in range(3)) for y in range(3))
    write("image", "rgb8.png", png(4, 3, 8, 2, rgb, [(b"tEXt", b"Comment\0seed")]))
    rgba = b"".join(b"\0" + bytes((x * 60 + c * 50 + y) % 256 for x in range(3) for c in range(4)) for y in range(2))
    write("image", "rgba8.png", png(3, 2, 8, 6, rgba))
    write("image", "gray16.png", png(2, 2, 16, 0, b"\0\x12\x34\xff\xfe\0\0\x01\x80\x00"))
    write("image", "gray1.png", png(5, 1, 1, 0, b"\0\xa8"))
    write("image", "gray_alpha.png", png(2, 1, 8, 4, b"\0\x10\xff\x80\x40"))
    palette = [(b"PLTE", b"\xff\0\0\0\x80\xff\x10\x20\x30"), (b"tRNS", b"\x40")]
    write("image", "palette2.png", png(3, 2, 2, 3, b"\0\x64\0\x90", palette))
    write("image", "interlaced.png", png(2, 2, 8, 0, b"\0\x0a\0\x14\0\x1e\x28", interlace=1))
    # Paeth-filtered rows (filter 4) and a sub-filtered row (filter 1).
    write("image", "filters.png", png(2, 2, 8, 0, b"\x04\x05\x06\x01\x07\x08"))
    # BMP: 3x2 at 24 bits (rows padded to 4 bytes, bottom-up) and at 8 bits with a palette.
    rows24 = b"".join(bytes((x * 50 + y * 20 + c * 70) % 256 for x in range(3) for c in range(3)) + b"\0\0\0" for y in range(2))
    write("image", "rgb24.bmp", bmp(3, 2, 24, rows24, b""))
    pal = b"".join(bytes((i * 60, i * 20, 255 - i * 60, 0)) for i in range(4))
    write("image", "pal8.bmp", bmp(3, 2, 8, b"\0\1\2\0\3\2\1\0", pal))


def bmp(w, h, bits, pixels, palette):
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, bits, 0, len(pixels), 2835, 2835, len(palette) // 4, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def tensor_files():
    f32 = struct.pack("<6f", 1, -2, 3.5, 0, 1e-30, 7)
    write("safetensors", "f32.safetensors", safetensors({"w": ("F32", [2, 3], f32)}, {"format": "pt"}))
    write("safetensors", "mixed.safetensors", safetensors({
        "a": ("F64", [2], struct.pack("<2d", 1.5, -3)),
        "h": ("F16", [3], b"\x00\x3c\x00\xc1\x01\x00"),
        "b": ("BF16", [1, 2], b"\x80\x3f\x20\xc0"),
        "e": ("F32", [0, 4], b""),
        "s": ("F32", [], struct.pack("<f", 2)),
    }, {"state": json.dumps({"iter": 3})}))
    write("safetensors", "cut.safetensors", safetensors({"a": ("F32", [2], bytes(8))})[:-4] + bytes(4))


def yaml_snippets():
    write("yaml_config", "minimal.yml", b"datasets:\n  train:\n    dataroot_gt: gt\n    dataroot_lq: lq\n")
    write("yaml_config", "anchors.yml", b"name: &n x\ndatasets:\n  train: &t\n    dataroot_gt: a\n    dataroot_lq: b\n"
          b"    batch_size_per_gpu: &b 4\n  val:\n    <<: *t\n    max_images: *b\ntrain:\n  total_iter: !!float 1e3\n"
          b"  scheduler: {type: MultiStepLR, milestones: [10, 20], gamma: 0.5}\n")
    write("yaml_config", "complex_key.yml", b"? [a, b]\n: 1\ndatasets: {train: {dataroot_gt: a, dataroot_lq: b}}\n")


def yaml_values():
    # A byte choosing the key (tests/fuzz/yaml_value.h's slots, in order), then the value.
    values = [(0, b"-1"), (0, b"99999999999999999999"), (2, b"7"), (3, b"[1, 0, 2]"), (3, b"[1, 2]"),
              (5, b"-1.0"), (5, b".nan"), (6, b"[0.9, 1.0]"), (7, b"[]"), (7, b"[5, 0]"), (8, b"[3, 1]"),
              (9, b"0"), (10, b"0"), (11, b".inf"), (12, b"-5"), (13, b"2.5"), (1, b"100000")]
    for i, (slot, value) in enumerate(values):
        write("yaml_value", "v%02d.bin" % i, bytes([slot]) + value)


def chunk_lies():
    # Declared lengths the file cannot hold: a tEXt of 2^31 - 1 bytes, an IDAT of 1 GB.
    sig = b"\x89PNG\r\n\x1a\n"
    def chunk(kind, data, length=None):
        n = len(data) if length is None else length
        return struct.pack(">I", n) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\0" + bytes(6) + b"\0" + bytes(6)))
    write("image", "lie_text.png", sig + ihdr + chunk(b"tEXt", b"a\0b", 0x7fffffff) + idat + chunk(b"IEND", b""))
    write("image", "lie_idat.png", sig + ihdr + chunk(b"IDAT", b"x", 0x40000000))
    # A JPEG segment longer than the file; a BMP whose header promises more rows than it holds.
    write("image", "lie_segment.jpg", b"\xff\xd8\xff\xe0\xff\xf0JFIF\0")
    bmp = bytearray(b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 2, 100000, 1, 24, 0,
                                                                                     0, 0, 0, 0, 0) + bytes(16))
    write("image", "lie_rows.bmp", bytes(bmp))


if __name__ == "__main__":
    for kind in ("image", "safetensors", "yaml_config", "yaml_value"):
        os.makedirs(os.path.join(HERE, kind), exist_ok=True)
    images()
    tensor_files()
    yaml_snippets()
    yaml_values()
    chunk_lies()
