#!/usr/bin/env python3
"""Every CPU speed target of issue 15 in one run: ours and the PyTorch baseline's
figures side by side, on the same machine, from the same start.

  python3 bench/targets.py [--build build] [--python PY]... [--threads N] [--rounds R]
                           [--rounds-batch8 R8] [--no-batch8] [--quick] [--json FILE]

Needs only a python3 (no torch): every measurement runs in its own child
process, ours (build/bench_*) and the baseline's (bench/torch_train_step.py
--child under a torch interpreter) alternating round by round, so a change in
the machine's load falls on both. Each child does one warm-up and a few timed
repeats and reports its median; a figure is the median over the rounds. The
peak RSS of a child is read by os.wait4 (ru_maxrss), so each side's memory is
that of a process that ran only that configuration.

The baseline: bench/torch_baseline.py (chunked vectorised scan with an analytic
backward, projections as oneDNN convolutions), checked against the plain loop
in f64 before anything is timed. Interpreters: --python (repeatable), else
LIEDNET_BENCH_PYTHON (a path, or several separated by ':'), else the venv of
scripts/bench_venv.sh (.venv-bench) if present and Debian's /usr/bin/python3.
With more than one, each is probed on a 1x3x128x128 training step and the
fastest is the baseline (the strongest honest one); the output says which.

Targets (issue 15): inference 1x3x256x256 and 1x3x512x512 at <= 0.2x the
baseline's time; a training step (forward, L1 + side L1 + both VGG19 perceptual
losses, backward, Adam) at 1x3x256x256 and 8x3x256x256 at <= 0.25x; the step's
peak RSS at <= 0.5x, and 8x3x256x256 within 8 GiB; every dense convolution of
the step at >= 60% of the machine's FP32 peak (bench_peak, an FMA loop), and
the whole step at >= 35% (FLOPs as bench/train_bench.cpp counts them).
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import torch_train_step as tts  # noqa: E402  (imports no torch at module level)

GIB = 1024.0


def die(msg):
    sys.exit(f"targets.py: {msg}")


class Child:
    """One measurement in its own process: its JSON result, peak RSS (MiB) and wall time."""

    def __init__(self, cmd, env=None, json_file=None, label=""):
        self.cmd, self.label = cmd, label
        with tempfile.TemporaryDirectory(prefix="liednet_targets_") as tmp:
            out_path, err_path = pathlib.Path(tmp, "out"), pathlib.Path(tmp, "err")
            jpath = pathlib.Path(tmp, "result.json")
            cmd = [str(c).replace("{JSON}", str(jpath)) for c in cmd]
            t0 = time.time()
            with open(out_path, "w") as out, open(err_path, "w") as err:
                p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
                _, status, ru = os.wait4(p.pid, 0)
            self.wall_s = time.time() - t0
            self.rc = os.waitstatus_to_exitcode(status)
            self.peak_rss_mib = ru.ru_maxrss / 1024.0
            self.stdout, self.stderr = out_path.read_text(), err_path.read_text()
            if self.rc != 0:
                self.result = None
                return
            if json_file:
                self.result = json.loads(jpath.read_text())
            else:
                self.result = json.loads(self.stdout.strip().splitlines()[-1])

    def failure(self):
        tail = (self.stderr.strip() or self.stdout.strip())[-400:]
        return f"{self.label} failed (exit {self.rc}): {tail}"


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = (ROOT / args.build).resolve() if not pathlib.Path(args.build).is_absolute() \
            else pathlib.Path(args.build)
        for name in ("peak", "conv2d", "forward", "train"):
            if not (self.build / f"bench_{name}").is_file():
                die(f"{self.build / ('bench_' + name)} is missing: build the benchmarks first "
                    f"(cmake --build {args.build})")
        self.env = dict(os.environ, LIEDNET_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
        self.env.pop("LIEDNET_BENCH_PYTHON", None)  # each baseline child names its interpreter itself
        self.log = []

    def say(self, text):
        print(text, flush=True)

    # ---- ours
    def ours_forward(self, h, w, repeats):
        c = Child([self.build / "bench_forward", "--repeats", repeats, "--json", "{JSON}", h, w], self.env,
                  json_file=True, label=f"bench_forward {h}x{w}")
        return c

    def ours_train(self, b, h, w, repeats):
        return Child([self.build / "bench_train", "--repeats", repeats, "--sizes", f"{b}:{h}:{w}", "--json",
                      "{JSON}"], self.env, json_file=True, label=f"bench_train {b}x{h}x{w}")

    # ---- the baseline's
    def torch_child(self, python, size, repeats, forward_only=False, warmup=True, recompute=False):
        cmd = tts.child_command(size, self.args.threads, repeats, "cpu", "chunked", forward_only, warmup, recompute,
                                self.mem_cap_mib() + 4096)
        cmd[0] = python
        b, h, w = size
        return Child(cmd, self.env, label=f"{python} torch_train_step.py {b}x{h}x{w}"
                     + (" forward" if forward_only else ""))

    def mem_cap_mib(self):
        return self.args.max_mem_frac * tts.mem_available_mib()


def median(xs):
    return statistics.median(xs) if xs else float("nan")


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
        v = subprocess.run([py, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
        if v.returncode != 0:
            info["refused"] = "cannot import torch: " + v.stderr.strip().splitlines()[-1][-200:]
            continue
        info["torch"] = v.stdout.strip()
        log(f"baseline candidate {py} (torch {info['torch']}): checking the chunked scan against the plain loop "
            "(f64) ...")
        chk = subprocess.run([py, str(ROOT / "bench" / "torch_train_step.py"), "--check"], capture_output=True,
                             text=True, env=bench.env, cwd=ROOT)
        if chk.returncode != 0:
            info["refused"] = "check failed: " + (chk.stderr.strip() or chk.stdout.strip())[-300:]
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
            if c.result is None:
                infos[py]["refused"] = c.failure()
                continue
            infos[py]["probe_step_s"] = c.result["total_s"]
            infos[py]["probe_cpu_s"] = c.result.get("cpu_s")
            log(f"  probe, 1x3x128x128 training step: {py} (torch {infos[py]['torch']}): {c.result['total_s']:.2f} s "
                f"({c.result.get('cpu_s', float('nan')):.1f} s CPU time)")
        usable = [py for py in usable if "refused" not in infos[py]]
        if not usable:
            die("every baseline interpreter failed its probe")
    best = min(usable, key=lambda py: infos[py].get("probe_step_s", 0))
    return best, infos


def total_s(child):
    """A child's median time: bench_* write {"configs": [{"total_s"}]}, torch_train_step.py {"total_s"}."""
    return child.result["configs"][0]["total_s"] if "configs" in child.result else child.result["total_s"]


def interleaved(bench, label, rounds, ours_fn, base_fn, log):
    """rounds x (ours child, baseline child); returns the lists of successful children of each."""
    ours, base = [], []
    for r in range(rounds):
        for side, fn, acc in (("ours", ours_fn, ours), ("baseline", base_fn, base)):
            if fn is None:
                continue
            c = fn()
            if c.result is None:
                log(f"  {label} round {r + 1} {side}: {c.failure()}")
                continue
            acc.append(c)
            log(f"  {label} round {r + 1} {side}: {total_s(c):.3f} s (peak RSS {c.peak_rss_mib / GIB:.2f} GiB, "
                f"child wall {c.wall_s:.0f} s)")
    if ours and base:
        o, b = median([total_s(c) for c in ours]), median([total_s(c) for c in base])
        log(f"  {label}: ours {o:.3f} s, baseline {b:.3f} s, ratio {o / b:.3f}")
    return ours, base


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="the build folder with bench_* (default build)")
    ap.add_argument("--python", action="append", help="a baseline interpreter (repeatable)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each 1x target (default 3)")
    ap.add_argument("--rounds-batch8", type=int, default=1, help="rounds of the 8x3x256x256 step (default 1)")
    ap.add_argument("--repeats", type=int, default=2, help="timed repeats inside each child, after a warm-up")
    ap.add_argument("--no-batch8", action="store_true", help="skip the 8x3x256x256 training step")
    ap.add_argument("--quick", action="store_true", help="1 round, 1 repeat, no 8x3x256x256: a smoke test")
    ap.add_argument("--max-mem-frac", type=float, default=0.5,
                    help="the baseline's 8x step runs with per-block recompute if its predicted peak RSS exceeds "
                         "this fraction of MemAvailable (default 0.5: the machine is shared)")
    ap.add_argument("--max-baseline-step-s", type=float, default=900.0,
                    help="a baseline 8x step predicted slower than this is not run; its time is predicted from "
                         "1x (and said so)")
    ap.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.repeats, args.no_batch8 = 1, 1, True
    bench = Bench(args)
    say = bench.say
    t_start = time.time()
    report = {"host": platform.node(), "cpus": os.cpu_count(), "threads": args.threads,
              "load_avg_start": list(os.getloadavg()), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    say(f"liednet speed targets (issue 15) on {platform.node()}: {os.cpu_count()} CPUs, {args.threads} threads; "
        f"load average at start {report['load_avg_start'][0]:.2f}")

    # ---- the baseline interpreter
    if args.python:
        candidates = args.python
    elif os.environ.get("LIEDNET_BENCH_PYTHON"):
        candidates = [p for p in os.environ["LIEDNET_BENCH_PYTHON"].split(":") if p]
    else:
        venv = ROOT / ".venv-bench" / "bin" / "python3"
        candidates = ([str(venv)] if venv.exists() else []) + ["/usr/bin/python3"]
    py, infos = choose_baseline(bench, candidates, say)
    report["baseline"] = {"python": py, "torch": infos[py]["torch"], "candidates": infos}
    say(f"baseline: torch {infos[py]['torch']} ({py}), chunked scan + oneDNN projections"
        + (f"; fastest of {len(infos)} interpreters on the probe" if len(infos) > 1 else ""))

    # ---- the machine's peak and the dense convolutions
    c = Child([bench.build / "bench_peak", "--json", "{JSON}"], bench.env, json_file=True, label="bench_peak")
    if c.result is None:
        die(c.failure())
    peak = c.result
    report["peak"] = peak
    say(f"FP32 peak (FMA loop, {peak['isa']}): {peak['peak_gflops_per_core']:.1f} GFLOP/s per core, "
        f"{peak['peak_gflops_all']:.1f} on {peak['threads']} threads")
    for isa in peak.get("isas", []):
        say(f"  {isa['isa']}: {isa['gflops_per_core']:.1f} GFLOP/s per core, {isa['gflops_all']:.1f} on all")
    if "triad_gbs_all" in peak:
        say(f"memory bandwidth (triad): {peak['triad_gbs_1']:.1f} GB/s on 1 thread, {peak['triad_gbs_all']:.1f} on "
            f"{peak['threads']} threads")
    peak_all = peak["peak_gflops_all"] * 1e9
    c = Child([bench.build / "bench_conv2d", "--dense", "--repeats", max(2, args.repeats), "--json", "{JSON}"],
              bench.env, json_file=True, label="bench_conv2d --dense")
    if c.result is None:
        die(c.failure())
    convs = c.result["convs"]
    for cv in convs:
        cv["fraction"] = (cv["forward_flops"] + cv["backward_flops"]) / (cv["forward_s"] + cv["backward_s"]) / peak_all
    report["dense_convs"] = convs
    say(f"dense convolutions of a 1x3x256x256 training step (forward + backward, % of the {peak_all / 1e9:.0f} "
        f"GFLOP/s all-core peak; count = runs per step):")
    for cv in sorted(convs, key=lambda cv: cv["fraction"]):
        say(f"  {cv['shape']:<30s} x{cv['count']:<2d} {100 * cv['fraction']:5.1f}%"
            f"{'  (1x1 output: a matrix-vector product, not in the target)' if cv['matvec'] else ''}  {cv['where']}")

    # ---- forward (inference)
    rows = []
    results = {}
    for h in (256, 512):
        say(f"inference 1x3x{h}x{h}:")
        o, b = interleaved(bench, f"forward {h}", args.rounds,
                           lambda: bench.ours_forward(h, h, args.repeats),
                           lambda: bench.torch_child(py, (1, h, h), args.repeats, forward_only=True), say)
        results[f"forward_{h}"] = {"ours": [x.result["configs"][0] for x in o], "baseline": [x.result for x in b]}
        rows.append((f"inference 1x3x{h}x{h} time", median([x.result["configs"][0]["total_s"] for x in o]),
                     median([x.result["total_s"] for x in b]), "s", 0.2, "le", ""))

    # ---- training steps
    step_fractions = []
    rss_rows = []
    say("training step 1x3x256x256:")
    o1, b1 = interleaved(bench, "train 1x256", args.rounds, lambda: bench.ours_train(1, 256, 256, args.repeats),
                         lambda: bench.torch_child(py, (1, 256, 256), args.repeats), say)
    results["train_1x256"] = {"ours": [x.result["configs"][0] for x in o1], "baseline": [x.result for x in b1]}
    rows.append(("train step 1x3x256x256 time", median([x.result["configs"][0]["total_s"] for x in o1]),
                 median([x.result["total_s"] for x in b1]), "s", 0.25, "le", ""))
    rss_rows.append(("train 1x3x256x256 peak RSS", median([x.peak_rss_mib for x in o1]),
                     median([x.peak_rss_mib for x in b1]), "GiB", 0.5, "le", ""))
    if o1:
        cfg = o1[0].result["configs"][0]
        step_fractions.append(("1x3x256x256", cfg["step_flops"],
                               median([x.result["configs"][0]["total_s"] for x in o1])))
    if not args.no_batch8:
        say("training step 8x3x256x256:")
        last = b1[len(b1) // 2].result if b1 else None
        p = tts.plan(last, (8, 256, 256), True, args.max_baseline_step_s, bench.mem_cap_mib())
        base_fn, note = None, p.get("note", "")
        if "skipped" in p:
            note = f"baseline not run, {p['skipped']}: its time is that prediction"
        else:
            base_fn = lambda: bench.torch_child(py, (8, 256, 256), 1, warmup=not p["repeats_1"],  # noqa: E731
                                                recompute=p["recompute"])
        o8, b8 = interleaved(bench, "train 8x256", args.rounds_batch8,
                             lambda: bench.ours_train(8, 256, 256, 1), base_fn, say)
        results["train_8x256"] = {"ours": [x.result["configs"][0] for x in o8], "baseline": [x.result for x in b8],
                                  "plan": p}
        base_t = median([x.result["total_s"] for x in b8]) if b8 else p.get("predicted_total_s", float("nan"))
        rows.append(("train step 8x3x256x256 time", median([x.result["configs"][0]["total_s"] for x in o8]),
                     base_t, "s", 0.25, "le", note))
        rss_note = "baseline with per-block recompute" if p["recompute"] else ""
        if not b8:
            rss_note = "baseline not run: predicted from 1x"
        rss_rows.append(("train 8x3x256x256 peak RSS", median([x.peak_rss_mib for x in o8]),
                         median([x.peak_rss_mib for x in b8]) if b8 else p.get("predicted_peak_rss_mib",
                                                                                float("nan")),
                         "GiB", 0.5, "le", rss_note))
        ours8 = median([x.peak_rss_mib for x in o8])
        rss_rows.append(("train 8x3x256x256 fits in 8 GiB", ours8, None, "GiB", 8 * GIB, "abs", ""))
        if o8:
            step_fractions.append(("8x3x256x256", o8[0].result["configs"][0]["step_flops"],
                                   median([x.result["configs"][0]["total_s"] for x in o8])))
    report["results"] = results

    # ---- the table
    report["load_avg_end"] = list(os.getloadavg())
    table = []

    def add(target, ours, base, ratio, goal, met, note=""):
        table.append({"target": target, "ours": ours, "baseline": base, "ratio": ratio, "goal": goal, "met": met,
                      "note": note})

    for name, ours, base, unit, goal, kind, note in rows + rss_rows:
        scale = 1 / GIB if unit == "GiB" else 1
        if kind == "abs":
            add(name, f"{ours * scale:.2f} {unit}", "-", "-", f"<= {goal * scale:.0f} {unit}",
                ours <= goal if ours == ours else None, note)
            continue
        ratio = ours / base if base and base == base and ours == ours else float("nan")
        add(name, f"{ours * scale:.3f} {unit}", f"{base * scale:.3f} {unit}", f"{ratio:.3f}", f"<= {goal}x",
            ratio <= goal if ratio == ratio else None, note)
    dense = [cv for cv in convs if not cv["matvec"]]
    worst = min(dense, key=lambda cv: cv["fraction"])
    flops_all = sum(cv["count"] * (cv["forward_flops"] + cv["backward_flops"]) for cv in dense)
    time_all = sum(cv["count"] * (cv["forward_s"] + cv["backward_s"]) for cv in dense)
    add("every dense convolution, % of peak", f"min {100 * worst['fraction']:.0f}%", "-", "-", ">= 60%",
        worst["fraction"] >= 0.6, f"worst {worst['shape']} ({worst['where']}); all dense convs together "
                                  f"{100 * flops_all / time_all / peak_all:.0f}%")
    for name, flops, t in step_fractions:
        add(f"whole step {name}, % of peak", f"{100 * flops / t / peak_all:.0f}%", "-", "-", ">= 35%",
            flops / t / peak_all >= 0.35, f"{flops / 1e9:.0f} GFLOP in {t:.2f} s")
    report["table"] = table

    say("")
    bi = infos[py]
    say(f"baseline: PyTorch {bi['torch']} ({py}): chunked scan (bench/torch_baseline.py, f64 check passed), "
        f"projections as oneDNN convolutions; {args.threads} threads")
    for other, info in infos.items():
        if other != py:
            say(f"  also tried {other} (torch {info.get('torch', '?')}): "
                + (f"refused: {info['refused']}" if "refused" in info else
                   f"probe {info['probe_step_s']:.2f} s vs {bi['probe_step_s']:.2f} s"))
    say(f"medians of {args.rounds} interleaved rounds (8x3x256x256: {args.rounds_batch8}), each child "
        f"1 warm-up + {args.repeats} timed repeats (8x: 1); peak RSS per child process (wait4)")
    say(f"load average: start {report['load_avg_start'][0]:.2f}, end {report['load_avg_end'][0]:.2f} "
        f"on {os.cpu_count()} CPUs (a shared machine: figures are noisy); total {time.time() - t_start:.0f} s")
    say("whole-step FLOPs: ops::FlopCounter's forward count (convolutions, 1x1 projections, the scan's "
        "projections and recurrence; no elementwise work) of the network and the loss; backward = 2x the "
        "network's forward + 1x the VGG forward of the two predictions")
    say("")
    w = max(len(r["target"]) for r in table)
    say(f"{'target':<{w}s}  {'ours':>12s}  {'baseline':>12s}  {'ratio':>6s}  {'goal':>8s}  met?")
    for r in table:
        met = {True: "yes", False: "NO", None: "?"}[r["met"]]
        say(f"{r['target']:<{w}s}  {r['ours']:>12s}  {r['baseline']:>12s}  {r['ratio']:>6s}  {r['goal']:>8s}  {met}"
            + (f"  ({r['note']})" if r["note"] else ""))
    if args.json:
        tts.write_json(args.json, report)
        say(f"wrote {args.json}")


if __name__ == "__main__":
    main()
