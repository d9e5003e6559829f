// Reading PyTorch checkpoints (torch.save's zip format, torch >= 1.6) without
// Python: a zip reader for stored entries and a small pickle machine that
// understands only what torch.save writes for a dict of tensors. Nothing in the
// file is ever executed; any Python global outside a short whitelist is an error.
// See docs/torch_checkpoint.md.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace liednet::nn {

struct TorchCheckpoint {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in the state dict's order
  std::string source;  // where the state dict was found: "params", "params_ema", "state_dict" or "" (top level)
};

// Reads a torch.save checkpoint and returns the state dict found under `prefer` if given, else under
// "params", "params_ema" (BasicSR's keys, in that order), "state_dict", or at the top level.
// Tensors come back contiguous: F32 as f32, F64 as f64, F16/BF16 converted to f32. Entries of the chosen
// state dict that are tensors of other dtypes (int64 etc., e.g. BatchNorm's num_batches_tracked), or no
// tensors at all, are skipped with their names listed in `skipped`.
// Every error is a liednet::Error whose message starts with `path`.
TorchCheckpoint load_torch_checkpoint(const std::string& path, const std::string& prefer = "",
                                      std::vector<std::string>* skipped = nullptr);

}  // namespace liednet::nn
