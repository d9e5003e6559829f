#!/usr/bin/env python3
"""Writes the PyTorch reference tensors for the parity tests.

Every module tests/oracle/ops_<group>.py defines `register(group)`, which adds
cases; this script runs them in float64 and writes <out>/ops_<group>.safetensors.
Usage: generate.py --out DIR [--only ops_elementwise ...]
"""
import argparse
import importlib
import os
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402

from oracle import Group, save_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    names = sorted(p.stem for p in HERE.glob("ops_*.py"))
    if args.only:
        names = [n for n in names if n in args.only]
    for name in names:
        t0 = time.time()
        group = Group()
        importlib.import_module(name).register(group)
        tensors = group.run()
        save_safetensors(os.path.join(args.out, name + ".safetensors"), tensors)
        print(f"{name}: {len(group.cases)} cases in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
