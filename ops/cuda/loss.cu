// CUDA kernels of ops/loss.cpp (see loss.h): the L1 and smooth L1 losses, a
// deterministic two-pass block sum (sums.cuh) that records what the backward
// needs (the difference's sign, the smooth term's derivative) in the same pass.
#include "ops/cuda/loss.h"

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"
#include "ops/cuda/sums.cuh"

namespace liednet::ops::cuda {

namespace {

// |pred - target| with the difference rounded to float first, as on the CPU;
// records the difference's sign for the backward in the same pass over memory.
struct AbsDiffTerm {
  const float* pred;
  const float* target;
  int8_t* sign;  // null when no backward needs it
  __device__ double operator()(int64_t i) const {
    const float d = pred[i] - target[i];
    if (sign) sign[i] = static_cast<int8_t>((d > 0.f) - (d < 0.f));  // 0 for 0 and NaN
    return double(fabsf(d));
  }
};

// The CPU divides the double sum by the count (not times its reciprocal), and so does this.
void launch_l1_loss(float* out, int8_t* sign, const float* pred, const float* target, int64_t n, double* partials,
                    void* stream) {
  launch_total("l1_loss", out, n, AbsDiffTerm{pred, target, sign}, 1.0, double(n), partials, stream);
}

__global__ void l1_loss_backward_kernel(float* gpred, float* gtarget, const int8_t* sign, const float* g, int64_t n) {
  const float gv = float(double(g[0]) / double(n));
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const float d = gv * float(sign[i]);
    if (gpred) gpred[i] = gpred[i] + d;
    if (gtarget) gtarget[i] = gtarget[i] - d;
  }
}

void launch_l1_loss_backward(float* gpred, float* gtarget, const int8_t* sign, const float* g, int64_t n,
                             void* stream) {
  if (n <= 0 || (!gpred && !gtarget)) return;
  LIEDNET_LAUNCH(l1_loss_backward_kernel, grid_for(n), kThreads, 0, as_stream(stream))(gpred, gtarget, sign, g, n);
  LIEDNET_CHECK_LAUNCH("l1_loss backward");
}

// The smooth L1 term with the difference rounded to float first, as on the
// CPU; records the term's derivative clamp(d / beta, -1, 1) in the same pass.
struct SmoothL1Term {
  const float* pred;
  const float* target;
  float* deriv;  // null when no backward needs it
  float beta;
  __device__ double operator()(int64_t i) const {
    const float d = pred[i] - target[i];
    const float a = fabsf(d);
    if (deriv) deriv[i] = fminf(fmaxf(d / beta, -1.f), 1.f);
    return a < beta ? 0.5 * double(d) * double(d) / double(beta) : double(a) - 0.5 * double(beta);
  }
};

void launch_smooth_l1_loss(float* out, float* deriv, const float* pred, const float* target, int64_t n, float beta,
                           double* partials, void* stream) {
  launch_total("smooth_l1_loss", out, n, SmoothL1Term{pred, target, deriv, beta}, 1.0, double(n), partials, stream);
}

__global__ void smooth_l1_loss_backward_kernel(float* gpred, float* gtarget, const float* deriv, const float* g,
                                               int64_t n) {
  const float gv = float(double(g[0]) / double(n));
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const float d = gv * deriv[i];
    if (gpred) gpred[i] = gpred[i] + d;
    if (gtarget) gtarget[i] = gtarget[i] - d;
  }
}

void launch_smooth_l1_loss_backward(float* gpred, float* gtarget, const float* deriv, const float* g, int64_t n,
                                    void* stream) {
  if (n <= 0 || (!gpred && !gtarget)) return;
  LIEDNET_LAUNCH(smooth_l1_loss_backward_kernel, grid_for(n), kThreads, 0, as_stream(stream))(gpred, gtarget, deriv, g, n);
  LIEDNET_CHECK_LAUNCH("smooth_l1_loss backward");
}

}  // namespace

void register_loss_kernels(LossKernels& k) {
  k.l1_loss = launch_l1_loss;
  k.l1_loss_backward = launch_l1_loss_backward;
  k.smooth_l1_loss = launch_smooth_l1_loss;
  k.smooth_l1_loss_backward = launch_smooth_l1_loss_backward;
}

}  // namespace liednet::ops::cuda
