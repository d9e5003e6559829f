// liednet enhance --weights W --input IN --output OUT [--tile T --overlap O] [--compare] [--gt DIR] [--preset P]
// --compare writes input | output (| ground truth from --gt, paired by relative path) side by side.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "autograd/autograd.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/input_range.h"
#include "data/tiling.h"
#include "liednet/config_infer.h"
#include "liednet/liednet.h"
#include "nn/state_dict.h"
#include "ops/channels.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"
#include "cli/args.h"
#include "cli/bad_inputs.h"
#include "cli/commands.h"
#include "cli/overlap.h"

namespace liednet::cli {

namespace {
namespace fs = std::filesystem;

// Images side by side, separated by a 4-pixel gap, heights padded to the tallest.
Tensor side_by_side(const std::vector<Tensor>& images) {
  int64_t H = 0, W = 0;
  const int64_t gap = 4;
  for (const Tensor& t : images) {
    H = std::max(H, t.size(1));
    W += t.size(2);
  }
  W += gap * static_cast<int64_t>(images.size() - 1);
  Tensor out = Tensor::ones({3, H, W});
  int64_t x0 = 0;
  for (const Tensor& t : images) {
    const int64_t h = t.size(1), w = t.size(2);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < h; ++y)
        std::copy(t.data<float>() + (c * h + y) * w, t.data<float>() + (c * h + y + 1) * w,
                  out.data<float>() + (c * H + y) * W + x0);
    x0 += w + gap;
  }
  return out;
}
}  // namespace

int cmd_enhance(const std::vector<std::string>& argv) {
  Args args("enhance", argv,
            {"--weights", "--input", "--output", "--tile", "--overlap", "--gt", "--preset", "--device"},
            {"--compare", "--tf32", "--profile"});
  profile_option(args);
  const std::string weights = args.get("--weights"), input = args.get("--input"), output = args.get("--output");
  const int64_t tile = args.get_int("--tile", 1024), overlap = args.get_int("--overlap", 64);
  LIEDNET_CHECK(tile >= 16 && tile % 8 == 0, "liednet enhance: --tile must be a multiple of 8, at least 16, got ", tile);
  LIEDNET_CHECK(overlap >= 0 && 2 * overlap <= tile, "liednet enhance: --overlap must be between 0 and tile/2");
  const bool compare = args.flag("--compare");
  const Device device = device_option(args, "enhance");
  const std::string gt_dir = args.get_or("--gt", "");
  LIEDNET_CHECK(gt_dir.empty() || compare, "liednet enhance: --gt is used only with --compare (the ground truth is "
                "shown beside the result)");
  LIEDNET_CHECK(gt_dir.empty() || fs::is_directory(gt_dir), "liednet enhance: --gt ", gt_dir, ": no such folder");
  const std::vector<NamedPath> inputs{{"--input", input}, {"--weights", weights}, {"--gt", gt_dir}};
  check_outputs_apart(inputs, {"--output", output});

  const std::unique_ptr<net::LIEDNet> loaded = net::load_for_inference(weights, args.get_or("--preset", ""), device);
  const net::LIEDNet& model = *loaded;
  const data::WeightsRange range = data::weights_input_range(weights);  // data/input_range.h
  std::printf("%s\n", range.note.c_str());

  // (input file, output file, relative name) for a file or a folder.
  // Side-by-side images go beside the output file, or for a folder into a
  // sibling folder "<OUT>_compare", so the output folder holds only results.
  struct Job {
    std::string in, out, name, compare;
  };
  std::vector<Job> jobs;
  // Problems met walking the input folder (an unreadable sub-folder, a link
  // loop, a dangling link): reported with the bad inputs at the end.
  std::vector<std::string> walk_problems;
  LIEDNET_CHECK(fs::exists(input), input, ": no such file or folder");
  if (fs::is_directory(input)) {
    std::map<std::string, std::string> taken;  // output name -> input name
    for (const std::string& rel : data::list_image_names(input, &walk_problems)) {
      fs::path name(rel);
      name.replace_extension(".png");
      const auto [it, fresh] = taken.emplace(name.generic_string(), rel);
      LIEDNET_CHECK(fresh, input, ": ", it->second, " and ", rel, " would both be written as ", it->first);
      jobs.push_back({(fs::path(input) / rel).string(), (fs::path(output) / name).string(), rel,
                      (fs::path(output + "_compare") / name).string()});
    }
    LIEDNET_CHECK(!jobs.empty(), input, ": no images (png, jpg, jpeg, bmp) in this folder",
                  walk_problems.empty() ? std::string() : " that could be read: " + walk_problems[0]);
  } else {
    // OUT names the PNG to write (any case of .png) unless it is a folder or has no image extension.
    fs::path out(output);
    std::string ext = out.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    LIEDNET_CHECK(fs::is_directory(out) || !data::is_image_file(output) || ext == ".png", "liednet enhance: --output ",
                  output, ": results are written as PNG; name the file .png, or give a folder");
    if (fs::is_directory(out) || ext != ".png") out = out / fs::path(input).filename().replace_extension(".png");
    fs::path cmp = out;
    cmp.replace_filename(out.stem().string() + "_compare.png");
    jobs.push_back({input, out.string(), fs::path(input).filename().string(), cmp.string()});
  }

  // A run killed while writing left temporary files beside its outputs.
  std::vector<std::string> outputs;
  for (const Job& j : jobs) {
    outputs.push_back(j.out);
    if (compare) outputs.push_back(j.compare);
  }
  for (const std::string& o : outputs) check_outputs_apart(inputs, {"the output", o});
  remove_stale_temporaries_of(outputs);

  autograd::NoGradGuard no_grad;
  // A bad input (unreadable, corrupt, truncated, a missing ground truth) is
  // reported at the end and the others are still enhanced; a failed write
  // (a full disk) stops at once.
  std::vector<std::string> bad = walk_problems;
  for (const Job& j : jobs) {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor img, restored, gt;
    try {
      img = data::read_image(j.in);
      if (compare && !gt_dir.empty()) {
        const fs::path gt_path = fs::path(gt_dir) / j.name;
        LIEDNET_CHECK(fs::exists(gt_path), gt_path.string(), ": no ground truth for ", j.in);
        gt = data::read_image(gt_path.string());
      }
      const int64_t H = img.size(1), W = img.size(2);
      Tensor x = data::to_network_range(img, range.range).reshape({1, 3, H, W});
      // Tiles go to the device one at a time; the blend stays on the host.
      Tensor y = data::run_tiled(x, tile, overlap, [&](const Tensor& t) {
        return device == Device::CPU ? model.forward(t).out : model.forward(t.to(device)).out.to(Device::CPU);
      });
      // Finite weights can still overflow on some input: no black image in silence.
      const float* v = y.data<float>();
      LIEDNET_CHECK(std::all_of(v, v + y.numel(), [](float f) { return std::isfinite(f); }), j.in,
                    ": the network's output holds a NaN or an infinity; nothing written");
      restored = data::from_network_range(y, range.range).reshape({3, H, W});
    } catch (const Error& e) {
      bad.push_back(e.what());
      continue;
    }
    data::write_png(j.out, restored);
    if (compare) {
      std::vector<Tensor> panels;  // not an initializer list: GCC 12 warns falsely (-Warray-bounds)
      panels.push_back(img);
      panels.push_back(restored);
      if (gt.defined()) panels.push_back(gt);
      data::write_png(j.compare, side_by_side(panels));
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s -> %s (%lldx%lld, %.2f s)\n", j.in.c_str(), j.out.c_str(), static_cast<long long>(img.size(2)),
                static_cast<long long>(img.size(1)), s);
  }
  report_bad_inputs("enhance", bad, jobs.size() + walk_problems.size(), "enhanced");
  return 0;
}

}  // namespace liednet::cli
