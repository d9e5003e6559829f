// State dicts: a module's parameters by dotted name, saved to and loaded from
// safetensors files with upstream's keys.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "nn/module.h"

namespace liednet::nn {

using StateDict = std::vector<std::pair<std::string, Tensor>>;

// The parameters' current values: detached views for CPU parameters, host
// copies for CUDA ones.
StateDict state_dict(const Module& m);

struct LoadReport {
  std::vector<std::string> missing;     // in the model, not in the file
  std::vector<std::string> unexpected;  // in the file, not in the model
  std::vector<std::string> mismatched;  // "key: file (3, 4) vs model (4, 4)"
  int64_t loaded = 0;
  bool clean() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string describe() const;  // one short line: counts, and the first kDescribedKeys keys of each kind
  static constexpr size_t kDescribedKeys = 3;
};

// Copies every matching tensor into the module's parameters (converting the
// dtype). A loaded tensor holding a NaN or an infinity is an error naming it
// (and nothing is loaded). strict: any missing, unexpected or mis-shaped key is one error that
// lists them all, naming `source`, and nothing is loaded. Not strict: the
// matching keys load and the report lists the rest.
LoadReport load_state_dict(Module& m, const StateDict& sd, bool strict = true, const std::string& source = "");

// safetensors files, f32 (or the parameters' dtype), written atomically.
void save_weights(const Module& m, const std::string& path, const std::map<std::string, std::string>& metadata = {});
LoadReport load_weights(Module& m, const std::string& path, bool strict = true);

}  // namespace liednet::nn
