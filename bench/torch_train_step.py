#!/usr/bin/env python3
"""PyTorch baseline for the C++ training-step and inference benchmarks (float32).

One training step exactly as upstream's LIEDNetModel.optimize_parameters (see
tests/oracle/train_cases.py): LIEDNet dim 32, blocks (1, 2, 4), refinement 4
(tests/oracle/liednet_ref.py), side output with its bicubic target, L1 + 0.8
side L1 + perceptual + 0.8 side perceptual (VGG19 to conv4_4 with random
weights, tests/oracle/vgg_ref.py), Adam (betas 0.9, 0.99). Timed in four phases:
  forward    side, out = net(lq)
  losses     side target, the two L1 terms, the two perceptual terms (VGG forward
             of out, gt, side, side_gt), their sum
  backward   total.backward() (through the VGG and the network)
  optimizer  optimizer.step() and zero_grad()
--forward-only times inference instead: out = net(lq) in eval mode under
torch.no_grad() (phase "forward" only; default sizes 1x256x256 and 1x512x512).

The selective scan (--scan):
  chunked  (default) the strongest honest baseline, bench/torch_baseline.py: a
           chunked, vectorised torch.autograd.Function with an analytic backward,
           and the projections as oneDNN (cuDNN on a GPU) convolutions. Before
           timing anything it is checked against the plain loop in float64 on the
           chosen device (output and every gradient within 1e-10 relative); a
           failed check exits 1 and times nothing. --check runs only that check.
  loop     liednet_ref as it is: a Python loop over all L steps, nn.Linear/einsum.
  mamba    the loop's scan swapped for mamba_ssm's CUDA selective_scan_fn, when
           that package is importable (built from its public source, never part of
           liednet): the best scan available for the CUDA benchmark's comparison.

--compile runs the chunked model under torch.compile (inductor, whose CPU
backend generates C++ and builds it with the machine's C++ compiler), the VGG
too; the optimizer stays eager. The scan's autograd.Function is left out of the
graph (torch.compiler.disable: a graph break around it), since tracing it
unrolls its 2 sqrt(L) Python steps per call into the graph, which takes far
longer to compile than the step takes to run; everything around it (the
projections, depthwise convolutions, norms, gates, the losses) is compiled.
Compilation happens in the warm-up step (its time is "warmup_s"); torch >= 2.0.

Each configuration runs in a fresh subprocess (so its peak RSS, from
resource.getrusage, is its own): 1 warm-up step, then R timed steps; the
reported value of each phase (and of the total) is the median over the R steps.
On a GPU (--device cuda) every phase is timed after torch.cuda.synchronize()
and the peak is torch.cuda.max_memory_allocated().

The interpreter: --python PY or LIEDNET_BENCH_PYTHON (e.g. the venv made by
scripts/bench_venv.sh with a current PyTorch) runs the whole script under PY.

Usage: torch_train_step.py [--threads N] [--repeats R] [--json FILE] [--device cpu|cuda]
           [--scan chunked|loop|mamba] [--forward-only] [--check] [--python PY]
           [--sizes 1x128x128,1x256x256] [--optional 8x256x256] [--max-step-s 120]
           [--max-mem-frac 0.5] [--compile]
Sizes are predicted from the last size that ran normally, scaled by pixels:
- an --optional size predicted slower than --max-step-s a step is skipped;
- a size predicted slower than that runs 1 step without warm-up;
- a size whose predicted peak RSS exceeds --max-mem-frac of MemAvailable runs
  with per-block recompute (torch.utils.checkpoint around every VSSLocalBlock:
  one more forward pass of the blocks, far less memory). The plain-loop scan
  keeps every state h_t (and exp(dt*A), dt*B*u, the repeated B and C: several
  (B, 4*d_inner, H*W/4, 16) float32 tensors per full-resolution block), about
  6 GiB at 1x128x128 and 23 GiB predicted at 1x256x256.
The child's address space is capped (RLIMIT_AS) at that memory fraction plus 4
GiB, so a misprediction fails with an allocation error rather than waking the
OOM killer on a shared machine.

JSON: {"torch", "python", "threads", "repeats", "dtype", "model", "scan", "mode", "check_worst_rel",
       "host", "cpus", "load_avg_start": [1, 5, 15 min], "load_avg_end": [...],
       "configs": [{"batch", "height", "width", "forward_s", "losses_s", "backward_s",
                    "optimizer_s", "total_s" (medians, seconds; inference: forward_s = total_s),
                    "warmup_s", "samples": {phase or "total": [values]}, "repeats", "warmup",
                    "recompute_blocks", "peak_rss_mib", "baseline_rss_mib", "wall_s", "cpu_s",
                    "last_loss", optional "predicted_total_s", "predicted_peak_rss_mib",
                    "note"}
                   | {"batch", "height", "width", "predicted_total_s",
                      "predicted_peak_rss_mib", "skipped": reason}]}
"""
import argparse
import json
import os
import pathlib
import platform
import resource
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
PHASES = ("forward", "losses", "backward", "optimizer")
MODELS = {"chunked": "chunked vectorised scan (autograd.Function, analytic backward), projections as convolutions",
          "loop": "liednet_ref as written: plain-loop scan, nn.Linear/einsum projections",
          "mamba": "liednet_ref with mamba_ssm's CUDA selective_scan_fn"}


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def use_mamba_scan(ref):
    """Route liednet_ref's selective scan through mamba_ssm's CUDA kernel (same semantics)."""
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    def scan(u, delta, A, B, C, D, delta_bias):
        return selective_scan_fn(u, delta, A, B, C, D.float(), z=None, delta_bias=delta_bias.float(),
                                 delta_softplus=True)
    ref.selective_scan = scan


def build(scan, device, dtype):
    """The network of the chosen scan on device, its liednet_ref module, and the VGG."""
    sys.path.insert(0, str(ROOT / "tests" / "oracle"))
    sys.path.insert(0, str(ROOT / "bench"))
    import liednet_ref as ref
    import vgg_ref
    if scan == "mamba":
        use_mamba_scan(ref)
    model = ref.make("liednet", 32, seed=3, dtype=dtype)
    if scan == "chunked":
        import torch_baseline
        torch_baseline.use_fast(model)
    vgg = vgg_ref.random_vgg19(19, dtype=dtype).eval()
    return model.to(device), ref, vgg.to(device)


def compile_models(model, vgg):
    """torch.compile (inductor) of the network and the VGG, the chunked scan's Function kept eager."""
    import torch
    if not hasattr(torch, "compile"):
        raise RuntimeError(f"torch {torch.__version__} has no torch.compile (it came with torch 2.0)")
    import torch_baseline
    torch_baseline.ChunkedScan.apply = torch.compiler.disable(torch_baseline.ChunkedScan.apply)
    return (torch.compile(model, backend="inductor", dynamic=False),
            torch.compile(vgg, backend="inductor", dynamic=False))


def run_one(batch, h, w, threads, repeats, warmup=True, recompute=False, device="cpu", scan="chunked",
            forward_only=False, compiled=False):
    """In the child: build, warm up, time; returns the result dict.
    recompute: wrap every VSSLocalBlock in torch.utils.checkpoint (its activations are recomputed in
    the backward pass instead of kept: less memory, one more forward pass of the blocks)."""
    import torch
    import torch.utils.checkpoint

    torch.set_num_threads(threads)
    cuda = device == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize()
    baseline = rss_mib()
    dtype = torch.float32
    model, ref, vgg = build(scan, device, dtype)
    from train_cases import losses
    model.train(not forward_only)
    if recompute:
        for m in model.modules():
            if isinstance(m, ref.VSSLocalBlock):
                m.forward = (lambda f: lambda x: torch.utils.checkpoint.checkpoint(f, x, use_reentrant=False))(
                    m.forward)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.99), eps=1e-8, weight_decay=0)
    if compiled:
        model, vgg = compile_models(model, vgg)
    gen = torch.Generator().manual_seed(1)
    gt = torch.rand(batch, 3, h, w, generator=gen) * 2 - 1
    lq = (0.2 * (gt + 1) - 1 + 0.02 * torch.randn(batch, 3, h, w, generator=gen)).clamp(-1, 1)
    gt, lq = gt.to(device), lq.to(device)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    cfg = {"loss": {"pixel_weight": 1.0, "side_loss_weight": 0.8, "perceptual_weight": 0.01}}

    def now():
        sync()
        return time.perf_counter()

    def step():
        t = [now()]
        side, out = model(lq, side=True)
        t.append(now())
        total, _, _ = losses(vgg, side, out, gt, cfg)  # gt features recomputed each step, as upstream
        t.append(now())
        total.backward()
        t.append(now())
        opt.step()
        opt.zero_grad(set_to_none=True)
        t.append(now())
        assert torch.isfinite(total)
        return [b - a for a, b in zip(t, t[1:])], total.item()

    def infer():
        t0 = now()
        with torch.no_grad():
            out = model(lq)
        t1 = now()
        assert torch.isfinite(out).all()
        return [t1 - t0], None

    phases = ("forward",) if forward_only else PHASES
    run = infer if forward_only else step
    t0 = time.time()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    warm, _ = run() if warmup else ([float("nan")], None)
    samples = {p: [] for p in phases}
    totals = []
    cpu0 = time.process_time()
    for _ in range(repeats):
        ts, loss = run()
        for p, v in zip(phases, ts):
            samples[p].append(v)
        totals.append(sum(ts))
    res = {"batch": batch, "height": h, "width": w,
           **{f"{p}_s": statistics.median(samples[p]) for p in phases},
           "total_s": statistics.median(totals), "warmup_s": sum(warm),
           "cpu_s": (time.process_time() - cpu0) / max(1, repeats),  # all threads' CPU time, mean per step
           "samples": {**samples, "total": totals},
           "peak_rss_mib": rss_mib(), "baseline_rss_mib": baseline, "wall_s": time.time() - t0,
           "last_loss": loss, "repeats": repeats, "warmup": warmup, "recompute_blocks": recompute,
           "device": device, "scan": scan, "mode": "inference" if forward_only else "train",
           "compiled": compiled}
    if cuda:
        res["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
        res["gpu"] = torch.cuda.get_device_name()
    return res


def run_check(device):
    """The chunked scan and the conv projections against the plain loop, f64; returns the worst error."""
    import torch
    sys.path.insert(0, str(ROOT / "bench"))
    import torch_baseline
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    return torch_baseline.check(device=device, log=lambda s: print("  " + s, flush=True))


def mem_available_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024.0
    return float("inf")


def plan(last, size, optional, max_step_s, mem_cap_mib):
    """How to run size (b, h, w) given last, the result of a smaller size that ran without recompute
    (or None): returns {"predicted_total_s", "predicted_peak_rss_mib", "repeats_1" (run 1 step without
    warm-up), "recompute", "skipped", "note"}, predictions scaled by pixels. Also used by bench/targets.py."""
    b, h, w = size
    out = {"repeats_1": False, "recompute": False}
    if last is None:
        return out
    scale = (b * h * w) / (last["batch"] * last["height"] * last["width"])
    est_s = last["total_s"] * scale
    est_mib = last["baseline_rss_mib"] + (last["peak_rss_mib"] - last["baseline_rss_mib"]) * scale
    out.update(predicted_total_s=est_s, predicted_peak_rss_mib=est_mib)
    basis = f"{last['batch']}x{last['height']}x{last['width']} scaled by pixels"
    if optional and est_s > max_step_s:
        out["skipped"] = f"predicted {est_s:.0f} s a step (> {max_step_s:.0f} s), from {basis}"
        return out
    notes = []
    if est_mib > mem_cap_mib:
        out["recompute"] = True
        notes.append(f"predicted peak RSS {est_mib / 1024:.1f} GiB (from {basis}) > the memory cap "
                     f"{mem_cap_mib / 1024:.1f} GiB: per-block recompute")
    if est_s > max_step_s:
        out["repeats_1"] = True
        notes.append(f"predicted {est_s:.0f} s a step: 1 step, no warm-up")
    if notes:
        out["note"] = "; ".join(notes)
    return out


def child_command(size, threads, repeats, device, scan, forward_only, warmup, recompute, as_limit_mib,
                  compiled=False):
    """The command line of one child run (one size in a fresh process) under this interpreter."""
    b, h, w = size
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--child", f"{b}x{h}x{w}", "--threads",
           str(threads), "--repeats", str(repeats), "--device", device, "--scan", scan]
    if as_limit_mib and device == "cpu":  # an address-space cap would break the CUDA runtime's mappings
        cmd += ["--as-limit-mib", str(as_limit_mib)]
    cmd += ["--forward-only"] if forward_only else []
    cmd += ["--no-warmup"] if not warmup else []
    cmd += ["--recompute"] if recompute else []
    cmd += ["--compile"] if compiled else []
    return cmd


def write_json(path, obj):
    """Writes obj through a temporary name and a rename: a reader never sees half a file."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def reexec_under(python):
    """Runs this script under another interpreter (same arguments, --python dropped)."""
    # abspath, not realpath: a venv's python is a symlink to the system's, with other packages.
    if not python or os.path.abspath(python) == os.path.abspath(sys.executable) or os.environ.get("LIEDNET_BENCH_REEXEC"):
        return
    argv, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
        elif a == "--python":
            skip = True
        elif not a.startswith("--python="):
            argv.append(a)
    if not os.access(python, os.X_OK):
        sys.exit(f"torch_train_step.py: --python / LIEDNET_BENCH_PYTHON: {python} is not an executable")
    env = dict(os.environ, LIEDNET_BENCH_PYTHON=python, LIEDNET_BENCH_REEXEC="1")
    os.execve(python, [python, str(pathlib.Path(__file__).resolve())] + argv, env)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--sizes", help="BxHxW, comma separated: always run (default 1x128x128,1x256x256; "
                                    "with --forward-only 1x256x256,1x512x512)")
    ap.add_argument("--optional", help="BxHxW, comma separated: run only if the predicted step time is "
                                       "<= --max-step-s (default 8x256x256; none with --forward-only)")
    ap.add_argument("--max-step-s", type=float, default=120.0,
                    help="optional sizes predicted slower are skipped; sizes predicted slower run 1 step, "
                         "without warm-up")
    ap.add_argument("--max-mem-frac", type=float, default=0.5,
                    help="a size whose predicted peak RSS exceeds this fraction of MemAvailable runs with "
                         "per-block recompute (default 0.5: the machine is shared); the child's address space "
                         "is limited to this fraction plus 4 GiB")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--scan", choices=("chunked", "loop", "mamba"), default="chunked",
                    help="chunked (default): bench/torch_baseline.py; loop: liednet_ref's plain loop; "
                         "mamba: mamba_ssm's CUDA selective_scan_fn (needs --device cuda and the package)")
    ap.add_argument("--forward-only", action="store_true", help="time inference (no grad) instead of a step")
    ap.add_argument("--compile", action="store_true",
                    help="run under torch.compile (inductor; the chunked scan's Function stays eager)")
    ap.add_argument("--check", action="store_true",
                    help="only check the chunked scan against the plain loop (f64); exit 1 if it fails")
    ap.add_argument("--python", default=os.environ.get("LIEDNET_BENCH_PYTHON"),
                    help="run under this interpreter (default: LIEDNET_BENCH_PYTHON, else this one)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--no-warmup", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--recompute", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--as-limit-mib", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    reexec_under(args.python)

    if args.child:
        if args.as_limit_mib:
            lim = int(args.as_limit_mib * 2 ** 20)
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        b, h, w = map(int, args.child.split("x"))
        print(json.dumps(run_one(b, h, w, args.threads, args.repeats, not args.no_warmup, args.recompute,
                                 args.device, args.scan, args.forward_only, args.compile)))
        return

    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_train_step.py: --device cuda: this torch has no usable GPU")
    if args.scan == "mamba" and args.device != "cuda":
        sys.exit("torch_train_step.py: --scan mamba needs --device cuda")
    worst = None
    if args.check or args.scan == "chunked":
        print(f"checking the chunked scan and the conv projections against the plain loop (f64, {args.device}, "
              f"torch {torch.__version__}) ...", flush=True)
        try:
            worst = run_check(args.device)
        except RuntimeError as e:
            sys.exit(f"torch_train_step.py: check failed, nothing timed: {e}")
        print(f"check passed: worst relative error {worst:.1e} (limit 1e-10)", flush=True)
        if args.check:
            return
    parse = lambda text: [tuple(map(int, s.split("x"))) for s in text.split(",") if s]  # noqa: E731
    default_sizes = "1x256x256,1x512x512" if args.forward_only else "1x128x128,1x256x256"
    default_optional = "" if args.forward_only else "8x256x256"
    sizes = [(s, False) for s in parse(args.sizes if args.sizes is not None else default_sizes)] + \
        [(s, True) for s in parse(args.optional if args.optional is not None else default_optional)]
    mode = "inference" if args.forward_only else "train"
    report = {"torch": torch.__version__, "python": sys.executable, "device": args.device, "scan": args.scan,
              "mode": mode, "check_worst_rel": worst, "threads": args.threads, "repeats": args.repeats,
              "dtype": "float32",
              "model": f"liednet_ref LIEDNet(32, (1, 2, 4), 4), {MODELS[args.scan]}"
                       + ("" if args.forward_only else "; random VGG19 to conv4_4; Adam"),
              "host": platform.node(), "cpus": os.cpu_count(), "load_avg_start": list(os.getloadavg()),
              "configs": []}
    last = None  # the last size that ran without recompute: the base of the predictions
    for size, optional in sizes:
        b, h, w = size
        entry = {"batch": b, "height": h, "width": w}
        mem_cap = args.max_mem_frac * mem_available_mib()
        p = plan(last, size, optional, args.max_step_s, mem_cap)
        entry.update({k: v for k, v in p.items() if k in ("predicted_total_s", "predicted_peak_rss_mib",
                                                             "skipped", "note")})
        if "skipped" not in entry:
            repeats = 1 if p["repeats_1"] else args.repeats
            print(f"running {b}x{h}x{w} ({entry.get('note', f'{repeats} steps after 1 warm-up')}) ...", flush=True)
            cmd = child_command(size, args.threads, repeats, args.device, args.scan, args.forward_only,
                                not p["repeats_1"], p["recompute"], mem_cap + 4096, args.compile)
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                entry["skipped"] = f"child failed (rc {r.returncode}): {r.stderr.strip()[-300:]}"
            else:
                entry.update(json.loads(r.stdout.strip().splitlines()[-1]))
                if not p["recompute"]:
                    last = entry
        report["configs"].append(entry)
    report["load_avg_end"] = list(os.getloadavg())

    phases = ("forward",) if args.forward_only else PHASES
    print(f"\ntorch {report['torch']} {args.device} float32 {mode} ({args.scan} scan), {args.threads} threads, "
          f"median of {args.repeats} (after 1 warm-up) unless noted; load average at start "
          f"{report['load_avg_start'][0]:.2f}, end {report['load_avg_end'][0]:.2f}")
    print(f"{'B x H x W':>12s} " + " ".join(f"{p[:9]:>9s}" for p in phases)
          + ("" if args.forward_only else f" {'total':>9s}") + f" {'peak RSS':>10s}")
    for e in report["configs"]:
        name = f"{e['batch']}x{e['height']}x{e['width']}"
        if "skipped" in e:
            print(f"{name:>12s}  skipped: {e['skipped']}")
            continue
        print(f"{name:>12s} " + " ".join(f"{e[p + '_s']:8.3f}s" for p in phases)
              + ("" if args.forward_only else f" {e['total_s']:8.3f}s") + f" {e['peak_rss_mib'] / 1024:8.2f}GiB"
              + (f" GPU {e['peak_gpu_mib'] / 1024:.2f}GiB" if "peak_gpu_mib" in e else "")
              + (f"  ({e['note']})" if "note" in e else ""))
    if args.json:
        write_json(args.json, report)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
