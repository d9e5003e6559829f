// The range of values the network is fed, which travels with the weights.
// LOL-Blur's recipe (BasicSR) maps images to [-1, 1]; upstream's low-light
// recipe (train_llie.py) feeds [0, 1]. Weights trained for one and run with
// the other give wrong pictures without a word, so liednet train records the
// range in the weights' safetensors metadata ("input_range": "0,1" or
// "-1,1"), liednet convert records it too (--input-range, or what the
// checkpoint's layout tells), and enhance, explain and forward read it.
// Weights without it keep the old behaviour, [-1, 1], and say so.
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace liednet::data {

enum class InputRange { Signed, Unit };  // [-1, 1], [0, 1]

// "0,1" or "-1,1" (spaces and brackets allowed: "[0, 1]"); anything else is an
// error naming `what` (an option or a file).
InputRange parse_input_range(const std::string& text, const std::string& what);
std::string input_range_text(InputRange r);  // "0,1" or "-1,1"

struct WeightsRange {
  InputRange range = InputRange::Signed;
  bool recorded = false;  // false: the file has no input_range metadata (or is not safetensors)
  std::string note;       // one line for the user: which range, and whether it was recorded or assumed
};

// The input range of the weights file `path` from its safetensors header
// (only the header is read); a bad value is an error naming the file.
WeightsRange weights_input_range(const std::string& path);

// An image in [0, 1] as the network takes it, and the network's output back
// to [0, 1] (clamped), for range `r`.
Tensor to_network_range(const Tensor& image01, InputRange r);
Tensor from_network_range(const Tensor& out, InputRange r);

}  // namespace liednet::data
