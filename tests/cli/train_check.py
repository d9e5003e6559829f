"""Checks on what `liednet train` wrote, for tests/cli/train_test.sh and mpi_test.sh.

  train_check.py same-log A.jsonl B.jsonl          the lines are equal once the timing fields are removed
  train_check.py close-log A.jsonl B.jsonl TOL     same iterations; every loss term within TOL relative
  train_check.py close-weights A.st B.st TOL       same tensors; each within TOL relative L2
  train_check.py whole-lines LOG                   every line is a complete JSON object (prints the count)
  train_check.py complete DIR...                   every *.safetensors is whole (header and data fit the size)
  train_check.py wait-iter LOG N                   waits (60 s at most) until LOG has a line of iteration N or more

Exits 1 with one line saying what differs.
"""
import json
import os
import struct
import sys
import time

import numpy as np

TIMING = ("seconds", "it_per_s")


def die(msg):
    print(msg)
    sys.exit(1)


def log_lines(path):
    with open(path) as f:
        return [line.rstrip("\n") for line in f]


def without_timing(line):
    d = json.loads(line)
    for k in TIMING:
        d.pop(k, None)
    return d


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        dt = {"F32": np.float32, "F64": np.float64}[v["dtype"]]
        out[k] = np.frombuffer(data[b:e], dtype=dt).astype(np.float64)
    return out


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "same-log":
        a, b = (log_lines(p) for p in args)
        if len(a) != len(b):
            die(f"{args[0]} has {len(a)} lines, {args[1]} {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            if without_timing(x) != without_timing(y):
                die(f"line {i + 1} differs: {x} vs {y}")
    elif cmd == "close-log":
        a, b = (log_lines(p) for p in args[:2])
        tol = float(args[2])
        if len(a) != len(b):
            die(f"{args[0]} has {len(a)} lines, {args[1]} {len(b)}")
        worst = 0.0
        for x, y in zip(a, b):
            x, y = without_timing(x), without_timing(y)
            if x["iter"] != y["iter"]:
                die(f"iterations differ: {x['iter']} vs {y['iter']}")
            for k, v in x.items():
                if k.startswith("l_") and v != 0:
                    worst = max(worst, abs(v - y[k]) / abs(v))
        print(f"worst loss relative error {worst:.2e}")
        if worst > tol:
            die(f"worst loss relative error {worst:.2e} > {tol}")
    elif cmd == "close-weights":
        a, b = read_safetensors(args[0]), read_safetensors(args[1])
        tol = float(args[2])
        if a.keys() != b.keys():
            die("the files hold different tensors")
        worst = max(np.linalg.norm(a[k] - b[k]) / max(np.linalg.norm(b[k]), 1e-30) for k in a)
        print(f"worst weight tensor relative L2 {worst:.2e}")
        if worst > tol:
            die(f"worst weight tensor relative L2 {worst:.2e} > {tol}")
    elif cmd == "whole-lines":
        lines = log_lines(args[0])
        for i, line in enumerate(lines):
            try:
                json.loads(line)
            except ValueError:
                die(f"{args[0]}: line {i + 1} is torn: {line!r}")
        print(len(lines))
    elif cmd == "complete":
        for d in args:
            for root, _, files in os.walk(d):
                for name in files:
                    if not name.endswith(".safetensors"):
                        continue
                    p = os.path.join(root, name)
                    size = os.path.getsize(p)
                    with open(p, "rb") as f:
                        n = struct.unpack("<Q", f.read(8))[0]
                        header = json.loads(f.read(n))
                    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
                    if 8 + n + end != size:
                        die(f"{p}: {size} bytes, the header describes {8 + n + end}")
    elif cmd == "wait-iter":
        path, n = args[0], int(args[1])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with open(path) as f:
                    if any(json.loads(line)["iter"] >= n for line in f if line.strip()):
                        return
            except (OSError, ValueError):
                pass  # not there yet, or a line being written
            time.sleep(0.01)
        die(f"{path}: no iteration {n} within 60 s")
    else:
        die(f"unknown check {cmd}")


if __name__ == "__main__":
    main()
