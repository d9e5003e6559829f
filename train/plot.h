// A small SVG line chart of a training run (loss and validation PSNR against
// the iteration), written by `liednet train` at the end of a run; no plotting
// package needed.
#pragma once

#include <string>
#include <vector>

namespace liednet::train {

struct Series {
  std::string label;
  std::vector<double> x, y;
};

// Two panels side by side; either may be empty. Written atomically.
void write_curves_svg(const std::string& path, const std::string& title, const Series& loss, const Series& psnr);

// Reads the series back from train_log.jsonl ("l_total") and val_log.jsonl ("psnr").
Series read_series(const std::string& jsonl, const std::string& key, const std::string& label);

}  // namespace liednet::train
