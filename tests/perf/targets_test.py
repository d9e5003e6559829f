#!/usr/bin/env python3
"""bench/targets.py's arithmetic and verdicts, on stand-in programs with known figures (seconds, no build).

Stand-ins for bench_peak, bench_scan, bench_train and a torch interpreter print fixed figures; the test runs
targets.py on them and checks the table it writes (--json): each issue-24 target is there, its ratio is the
one the figures give, the verdicts follow the goals, an op is judged against the peak or the triad by its
FLOPs per byte, and a failing torch.compile child is reported by its error line.
  usage: targets_test.py
"""
import json
import os
import pathlib
import stat
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent

PEAK = '''
import json, sys
json.dump({"threads": 2, "isas": [{"isa": "avx2", "gflops_per_core": 100.0, "gflops_all": 200.0}],
           "triad_gbs_1": 10.0, "triad_gbs_all": 10.0, "peak_gflops_per_core": 100.0, "peak_gflops_all": 200.0,
           "isa": "avx2"}, open(sys.argv[sys.argv.index("--json") + 1], "w"))
'''
# Every level runs at 20 GFLOP/s forward and 30 backward, its backward twice its forward's time: 80/3 GFLOP/s.
SCAN = '''
import sys
if "--cpu-time" in sys.argv:
    sys.stderr.write("usage: bench_scan [...]\\n"); sys.exit(2)
print("level    batch x                 fwd ms    bwd ms    f+b ms fwd GF/s bwd GF/s  saved state   naive f+b    speed-up")
for n, s, f in (("level 1", "1x64x128x128", 100), ("level 1b", "1x128x128x128", 150),
                ("level 2", "1x128x64x64", 40), ("level 3", "1x256x32x32", 20)):
    print(f"{n:<8s} {1:5d} {s:<14s} {f:9.1f} {2 * f:9.1f} {3 * f:9.1f} {20.0:8.1f} {30.0:8.1f} {1.0:9.2f} MiB - -")
'''
# 1x step: 5 s on 2 threads, 8 s on 1; 281 GFLOP per image. The profile: a compute op at 92% of the peak
# (ok), one at 8% (below), a memory-bound op at 40% of the triad (below) and one at 100% (ok), a small one.
TRAIN = '''
import json, os, sys
a = sys.argv
b, h, w = map(int, a[a.index("--sizes") + 1].split(":"))
t = (5.0 if os.environ["LIEDNET_THREADS"] == "2" else 8.0) * b
json.dump({"configs": [{"batch": b, "height": h, "width": w, "total_s": t, "step_flops": 281e9 * b, "cpu_s": 2 * t}]},
          open(a[a.index("--json") + 1], "w"))
if os.environ.get("LIEDNET_PROFILE") == "1":
    open(os.environ["LIEDNET_PROFILE_CSV"], "w").write(
        "op,fwd_calls,bwd_calls,fwd_self_ms,bwd_self_ms,fwd_inclusive_ms,bwd_inclusive_ms,share,fwd_flops,"
        "fwd_gflops_per_s,alloc_bytes\\n"
        "fast_conv,10,10,500,500,500,500,0.4,61333333333,0,1000000\\n"
        "slow_conv,10,10,500,500,500,500,0.4,5333333333,0,1000000\\n"
        "slow_relu,10,10,50,50,50,50,0.04,0,0,200000000\\n"
        "fast_add,10,10,50,50,50,50,0.04,0,0,500000000\\n"
        "tiny,1,0,1,0,1,0,0.001,0,0,0\\n"
        "(outside any op),0,0,10,0,10,0,0.01,0,0,0\\n")
'''
TORCH = '''
import json, sys
a = sys.argv[1:]
if a[0] == "-c":
    print("2.9.0 True"); sys.exit()
if "--check" in a:
    print("check passed: worst relative error 1e-15 (limit 1e-10)"); sys.exit()
if "--compile" in a:
    sys.stderr.write("Traceback (most recent call last):\\n  File \\"x.py\\"\\n"
                     "torch._inductor.exc.CppCompileError: C++ compile error\\n  more context\\n")
    sys.exit(1)
b, h, w = map(int, a[a.index("--child") + 1].split("x"))
print(json.dumps({"batch": b, "height": h, "width": w, "total_s": 20.0, "peak_rss_mib": 100.0,
                  "baseline_rss_mib": 50.0}))
'''


def check(cond, what):
    if not cond:
        sys.exit(f"targets_test: FAILED: {what}")


def main():
    with tempfile.TemporaryDirectory(prefix="targets_test_") as tmp:
        build = pathlib.Path(tmp, "build")
        build.mkdir()
        progs = {build / "bench_peak": PEAK, build / "bench_scan": SCAN, build / "bench_train": TRAIN,
                 pathlib.Path(tmp, "python"): TORCH}
        for path, body in progs.items():
            path.write_text(f"#!{sys.executable}\n{body}")
            path.chmod(path.stat().st_mode | stat.S_IXUSR)
        out = pathlib.Path(tmp, "out.json")
        r = subprocess.run([sys.executable, str(ROOT / "bench" / "targets.py"), "--build", str(build), "--python",
                            str(pathlib.Path(tmp, "python")), "--threads", "2", "--rounds", "1", "--repeats", "1",
                            "--json", str(out)], capture_output=True, text=True, cwd=ROOT,
                           env={k: v for k, v in os.environ.items() if not k.startswith("LIEDNET_")})
        check(r.returncode == 0, f"targets.py exit {r.returncode}: {r.stderr[-800:]}")
        rep = json.loads(out.read_text())
        rows = {t["target"]: t for t in rep["table"]}

        def row(prefix):
            hits = [t for name, t in rows.items() if name.startswith(prefix)]
            check(len(hits) == 1, f"one row '{prefix}...' in {list(rows)}")
            return hits[0]

        # 1: 281 GFLOP in 5 s over 200 GFLOP/s = 0.281 (goal 0.45); 8x: 2248 GFLOP in 40 s, the same (goal 0.40).
        s1 = row("step 1x3x256x256")
        check(s1["ratio"] == "0.281" and s1["met"] is False, f"1x step row {s1}")
        s8 = row("step 8x3x256x256")
        check(s8["ratio"] == "0.281" and s8["met"] is False, f"8x step row {s8}")
        # 2: (20 f + 30 x 2f) / 3f = 26.67 GFLOP/s at every level: 0.133 of 200, whatever the weights.
        sc = row("ss2d_scan")
        check(sc["ratio"] == "0.133" and sc["met"] is False, f"scan row {sc}")
        # 3: machine balance 200/10 = 20 FLOP/byte. fast_conv: 61.3 GFLOP x 3 / 1 s = 184 GFLOP/s = 92%;
        # slow_conv 16 GFLOP/s = 8%; slow_relu 0.4 GB in 0.1 s = 4 GB/s = 40% of the triad; fast_add 10 GB/s.
        ops = {o["op"]: o for o in rep["ops"]}
        check(not ops["fast_conv"]["memory_bound"] and ops["fast_conv"]["met"], f"fast_conv {ops['fast_conv']}")
        check(abs(ops["fast_conv"]["frac_peak"] - 0.92) < 1e-3, f"fast_conv fraction {ops['fast_conv']}")
        check(not ops["slow_conv"]["memory_bound"] and not ops["slow_conv"]["met"], f"slow_conv {ops['slow_conv']}")
        check(ops["slow_relu"]["memory_bound"] and abs(ops["slow_relu"]["frac_bw"] - 0.4) < 1e-3
              and not ops["slow_relu"]["met"], f"slow_relu {ops['slow_relu']}")
        check(ops["fast_add"]["memory_bound"] and ops["fast_add"]["met"], f"fast_add {ops['fast_add']}")
        check(not ops["tiny"]["judged"], "an op under --min-share is not judged")
        ev = row("every op")
        check(ev["ours"] == "2 of 4 below" and ev["met"] is False and "slow_conv" in ev["note"]
              and "slow_relu" in ev["note"] and "fast_conv" not in ev["note"], f"every-op row {ev}")
        # 4: the stand-in's peak RSS is far below 6 GiB.
        check(row("peak RSS, step 8x")["met"] is True, "8x peak RSS row")
        # 5: 8 s on 1 thread, 5 s on 2.
        ts = row("thread scaling: 1 -> 2")
        check(ts["ratio"] == "1.60x", f"thread scaling row {ts}")
        # 6: torch.compile failed: eager (20 s) is the baseline, and the failure's error line is quoted.
        vs = row("vs PyTorch: step 1x3x256x256 time")
        check(vs["ratio"] == "0.250" and "(eager)" in vs["baseline"], f"vs PyTorch row {vs}")
        check("CppCompileError: C++ compile error" in vs["note"], f"the compile failure's line in {vs['note']}")
        check("CppCompileError" in rep["compile_note"], f"compile_note {rep['compile_note']}")
    print("targets_test: passed (every issue-24 row, its ratio and verdict; ops against peak or triad; the "
          "torch.compile failure line)")


if __name__ == "__main__":
    main()
