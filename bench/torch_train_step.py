#!/usr/bin/env python3
"""PyTorch baseline for the C++ train-step benchmark (CPU, float32).

One training step exactly as upstream's LIEDNetModel.optimize_parameters (see
tests/oracle/train_cases.py): LIEDNet dim 32, blocks (1, 2, 4), refinement 4
(tests/oracle/liednet_ref.py, whose selective scan is a plain Python loop over
time), side output with its bicubic target, L1 + 0.8 side L1 + perceptual +
0.8 side perceptual (VGG19 to conv4_4 with random weights, tests/oracle/vgg_ref.py),
Adam (betas 0.9, 0.99). Timed in four phases:
  forward    side, out = net(lq)
  losses     side target, the two L1 terms, the two perceptual terms (VGG forward
             of out, gt, side, side_gt), their sum
  backward   total.backward() (through the VGG and the network)
  optimizer  optimizer.step() and zero_grad()
Each configuration runs in a fresh subprocess (so its peak RSS, from
resource.getrusage, is its own): 1 warm-up step, then R timed steps; the
reported value of each phase (and of the total) is the median over the R steps.

On a GPU (--device cuda) every phase is timed after torch.cuda.synchronize(),
the peak is torch.cuda.max_memory_allocated(), and --scan mamba swaps the
plain-loop scan for mamba_ssm's CUDA selective_scan_fn when that package is
importable (built from its public source, never part of liednet): the best scan
available, for the CUDA benchmark's comparison.

Usage: torch_train_step.py [--threads N] [--repeats R] [--json FILE] [--device cpu|cuda] [--scan loop|mamba]
           [--sizes 1x128x128,1x256x256] [--optional 8x256x256] [--max-step-s 120]
           [--max-mem-frac 0.5]
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

JSON: {"torch", "threads", "repeats", "dtype", "model", "host", "cpus",
       "load_avg_start": [1, 5, 15 min], "load_avg_end": [...],
       "configs": [{"batch", "height", "width", "forward_s", "losses_s", "backward_s",
                    "optimizer_s", "total_s" (medians, seconds), "warmup_s",
                    "samples": {phase or "total": [values]}, "repeats", "warmup",
                    "recompute_blocks", "peak_rss_mib", "baseline_rss_mib", "wall_s",
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


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def use_mamba_scan(ref):
    """Route liednet_ref's selective scan through mamba_ssm's CUDA kernel (same semantics)."""
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn

    def scan(u, delta, A, B, C, D, delta_bias):
        return selective_scan_fn(u, delta, A, B, C, D.float(), z=None, delta_bias=delta_bias.float(),
                                 delta_softplus=True)
    ref.selective_scan = scan


def run_one(batch, h, w, threads, repeats, warmup=True, recompute=False, device="cpu", scan="loop"):
    """In the child: build, warm up, time; returns the result dict.
    recompute: wrap every VSSLocalBlock in torch.utils.checkpoint (its activations are recomputed in
    the backward pass instead of kept: less memory, one more forward pass of the blocks)."""
    sys.path.insert(0, str(ROOT / "tests" / "oracle"))
    import torch
    import torch.utils.checkpoint
    import liednet_ref as ref
    import vgg_ref
    from train_cases import losses

    torch.set_num_threads(threads)
    if scan == "mamba":
        use_mamba_scan(ref)
    cuda = device == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize()
    baseline = rss_mib()
    dtype = torch.float32
    model = ref.make("liednet", 32, seed=3, dtype=dtype)
    model.train()
    if recompute:
        for m in model.modules():
            if isinstance(m, ref.VSSLocalBlock):
                m.forward = (lambda f: lambda x: torch.utils.checkpoint.checkpoint(f, x, use_reentrant=False))(
                    m.forward)
    vgg = vgg_ref.random_vgg19(19, dtype=dtype).eval()
    model.to(device)
    vgg.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.99), eps=1e-8, weight_decay=0)
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

    t0 = time.time()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    warm, _ = step() if warmup else ([float("nan")], None)
    samples = {p: [] for p in PHASES}
    totals = []
    for _ in range(repeats):
        ts, loss = step()
        for p, v in zip(PHASES, ts):
            samples[p].append(v)
        totals.append(sum(ts))
    res = {"batch": batch, "height": h, "width": w,
           **{f"{p}_s": statistics.median(samples[p]) for p in PHASES},
           "total_s": statistics.median(totals), "warmup_s": sum(warm),
           "samples": {**samples, "total": totals},
           "peak_rss_mib": rss_mib(), "baseline_rss_mib": baseline, "wall_s": time.time() - t0,
           "last_loss": loss, "repeats": repeats, "warmup": warmup, "recompute_blocks": recompute,
           "device": device, "scan": scan}
    if cuda:
        res["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
        res["gpu"] = torch.cuda.get_device_name()
    return res


def mem_available_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024.0
    return float("inf")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--sizes", default="1x128x128,1x256x256", help="BxHxW, comma separated: always run")
    ap.add_argument("--optional", default="8x256x256",
                    help="BxHxW, comma separated: run only if the predicted step time is <= --max-step-s")
    ap.add_argument("--max-step-s", type=float, default=120.0,
                    help="optional sizes predicted slower are skipped; sizes predicted slower run 1 step, "
                         "without warm-up")
    ap.add_argument("--max-mem-frac", type=float, default=0.5,
                    help="a size whose predicted peak RSS exceeds this fraction of MemAvailable runs with "
                         "per-block recompute (default 0.5: the machine is shared); the child's address space "
                         "is limited to this fraction plus 4 GiB")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--scan", choices=("loop", "mamba"), default="loop",
                    help="mamba: mamba_ssm's CUDA selective_scan_fn (needs --device cuda and the package)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--no-warmup", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--recompute", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--as-limit-mib", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        if args.as_limit_mib:
            lim = int(args.as_limit_mib * 2 ** 20)
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        b, h, w = map(int, args.child.split("x"))
        print(json.dumps(run_one(b, h, w, args.threads, args.repeats, not args.no_warmup, args.recompute,
                                 args.device, args.scan)))
        return

    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_train_step.py: --device cuda: this torch has no usable GPU")
    if args.scan == "mamba" and args.device != "cuda":
        sys.exit("torch_train_step.py: --scan mamba needs --device cuda")
    parse = lambda text: [tuple(map(int, s.split("x"))) for s in text.split(",") if s]  # noqa: E731
    sizes = [(s, False) for s in parse(args.sizes)] + [(s, True) for s in parse(args.optional)]
    report = {"torch": torch.__version__, "device": args.device, "scan": args.scan, "threads": args.threads, "repeats": args.repeats, "dtype": "float32",
              "model": "liednet_ref LIEDNet(32, (1, 2, 4), 4), plain-loop scan; random VGG19 to conv4_4; Adam",
              "host": platform.node(), "cpus": os.cpu_count(), "load_avg_start": list(os.getloadavg()),
              "configs": []}
    last = None  # the last size that ran without recompute: the base of the predictions
    for (b, h, w), optional in sizes:
        entry = {"batch": b, "height": h, "width": w}
        repeats, warmup, recompute = args.repeats, True, False
        mem_cap = args.max_mem_frac * mem_available_mib()
        if last is not None:
            scale = (b * h * w) / (last["batch"] * last["height"] * last["width"])
            est_s = last["total_s"] * scale
            est_mib = last["baseline_rss_mib"] + (last["peak_rss_mib"] - last["baseline_rss_mib"]) * scale
            entry["predicted_total_s"] = est_s
            entry["predicted_peak_rss_mib"] = est_mib
            basis = f"{last['batch']}x{last['height']}x{last['width']} scaled by pixels"
            if optional and est_s > args.max_step_s:
                entry["skipped"] = f"predicted {est_s:.0f} s a step (> {args.max_step_s:.0f} s), from {basis}"
            else:
                if est_mib > mem_cap:
                    recompute = True
                    entry["note"] = (f"predicted peak RSS {est_mib / 1024:.1f} GiB (from {basis}) > "
                                     f"{args.max_mem_frac:.0%} of MemAvailable: per-block recompute")
                if est_s > args.max_step_s:
                    repeats, warmup = 1, False
                    entry["note"] = (entry.get("note", "") + ("; " if "note" in entry else "")
                                     + f"predicted {est_s:.0f} s a step: 1 step, no warm-up")
        if "skipped" not in entry:
            print(f"running {b}x{h}x{w} ({entry.get('note', f'{repeats} steps after 1 warm-up')}) ...", flush=True)
            cmd = [sys.executable, __file__, "--child", f"{b}x{h}x{w}", "--threads", str(args.threads),
                   "--repeats", str(repeats), "--device", args.device, "--scan", args.scan]
            if args.device == "cpu":  # an address-space cap would break the CUDA runtime's mappings
                cmd += ["--as-limit-mib", str(mem_cap + 4096)]
            cmd += ["--no-warmup"] if not warmup else []
            cmd += ["--recompute"] if recompute else []
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                entry["skipped"] = f"child failed (rc {p.returncode}): {p.stderr.strip()[-300:]}"
            else:
                entry.update(json.loads(p.stdout.strip().splitlines()[-1]))
                if not recompute:
                    last = entry
        report["configs"].append(entry)
    report["load_avg_end"] = list(os.getloadavg())

    print(f"\ntorch {report['torch']} {args.device} float32 ({args.scan} scan), {args.threads} threads, median of {args.repeats} "
          f"(after 1 warm-up) unless noted; load average at start {report['load_avg_start'][0]:.2f}, "
          f"end {report['load_avg_end'][0]:.2f}")
    print(f"{'B x H x W':>12s} {'forward':>9s} {'losses':>9s} {'backward':>9s} {'optim':>9s} {'total':>9s} "
          f"{'peak RSS':>10s}")
    for e in report["configs"]:
        name = f"{e['batch']}x{e['height']}x{e['width']}"
        if "skipped" in e:
            print(f"{name:>12s}  skipped: {e['skipped']}")
            continue
        print(f"{name:>12s} " + " ".join(f"{e[p + '_s']:8.3f}s" for p in PHASES)
              + f" {e['total_s']:8.3f}s {e['peak_rss_mib'] / 1024:8.2f}GiB"
              + (f" GPU {e['peak_gpu_mib'] / 1024:.2f}GiB" if "peak_gpu_mib" in e else "") + (f"  ({e['note']})" if "note" in e else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
