// liednet explain --weights W --input IMG_OR_DIR --output DIR [--size H W] [--max-images N] [--preset P]
//                 [--without-ss2d] [--scan-blocks B1,B2,...] [--batch B] [--device cpu|cuda [--tf32]]
// Effective receptive fields, scan-direction maps, LFM channel weights, feature
// mosaics and the outputs of a trained LIEDNet on a few images, as one page
// (liednet/explain.h computes, cli/explain_report.h draws and writes).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/overlap.h"
#include "cli/explain_report.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/input_range.h"
#include "liednet/config_infer.h"
#include "liednet/explain.h"
#include "tensor/error.h"

namespace liednet::cli {

namespace {
namespace fs = std::filesystem;

// The centre H x W crop of a (3, h, w) image; an error naming the file when it is smaller.
Tensor centre_crop(const Tensor& img, int64_t H, int64_t W, const std::string& path) {
  const int64_t h = img.size(1), w = img.size(2);
  LIEDNET_CHECK(h >= H && w >= W, path, ": the image is ", w, "x", h, " (width x height), smaller than --size ", H,
                " ", W, " (height width)");
  const int64_t top = (h - H) / 2, left = (w - W) / 2;
  Tensor out = Tensor::empty({3, H, W});
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < H; ++y)
      std::copy(img.data<float>() + (c * h + top + y) * w + left, img.data<float>() + (c * h + top + y) * w + left + W,
                out.data<float>() + (c * H + y) * W);
  return out;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) out.push_back(part);
  return out;
}
}  // namespace

int cmd_explain(const std::vector<std::string>& argv) {
  Args args("explain", argv,
            {"--weights", "--input", "--output", "--size", "--max-images", "--preset", "--scan-blocks", "--batch",
             "--device"},
            {"--without-ss2d", "--tf32"});
  const std::string weights = args.get("--weights"), input = args.get("--input"), output = args.get("--output");
  check_outputs_apart({{"--input", input}, {"--weights", weights}}, {"--output", output});
  std::vector<int64_t> size = args.get_ints("--size");
  if (size.empty()) size = {256, 256};
  if (size.size() == 1) size.push_back(size[0]);
  LIEDNET_CHECK(size.size() == 2 && size[0] >= 8 && size[1] >= 8 && size[0] % 8 == 0 && size[1] % 8 == 0,
                "liednet explain: --size must be H W (or one side), multiples of 8 and at least 8");
  const int64_t H = size[0], W = size[1];
  const int64_t max_images = args.get_int("--max-images", 16), batch = args.get_int("--batch", 1);
  LIEDNET_CHECK(max_images >= 1, "liednet explain: --max-images must be at least 1, got ", max_images);
  LIEDNET_CHECK(batch >= 1, "liednet explain: --batch must be at least 1, got ", batch);
  const Device device = device_option(args, "explain");

  // The images: a file, or the first --max-images of a folder (sorted by relative path).
  LIEDNET_CHECK(fs::exists(input), input, ": no such file or folder");
  std::vector<std::string> paths, names;
  if (fs::is_directory(input)) {
    names = data::list_image_names(input);
    if (names.size() > static_cast<size_t>(max_images)) names.resize(max_images);
    for (const std::string& n : names) paths.push_back((fs::path(input) / n).string());
  } else {
    paths = {input};
    names = {fs::path(input).filename().string()};
  }
  // Before the (slower) weights: bad images fail fast.
  const int64_t N = static_cast<int64_t>(paths.size());
  Tensor images01 = Tensor::empty({N, 3, H, W});
  for (int64_t i = 0; i < N; ++i) {
    const Tensor crop = centre_crop(data::read_image(paths[i]), H, W, paths[i]);
    std::copy(crop.data<float>(), crop.data<float>() + crop.numel(), images01.data<float>() + i * crop.numel());
  }

  const std::unique_ptr<net::LIEDNet> model = net::load_for_inference(weights, args.get_or("--preset", ""), device);
  net::ExplainOptions opt;
  opt.without_ss2d = args.flag("--without-ss2d");
  opt.scan_blocks = split_commas(args.get_or("--scan-blocks", ""));
  opt.batch = batch;
  std::printf("explain: %lld image(s), %lldx%lld, on %s%s\n", static_cast<long long>(N), static_cast<long long>(W),
              static_cast<long long>(H), device == Device::CPU ? "cpu" : "cuda",
              opt.without_ss2d ? ", also without SS2D" : "");
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  const auto elapsed = [&t0] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  opt.progress = [&](const std::string& pass, int64_t done, int64_t total) {
    std::printf("  %s: %lld/%lld images (%.1f s)\n", pass.c_str(), static_cast<long long>(done),
                static_cast<long long>(total), elapsed());
    std::fflush(stdout);
  };
  const data::WeightsRange range = data::weights_input_range(weights);  // data/input_range.h
  std::printf("%s\n", range.note.c_str());
  net::Explanation e = net::explain(*model, data::to_network_range(images01, range.range), opt);
  if (range.range == data::InputRange::Unit) {  // the report shows outputs as [-1, 1] ones
    e.output = data::to_model_range(e.output);
    if (e.side.defined()) e.side = data::to_model_range(e.side);
  }
  const double seconds = elapsed();

  std::printf("%-16s %8s %8s %8s   (ERF mass radii in input pixels)\n", "stage", "r20", "r50", "r90");
  for (size_t i = 0; i < e.erf.size(); ++i) {
    const net::StageERF& s = e.erf[i];
    std::printf("%-16s %8.1f %8.1f %8.1f", s.stage.c_str(), s.radius[0], s.radius[1], s.radius[2]);
    if (!e.erf_without_ss2d.empty())
      std::printf("   without SS2D %8.1f %8.1f %8.1f", e.erf_without_ss2d[i].radius[0], e.erf_without_ss2d[i].radius[1],
                  e.erf_without_ss2d[i].radius[2]);
    std::printf("\n");
  }
  const std::string page = write_explain_report(
      output, e, images01, model->config, {weights, device == Device::CPU ? "cpu" : "cuda", names, seconds});
  std::printf("analysis %.1f s; wrote %s\n", seconds, page.c_str());
  return 0;
}

}  // namespace liednet::cli
