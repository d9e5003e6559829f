// The effective receptive field (ERF) of one Local Mamba Block (dim 8, random weights) on a 15x15 map, and of
// its two branches alone.
//
// What to look at: the ERF is the input gradient of the centre pixel of an output (summed over channels), as
// `liednet explain` computes for every stage (docs/explain.md). Maps are printed on a log scale: 9 is the
// largest |gradient|, each digit less is 10x smaller, '.' is below 1e-9 of the largest.
//  - the SS2D branch sees every pixel, and most strongly the centre's own row and column: they are the centre's
//    nearest predecessors in the four scan orders (row-major reaches the row, column-major the column);
//  - the LFM branch sees the centre pixel (its per-pixel product) and everything else only through one global
//    average per channel: a flat field far below the centre;
//  - the whole block adds the depthwise convolutions' small square (3x3, 5x5) around the centre.
// The program exits 1 unless the SS2D branch's ERF is stronger on the centre's row and column than off them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>

#include "liednet/blocks.h"

using namespace liednet;

static Tensor erf(const std::function<Tensor(const Tensor&)>& f, const Tensor& x0) {
  Tensor x = x0.clone();
  x.set_requires_grad();
  Tensor y = f(x);
  const int64_t C = y.size(1), H = y.size(2), W = y.size(3);
  Tensor g = Tensor::zeros(y.shape(), DType::F64);
  for (int64_t c = 0; c < C; ++c) g.data<double>()[(c * H + H / 2) * W + W / 2] = 1.0;
  y.backward(g);
  Tensor map = Tensor::zeros({H, W}, DType::F64);
  for (int64_t c = 0; c < x.size(1); ++c)
    for (int64_t i = 0; i < H * W; ++i) map.data<double>()[i] += std::abs(x.grad().data<double>()[c * H * W + i]);
  return map;
}

// Mean of the map on the centre's row and column and off them, more than 2 pixels from the centre.
static std::pair<double, double> on_off_axis(const Tensor& map) {
  const int64_t H = map.size(0), W = map.size(1);
  double on = 0, off = 0;
  int64_t n_on = 0, n_off = 0;
  for (int64_t r = 0; r < H; ++r)
    for (int64_t c = 0; c < W; ++c) {
      if (std::max(std::abs(r - H / 2), std::abs(c - W / 2)) <= 2) continue;
      const double v = map.data<double>()[r * W + c];
      if (r == H / 2 || c == W / 2) on += v, ++n_on;
      else off += v, ++n_off;
    }
  return {on / n_on, off / n_off};
}

static void print(const char* title, const Tensor& map) {
  const int64_t H = map.size(0), W = map.size(1);
  double peak = 0;
  for (int64_t i = 0; i < H * W; ++i) peak = std::max(peak, map.data<double>()[i]);
  const auto [on, off] = on_off_axis(map);
  std::printf("%s: mean on the centre's row and column %.3g, off them %.3g\n", title, on, off);
  for (int64_t r = 0; r < H; ++r) {
    std::printf("  ");
    for (int64_t c = 0; c < W; ++c) {
      const double v = map.data<double>()[r * W + c] / peak;
      std::printf("%c", v < 1e-9 ? '.' : static_cast<char>('0' + std::max(0, 9 + static_cast<int>(std::floor(std::log10(v) + 1e-12)))));
    }
    std::printf("\n");
  }
}

int main() {
  Generator gen(5);
  net::LocalMambaBlock block(8, gen);
  block.to(DType::F64);
  Tensor x = Tensor::randn({1, 8, 15, 15}, gen, DType::F64);
  Tensor ss2d = erf([&](const Tensor& v) { return block.op->forward(block.norm->forward(v)); }, x);
  Tensor lfm = erf([&](const Tensor& v) { return block.local->forward(block.norm->forward(v)); }, x);
  Tensor whole = erf([&](const Tensor& v) { return block.forward(v); }, x);
  print("SS2D branch, op(norm(x))", ss2d);
  print("LFM branch, local(norm(x))", lfm);
  print("whole block", whole);
  const auto [on, off] = on_off_axis(ss2d);
  return on > off ? 0 : 1;
}
