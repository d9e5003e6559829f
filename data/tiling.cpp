#include "data/tiling.h"

#include <algorithm>

#include "ops/pad.h"

namespace liednet::data {

std::vector<TileSpan> tile_spans(int64_t length, int64_t tile, int64_t overlap) {
  LIEDNET_CHECK(length > 0 && tile > 0, "tiling: length ", length, " and tile ", tile, " must be positive");
  LIEDNET_CHECK(overlap >= 0 && 2 * overlap <= tile, "tiling: overlap ", overlap, " must be between 0 and tile/2 = ",
                tile / 2);
  if (length <= tile) return {{0, length}};
  std::vector<TileSpan> spans;
  const int64_t step = tile - overlap;
  for (int64_t s = 0;; s += step) {
    if (s + tile >= length) {
      spans.push_back({length - tile, tile});
      break;
    }
    spans.push_back({s, tile});
  }
  return spans;
}

namespace {
// A tile's raw weight at x: ramps up over `overlap` pixels from its inner
// edges (not at the image border), 1 inside.
double raw_weight(const std::vector<TileSpan>& spans, size_t i, int64_t x, int64_t overlap) {
  const TileSpan& t = spans[i];
  const int64_t length = spans.back().start + spans.back().size;
  double w = 1.0;
  const double ramp = static_cast<double>(overlap + 1);
  if (t.start > 0) w = std::min(w, static_cast<double>(x - t.start + 1) / ramp);
  if (t.start + t.size < length) w = std::min(w, static_cast<double>(t.start + t.size - x) / ramp);
  return w;
}
}  // namespace

std::vector<float> tile_weights(const std::vector<TileSpan>& spans, size_t i, int64_t overlap) {
  // Each pixel's weights are the raw ones divided by their sum over every tile
  // covering it: two or three tiles (the last is moved back to fit), always one in total.
  const TileSpan& me = spans[i];
  std::vector<float> w(me.size);
  for (int64_t x = me.start; x < me.start + me.size; ++x) {
    double total = 0;
    for (size_t j = 0; j < spans.size(); ++j)
      if (x >= spans[j].start && x < spans[j].start + spans[j].size) total += raw_weight(spans, j, x, overlap);
    w[x - me.start] = static_cast<float>(raw_weight(spans, i, x, overlap) / total);
  }
  return w;
}

Tensor run_tiled(const Tensor& image, int64_t tile, int64_t overlap, const std::function<Tensor(const Tensor&)>& f) {
  LIEDNET_CHECK(image.ndim() == 4 && image.size(0) == 1, "run_tiled: image must be (1, C, H, W), got ", image.str());
  const int64_t H = image.size(2), W = image.size(3);
  const std::vector<TileSpan> rows = tile_spans(H, tile, overlap), cols = tile_spans(W, tile, overlap);
  if (rows.size() == 1 && cols.size() == 1) return f(image);  // one tile: exactly the untiled result

  Tensor out, weight_sum;
  for (size_t r = 0; r < rows.size(); ++r) {
    const std::vector<float> wr = tile_weights(rows, r, overlap);
    for (size_t c = 0; c < cols.size(); ++c) {
      const std::vector<float> wc = tile_weights(cols, c, overlap);
      Tensor y = f(ops::crop(image, rows[r].start, cols[c].start, rows[r].size, cols[c].size));
      LIEDNET_CHECK(y.ndim() == 4 && y.size(2) == rows[r].size && y.size(3) == cols[c].size && y.dtype() == DType::F32,
                    "run_tiled: the network returned ", y.str(), " for a ", rows[r].size, "x", cols[c].size, " tile");
      if (!out.defined()) out = Tensor::zeros({1, y.size(1), H, W});
      const int64_t C = y.size(1);
      float* o = out.data<float>();
      const float* t = y.data<float>();
      for (int64_t ch = 0; ch < C; ++ch)
        for (int64_t i = 0; i < rows[r].size; ++i)
          for (int64_t j = 0; j < cols[c].size; ++j)
            o[(ch * H + rows[r].start + i) * W + cols[c].start + j] += wr[i] * wc[j] * t[(ch * rows[r].size + i) * cols[c].size + j];
    }
  }
  return out;
}

}  // namespace liednet::data
