#include "data/llie_dataset.h"

#include <algorithm>
#include <filesystem>

#include "data/image.h"
#include "tensor/error.h"

namespace liednet::data {

namespace {
namespace fs = std::filesystem;

std::vector<std::string> sorted_images(const fs::path& folder) {
  std::error_code ec;
  LIEDNET_CHECK(fs::is_directory(folder, ec), folder.string(), ": not found or not a folder (the low-light recipe ",
                "reads DIR/low and DIR/high)");
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(folder))
    if (e.is_regular_file(ec) && is_image_file(e.path().filename().string())) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  LIEDNET_CHECK(!names.empty(), folder.string(), ": holds no images (png, jpg, jpeg, bmp)");
  return names;
}

// Index into [0, n) of position i (any integer) under reflection without edge repeat.
int64_t reflect_index(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}
}  // namespace

std::vector<Pair> pair_sorted_order(const std::string& dir) {
  const fs::path low = fs::path(dir) / "low", high = fs::path(dir) / "high";
  const std::vector<std::string> lq = sorted_images(low), gt = sorted_images(high);
  LIEDNET_CHECK(lq.size() == gt.size(), low.string(), " has ", lq.size(), " images but ", high.string(), " has ",
                gt.size(), "; the low-light recipe pairs them by sorted position, so the counts must match");
  std::vector<Pair> pairs;
  for (size_t i = 0; i < lq.size(); ++i) pairs.push_back({lq[i], (low / lq[i]).string(), (high / gt[i]).string()});
  return pairs;
}

Transform orient(Transform t, int draw) {
  LIEDNET_CHECK(draw >= 0 && draw <= 8, "orient: the draw must be 0..8, got ", draw);
  // Output (i, j) of each of upstream's operations, read off the window:
  //   flip rows (i, j) <- (h-1-i, j)             vflip
  //   flip columns     <- (i, w-1-j)             hflip
  //   rot90 k=1        <- (j, w-1-i)             transpose + hflip
  //   rot90 k=2        <- (h-1-i, w-1-j)         vflip + hflip
  //   rot90 k=3        <- (h-1-j, i)             transpose + vflip
  //   rot90(flip rows) <- (h-1-j, w-1-i)         transpose + vflip + hflip
  //   rot90(flip cols) <- (j, i)                 transpose
  static const bool table[9][3] = {  // {hflip, vflip, transpose}
      {false, false, false}, {false, true, false}, {true, false, false}, {true, false, true}, {true, true, false},
      {false, true, true},   {true, true, true},   {false, false, true}, {false, false, false}};
  t.hflip = table[draw][0];
  t.vflip = table[draw][1];
  t.transpose = table[draw][2];
  return t;
}

Tensor reflect_pad(const Tensor& image, int64_t h, int64_t w) {
  LIEDNET_CHECK(image.ndim() == 3 && image.dtype() == DType::F32, "reflect_pad: needs an f32 (C, H, W) image, got ",
                image.str());
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  LIEDNET_CHECK(h >= H && w >= W, "reflect_pad: cannot pad ", image.str(), " to ", h, "x", w);
  if (h == H && w == W) return image;
  Tensor out = Tensor::empty({C, h, w});
  const float* src = image.data<float>();
  float* dst = out.data<float>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < h; ++i) {
      const float* row = src + (c * H + reflect_index(i, H)) * W;
      float* o = dst + (c * h + i) * w;
      for (int64_t j = 0; j < w; ++j) o[j] = row[reflect_index(j, W)];
    }
  return out;
}

int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

Sample load_llie_pair(const Pair& p, const AugmentOptions& a, Generator& rng) {
  Tensor lq = read_image(p.lq_path), gt = read_image(p.gt_path);
  LIEDNET_CHECK(lq.shape() == gt.shape(), "pair ", p.name, ": ", p.lq_path, " is ", lq.size(1), "x", lq.size(2),
                " but ", p.gt_path, " is ", gt.size(1), "x", gt.size(2), " (H x W); the images of a pair must match");
  const int64_t h = std::max(lq.size(1), a.crop), w = std::max(lq.size(2), a.crop);
  lq = reflect_pad(lq, h, w);
  gt = reflect_pad(gt, h, w);
  Transform t{0, 0, h, w};
  if (a.crop > 0) {
    t.top = static_cast<int64_t>(rng.below(static_cast<uint64_t>(h - a.crop + 1)));
    t.left = static_cast<int64_t>(rng.below(static_cast<uint64_t>(w - a.crop + 1)));
    t.height = t.width = a.crop;
  }
  const int draw = a.flip || a.rot ? static_cast<int>(rng.below(9)) : 0;
  t = orient(t, draw);
  return {apply_transform(lq, t), apply_transform(gt, t), p.name};
}

}  // namespace liednet::data
