// liednet eval --pred DIR --gt DIR: PSNR and SSIM of every predicted image
// against its ground truth (paired by relative path), and their means.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/image.h"
#include "data/metrics.h"
#include "liednet/lpips.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"
#include "tensor/parallel.h"
#include "cli/args.h"
#include "cli/bad_inputs.h"
#include "cli/commands.h"
#include "cli/overlap.h"

namespace liednet::cli {

namespace {

struct Column {
  std::string name;  // CSV header
  bool ssim;         // print with SSIM's precision
};

// The table rounds PSNR to 4 decimals and SSIM to 6; the CSV keeps 2 more.
std::string number(double v, bool ssim, bool csv = false) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", (ssim ? 6 : 4) + (csv ? 2 : 0), v);
  return buf;
}

// --lpips-weights FILE[,FILE...]: safetensors holding VGG16's features.N and the heads lin0..4 (null when empty).
std::unique_ptr<net::LPIPS> load_lpips_option(const std::string& option) {
  if (option.empty()) return nullptr;
  std::vector<std::string> files;
  std::stringstream in(option);
  for (std::string f; std::getline(in, f, ',');)
    if (!f.empty()) files.push_back(f);
  Generator g(0);
  auto m = std::make_unique<net::LPIPS>(g);
  net::load_lpips_weights(*m, files);
  return m;
}

// Appends each good pair's LPIPS to its row (one pair at a time: the
// network's convolutions use the threads themselves).
void add_lpips_column(const net::LPIPS& lpips, const std::vector<data::Pair>& pairs,
                      std::vector<std::vector<double>>& values, std::vector<std::string>& errors) {
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (!errors[i].empty()) continue;
    try {
      const Tensor pred = data::read_image(pairs[i].lq_path), gt = data::read_image(pairs[i].gt_path);
      const Shape s{1, 3, pred.size(1), pred.size(2)};
      values[i].push_back(lpips.distance(pred.reshape(s), gt.reshape(s))[0]);
    } catch (const std::exception& e) {
      errors[i] = pairs[i].lq_path + " vs " + pairs[i].gt_path + ": lpips: " + e.what();
    }
  }
}

}  // namespace

int cmd_eval(const std::vector<std::string>& argv) {
  Args args("eval", argv, {"--pred", "--gt", "--convention", "--output", "--crop-border", "--baseline", "--lpips-weights"},
            {"--skip-unpaired"});
  // --baseline DIR: the same metrics for DIR's images (e.g. the network's inputs) beside the predictions'.
  const std::string baseline = args.get_or("--baseline", "");
  const std::string convention = args.get_or("--convention", "both");
  const bool basicsr = convention == "basicsr" || convention == "both";
  const bool paper = convention == "paper" || convention == "both" || convention == "paper-bgr";
  LIEDNET_CHECK(basicsr || paper, "liednet eval: --convention must be basicsr, paper, paper-bgr or both, got '",
                convention, "'");
  const data::PaperLuma luma = convention == "paper-bgr" ? data::PaperLuma::upstream_bgr : data::PaperLuma::rgb;
  const int64_t crop = args.get_int("--crop-border", 0);
  LIEDNET_CHECK(crop >= 0 && crop <= 65536, "liednet eval: --crop-border must be in [0, 65536], got ", crop);

  check_outputs_apart({{"--pred", args.get("--pred")}, {"--gt", args.get("--gt")}, {"--baseline", baseline}},
                      {"--output", args.get_or("--output", "")});
  data::PairedFolders folders{args.get("--pred"), args.get("--gt"), args.flag("--skip-unpaired"), "pred", "gt"};
  std::string warning;
  const std::vector<data::Pair> pairs = data::pair_folders(folders, &warning);
  if (!warning.empty()) std::fprintf(stderr, "liednet eval: warning: %s\n", warning.c_str());

  std::vector<Column> columns;
  const bool both = basicsr && paper;
  if (basicsr) columns.push_back({both ? "psnr_basicsr" : "psnr", false}), columns.push_back({both ? "ssim_basicsr" : "ssim", true});
  if (paper) columns.push_back({both ? "psnr_paper" : "psnr", false}), columns.push_back({both ? "ssim_paper" : "ssim", true});
  const size_t per_image = columns.size();
  if (!baseline.empty()) {
    for (size_t c = 0; c < per_image; ++c) columns.push_back({"input_" + columns[c].name, columns[c].ssim});
    columns.push_back({"psnr_gain", false});
  }

  // LPIPS (VGG) when its weights are given (liednet/lpips.h): one more column, last.
  std::unique_ptr<net::LPIPS> lpips = load_lpips_option(args.get_or("--lpips-weights", ""));
  if (lpips) columns.push_back({"lpips", true});

  // (pairs, columns); images in parallel, each error kept to be thrown in order.
  const int64_t n = static_cast<int64_t>(pairs.size());
  std::vector<std::vector<double>> values(n);
  std::vector<std::string> errors(n);
  parallel_for(0, n, 1, [&](int64_t i) {
    const data::Pair& p = pairs[i];
    try {
      const Tensor pred = data::read_image(p.lq_path), gt = data::read_image(p.gt_path);
      LIEDNET_CHECK(pred.shape() == gt.shape(), p.lq_path, " is ", pred.size(1), "x", pred.size(2), " but ", p.gt_path,
                    " is ", gt.size(1), "x", gt.size(2), " (H x W)");
      std::vector<double>& v = values[i];
      auto measure = [&](const Tensor& img) {
        if (basicsr) {
          v.push_back(data::psnr_basicsr(img, gt, static_cast<int>(crop)));
          v.push_back(data::ssim_basicsr(img, gt, static_cast<int>(crop)));
        }
        if (paper) {
          v.push_back(data::psnr_paper(img, gt));
          v.push_back(data::ssim_paper(img, gt, luma));
        }
      };
      measure(pred);
      if (!baseline.empty()) {
        const std::string base = (std::filesystem::path(baseline) / p.name).string();
        LIEDNET_CHECK(std::filesystem::exists(base), base, ": the baseline has no image for ", p.lq_path);
        const Tensor b = data::read_image(base);
        LIEDNET_CHECK(b.shape() == gt.shape(), base, " and ", p.gt_path, " differ in size");
        measure(b);
        v.push_back(v[0] - v[per_image]);  // PSNR gain of the predictions over the baseline
      }
    } catch (const std::exception& e) {
      const std::string what = e.what();
      // Metric errors name the shape, not the files: add them.
      errors[i] = what.find(p.lq_path) == std::string::npos ? p.lq_path + " vs " + p.gt_path + ": " + what : what;
    }
  });
  if (lpips) add_lpips_column(*lpips, pairs, values, errors);
  // Bad pairs are reported at the end; the table, the means and the CSV cover the good ones.
  std::vector<int64_t> good;
  std::vector<std::string> bad;
  for (int64_t i = 0; i < n; ++i) {
    if (errors[i].empty()) good.push_back(i);
    else bad.push_back(errors[i]);
  }
  if (good.empty()) report_bad_inputs("eval", bad, pairs.size(), "measured");

  std::vector<double> mean(columns.size(), 0.0);
  for (int64_t i : good)
    for (size_t c = 0; c < columns.size(); ++c) mean[c] += values[i][c] / static_cast<double>(good.size());

  size_t width = 4;
  for (const data::Pair& p : pairs) width = std::max(width, p.name.size());
  std::printf("%-*s", static_cast<int>(width), "name");
  for (const Column& c : columns) std::printf("  %12s", c.name.c_str());
  std::printf("\n");
  auto row = [&](const std::string& name, const std::vector<double>& v) {
    std::printf("%-*s", static_cast<int>(width), name.c_str());
    for (size_t c = 0; c < columns.size(); ++c) std::printf("  %12s", number(v[c], columns[c].ssim).c_str());
    std::printf("\n");
  };
  for (int64_t i : good) row(pairs[i].name, values[i]);
  row("mean", mean);
  const int64_t measured = static_cast<int64_t>(good.size());
  std::printf("%lld image%s; conventions: %s%s%s\n", static_cast<long long>(measured), measured == 1 ? "" : "s",
              basicsr ? "basicsr (8-bit RGB, SSIM per channel)" : "", both ? ", " : "",
              paper ? (luma == data::PaperLuma::rgb ? "paper (pyiqa: RGB PSNR, SSIM on Y from RGB)"
                                                    : "paper-bgr (pyiqa as upstream's calculate_pair.py ran it: RGB "
                                                      "PSNR, SSIM on Y from BGR-ordered channels)")
                    : "");
  std::printf("%s\n", lpips ? "lpips: VGG, images in [0, 1] mapped to [-1, 1] (as the LPIPS package with normalize=True)"
                            : "LPIPS not computed (no --lpips-weights; docs/reproduce.md says where the weights come from)");

  if (args.has("--output")) {
    const std::string out = args.get("--output");
    std::ostringstream f;
    auto csv_row = [&](const std::string& name, const std::vector<double>& v) {
      // Names are relative paths; quote those a CSV reader would split.
      const bool quote = name.find_first_of(",\"\n") != std::string::npos;
      std::string field = name;
      if (quote) {
        field.clear();
        for (char ch : name) field += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        field = "\"" + field + "\"";
      }
      f << field;
      for (size_t c = 0; c < columns.size(); ++c) f << ',' << number(v[c], columns[c].ssim, true);
      f << '\n';
    };
    f << "name";
    for (const Column& c : columns) f << ',' << c.name;
    f << '\n';
    for (int64_t i : good) csv_row(pairs[i].name, values[i]);
    csv_row("mean", mean);
    write_file_atomically(out, f.str());
    std::printf("wrote %s\n", out.c_str());
  }
  report_bad_inputs("eval", bad, pairs.size(), "measured");
  return 0;
}

}  // namespace liednet::cli
