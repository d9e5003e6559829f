#!/usr/bin/env python3
"""bench_peak's FMA loops hold their accumulators in registers.

Disassembles bench_peak (objdump) and, for each kernel (fma_avx512, fma_avx2,
fma_generic), finds its loop (the backward branch inside the function) and
checks that the loop's body touches no memory (no load, store or spill: an
operand like 0x40(%rsp)) and holds the expected number of independent
multiply-adds on distinct registers. A loop that kept its accumulators in
memory measured half the peak on an AVX-512 machine.
usage: peak_loop_test.py BENCH_PEAK   (exit 77: not x86-64 or no objdump)
"""
import platform
import re
import shutil
import subprocess
import sys

KERNELS = {  # name: (instruction, accumulators)
    "fma_avx512": ("vfmadd", 24),
    "fma_avx2": ("vfmadd", 14),
    "fma_generic": ("mulps", 14),
}


def main():
    if platform.machine() not in ("x86_64", "AMD64") or not shutil.which("objdump"):
        print("skipped: not x86-64, or no objdump")
        return 77
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", sys.argv[1]], check=True,
                          capture_output=True, text=True).stdout
    funcs, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            name = m.group(1)
            funcs[name] = []
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
        if m and name:
            funcs[name].append((int(m.group(1), 16), m.group(2), m.group(3)))
    failures = 0
    for kernel, (insn, count) in KERNELS.items():
        matches = [f for f in funcs if re.match(rf"^(\(anonymous namespace\)::)?{kernel}\(long\)$", f)]
        if len(matches) != 1:
            print(f"FAIL {kernel}: found {len(matches)} functions of that name")
            failures += 1
            continue
        body = funcs[matches[0]]
        loops = []
        for i, (addr, op, args) in enumerate(body):
            m = re.match(r"^([0-9a-f]+) <", args)
            if op.startswith("j") and m and int(m.group(1), 16) <= addr:
                start = int(m.group(1), 16)
                loops.append([x for x in body[: i + 1] if x[0] >= start])
        if len(loops) != 1:
            print(f"FAIL {kernel}: {len(loops)} loops (expected one)")
            failures += 1
            continue
        loop = loops[0]
        memory = [f"{op} {args}" for _, op, args in loop if "(" in args and not op.startswith("j")]
        fmas = [args for _, op, args in loop if op.startswith(insn)]
        targets = {args.split(",")[-1].strip() for args in fmas}
        ok = not memory and len(fmas) == count and len(targets) == count
        print(f"{'ok  ' if ok else 'FAIL'} {kernel}: loop of {len(loop)} instructions, {len(fmas)} {insn} on "
              f"{len(targets)} registers, memory operands: {memory if memory else 'none'}")
        failures += 0 if ok else 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
