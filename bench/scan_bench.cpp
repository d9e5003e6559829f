// The fused 2D selective scan at the level shapes of a 256x256 crop in LIEDNet
// (dim 32): forward and backward times, GFLOP/s, bytes of saved state, and the
// speed-up over the naive reference kernel measured in the same run.
//
// usage: bench_scan [--repeats R] [--chunk C] [--batch B] [--no-reference] [--reference-batch8] [--silu-input]
//                   [--cpu-time] [--kernel]
// The naive reference is timed at batch 1 (at batch 8 too with --reference-batch8,
// never with --no-reference); --batch times one batch size instead of 1 and 8;
// --silu-input times the op with SS2D's SiLU fused in (as the network runs it).
// --cpu-time times by the process's CPU time instead of the wall clock: with
// LIEDNET_THREADS=1 that is the one thread's CPU time, which leaves out the
// time other processes had the core (compare kernels on a shared machine this
// way); GF/s are then per core. --kernel times only the forward recurrence
// (scan::forward_chunk16x8, 8 channels, 256 steps in cache, repeated) on one
// thread by its CPU time, under the kernels' ISA, and exits.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include "autograd/autograd.h"
#include "bench_util.h"
#include "ops/isa.h"
#include "ops/scan_kernel.h"
#include "ops/ss2d_scan.h"
#include "tensor/parallel.h"

using namespace liednet;

namespace {
struct Level {
  const char* name;
  int64_t d, H, W, R;  // d = 2C channels of the scan, R = ceil(C / 16)
};
constexpr int64_t kState = 16;

std::vector<Tensor> make_inputs(const Level& lv, int64_t batch) {
  Generator g(1);
  const int64_t S = lv.R + 2 * kState;
  Tensor x = Tensor::randn({batch, lv.d, lv.H, lv.W}, g);
  Tensor wx = Tensor::uniform({4, S, lv.d}, -1.0 / std::sqrt(lv.d), 1.0 / std::sqrt(lv.d), g);
  Tensor wdt = Tensor::uniform({4, lv.d, lv.R}, -1.0 / std::sqrt(lv.R), 1.0 / std::sqrt(lv.R), g);
  Tensor bias = Tensor::uniform({4, lv.d}, -6.0, -2.0, g);
  Tensor alogs = Tensor::empty({4 * lv.d, kState});
  for (int64_t i = 0; i < alogs.numel(); ++i) alogs.data<float>()[i] = std::log(1.0f + i % kState);
  Tensor ds = Tensor::ones({4 * lv.d});
  return {x, wx, wdt, bias, alogs, ds};
}

// FLOP model (multiply and add counted separately; exp and softplus as one each):
// projections 2 L d 4S; per step and channel the delta dot 2R + softplus 1, and
// per state dt*A, exp, a*h, +dt*u*B (2), C*h, sum: 7 N. Backward: two GEMMs
// (4 L d 4S), the chunk recompute (the forward's scan again) and the adjoint, 14 N + 4R per step.
double forward_flops(const Level& lv, int64_t batch) {
  const double L = lv.H * lv.W, S = lv.R + 2 * kState;
  return batch * (2 * L * lv.d * 4 * S + 4 * lv.d * L * (2 * lv.R + 1 + 7 * kState));
}
double backward_flops(const Level& lv, int64_t batch) {
  const double L = lv.H * lv.W, S = lv.R + 2 * kState;
  const double scan = 4 * lv.d * L * (2 * lv.R + 1 + 7 * kState);
  return batch * (4 * L * lv.d * 4 * S + scan + 4 * lv.d * L * (14 * kState + 4 * lv.R));
}

struct Timing {
  double fwd_ms, bwd_ms;
};

bool g_cpu_time = false;  // --cpu-time
double clock_ms() { return g_cpu_time ? bench::cpu_ms() : bench::now_ms(); }

// Median of `repeats` timed calls after one untimed warm-up, by clock_ms.
double median_of(int repeats, const std::function<void()>& f) {
  f();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const double t0 = clock_ms();
    f();
    t.push_back(clock_ms() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

Timing time_op(const std::vector<Tensor>& inputs, bool reference, int64_t chunk, bool silu_input, int repeats) {
  std::vector<Tensor> in;
  for (const Tensor& t : inputs) in.push_back(t.detach().set_requires_grad());
  auto run = [&] {
    return reference ? ops::ss2d_scan_reference(in[0], in[1], in[2], in[3], in[4], in[5])
                     : ops::ss2d_scan(in[0], in[1], in[2], in[3], in[4], in[5],
                                      {.chunk = chunk, .silu_input = silu_input});
  };
  Generator g(2);
  Tensor gy = Tensor::randn(inputs[0].shape(), g);
  Timing t{};
  t.fwd_ms = median_of(repeats, [&] {
    autograd::NoGradGuard no_grad;
    run();
  });
  // Backward alone: the forward that records the graph is outside the timing.
  std::vector<double> b;
  for (int i = 0; i < repeats + 1; ++i) {
    Tensor y = run();
    const double t0 = clock_ms();
    y.backward(gy);
    if (i > 0) b.push_back(clock_ms() - t0);
    for (Tensor& x : in) x.zero_grad();
  }
  std::sort(b.begin(), b.end());
  t.bwd_ms = b[b.size() / 2];
  return t;
}
// --kernel: ns per 8-lane state vector and GF/s (7 FLOPs per state and step) of the forward recurrence alone.
void time_kernel() {
  constexpr int kL = ops::scan::kLanes;
  const int64_t len = 256;
  std::vector<float> bc(len * 32), u8(len * kL), dt8(len * kL), y8(len * kL), A8(16 * kL), D8(kL, 1.0f),
      h8(16 * kL, 0.0f);
  for (size_t i = 0; i < bc.size(); ++i) bc[i] = 0.01f * static_cast<float>(i % 17);
  for (size_t i = 0; i < u8.size(); ++i) u8[i] = 0.1f * static_cast<float>(i % 5), dt8[i] = 0.01f + 0.001f * (i % 7);
  for (int i = 0; i < 16 * kL; ++i) A8[i] = -static_cast<float>(1 + i / kL);
  const int reps = 4000;
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {
    const double t0 = bench::cpu_ms();
    isa::on_isa([&] {
      for (int r = 0; r < reps; ++r)
        ops::scan::forward_chunk16x8(len, bc.data(), 32, A8.data(), D8.data(), u8.data(), dt8.data(), h8.data(),
                                     y8.data());
    });
    best = std::min(best, bench::cpu_ms() - t0);
  }
  const double steps = static_cast<double>(reps) * len;
  std::printf("forward_chunk16x8 (%s, best of 5 by CPU time): %.2f ns per 8-lane state vector, %.1f GF/s\n",
              isa::name(isa::current()), best * 1e6 / (steps * 16), steps * kL * 16 * 7 / best / 1e6);
}
}  // namespace

int main(int argc, char** argv) {
  init_threads_from_env();
  int repeats = 5;
  int64_t chunk = ops::SS2DScanOptions{}.chunk;
  bool ref_batch8 = false, no_ref = false, silu_input = false;
  std::vector<int64_t> batches{1, 8};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--chunk") && i + 1 < argc) chunk = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batches = {std::atoll(argv[++i])};
    else if (!std::strcmp(argv[i], "--reference-batch8")) ref_batch8 = true;
    else if (!std::strcmp(argv[i], "--no-reference")) no_ref = true;
    else if (!std::strcmp(argv[i], "--silu-input")) silu_input = true;
    else if (!std::strcmp(argv[i], "--cpu-time")) g_cpu_time = true;
    else if (!std::strcmp(argv[i], "--kernel")) {
      time_kernel();
      return 0;
    }
    else {
      std::fprintf(stderr, "usage: bench_scan [--repeats R] [--chunk C] [--batch B] [--no-reference] "
                           "[--reference-batch8] [--silu-input] [--cpu-time] [--kernel]\n");
      return 2;
    }
  }
  // LIEDNet (dim 32) at a 256x256 crop: level 1 holds the encoder's block at C and the decoder's and refinement's
  // five at 2C; level 2 four blocks at 2C; level 3 four at 4C.
  const Level levels[] = {{"level 1", 64, 128, 128, 2},
                          {"level 1b", 128, 128, 128, 4},
                          {"level 2", 128, 64, 64, 4},
                          {"level 3", 256, 32, 32, 8}};
  std::printf("fused 2D selective scan (f32%s), N=%lld, chunk %lld, %d threads, median of %d, %s\n",
              silu_input ? ", SiLU input" : "", static_cast<long long>(kState), static_cast<long long>(chunk),
              num_threads(), repeats, g_cpu_time ? "process CPU time" : "wall clock");
  std::printf("%-8s %5s %-14s %9s %9s %9s %8s %8s %12s %11s %11s\n", "level", "batch", "x", "fwd ms", "bwd ms",
              "f+b ms", "fwd GF/s", "bwd GF/s", "saved state", "naive f+b", "speed-up");
  for (const Level& lv : levels)
    for (int64_t batch : batches) {
      auto inputs = make_inputs(lv, batch);
      const Timing fast = time_op(inputs, false, chunk, silu_input, repeats);
      const bool run_ref = !no_ref && !silu_input && (batch == 1 || ref_batch8);
      const Timing ref = run_ref ? time_op(inputs, true, chunk, false, 1) : Timing{};
      const double saved = static_cast<double>(
          ops::ss2d_saved_state_bytes({batch, lv.d, lv.H, lv.W}, kState, {.chunk = chunk}, DType::F32));
      char shape[32];
      std::snprintf(shape, sizeof shape, "%lldx%lldx%lldx%lld", static_cast<long long>(batch),
                    static_cast<long long>(lv.d), static_cast<long long>(lv.H), static_cast<long long>(lv.W));
      char ref_col[32] = "-", speed_col[32] = "-";
      if (run_ref) {
        std::snprintf(ref_col, sizeof ref_col, "%.0f ms", ref.fwd_ms + ref.bwd_ms);
        std::snprintf(speed_col, sizeof speed_col, "%.1fx", (ref.fwd_ms + ref.bwd_ms) / (fast.fwd_ms + fast.bwd_ms));
      }
      std::printf("%-8s %5lld %-14s %9.1f %9.1f %9.1f %8.1f %8.1f %9.2f MiB %11s %11s\n", lv.name,
                  static_cast<long long>(batch), shape, fast.fwd_ms, fast.bwd_ms, fast.fwd_ms + fast.bwd_ms,
                  forward_flops(lv, batch) / fast.fwd_ms / 1e6, backward_flops(lv, batch) / fast.bwd_ms / 1e6,
                  saved / (1 << 20), ref_col, speed_col);
      std::fflush(stdout);
    }
  std::printf("peak RSS %.0f MiB\n", bench::peak_rss_mib());
  return 0;
}
