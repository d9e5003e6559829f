// The 2D selective scan (SS2D's core) on a 4x4 map, one channel, N = 2 states.
//
// What to look at:
//  - the four orders: k0 visits the pixels row by row, k1 column by column, k2 and k3 the same backwards
//    (ops::ss2d_pixel);
//  - in each direction, the state h_t = exp(dt_t A) h_{t-1} + dt_t B_t u_t: it only ever holds what that
//    direction has already visited, so each direction's output at a pixel depends only on the pixels before it
//    in its own order;
//  - the merged output y is the sum of the four direction maps, pixel by pixel, and equals ops::ss2d_scan.
// The loop below is written out by hand (docs/selective_scan.md, "4. The recurrence"); the program checks it
// against the library's op and exits 1 if they differ.
#include <cmath>
#include <cstdio>

#include "ops/ss2d_scan.h"

using namespace liednet;

int main() {
  const int64_t H = 4, W = 4, L = H * W, N = 2, R = 1, d = 1;
  // Input: one bright pixel at (1, 2) on a dim map (0.2), so you can watch it travel along each order.
  Tensor x = Tensor::full({1, d, H, W}, 0.2, DType::F64);
  x.data<double>()[1 * W + 2] = 1.0;
  // Per direction: rows of x_proj_weight are [dt | B (N) | C (N)]; the same for all four here except the
  // step-size bias, so the directions differ only by their order and their decay.
  Tensor x_proj = Tensor::from_vector({4, R + 2 * N, d}, {0.5, 1.0, 0.5, 1.0, 1.0,  //
                                                          0.5, 1.0, 0.5, 1.0, 1.0,  //
                                                          0.5, 1.0, 0.5, 1.0, 1.0,  //
                                                          0.5, 1.0, 0.5, 1.0, 1.0},
                                      DType::F64);
  Tensor dt_w = Tensor::from_vector({4, d, R}, {1.0, 1.0, 1.0, 1.0}, DType::F64);
  Tensor dt_b = Tensor::from_vector({4, d}, {0.0, -1.0, 0.5, 1.0}, DType::F64);
  Tensor A_logs = Tensor::from_vector({4 * d, N}, {0.0, std::log(4.0), 0.0, std::log(4.0), 0.0, std::log(4.0),
                                                   0.0, std::log(4.0)},
                                      DType::F64);  // A = (-1, -4): a slow and a fast state
  Tensor Ds = Tensor::zeros({4 * d}, DType::F64);    // no skip term, so y shows the states alone

  const double* u = x.data<double>();
  const double* wx = x_proj.data<double>();
  double merged[L] = {};
  for (int k = 0; k < 4; ++k) {
    std::printf("direction k%d:\n  step pixel(r,c)    u     dt      h[0]     h[1]     y\n", k);
    double h[N] = {0, 0}, yk[L] = {};
    for (int64_t t = 0; t < L; ++t) {
      const int64_t p = ops::ss2d_pixel(k, t, H, W);
      const double* row = wx + k * (R + 2 * N) * d;  // this direction's projection (d = 1 column)
      const double dt_raw = row[0] * u[p], B[2] = {row[1] * u[p], row[2] * u[p]}, C[2] = {row[3] * u[p], row[4] * u[p]};
      const double z = dt_w.data<double>()[k] * dt_raw + dt_b.data<double>()[k];
      const double dt = z > 20 ? z : std::log1p(std::exp(z));  // softplus
      double y = Ds.data<double>()[k] * u[p];
      for (int n = 0; n < N; ++n) {
        const double A = -std::exp(A_logs.data<double>()[k * N + n]);
        h[n] = std::exp(dt * A) * h[n] + dt * B[n] * u[p];
        y += C[n] * h[n];
      }
      yk[p] = y;
      std::printf("  %4lld  (%lld,%lld)   %5.2f  %6.3f  %8.5f %8.5f %8.5f\n", static_cast<long long>(t),
                  static_cast<long long>(p / W), static_cast<long long>(p % W), u[p], dt, h[0], h[1], y);
    }
    // After the bright pixel, the states (and so y) stay raised and decay back towards the dim level: the
    // pixels before it in this order do not see it at all.
    std::printf("  output of k%d on the map:\n", k);
    for (int64_t r = 0; r < H; ++r) {
      std::printf("   ");
      for (int64_t c = 0; c < W; ++c) std::printf(" %8.5f", yk[r * W + c]);
      std::printf("\n");
    }
    for (int64_t p = 0; p < L; ++p) merged[p] += yk[p];
  }

  Tensor y = ops::ss2d_scan(x, x_proj, dt_w, dt_b, A_logs, Ds);
  double worst = 0;
  std::printf("merged y (sum of the four directions) and ops::ss2d_scan:\n");
  for (int64_t p = 0; p < L; ++p) {
    worst = std::max(worst, std::abs(merged[p] - y.data<double>()[p]));
    if (p % W == 0) std::printf("   ");
    std::printf(" %8.5f|%8.5f", merged[p], y.data<double>()[p]);
    if (p % W == W - 1) std::printf("\n");
  }
  std::printf("max |hand-written - ops::ss2d_scan| = %.3g\n", worst);
  return worst < 1e-12 ? 0 : 1;
}
