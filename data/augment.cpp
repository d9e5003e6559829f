#include "data/augment.h"

#include "data/image.h"
#include "data/llie_dataset.h"
#include "tensor/error.h"

namespace liednet::data {

Transform draw_transform(int64_t h, int64_t w, const AugmentOptions& a, Generator& rng, const std::string& file) {
  LIEDNET_CHECK(a.crop >= 0, "augment: the crop size must be 0 (whole images) or positive, got ", a.crop);
  Transform t{0, 0, h, w};
  if (a.crop > 0) {
    LIEDNET_CHECK(h >= a.crop && w >= a.crop, file, ": the image (", h, "x", w, ", H x W) is smaller than the crop ",
                  a.crop, "x", a.crop);
    t.top = static_cast<int64_t>(rng.below(static_cast<uint64_t>(h - a.crop + 1)));
    t.left = static_cast<int64_t>(rng.below(static_cast<uint64_t>(w - a.crop + 1)));
    t.height = t.width = a.crop;
  }
  if (a.flip) t.hflip = rng.uniform() < 0.5;
  if (a.rot) {
    t.vflip = rng.uniform() < 0.5;
    t.transpose = rng.uniform() < 0.5;
  }
  return t;
}

Tensor apply_transform(const Tensor& image, const Transform& t, float scale, float shift) {
  LIEDNET_CHECK(image.ndim() == 3 && image.dtype() == DType::F32, "apply_transform: needs an f32 (C, H, W) image, got ",
                image.str());
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  LIEDNET_CHECK(t.top >= 0 && t.left >= 0 && t.height > 0 && t.width > 0 && t.top + t.height <= H &&
                    t.left + t.width <= W,
                "apply_transform: window (top ", t.top, ", left ", t.left, ", ", t.height, "x", t.width,
                ") outside the image ", image.str());
  const int64_t oh = t.transpose ? t.width : t.height, ow = t.transpose ? t.height : t.width;
  Tensor out = Tensor::empty({C, oh, ow});
  const float* src = image.data<float>();
  float* dst = out.data<float>();
  // Output (i, j) reads window (r, c) = transpose ? (j, i) : (i, j), flipped:
  // window row r is source row top + (vflip ? height-1-r : r), likewise columns.
  // Source row and column as an affine function of the output index keeps the
  // inner loop a strided copy.
  for (int64_t ch = 0; ch < C; ++ch) {
    const float* plane = src + ch * H * W;
    float* o = dst + ch * oh * ow;
    for (int64_t i = 0; i < oh; ++i) {
      // For fixed i, source offset = base + j * step.
      int64_t base, step;
      if (!t.transpose) {
        const int64_t row = t.top + (t.vflip ? t.height - 1 - i : i);
        base = row * W + t.left + (t.hflip ? t.width - 1 : 0);
        step = t.hflip ? -1 : 1;
      } else {
        const int64_t col = t.left + (t.hflip ? t.width - 1 - i : i);
        base = (t.top + (t.vflip ? t.height - 1 : 0)) * W + col;
        step = t.vflip ? -W : W;
      }
      for (int64_t j = 0; j < ow; ++j) o[i * ow + j] = plane[base + j * step] * scale + shift;
    }
  }
  return out;
}

Sample load_pair(const Pair& p, const AugmentOptions& a, Generator& rng) {
  if (a.llie) return load_llie_pair(p, a, rng);
  Tensor lq = read_image(p.lq_path), gt = read_image(p.gt_path);
  LIEDNET_CHECK(lq.shape() == gt.shape(), "pair ", p.name, ": ", p.lq_path, " is ", lq.size(1), "x", lq.size(2),
                " but ", p.gt_path, " is ", gt.size(1), "x", gt.size(2), " (H x W); the images of a pair must match");
  const Transform t = draw_transform(lq.size(1), lq.size(2), a, rng, p.lq_path);
  return {apply_transform(lq, t, 2.0f, -1.0f), apply_transform(gt, t, 2.0f, -1.0f), p.name};
}

}  // namespace liednet::data
