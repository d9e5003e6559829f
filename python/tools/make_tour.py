"""Writes examples/tour.ipynb (without outputs) from this script: edit here, run it from the repository root
(python3 python/tools/make_tour.py), commit both. ctest python_notebook executes the notebook."""
import nbformat as nbf

nb = nbf.v4.new_notebook()
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
cells = []
cells.append(md("""# A tour of liednet from Python

`import liednet` is a thin window onto the C++ framework: the tensors, ops and network below are the
very ones the `liednet` command runs, not a second implementation. This notebook

1. loads (or initialises) a LIEDNet and runs it on an image,
2. checks the SS2D selective scan against a 20-line PyTorch loop, sharing memory through DLPack,
3. plots the effective receptive field (ERF) of each stage and the four scan directions of a block.

Build the module first (`cmake --build build`, see docs/python.md) and start Jupyter with
`PYTHONPATH=build/python`. Set `LIEDNET_TOUR_WEIGHTS` to a trained `.safetensors` file to look at a
trained network; otherwise a freshly initialised one is used (its pictures are less telling)."""))
cells.append(code("""import os, pathlib, time
import numpy as np
import matplotlib
import matplotlib.pyplot as plt
import liednet

weights = os.environ.get("LIEDNET_TOUR_WEIGHTS", "")
if weights:
    net = liednet.LIEDNet.load(weights)          # configuration inferred from the keys, as the CLI does
else:
    net = liednet.LIEDNet.init("liednet", seed=0)  # the paper's configuration, random weights
print(net)
print(net.config)"""))
cells.append(md("""## 1. An image through the network

Images are `(3, H, W)` float32 tensors in [0, 1]; the network works in [-1, 1] on batches `(N, 3, H, W)`.
`np.asarray(t)` is a view of a tensor's memory, so plotting costs no copy."""))
cells.append(code("""samples = pathlib.Path("../data/samples")
img = liednet.read_image(str(samples / "cat.png"))                  # (3, H, W) in [0, 1]
x = liednet.to_model_range(img).reshape(1, *img.shape)
x = liednet.ops.resize_bicubic(x, 48, 48)                           # small, so that the tour runs quickly
dark = liednet.ops.add_scalar(liednet.ops.scale(liednet.ops.add_scalar(x, 1.0), 0.15), -1.0)  # a low-light version
with liednet.no_grad():
    t0 = time.perf_counter()
    out, side = net(dark, side=True)
    print(f"forward {time.perf_counter() - t0:.2f} s; out {out.shape}, side {side.shape}")

def show(t):  # (1, 3, H, W) in [-1, 1] -> (H, W, 3) in [0, 1]
    return np.clip((np.asarray(t)[0].transpose(1, 2, 0) + 1) / 2, 0, 1)

fig, ax = plt.subplots(1, 4, figsize=(12, 3))
for a, (title, t) in zip(ax, [("input", x), ("low light", dark), ("network output", out), ("side output (x1/8)", side)]):
    a.imshow(show(t)); a.set_title(title); a.axis("off")
plt.show()"""))
cells.append(md("""## 2. SS2D against a 20-line PyTorch loop

`liednet.ops.ss2d_scan` is SS2D's four-direction selective scan as one op. Below, the first block's own
parameters are handed to PyTorch through DLPack (`torch.from_dlpack` shares the memory: no copy), and a
plain loop computes the same thing: for each direction k, the pixels in that direction's order, the
projections to dt, B and C, then the recurrence h = exp(dt A) h + dt B x, y = C h + D x."""))
cells.append(code("""import torch

p = dict(net.named_parameters())
names = ["x_proj_weight", "dt_projs_weight", "dt_projs_bias", "A_logs", "Ds"]
params = [p[f"encoder_level1.0.op.{n}"] for n in names]
d = params[0].shape[2]
xs = liednet.randn(1, d, 8, 8, seed=3)
y = liednet.ops.ss2d_scan(xs, *params)

def ss2d_torch(x, x_proj_weight, dt_projs_weight, dt_projs_bias, A_logs, Ds):
    b, d, H, W = x.shape
    R, N = dt_projs_weight.shape[2], A_logs.shape[1]
    A = -torch.exp(A_logs).view(4, d, N)
    rows = torch.arange(H * W)
    cols = torch.arange(H * W).view(H, W).t().reshape(-1)
    orders = [rows, cols, rows.flip(0), cols.flip(0)]          # k0 row-major, k1 column-major, reversed
    flat, y = x.reshape(b, d, H * W), torch.zeros(b, d, H * W, dtype=x.dtype)
    for k, order in enumerate(orders):
        u = flat[:, :, order]                                   # (b, d, L) in this direction's order
        proj = torch.einsum("cd,bdl->bcl", x_proj_weight[k], u)
        dt = torch.nn.functional.softplus(torch.einsum("dr,brl->bdl", dt_projs_weight[k], proj[:, :R]) + dt_projs_bias[k][None, :, None])
        B, C = proj[:, R:R + N], proj[:, R + N:]
        h = torch.zeros(b, d, N, dtype=x.dtype)
        for t in range(H * W):
            h = torch.exp(dt[:, :, t, None] * A[k]) * h + (dt[:, :, t] * u[:, :, t])[..., None] * B[:, None, :, t]
            y[:, :, order[t]] += (h * C[:, None, :, t]).sum(-1) + Ds.view(4, d)[k] * u[:, :, t]
    return y.view(b, d, H, W)

shared = [torch.from_dlpack(t.detach()) for t in params]       # views of the network's own parameters
assert shared[0].data_ptr() == params[0].data_ptr()            # the same memory
y_torch = ss2d_torch(torch.from_dlpack(xs), *shared)
print("max |liednet - torch| =", float((torch.from_dlpack(y) - y_torch).abs().max()))"""))
cells.append(md("""## 3. Effective receptive fields and the four scan directions

`liednet.explain` computes what `liednet explain` draws: for each stage, the gradient of the centre pixel's
output with respect to the input image (its ERF), and for a block, the output of each of SS2D's four scan
directions before they are summed."""))
cells.append(code("""xe = liednet.ops.resize_bicubic(dark, 24, 24)
stages = ["encoder_level1", "encoder_level2", "encoder_level3", "decoder_level1", "output"]
erf = liednet.explain.erf(net, xe, stages=stages)
fig, ax = plt.subplots(1, len(erf), figsize=(3 * len(erf), 3))
for a, (stage, m) in zip(ax, erf.items()):
    r = liednet.explain.mass_radii(liednet.tensor(m))
    a.imshow(np.log10(m + 1e-12), cmap="magma"); a.set_title(f"{stage}\\n50% radius {r[1]:.1f}px"); a.axis("off")
plt.show()"""))
cells.append(code("""dirs = liednet.explain.scan_directions(net, xe, "encoder_level1.0")   # (4, N, d, h, w)
fig, ax = plt.subplots(1, 4, figsize=(12, 3))
for k, a in enumerate(ax):
    a.imshow(np.abs(dirs[k, 0]).mean(0), cmap="viridis")
    a.set_title(["k0 row-major", "k1 column-major", "k2 reversed k0", "k3 reversed k1"][k]); a.axis("off")
plt.show()
print("LFM channel weights of encoder_level1.0:", np.round(liednet.explain.lfm_channel_weights(net, xe)[0, :8], 3))"""))
cells.append(md("""Where next: `help(liednet)`, `help(liednet.ops.ss2d_scan)`, docs/python.md (the whole API),
docs/explain.md (what the pictures mean) and docs/selective_scan.md (how the scan is computed)."""))
nb["cells"] = cells
nb["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, "examples/tour.ipynb")
