#!/usr/bin/env python3
"""Every CPU target of issue 24 in one run, each as a ratio to a baseline measured in the same run.

  python3 bench/targets.py [--build build] [--python PY]... [--threads N] [--rounds R]
                           [--rounds-batch8 R8] [--repeats K] [--no-batch8] [--quick] [--no-compile]
                           [--baseline-batch8] [--inference] [--json FILE]

Needs only a python3 (no torch): every measurement runs in its own child process (ours: build/bench_*;
the PyTorch baseline: bench/torch_train_step.py --child under a torch interpreter). The training-step
children alternate round by round (ours on all threads, the baseline eager, ours on 1 thread, the
baseline under torch.compile, ours on 2 threads), so a change in the machine's load falls on all of
them. Each child does one warm-up and --repeats timed steps and reports its median; a figure is the
median over the rounds. A child's peak RSS is read by os.wait4 (ru_maxrss).

The targets (issue 24), and what each is divided by:
  1. the training step (forward, L1 + side L1 + both VGG19 perceptual losses, backward, Adam) at
     1x3x256x256 >= 45% of the FP32 peak, at 8x3x256x256 >= 40%: the step's FLOPs (bench_train's
     count) over its median wall time, over the all-thread peak of the best ISA that bench_peak
     measures in this run (an FMA loop per ISA);
  2. the fused scan ss2d_scan, forward and backward together, >= 35% of that peak: bench_scan
     --silu-input (the op as the network runs it) at the four level shapes of a 256x256 crop, weighted
     by how many times the step calls each (1, 5, 4, 4);
  3. every op of the step's profile (LIEDNET_PROFILE=1 bench_train, 1x3x256x256, CSV) at >= 25% of
     the peak, or, if memory-bound (its FLOPs per byte below the machine's peak / triad bandwidth),
     at >= 60% of the triad bandwidth bench_peak measures in this run. The profiler counts forward
     FLOPs and allocated bytes only, so: FLOPs = forward x (1 + 2 x backward calls / forward calls)
     (a backward does about twice its forward's work), bytes = 2 x allocated (each byte written once
     and read at least once); ops under --min-share of the step are listed, not judged;
  4. the peak RSS of the 8x3x256x256 step <= 6 GiB;
  5. thread scaling: the 1x3x256x256 step on 1, 2 and all threads (LIEDNET_THREADS), the speed-ups;
  6. the PyTorch baseline: the chunked-scan model eager and under torch.compile (inductor; the scan's
     autograd.Function stays eager), the faster of the two is the baseline; if torch.compile fails,
     the line that says why. Our step's time over it is printed (issue 15's goal was <= 0.25x).

A busy machine lowers every wall-clock figure but bench_peak's (its rates are per thread CPU time):
the load average is printed at the start and end, and each of our steps' CPU time beside its wall
time (the "on CPU time" figure: FLOPs over CPU time / threads, what the step would reach with its
cores to itself, spin-waiting counted as work).

Interpreters: --python (repeatable), else LIEDNET_BENCH_PYTHON (paths separated by ':'), else the
venv of scripts/bench_venv.sh (.venv-bench) if present and Debian's /usr/bin/python3. Each is checked
(the chunked scan against the plain loop in f64) and, with more than one, probed on a 1x3x128x128
step: the fastest is the baseline.
"""
import argparse
import csv
import json
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import torch_train_step as tts  # noqa: E402  (imports no torch at module level)

GIB = 1024.0
# How many times a LIEDNet (dim 32) training step at 256x256 runs the scan at each of bench_scan's levels.
SCAN_CALLS = {"level 1": 1, "level 1b": 5, "level 2": 4, "level 3": 4}


def die(msg):
    sys.exit(f"targets.py: {msg}")


def one_line(text, limit=300):
    """The line of a failed child's output that says why: the last exception line, else the last line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return "(no output)"
    for ln in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Unsupported|Failed)\b", ln):
            return ln[:limit]
    return lines[-1][:limit]


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


class Child:
    """One measurement in its own process: its JSON result (or stdout), peak RSS (MiB) and wall time."""

    def __init__(self, cmd, env=None, json_file=None, label="", parse_json=True):
        self.cmd, self.label = cmd, label
        with tempfile.TemporaryDirectory(prefix="liednet_targets_") as tmp:
            out_path, err_path = pathlib.Path(tmp, "out"), pathlib.Path(tmp, "err")
            jpath = pathlib.Path(tmp, "result.json")
            cmd = [str(c).replace("{JSON}", str(jpath)).replace("{TMP}", tmp) for c in cmd]
            if env is not None:
                env = {k: v.replace("{TMP}", tmp) for k, v in env.items()}
            t0 = time.time()
            with open(out_path, "w") as out, open(err_path, "w") as err:
                p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
                _, status, ru = os.wait4(p.pid, 0)
            self.wall_s = time.time() - t0
            self.rc = os.waitstatus_to_exitcode(status)
            self.peak_rss_mib = ru.ru_maxrss / 1024.0
            self.cpu_s = ru.ru_utime + ru.ru_stime
            self.stdout, self.stderr = out_path.read_text(), err_path.read_text()
            self.files = {f.name: f.read_text() for f in pathlib.Path(tmp).iterdir()
                          if f.is_file() and f.name not in ("out", "err")}
            self.result = None
            if self.rc != 0 or not parse_json:
                return
            try:
                self.result = json.loads(jpath.read_text()) if json_file else \
                    json.loads(self.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError, OSError) as e:
                self.rc = -1
                self.stderr += f"\nno JSON result: {e}"

    def ok(self):
        return self.rc == 0

    def failure(self):
        how = f"was killed by signal {-self.rc}" if self.rc < 0 and self.rc != -1 else f"failed (exit {self.rc})"
        return f"{self.label} {how}: {one_line(self.stderr + chr(10) + self.stdout)}"


class Bench:
    def __init__(self, args):
        self.args = args
        b = pathlib.Path(args.build)
        self.build = b if b.is_absolute() else (ROOT / b).resolve()
        for name in ("peak", "train", "scan") + (("forward",) if args.inference else ()):
            if not (self.build / f"bench_{name}").is_file():
                die(f"{self.build / ('bench_' + name)} is missing: build the benchmarks first "
                    f"(cmake --build {args.build})")
        self.env = self.env_threads(args.threads)
        self.env.pop("LIEDNET_PROFILE", None)

    def env_threads(self, n):
        env = dict(os.environ, LIEDNET_THREADS=str(n), OMP_NUM_THREADS=str(n))
        env.pop("LIEDNET_BENCH_PYTHON", None)  # each baseline child names its interpreter itself
        return env

    def say(self, text=""):
        print(text, flush=True)

    # ---- ours
    def ours_train(self, b, h, w, repeats, threads=None, profile_csv=None):
        env = self.env_threads(threads or self.args.threads)
        env.pop("LIEDNET_PROFILE", None)
        if profile_csv:
            env.update(LIEDNET_PROFILE="1", LIEDNET_PROFILE_CSV=profile_csv)
        t = f", {threads} threads" if threads else ""
        return Child([self.build / "bench_train", "--repeats", repeats, "--sizes", f"{b}:{h}:{w}", "--json",
                      "{JSON}"], env, json_file=True, label=f"bench_train {b}x{h}x{w}{t}")

    def ours_forward(self, h, w, repeats):
        return Child([self.build / "bench_forward", "--repeats", repeats, "--json", "{JSON}", h, w], self.env,
                     json_file=True, label=f"bench_forward {h}x{w}")

    # ---- the baseline's
    def torch_child(self, python, size, repeats, forward_only=False, warmup=True, recompute=False, compiled=False):
        cmd = tts.child_command(size, self.args.threads, repeats, "cpu", "chunked", forward_only, warmup, recompute,
                                self.mem_cap_mib() + 4096, compiled)
        cmd[0] = python
        b, h, w = size
        return Child(cmd, self.env, label=f"torch{' compiled' if compiled else ' eager'} {b}x{h}x{w}"
                     + (" forward" if forward_only else ""))

    def mem_cap_mib(self):
        return self.args.max_mem_frac * tts.mem_available_mib()


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_pct(x):
    return f"{100 * x:.1f}%" if x == x else "?"


def choose_baseline(bench, candidates, log):
    """Checks every candidate interpreter (torch importable, the chunked scan's f64 check passes),
    probes each on a 1x3x128x128 training step (1 warm-up, 1 timed), and returns (python, {python: info})."""
    infos = {}
    for py in candidates:
        info = {"python": py}
        infos[py] = info
        if not os.access(py, os.X_OK):
            info["refused"] = "not an executable"
            continue
        v = subprocess.run([py, "-c", "import torch; print(torch.__version__, hasattr(torch, 'compile'))"],
                           capture_output=True, text=True)
        if v.returncode != 0:
            info["refused"] = "cannot import torch: " + one_line(v.stderr, 200)
            continue
        info["torch"], has_compile = v.stdout.split()
        info["has_compile"] = has_compile == "True"
        log(f"baseline candidate {py} (torch {info['torch']}): checking the chunked scan against the plain loop "
            "(f64) ...")
        chk = subprocess.run([py, str(ROOT / "bench" / "torch_train_step.py"), "--check"], capture_output=True,
                             text=True, env=bench.env, cwd=ROOT)
        if chk.returncode != 0:
            info["refused"] = "check failed: " + one_line(chk.stderr + "\n" + chk.stdout)
            log(f"  refused: {info['refused']}")
            continue
        info["check"] = chk.stdout.strip().splitlines()[-1]
        log("  " + info["check"])
    usable = [py for py in candidates if "refused" not in infos[py]]
    if not usable:
        die("no usable baseline interpreter: " + "; ".join(f"{p}: {i['refused']}" for p, i in infos.items()))
    if len(usable) > 1:
        for py in usable:
            c = bench.torch_child(py, (1, 128, 128), 1)
            if not c.ok():
                infos[py]["refused"] = c.failure()
                continue
            infos[py]["probe_step_s"] = c.result["total_s"]
            log(f"  probe, 1x3x128x128 training step: {py} (torch {infos[py]['torch']}): {c.result['total_s']:.2f} s")
        usable = [py for py in usable if "refused" not in infos[py]]
        if not usable:
            die("every baseline interpreter failed its probe")
    best = min(usable, key=lambda py: infos[py].get("probe_step_s", 0))
    return best, infos


def total_s(child):
    """A child's median time: bench_* write {"configs": [{"total_s"}]}, torch_train_step.py {"total_s"}."""
    return child.result["configs"][0]["total_s"] if "configs" in child.result else child.result["total_s"]


def run_rounds(bench, label, rounds, sides, log):
    """rounds x every side in turn; sides: [(name, fn or None)]. Returns {name: [children]} and
    {name: failure line} for a side whose child failed (it is not run again)."""
    got, failed = {name: [] for name, _ in sides}, {}
    for r in range(rounds):
        for name, fn in sides:
            if fn is None or name in failed:
                continue
            c = fn()
            if not c.ok():
                failed[name] = c.failure()
                log(f"  {label} round {r + 1} {name}: {failed[name]}")
                continue
            got[name].append(c)
            cfg = c.result["configs"][0] if "configs" in c.result else c.result
            cpu = f", {cfg['cpu_s']:.2f} s CPU" if "cpu_s" in cfg else ""
            warm = f", warm-up with compilation {cfg['warmup_s']:.0f} s" if cfg.get("compiled") else ""
            log(f"  {label} round {r + 1} {name}: {total_s(c):.3f} s{cpu} (peak RSS {c.peak_rss_mib / GIB:.2f} GiB, "
                f"child wall {c.wall_s:.0f} s{warm})")
    return got, failed


def parse_scan(text):
    """bench_scan's table rows: {level: {"batch", "shape", "fwd_ms", "bwd_ms", "fwd_gflops", "bwd_gflops"}}."""
    rows = {}
    pat = re.compile(r"^(level \S+)\s+(\d+)\s+(\d+x\d+x\d+x\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)")
    for line in text.splitlines():
        m = pat.match(line)
        if m:
            rows[m.group(1)] = {"batch": int(m.group(2)), "shape": m.group(3), "fwd_ms": float(m.group(4)),
                                "bwd_ms": float(m.group(5)), "fwd_gflops": float(m.group(7)),
                                "bwd_gflops": float(m.group(8))}
    return rows


def read_profile(text):
    """The op profiler's CSV: a list of dicts with numbers as floats."""
    ops = []
    for row in csv.DictReader(text.splitlines()):
        ops.append({k: (v if k == "op" else float(v)) for k, v in row.items()})
    return ops


def judge_ops(ops, peak, triad, min_share):
    """Each op's estimated rate against the peak or, memory-bound, its estimated bandwidth against the triad."""
    balance = peak / triad  # FLOPs per byte where the roofline bends
    out = []
    for o in ops:
        if o["op"].startswith("("):
            continue
        ms = o["fwd_self_ms"] + o["bwd_self_ms"]
        if ms <= 0:
            continue
        fwd_calls = max(o["fwd_calls"], 1)
        flops = o["fwd_flops"] * (1 + 2 * o["bwd_calls"] / fwd_calls)
        traffic = 2 * o["alloc_bytes"]
        j = {"op": o["op"], "share": o["share"], "ms": ms, "fwd_calls": o["fwd_calls"], "bwd_calls": o["bwd_calls"],
             "est_flops": flops, "est_bytes": traffic, "gflops": flops / ms / 1e6, "gbs": traffic / ms / 1e6}
        j["frac_peak"] = flops / ms / 1e-3 / peak
        j["frac_bw"] = traffic / ms / 1e-3 / triad
        j["memory_bound"] = flops == 0 or (traffic > 0 and flops / traffic < balance)
        j["judged"] = o["share"] >= min_share
        j["met"] = (j["frac_bw"] >= 0.60) if j["memory_bound"] else (j["frac_peak"] >= 0.25)
        out.append(j)
    out.sort(key=lambda j: -j["share"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="the build folder with bench_* (default build)")
    ap.add_argument("--python", action="append", help="a baseline interpreter (repeatable)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="all threads (default: the CPUs)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of the 1x3x256x256 step (default 3)")
    ap.add_argument("--rounds-batch8", type=int, default=1, help="runs of the 8x3x256x256 step (default 1)")
    ap.add_argument("--repeats", type=int, default=2, help="timed steps inside each child, after a warm-up")
    ap.add_argument("--no-batch8", action="store_true", help="skip the 8x3x256x256 step (targets 1b and 4)")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile baseline")
    ap.add_argument("--baseline-batch8", action="store_true",
                    help="run the eager baseline's 8x3x256x256 step too (issue 15's ratios; slow, and it needs "
                         "per-block recompute to fit a 24 GiB machine)")
    ap.add_argument("--inference", action="store_true",
                    help="also issue 15's inference comparison (1x3x256x256 and 1x3x512x512, ours vs eager)")
    ap.add_argument("--quick", action="store_true",
                    help="1 round, 1 repeat, no 8x3x256x256 step, no torch.compile: a smoke test")
    ap.add_argument("--min-share", type=float, default=0.005,
                    help="ops under this share of the profiled step are listed but not judged (default 0.005)")
    ap.add_argument("--max-mem-frac", type=float, default=0.5,
                    help="a baseline step predicted to need more than this fraction of MemAvailable runs with "
                         "per-block recompute (default 0.5: the machine is shared)")
    ap.add_argument("--max-baseline-step-s", type=float, default=900.0,
                    help="a baseline 8x step predicted slower than this is not run")
    ap.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.repeats, args.no_batch8, args.no_compile = 1, 1, True, True
    bench = Bench(args)
    say = bench.say
    t_start = time.time()
    cpu = cpu_model()
    report = {"host": platform.node(), "cpu": cpu, "cpus": os.cpu_count(), "threads": args.threads,
              "load_avg_start": list(os.getloadavg()), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "args": vars(args)}
    say(f"liednet CPU targets (issue 24) on {cpu} ({platform.node()}): {os.cpu_count()} CPUs, {args.threads} "
        f"threads; {report['started']}; load average at start {report['load_avg_start'][0]:.2f}")
    if os.environ.get("LIEDNET_ISA"):
        say(f"note: LIEDNET_ISA={os.environ['LIEDNET_ISA']} is set: our kernels run that ISA, the peak is the best "
            "ISA's")

    # ---- the baseline interpreter
    if args.python:
        candidates = args.python
    elif os.environ.get("LIEDNET_BENCH_PYTHON"):
        candidates = [p for p in os.environ["LIEDNET_BENCH_PYTHON"].split(":") if p]
    else:
        venv = ROOT / ".venv-bench" / "bin" / "python3"
        candidates = ([str(venv)] if venv.exists() else []) + ["/usr/bin/python3"]
    py, infos = choose_baseline(bench, candidates, say)
    bi = infos[py]
    report["baseline"] = {"python": py, "torch": bi["torch"], "candidates": infos}
    say(f"baseline interpreter: torch {bi['torch']} ({py})"
        + (f"; fastest of {len(infos)} interpreters on the probe" if len(infos) > 1 else ""))
    compile_note = None
    if args.no_compile:
        compile_note = "not run (--no-compile" + (", --quick)" if args.quick else ")")
    elif not bi["has_compile"]:
        compile_note = f"not run: torch {bi['torch']} has no torch.compile (it came with torch 2.0)"

    # ---- the machine: peak of each ISA, triad bandwidth
    c = Child([bench.build / "bench_peak", "--json", "{JSON}"], bench.env, json_file=True, label="bench_peak")
    if not c.ok():
        die(c.failure())
    peak = c.result
    report["peak"] = peak
    for isa in peak.get("isas", []):
        say(f"  FP32 peak {isa['isa']}: {isa['gflops_per_core']:.1f} GFLOP/s per core, {isa['gflops_all']:.1f} on "
            f"{peak['threads']} threads")
    peak_all = peak["peak_gflops_all"] * 1e9
    triad = peak.get("triad_gbs_all", float("nan")) * 1e9
    say(f"peak: {peak_all / 1e9:.1f} GFLOP/s ({peak['isa']}, {peak['threads']} threads, per thread CPU time); "
        f"triad bandwidth {triad / 1e9:.1f} GB/s on {peak['threads']} threads ({peak.get('triad_gbs_1', 0):.1f} on 1; "
        "wall clock: other processes' memory traffic lowers it)")

    # ---- the scan, alone: on the wall clock (the target) and, where bench_scan has --cpu-time, on CPU time
    scan = {}
    for clock in ("wall", "cpu"):
        c = Child([bench.build / "bench_scan", "--silu-input", "--no-reference", "--batch", "1", "--repeats",
                   max(3, args.repeats + 1)] + (["--cpu-time"] if clock == "cpu" else []), bench.env,
                  label="bench_scan" + (" --cpu-time" if clock == "cpu" else ""), parse_json=False)
        if clock == "cpu" and c.rc == 2 and "usage" in c.stderr:
            say("  (this bench_scan has no --cpu-time: the scan's figure is on the wall clock only)")
            break
        if not c.ok():
            say(f"scan: {c.failure()}")
            continue
        levels = parse_scan(c.stdout)
        if not levels:
            say("scan: could not read bench_scan's table; its output:\n" + c.stdout)
            continue
        # On CPU time, the rate is per CPU-second: against the peak of one core.
        ref = peak_all if clock == "wall" else peak["peak_gflops_per_core"] * 1e9
        fl = tm = 0.0
        say(f"fused scan ss2d_scan (bench_scan --silu-input, batch 1, forward + backward, "
            + ("wall clock" if clock == "wall" else "CPU time, against one core's peak") + "):")
        for name, lv in levels.items():
            f = lv["fwd_gflops"] * lv["fwd_ms"] * 1e6 + lv["bwd_gflops"] * lv["bwd_ms"] * 1e6
            ms = lv["fwd_ms"] + lv["bwd_ms"]
            lv["fraction"] = f / ms / 1e-3 / ref
            n = SCAN_CALLS.get(name, 1)
            fl, tm = fl + n * f, tm + n * ms
            say(f"  {name:<9s} {lv['shape']:<15s} x{n}: fwd {lv['fwd_ms']:.1f} ms ({lv['fwd_gflops']:.1f} GFLOP/s), "
                f"bwd {lv['bwd_ms']:.1f} ms ({lv['bwd_gflops']:.1f}), f+b {fmt_pct(lv['fraction'])} of peak")
        scan[clock] = {"levels": levels, "calls": SCAN_CALLS, "fraction": fl / tm / 1e-3 / ref,
                       "gflops": fl / tm / 1e6, "step_ms": tm, "core_share": c.cpu_s / c.wall_s / args.threads}
        say(f"  weighted by the step's calls: {fl / tm / 1e6:.1f} GFLOP/s, {fmt_pct(fl / tm / 1e-3 / ref)} of peak, "
            f"{tm:.0f} ms per step (this child had {fmt_pct(scan[clock]['core_share'])} of {args.threads} cores"
            + (f"; over that share: {fmt_pct(fl / tm / 1e-3 / ref / scan[clock]['core_share'])}" if clock == "wall"
               else "") + ")")
    report["scan"] = scan

    # ---- the step's profile, op by op
    say("profiling a 1x3x256x256 step (LIEDNET_PROFILE=1 bench_train --repeats 1) ...")
    c = bench.ours_train(1, 256, 256, 1, profile_csv="{TMP}/profile.csv")
    ops = []
    if not c.ok() or "profile.csv" not in c.files:
        say(f"profile: {c.failure() if not c.ok() else 'no CSV written'}")
    else:
        ops = judge_ops(read_profile(c.files["profile.csv"]), peak_all, triad, args.min_share)
        report["profile_core_share"] = c.cpu_s / c.wall_s / args.threads
        say(f"ops of the profiled step ({total_s(c):.2f} s; FLOPs = forward x (1 + 2 bwd/fwd calls), bytes = 2 x "
            f"allocated; memory-bound below {peak_all / triad:.1f} FLOP/byte; goal >= 25% of peak, or >= 60% of the "
            "triad if memory-bound; this child had "
            f"{fmt_pct(report['profile_core_share'])} of {args.threads} cores):")
        say(f"  {'op':<24s} {'share':>6s} {'ms':>8s} {'GFLOP/s':>8s} {'% peak':>7s} {'GB/s':>7s} {'% triad':>8s}  "
            "bound   verdict")
        for j in ops:
            verdict = ("ok" if j["met"] else "BELOW") if j["judged"] else "(small, not judged)"
            say(f"  {j['op']:<24s} {fmt_pct(j['share']):>6s} {j['ms']:8.1f} {j['gflops']:8.1f} "
                f"{fmt_pct(j['frac_peak']):>7s} {j['gbs']:7.1f} {fmt_pct(j['frac_bw']):>8s}  "
                f"{'memory' if j['memory_bound'] else 'compute':7s} {verdict}")
    report["ops"] = ops

    # ---- the 1x3x256x256 step: ours on all, 1 and 2 threads, the baseline eager and compiled, alternating
    scaling = sorted({1, 2, args.threads} - {args.threads}) if args.threads > 1 else []
    sides = [("ours", lambda: bench.ours_train(1, 256, 256, args.repeats)),
             ("torch eager", lambda: bench.torch_child(py, (1, 256, 256), args.repeats))]
    for i, n in enumerate(scaling):
        sides.append((f"ours {n} thread{'s' if n > 1 else ''}",
                      (lambda n=n: bench.ours_train(1, 256, 256, args.repeats, threads=n))))
        if i == 0 and compile_note is None:
            sides.append(("torch compiled", lambda: bench.torch_child(py, (1, 256, 256), args.repeats,
                                                                      compiled=True)))
    if not scaling and compile_note is None:
        sides.append(("torch compiled", lambda: bench.torch_child(py, (1, 256, 256), args.repeats, compiled=True)))
    say(f"training step 1x3x256x256, {args.rounds} alternating rounds of: " + ", ".join(n for n, _ in sides))
    got, failed = run_rounds(bench, "1x256", args.rounds, sides, say)
    if "torch compiled" in failed:
        compile_note = "failed: " + failed["torch compiled"]
    med = {name: median([total_s(x) for x in cs]) for name, cs in got.items()}
    report["train_1x256"] = {name: [x.result for x in cs] for name, cs in got.items()}
    report["failed"] = failed

    # ---- the 8x3x256x256 step
    o8, b8, p8 = [], [], {}
    if not args.no_batch8:
        say("training step 8x3x256x256:")
        base_fn = None
        if args.baseline_batch8:
            last = got["torch eager"][len(got["torch eager"]) // 2].result if got["torch eager"] else None
            p8 = tts.plan(last, (8, 256, 256), True, args.max_baseline_step_s, bench.mem_cap_mib())
            if "skipped" not in p8:
                base_fn = lambda: bench.torch_child(py, (8, 256, 256), 1, warmup=not p8["repeats_1"],  # noqa: E731
                                                    recompute=p8["recompute"])
        g8, f8 = run_rounds(bench, "8x256", args.rounds_batch8,
                            [("ours", lambda: bench.ours_train(8, 256, 256, 1)), ("torch eager", base_fn)], say)
        o8, b8 = g8["ours"], g8["torch eager"]
        report["train_8x256"] = {"ours": [x.result for x in o8], "torch eager": [x.result for x in b8], "plan": p8,
                                 "failed": f8, "peak_rss_mib": [x.peak_rss_mib for x in o8]}

    # ---- inference (issue 15's comparison, on request)
    infer = {}
    if args.inference:
        for h in (256, 512):
            say(f"inference 1x3x{h}x{h}:")
            g, _ = run_rounds(bench, f"forward {h}", args.rounds,
                              [("ours", lambda h=h: bench.ours_forward(h, h, args.repeats)),
                               ("torch eager", lambda h=h: bench.torch_child(py, (1, h, h), args.repeats,
                                                                             forward_only=True))], say)
            infer[h] = (median([total_s(x) for x in g["ours"]]), median([total_s(x) for x in g["torch eager"]]))
    report["inference"] = infer

    # ---- the table
    report["load_avg_end"] = list(os.getloadavg())
    table = []

    def add(target, ours, base, ratio, goal, met, note=""):
        table.append({"target": target, "ours": ours, "baseline": base, "ratio": ratio, "goal": goal, "met": met,
                      "note": note})

    pk = f"peak {peak_all / 1e9:.0f} GFLOP/s"

    def step_row(name, children, goal):
        if not children:
            add(name, "not measured", pk, "-", f">= {goal:.0%}", None)
            return
        cfg = children[0].result["configs"][0]
        t = median([total_s(x) for x in children])
        cpu_s = median([x.result["configs"][0].get("cpu_s", float("nan")) for x in children])
        frac = cfg["step_flops"] / t / peak_all
        frac_cpu = cfg["step_flops"] / (cpu_s / args.threads) / peak_all
        add(name, f"{cfg['step_flops'] / t / 1e9:.1f} GFLOP/s", pk, f"{frac:.3f}", f">= {goal:.2f}", frac >= goal,
            f"{cfg['step_flops'] / 1e9:.0f} GFLOP in {t:.2f} s; on CPU time {fmt_pct(frac_cpu)}")

    step_row("step 1x3x256x256, fraction of peak", got["ours"], 0.45)
    if not args.no_batch8:
        step_row("step 8x3x256x256, fraction of peak", o8, 0.40)
    if "wall" in scan:
        sw = scan["wall"]
        add("ss2d_scan fwd+bwd, fraction of peak", f"{sw['gflops']:.1f} GFLOP/s", pk, f"{sw['fraction']:.3f}",
            ">= 0.35", sw["fraction"] >= 0.35, "bench_scan --silu-input, batch 1, levels weighted by calls"
            + (f"; on CPU time {fmt_pct(scan['cpu']['fraction'])} of one core's peak" if "cpu" in scan else
               f"; over the child's {fmt_pct(sw['core_share'])} share of the cores {fmt_pct(sw['fraction'] / sw['core_share'])}"))
    else:
        add("ss2d_scan fwd+bwd, fraction of peak", "not measured", pk, "-", ">= 0.35", None)
    judged = [j for j in ops if j["judged"]]
    below = [j for j in judged if not j["met"]]
    if ops:
        add("every op >= 25% peak, or >= 60% triad", f"{len(below)} of {len(judged)} below", pk
            + f", triad {triad / 1e9:.1f} GB/s", "-", "none below", not below,
            "below: " + ", ".join(f"{j['op']} ({fmt_pct(j['frac_bw'] if j['memory_bound'] else j['frac_peak'])}"
                                  f" of {'triad' if j['memory_bound'] else 'peak'})" for j in below)
            if below else f"ops >= {fmt_pct(args.min_share)} of the step")
    else:
        add("every op >= 25% peak, or >= 60% triad", "not measured", "-", "-", "none below", None)
    if not args.no_batch8:
        rss8 = median([x.peak_rss_mib for x in o8])
        add("peak RSS, step 8x3x256x256", f"{rss8 / GIB:.2f} GiB" if o8 else "not measured", "-", "-", "<= 6 GiB",
            rss8 <= 6 * GIB if o8 else None, f"1x step: {median([x.peak_rss_mib for x in got['ours']]) / GIB:.2f} GiB")
    t_all = med.get("ours", float("nan"))
    for n in scaling:
        name = f"ours {n} thread{'s' if n > 1 else ''}"
        if name in med:
            ts = med[name]
            add(f"thread scaling: {n} -> {args.threads} threads", f"{t_all:.2f} s", f"{ts:.2f} s", f"{ts / t_all:.2f}x",
                "(speed-up)", None, f"ideal {args.threads / n:.0f}x")
    if len(scaling) == 2 and all(f"ours {n} thread{'s' if n > 1 else ''}" in med for n in scaling):
        t1, t2 = med["ours 1 thread"], med["ours 2 threads"]
        add("thread scaling: 1 -> 2 threads", f"{t2:.2f} s", f"{t1:.2f} s", f"{t1 / t2:.2f}x", "(speed-up)", None,
            "ideal 2x")
    eager, comp = med.get("torch eager", float("nan")), med.get("torch compiled", float("nan"))
    cands = {k: v for k, v in (("eager", eager), ("torch.compile", comp)) if v == v}
    if cands:
        which = min(cands, key=cands.get)
        add("vs PyTorch: step 1x3x256x256 time", f"{t_all:.2f} s", f"{cands[which]:.2f} s ({which})",
            f"{t_all / cands[which]:.3f}", "(<= 0.25x, issue 15)", t_all / cands[which] <= 0.25,
            f"eager {eager:.2f} s; torch.compile " + (f"{comp:.2f} s" if comp == comp else compile_note or "?"))
        b_rss = median([x.peak_rss_mib for x in got.get("torch eager", [])])
        o_rss = median([x.peak_rss_mib for x in got["ours"]])
        add("vs PyTorch: step 1x3x256x256 peak RSS", f"{o_rss / GIB:.2f} GiB", f"{b_rss / GIB:.2f} GiB (eager)",
            f"{o_rss / b_rss:.3f}", "(<= 0.5x, issue 15)", o_rss / b_rss <= 0.5)
    for h, (o, b) in infer.items():
        add(f"vs PyTorch: inference 1x3x{h}x{h}", f"{o:.3f} s", f"{b:.3f} s (eager)", f"{o / b:.3f}",
            "(<= 0.2x, issue 15)", o / b <= 0.2)
    if b8 and o8:
        o, b = median([total_s(x) for x in o8]), median([total_s(x) for x in b8])
        add("vs PyTorch: step 8x3x256x256 time", f"{o:.2f} s", f"{b:.2f} s (eager)", f"{o / b:.3f}",
            "(<= 0.25x, issue 15)", o / b <= 0.25, p8.get("note", ""))
    report["table"] = table
    report["compile_note"] = compile_note

    say("")
    say(f"baseline: PyTorch {bi['torch']} ({py}): the chunked scan (bench/torch_baseline.py, f64 check passed), "
        f"projections as oneDNN convolutions; eager, and under torch.compile: "
        + (compile_note or "compiled (inductor, the scan's Function eager)"))
    for other, info in infos.items():
        if other != py:
            say(f"  also tried {other} (torch {info.get('torch', '?')}): "
                + (f"refused: {info['refused']}" if "refused" in info else
                   f"probe {info['probe_step_s']:.2f} s vs {bi['probe_step_s']:.2f} s"))
    say(f"medians of {args.rounds} alternating rounds (8x3x256x256: {args.rounds_batch8} run), each child 1 warm-up "
        f"+ {args.repeats} timed steps (8x: 1); peak RSS per child process (wait4)")
    say(f"CPU: {cpu}, {os.cpu_count()} CPUs; load average: start {report['load_avg_start'][0]:.2f}, end "
        f"{report['load_avg_end'][0]:.2f} (a busy machine lowers every wall-clock figure; the peak is per CPU "
        f"time); total {time.time() - t_start:.0f} s")
    say("step FLOPs: bench_train's count (ops::FlopCounter's forward count of the network and the loss; backward "
        "= 2x the network's forward + 1x the VGG forward of the two predictions; no elementwise work)")
    say("")
    w = max(len(r["target"]) for r in table)
    wo = max(12, max(len(r["ours"]) for r in table))
    wb = max(12, max(len(r["baseline"]) for r in table))
    say(f"{'target':<{w}s}  {'ours':>{wo}s}  {'baseline':>{wb}s}  {'ratio':>6s}  {'goal':>20s}  met?")
    for r in table:
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        say(f"{r['target']:<{w}s}  {r['ours']:>{wo}s}  {r['baseline']:>{wb}s}  {r['ratio']:>6s}  {r['goal']:>20s}  "
            f"{met}" + (f"  ({r['note']})" if r["note"] else ""))
    report["total_s"] = time.time() - t_start
    if args.json:
        tts.write_json(args.json, report)
        say(f"wrote {args.json}")


if __name__ == "__main__":
    main()
