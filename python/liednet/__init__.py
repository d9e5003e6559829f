"""liednet: a thin, exact window onto the C++ framework.

Tensors (NumPy views through the buffer protocol, DLPack with torch), every op with its
gradient (liednet.ops), the LIEDNet network, the analyses behind `liednet explain`
(liednet.explain), safetensors, images, metrics and training. See docs/python.md.
"""

from ._liednet import (  # noqa: F401
    GradcheckResult,
    LIEDNet,
    Tensor,
    from_dlpack,
    from_numpy,
    grad_enabled,
    gradcheck,
    load_safetensors,
    no_grad,
    num_threads,
    ones,
    psnr,
    psnr_paper,
    randn,
    read_image,
    save_safetensors,
    set_num_threads,
    ssim,
    ssim_paper,
    tensor,
    to_dlpack,
    to_model_range,
    to_unit_range,
    train,
    write_png,
    zeros,
)
from . import explain, ops  # noqa: E402,F401  (modules wrapping the extension's submodules)

__all__ = [
    "GradcheckResult", "LIEDNet", "Tensor", "explain", "from_dlpack", "from_numpy", "grad_enabled", "gradcheck",
    "load_safetensors", "no_grad", "num_threads", "ones", "ops", "psnr", "psnr_paper", "randn", "read_image",
    "save_safetensors", "set_num_threads", "ssim", "ssim_paper", "tensor", "to_dlpack", "to_model_range",
    "to_unit_range", "train", "write_png", "zeros",
]
