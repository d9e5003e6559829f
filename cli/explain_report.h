// The report of liednet explain: PNG pictures, tensors.safetensors and one
// self-contained index.html (relative links, no scripts) in a folder.
#pragma once

#include <string>
#include <vector>

#include "liednet/explain.h"

namespace liednet::cli {

struct ExplainReportInfo {
  std::string weights;              // the weights file, as given
  std::string device;               // "cpu" or "cuda"
  std::vector<std::string> images;  // the images' names, in the order of the batch
  double seconds = 0;               // time the analysis took
};

// Writes into `dir` (created if needed):
//   erf_<stage>.png (and erf_without_ss2d_<stage>.png), scan_<block>.png,
//   lfm_<block>.png, features_<stage>.png, outputs_<i>.png,
//   tensors.safetensors (f32): erf.<stage>, erf_radius.<stage> (r20, r50, r90),
//     erf_without_ss2d.<stage>, erf_without_ss2d_radius.<stage>, scan.<block>.k<0-3>, lfm.<block>
//   index.html
// inputs01: the images (N, 3, H, W) in [0, 1]. Returns the page's path. Every file is written atomically.
std::string write_explain_report(const std::string& dir, const net::Explanation& e, const Tensor& inputs01,
                                 const net::LIEDNetConfig& config, const ExplainReportInfo& info);

}  // namespace liednet::cli
