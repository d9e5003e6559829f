#!/usr/bin/env python3
"""Loss-curve and gradient parity cases for the C++ training step.

Usage: train_cases.py --out DIR [--steps 10] [--compare-variant]
(~35 s on 2 idle cores, ~70 s with --compare-variant; float64 convolutions are
slow here: torch's CPU float64 conv uses the reference BLAS, ~2-3 GFLOP/s.)

Runs upstream's training step (basicsr/models/liednet_model.py
optimize_parameters with use_side_loss, Adam, CosineAnnealingRestartLR applied
as basicsr's update_learning_rate does) on a small LIEDNet and a random VGG19,
in float32 and in float64 from the same float32 starting values, and writes:

DIR/train_init.safetensors  F32  LIEDNet(dim 8, blocks (1,1,1), refinement 1;
                                 side_out 32->3) initial weights, upstream keys in
                                 upstream order (liednet_ref.init_ + perturb_).
DIR/train_vgg.safetensors   F32  features.N.weight / features.N.bias, N in
                                 0 2 5 7 10 12 14 16 19 21 23 25 (vgg_ref.random_vgg19).
DIR/train_data.safetensors  F32  lq (4, 3, 64, 64), gt (4, 3, 64, 64) in [-1, 1].
DIR/train_curve.safetensors      (with "__metadata__": {"config": <the JSON below>})
    f32/curve        F64 (STEPS, 6)  the float32 run, one row per step, columns
                     [lr, total, l_pix, l_side_pix, l_percep, l_side_percep];
                     the losses are BEFORE that step's update (the values of the
                     forward pass whose gradient the step uses), l_side_* already
                     multiplied by 0.8; float32 values stored exactly as F64.
    f64/curve        F64 (STEPS, 6)  the same for the float64 run.
    f32/final/<key>  F32  weights after STEPS steps, float32 run.
    f64/final/<key>  F64  weights after STEPS steps, float64 run.
    grad/loss        F64 (1,)  float64 total loss at the initial weights on batch 1
                     (samples 0, 1) = f64/curve[0, 1].
    grad/terms       F64 (5,)  [total, l_pix, l_side_pix, l_percep, l_side_percep] of it.
    grad/<key>       F64  d total / d parameter, every parameter (upstream keys).
    grad/out         F64 (2, 3, 64, 64)  the network's output on that batch;
    grad/side        F64 (2, 3, 8, 8)    its side output;
    grad/side_gt     F64 (2, 3, 8, 8)    bicubic(gt) (the side target).
    grad_f32/...     F32  the same keys as grad/..., from the float32 run's step 1 (its
                     distance to grad/... is the float32 floor for a gradient test).
DIR/train_meta.json  the config JSON.

Both runs start from exactly the float32 values in the files (the float64 run
upcasts them). Step i (1-based) uses samples 2(i-1) mod 4 and 2(i-1)+1 mod 4
([0, 1], [2, 3], [0, 1], ...), no shuffle, no augmentation.

The training step (as upstream, use_side_loss true):
    side, out = net(lq)                                   # side: (B, 3, H/8, W/8)
    side_gt   = F.interpolate(gt, (H/8, W/8), mode='bicubic', align_corners=False)
    l_pix      = mean|out - gt|
    l_side_pix = mean|side - side_gt| * 0.8
    l_percep      = P(out, gt)                            # vgg_ref.perceptual_loss
    l_side_percep = P(side, side_gt) * 0.8
    total = ((l_pix + l_side_pix) + l_percep) + l_side_percep
    total.backward(); Adam step (torch 1.13 single-tensor Adam:
        m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
        p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps))
The learning rate of step i is CosineAnnealingRestartLR's at last_epoch = i - 1:
    lr_i = eta_min + 0.5 (lr0 - eta_min) (1 + cos(pi (i - 1) / period)).

Upstream needs H, W >= 64 here: the side output is H/8 and VGG's third max-pool
fails on a 1x1 map, so 32x32 images would crash upstream's training step.
"""
import argparse
import json
import math
import os
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.optim.lr_scheduler import _LRScheduler  # noqa: E402

import liednet_ref as ref  # noqa: E402
import vgg_ref  # noqa: E402
from oracle import save_safetensors  # noqa: E402

CONFIG = {
    "model": {"dim": 8, "blocks": [1, 1, 1], "refinement": 1, "side_out_in_channels": 32},
    "data": {"n": 4, "channels": 3, "height": 64, "width": 64, "range": [-1, 1]},
    "batch": 2,
    "steps": 10,
    "order": "step i (1-based) uses samples 2(i-1) mod n, 2(i-1)+1 mod n",
    "optimizer": {"type": "Adam", "lr": 1e-3, "betas": [0.9, 0.99], "eps": 1e-8, "weight_decay": 0.0},
    "scheduler": {"type": "CosineAnnealingRestartLR", "periods": [10], "restart_weights": [1], "eta_min": 1e-7,
                  "convention": "step i (1-based) uses lr(last_epoch = i - 1)"},
    "loss": {"pixel_weight": 1.0, "side_loss_weight": 0.8, "perceptual_weight": 0.01,
             "layers": list(vgg_ref.FEATURE_NAMES), "layer_weights": [1, 1, 1, 1],
             "side_target": "F.interpolate(gt, (H/8, W/8), mode='bicubic', align_corners=False)"},
    "curve_columns": ["lr", "total", "l_pix", "l_side_pix", "l_percep", "l_side_percep"],
    "seeds": {"model": 2024, "vgg": 19, "data": 7},
}
COLUMNS = CONFIG["curve_columns"]


# --------------------------------------------------------------------------
# Upstream's scheduler (basicsr/models/lr_scheduler.py), verbatim in substance
def get_position_from_periods(iteration, cumulative_period):
    for i, period in enumerate(cumulative_period):
        if iteration <= period:
            return i


class CosineAnnealingRestartLR(_LRScheduler):
    def __init__(self, optimizer, periods, restart_weights=(1,), eta_min=0, last_epoch=-1):
        self.periods = periods
        self.restart_weights = restart_weights
        self.eta_min = eta_min
        assert len(self.periods) == len(self.restart_weights)
        self.cumulative_period = [sum(self.periods[0:i + 1]) for i in range(0, len(self.periods))]
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        idx = get_position_from_periods(self.last_epoch, self.cumulative_period)
        current_weight = self.restart_weights[idx]
        nearest_restart = 0 if idx == 0 else self.cumulative_period[idx - 1]
        current_period = self.periods[idx]
        return [self.eta_min + current_weight * 0.5 * (base_lr - self.eta_min) *
                (1 + math.cos(math.pi * ((self.last_epoch - nearest_restart) / current_period)))
                for base_lr in self.base_lrs]


def closed_form_lr(i, cfg=CONFIG):
    """The lr of step i (1-based), one period, restart weight 1."""
    lr0, eta_min, period = cfg["optimizer"]["lr"], cfg["scheduler"]["eta_min"], cfg["scheduler"]["periods"][0]
    return eta_min + 0.5 * (lr0 - eta_min) * (1 + math.cos(math.pi * (i - 1) / period))


# --------------------------------------------------------------------------
# Data, model, VGG
def make_data(seed, n, h, w):
    """gt: a smooth random image in [-1, 1]; lq: darkened, blurred, noisy gt."""
    gen = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(s, generator=gen, dtype=torch.float64)  # noqa: E731
    # a sum of smooth fields at three scales, plus a per-image colour cast
    x = 0.0
    for cells, amp in ((4, 1.0), (8, 0.5), (16, 0.25)):
        x = x + amp * F.interpolate(r(n, 3, cells, cells), size=(h, w), mode="bicubic", align_corners=False)
    x = x + 0.3 * r(n, 3, 1, 1)
    gt = torch.tanh(0.9 * x)  # in (-1, 1)
    # low light: gamma and scale in [0, 1]; blur: separable Gaussian (sigma 1.5, 7 taps), reflect
    # padding; then Gaussian noise and clamping
    g01 = (gt + 1) / 2
    dark = 0.25 * g01 ** 1.8
    t = torch.arange(-3, 4, dtype=torch.float64)
    k = torch.exp(-t ** 2 / (2 * 1.5 ** 2))
    k = k / k.sum()
    blurred = F.pad(dark, (3, 3, 3, 3), mode="reflect")
    blurred = F.conv2d(blurred, k.view(1, 1, 1, 7).repeat(3, 1, 1, 1), groups=3)
    blurred = F.conv2d(blurred, k.view(1, 1, 7, 1).repeat(3, 1, 1, 1), groups=3)
    noisy = (blurred + 0.01 * r(n, 3, h, w)).clamp(0, 1)
    lq = noisy * 2 - 1
    return lq.to(torch.float32), gt.to(torch.float32)


def make_model(cfg, dtype):
    m = cfg["model"]
    return ref.LIEDNet(m["dim"], tuple(m["blocks"]), m["refinement"]).to(dtype)


def initial_weights(cfg):
    m = cfg["model"]
    model = ref.make("liednet", m["dim"], cfg["seeds"]["model"], dtype=torch.float64,
                     num_blocks=tuple(m["blocks"]), num_refinement_blocks=m["refinement"])
    ref.state_dict_upstream_order(model)
    return {k: v.to(torch.float32).contiguous() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------
# The training step
def loss_terms(model, vgg, lq, gt, cfg=CONFIG, gt_cache=None):
    """Upstream's optimize_parameters up to l_total. Returns (total, terms, side, out, side_gt).
    gt_cache: a dict kept by the caller for this batch; holds the VGG features of gt and
    side_gt (the same values every time: the VGG is frozen and gt fixed), to save time."""
    side, out = model(lq, side=True)
    total, terms, side_gt = losses(vgg, side, out, gt, cfg, gt_cache)
    return total, terms, side, out, side_gt


def losses(vgg, side, out, gt, cfg=CONFIG, gt_cache=None):
    """The loss assembly of optimize_parameters given the network's outputs.
    Returns (total, (l_pix, l_side_pix, l_percep, l_side_percep), side_gt)."""
    lc = cfg["loss"]
    h, w = side.shape[2:]
    side_gt = F.interpolate(gt, (h, w), mode="bicubic", align_corners=False)
    # basicsr L1Loss: loss_weight * mean(|pred - target|) (weighted_loss: elementwise, then mean)
    l_pix = lc["pixel_weight"] * (out - gt).abs().mean()
    l_side_pix = lc["pixel_weight"] * (side - side_gt).abs().mean() * lc["side_loss_weight"]
    if gt_cache is not None and "full" not in gt_cache:
        with torch.no_grad():
            gt_cache["full"], gt_cache["side"] = vgg(gt), vgg(side_gt)
    c = gt_cache or {}
    l_percep = vgg_ref.perceptual_loss(vgg, out, gt, lc["perceptual_weight"], c.get("full"))
    l_side_percep = vgg_ref.perceptual_loss(vgg, side, side_gt, lc["perceptual_weight"],
                                            c.get("side")) * lc["side_loss_weight"]
    total = 0
    for t in (l_pix, l_side_pix, l_percep, l_side_percep):  # upstream's order of l_total +=
        total = total + t
    return total, (l_pix, l_side_pix, l_percep, l_side_percep), side_gt


def train(cfg, dtype, init_sd, vgg_sd, lq, gt, grad_case=None, log=print):
    """Runs cfg["steps"] steps; returns (curve (steps, 6) f64, final state dict).
    If grad_case is a dict, fills it with step 1's loss, terms, gradients and outputs."""
    torch.manual_seed(0)  # nothing random is drawn; for safety only
    model = make_model(cfg, dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in init_sd.items()})
    model.train()
    vgg = vgg_ref.load_state(vgg_ref.VGG19Features(), vgg_sd, dtype).to(dtype).eval()
    lq, gt = lq.to(dtype), gt.to(dtype)
    oc, sc = cfg["optimizer"], cfg["scheduler"]
    opt = torch.optim.Adam(model.parameters(), lr=oc["lr"], betas=tuple(oc["betas"]), eps=oc["eps"],
                           weight_decay=oc["weight_decay"])
    sched = CosineAnnealingRestartLR(opt, periods=sc["periods"], restart_weights=sc["restart_weights"],
                                     eta_min=sc["eta_min"])
    n, b = lq.shape[0], cfg["batch"]
    curve = torch.zeros(cfg["steps"], len(COLUMNS), dtype=torch.float64)
    gt_caches = {}
    for i in range(1, cfg["steps"] + 1):
        t0 = time.time()
        if i > 1:  # basicsr update_learning_rate: the scheduler steps only when current_iter > 1
            sched.step()
        lr = opt.param_groups[0]["lr"]
        idx = [(b * (i - 1) + j) % n for j in range(b)]
        opt.zero_grad()
        cache = gt_caches.setdefault(tuple(idx), {})
        total, terms, side, out, side_gt = loss_terms(model, vgg, lq[idx], gt[idx], cfg, cache)
        total.backward()
        if grad_case is not None and i == 1:
            grad_case["loss"] = total.detach().reshape(1)
            grad_case["terms"] = torch.stack([total.detach()] + [t.detach() for t in terms])
            for k, p in model.named_parameters():
                assert p.grad is not None, k
                grad_case[k] = p.grad.detach().clone()
            grad_case["out"] = out.detach()
            grad_case["side"] = side.detach()
            grad_case["side_gt"] = side_gt.detach()
        opt.step()
        curve[i - 1] = torch.tensor([lr, total.item()] + [t.item() for t in terms], dtype=torch.float64)
        log(f"  {str(dtype)[6:]} step {i:2d} samples {idx} lr {lr:.6e} total {total.item():.8f} "
            f"(pix {terms[0].item():.6f} side_pix {terms[1].item():.6f} percep {terms[2].item():.6f} "
            f"side_percep {terms[3].item():.6f}) {time.time() - t0:.2f} s")
    final = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return curve, final


def check_curve(curve, cfg, name):
    assert torch.isfinite(curve).all(), name
    steps = curve.shape[0]
    for i in range(1, steps + 1):
        want = closed_form_lr(i, cfg)
        assert abs(curve[i - 1, 0].item() - want) <= 1e-15 * want, (name, i, curve[i - 1, 0].item(), want)
    assert torch.allclose(curve[:, 2:].sum(1), curve[:, 1], rtol=1e-5), name
    # a decreasing trend: the batches alternate, so compare the same batch; the lr anneals
    # to ~0, so the last steps barely move
    tot = curve[:, 1]
    for b in range(2):
        same = tot[b::2]
        assert same[-1] < 0.85 * same[0] and same[-1] < same[1], (name, tot.tolist())
    assert tot[-2:].sum() < 0.85 * tot[:2].sum(), (name, tot.tolist())


def weight_distance(a, b, init_sd):
    """Distances of two final weight sets: the max abs difference (and where), and the relative
    L2 difference of the updates, |(a - init) - (b - init)| / |b - init|, worst tensor and overall."""
    worst_key, worst_abs, worst_upd, worst_upd_key, num, den = None, 0.0, 0.0, None, 0.0, 0.0
    for k in b:
        da = a[k].double() - init_sd[k].double()
        db = b[k].double() - init_sd[k].double()
        diff = (da - db).abs().max().item()
        if diff > worst_abs:
            worst_key, worst_abs = k, diff
        n, d = (da - db).norm().item(), db.norm().item()
        num, den = num + n * n, den + d * d
        if d > 0 and n / d > worst_upd:
            worst_upd, worst_upd_key = n / d, k
    return (f"max abs diff {worst_abs:.2e} ({worst_key}); relative L2 difference of the updates "
            f"{math.sqrt(num / den):.2e} overall, worst tensor {worst_upd:.2e} ({worst_upd_key})")


def gradient_distance(a, b, keys):
    """max over parameters of max|a - b| / max|b|, and the median over parameters."""
    rel = sorted((((a[k].double() - b[k].double()).abs().max() / b[k].double().abs().max()).item(), k)
                 for k in keys)
    return (f"per tensor max|g32 - g64| / max|g64|: median {rel[len(rel) // 2][0]:.1e}, "
            f"worst {rel[-1][0]:.1e} ({rel[-1][1]})")


# --------------------------------------------------------------------------
# Upstream's own training code on the CPU
def load_upstream(git_dir, vgg):
    """Imports upstream's losses.py, loss_util.py, vgg_arch.py, registry.py and lr_scheduler.py
    from the bare git repo GIT_DIR, with stubs for lpips (imported, unused here) and torchvision
    (vgg19(pretrained=True) returns a copy of `vgg`'s layers, i.e. our random weights), and
    extracts LIEDNetModel.optimize_parameters and BaseModel.update_learning_rate from their files.
    Returns (namespace of modules, optimize_parameters, update_learning_rate)."""
    import ast
    import copy
    import importlib
    import shutil
    import subprocess
    import tempfile
    import textwrap
    import types
    from collections import OrderedDict

    def show(path):
        return subprocess.run(["git", "-C", git_dir, "show", "HEAD:" + path], check=True, capture_output=True,
                              text=True).stdout

    def stub(name, **attrs):
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        sys.modules[name] = mod
        return mod

    def vgg19(pretrained=False):
        return types.SimpleNamespace(features=copy.deepcopy(vgg.features))

    stub("lpips")
    stub("torchvision")
    stub("torchvision.models")
    sys.modules["torchvision.models"].vgg = stub("torchvision.models.vgg", vgg19=vgg19)
    for name in [k for k in sys.modules if k == "basicsr" or k.startswith("basicsr.")]:
        del sys.modules[name]
    tmp = tempfile.mkdtemp(prefix="liednet_upstream_train_")
    files = {"basicsr/__init__.py": "", "basicsr/utils/__init__.py": "", "basicsr/archs/__init__.py": "",
             "basicsr/losses/__init__.py": "", "basicsr/models/__init__.py": ""}
    for f in ("basicsr/utils/registry.py", "basicsr/archs/vgg_arch.py", "basicsr/losses/losses.py",
              "basicsr/losses/loss_util.py", "basicsr/models/lr_scheduler.py"):
        files[f] = show(f)
    for f, text in files.items():
        path = pathlib.Path(tmp) / f
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    sys.path.insert(0, tmp)
    try:
        mods = types.SimpleNamespace(losses=importlib.import_module("basicsr.losses.losses"),
                                     lr_scheduler=importlib.import_module("basicsr.models.lr_scheduler"))
    finally:
        sys.path.remove(tmp)
        shutil.rmtree(tmp)

    def method(path, cls, name):
        src = show(path)
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.ClassDef) and node.name == cls:
                for fn in node.body:
                    if isinstance(fn, ast.FunctionDef) and fn.name == name:
                        ns = {"torch": torch, "OrderedDict": OrderedDict}
                        exec(textwrap.dedent(ast.get_source_segment(src, fn)), ns)
                        return ns[name]
        raise KeyError(name)

    return (mods, method("basicsr/models/liednet_model.py", "LIEDNetModel", "optimize_parameters"),
            method("basicsr/models/base_model.py", "BaseModel", "update_learning_rate"))


def check_upstream(git_dir, steps=3):
    """Runs `steps` float64 training steps with upstream's own optimize_parameters, L1Loss,
    PerceptualLoss/VGGFeatureExtractor, CosineAnnealingRestartLR and update_learning_rate, and
    compares the losses, lrs and weights with train() above."""
    import types
    t0 = time.time()
    cfg = json.loads(json.dumps(CONFIG))
    cfg["steps"] = steps
    dtype = torch.float64
    init_sd = initial_weights(cfg)
    vgg_sd = vgg_ref.state_dict_f32(vgg_ref.random_vgg19(cfg["seeds"]["vgg"]))
    d = cfg["data"]
    lq, gt = make_data(cfg["seeds"]["data"], d["n"], d["height"], d["width"])
    vgg = vgg_ref.load_state(vgg_ref.VGG19Features(), vgg_sd, dtype).to(dtype)
    mods, optimize_parameters, update_learning_rate = load_upstream(git_dir, vgg)

    class Net(torch.nn.Module):  # upstream calls net_g(lq, side_loss=True)
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x, side_loss=False):
            return self.m(x, side=side_loss)

    model = make_model(cfg, dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in init_sd.items()})
    lc, oc, sc = cfg["loss"], cfg["optimizer"], cfg["scheduler"]
    cri_pix = mods.losses.L1Loss(loss_weight=lc["pixel_weight"], reduction="mean")
    cri_perceptual = mods.losses.PerceptualLoss(
        layer_weights={k: 1 for k in vgg_ref.FEATURE_NAMES}, vgg_type="vgg19", use_input_norm=True,
        range_norm=True, perceptual_weight=lc["perceptual_weight"], style_weight=0, criterion="l1").to(dtype)
    # upstream's mean/std buffers are float32 values; give them the float64 values of the decimals
    cri_perceptual.vgg.mean = torch.tensor(vgg_ref.MEAN, dtype=dtype).view(1, 3, 1, 1)
    cri_perceptual.vgg.std = torch.tensor(vgg_ref.STD, dtype=dtype).view(1, 3, 1, 1)
    assert list(cri_perceptual.vgg.vgg_net._modules)[-1] == "conv4_4"
    opt = torch.optim.Adam(model.parameters(), lr=oc["lr"], betas=tuple(oc["betas"]),
                           weight_decay=oc["weight_decay"])  # eps: torch's default
    sched = mods.lr_scheduler.CosineAnnealingRestartLR(opt, periods=sc["periods"],
                                                       restart_weights=sc["restart_weights"], eta_min=sc["eta_min"])
    up = types.SimpleNamespace(net_g=Net(model), optimizer_g=opt, optimizers=[opt], schedulers=[sched],
                               cri_pix=cri_pix, cri_perceptual=cri_perceptual, use_side_loss=True,
                               side_loss_weight=lc["side_loss_weight"], ema_decay=0,
                               reduce_loss_dict=lambda dct: {k: v.item() for k, v in dct.items()})
    rows = []
    n, b = d["n"], cfg["batch"]
    for it in range(1, steps + 1):
        update_learning_rate(up, it, warmup_iter=-1)
        lr = opt.param_groups[0]["lr"]
        idx = [(b * (it - 1) + j) % n for j in range(b)]
        up.lq, up.gt = lq[idx].to(dtype), gt[idx].to(dtype)
        optimize_parameters(up, it)
        ld = up.log_dict
        terms = [ld["l_pix"], ld["l_side_pix"], ld["l_percep"], ld["l_side_percep"]]
        rows.append([lr, sum(terms)] + terms)
    theirs = torch.tensor(rows, dtype=torch.float64)
    ours, final = train(cfg, dtype, init_sd, vgg_sd, lq, gt, log=lambda *a: None)
    rel = ((theirs - ours).abs() / ours.abs()).max().item()
    wdiff = max((model.state_dict()[k] - final[k]).abs().max().item() for k in final)
    print(f"upstream's training code vs ours, float64, {steps} steps (step {steps}: lr {ours[-1, 0]:.6e}, total "
          f"{ours[-1, 1]:.10f}; weights moved by up to "
          f"{max((final[k] - init_sd[k].double()).abs().max().item() for k in final):.1e}): curve max relative "
          f"difference {rel:.1e}, weights max abs difference {wdiff:.1e}; {time.time() - t0:.1f} s")
    assert rel < 1e-12 and wdiff < 1e-12, (rel, wdiff)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out")
    ap.add_argument("--check-upstream", metavar="GIT_DIR",
                    help="run upstream's own loss, optimize_parameters and scheduler code (from the bare git "
                         "repo, e.g. /work/.mirror/MingyuLiu1+LIEDNet/repo) for 3 float64 steps and compare")
    ap.add_argument("--steps", type=int, default=CONFIG["steps"], help="default 10 (the C++ test expects 10)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compare-variant", action="store_true",
                    help="also rerun the float32 run as a different float32 implementation (oneDNN off, so "
                         "torch's own conv kernels, other summation orders; 1 thread) and report its distance "
                         "to the float32 and float64 runs (nothing is saved)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.check_upstream:
        check_upstream(args.check_upstream)
        if not args.out:
            return
    if not args.out:
        ap.error("--out DIR is required")
    os.makedirs(args.out, exist_ok=True)
    cfg = json.loads(json.dumps(CONFIG))
    cfg["steps"] = args.steps
    t_all = time.time()

    t0 = time.time()
    init_sd = initial_weights(cfg)
    vgg_sd = vgg_ref.state_dict_f32(vgg_ref.random_vgg19(cfg["seeds"]["vgg"]))
    d = cfg["data"]
    lq, gt = make_data(cfg["seeds"]["data"], d["n"], d["height"], d["width"])
    assert lq.min() >= -1 and lq.max() <= 1 and gt.min() > -1 and gt.max() < 1
    save_safetensors(os.path.join(args.out, "train_init.safetensors"), init_sd)
    save_safetensors(os.path.join(args.out, "train_vgg.safetensors"), vgg_sd)
    save_safetensors(os.path.join(args.out, "train_data.safetensors"), {"lq": lq, "gt": gt})
    n_params = sum(v.numel() for v in init_sd.values())
    print(f"init: LIEDNet dim {cfg['model']['dim']}: {len(init_sd)} tensors, {n_params:,} parameters; "
          f"VGG {len(vgg_sd)} tensors; data lq/gt {tuple(lq.shape)}, lq mean {lq.mean().item():.3f}, "
          f"gt mean {gt.mean().item():.3f}; {time.time() - t0:.1f} s")

    t0 = time.time()
    grad32 = {}
    curve32, final32 = train(cfg, torch.float32, init_sd, vgg_sd, lq, gt, grad_case=grad32)
    t32 = time.time() - t0
    print(f"float32 run: {t32:.1f} s")
    t0 = time.time()
    grad_case = {}
    curve64, final64 = train(cfg, torch.float64, init_sd, vgg_sd, lq, gt, grad_case=grad_case)
    t64 = time.time() - t0
    print(f"float64 run: {t64:.1f} s")
    check_curve(curve32, cfg, "f32")
    check_curve(curve64, cfg, "f64")
    assert torch.equal(curve32[:, 0], curve64[:, 0])
    assert grad_case["loss"].item() == curve64[0, 1].item()

    # the float32 vs float64 discrepancy: the floor for the C++ comparison
    print("float32 vs float64, per step (relative differences of the curve columns):")
    print("  step  " + " ".join(f"{c:>13s}" for c in COLUMNS[1:]))
    rel = ((curve32[:, 1:] - curve64[:, 1:]).abs() / curve64[:, 1:].abs())
    for i in range(curve32.shape[0]):
        print(f"  {i + 1:4d}  " + " ".join(f"{v:13.2e}" for v in rel[i].tolist()))
    print("float32 vs float64 step-1 gradients: " + gradient_distance(grad32, grad_case, init_sd))
    print("float32 vs float64 final weights: " + weight_distance(final32, final64, init_sd))

    if args.compare_variant:
        torch.set_num_threads(1)
        torch.backends.mkldnn.enabled = False
        t0 = time.time()
        curve32b, final32b = train(cfg, torch.float32, init_sd, vgg_sd, lq, gt, log=lambda *a: None)
        torch.backends.mkldnn.enabled = True
        torch.set_num_threads(args.threads)
        print(f"float32 variant (oneDNN off, 1 thread; {time.time() - t0:.1f} s): relative curve differences per "
              "step, max over the 5 loss columns")
        for name, other in (("vs float32", curve32), ("vs float64", curve64)):
            r = ((curve32b[:, 1:] - other[:, 1:]).abs() / curve64[:, 1:].abs()).max(1).values
            print(f"  {name}: " + " ".join(f"{v:.1e}" for v in r.tolist()))
        print("  final weights vs float32: " + weight_distance(final32b, final32, init_sd))
        print("  final weights vs float64: " + weight_distance(final32b, final64, init_sd))

    tensors = {"f32/curve": curve32, "f64/curve": curve64}
    tensors.update({f"f32/final/{k}": v.to(torch.float32) for k, v in final32.items()})
    tensors.update({f"f64/final/{k}": v.to(torch.float64) for k, v in final64.items()})
    tensors.update({f"grad/{k}": v.to(torch.float64) for k, v in grad_case.items()})
    tensors.update({f"grad_f32/{k}": v.to(torch.float32) for k, v in grad32.items()})
    meta = json.dumps(cfg)
    save_safetensors(os.path.join(args.out, "train_curve.safetensors"), tensors, {"config": meta})
    with open(os.path.join(args.out, "train_meta.json"), "w") as f:
        f.write(json.dumps(cfg, indent=1) + "\n")
    print(f"train_curve.safetensors: {len(tensors)} tensors; total {time.time() - t_all:.1f} s "
          f"(f32 run {t32:.1f} s, f64 run {t64:.1f} s)")


if __name__ == "__main__":
    main()
