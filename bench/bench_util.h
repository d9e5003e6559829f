// Small helpers for the benchmark programs: wall-clock timing with a median
// over repeats, and peak resident memory. Benchmarks print figures; they never
// pass or fail.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "autograd/profiler.h"

namespace liednet::bench {

inline double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

// CPU time of the whole process (all threads), in ms. On a shared machine it
// leaves out the time other processes had the cores, so single-threaded
// kernels compare across runs far better by it than by the wall clock.
inline double cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// Median of `repeats` timed calls (ms) after one untimed warm-up. The op
// profiler (LIEDNET_PROFILE=1) starts counting after the warm-up.
inline double median_ms(int repeats, const std::function<void()>& f) {
  f();
  profiler::reset();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const double t0 = now_ms();
    f();
    t.push_back(now_ms() - t0);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Peak resident set size of this process in MiB (Linux VmHWM).
inline double peak_rss_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

// The machine's FP32 peak in GFLOP/s on `threads` threads: every thread runs
// independent chains of vector FMAs (enough to cover the FMA latency on two
// pipes) for about `ms` milliseconds; the figure counts 2 FLOPs per lane per
// FMA. The vector is the widest the compiler targets (-march=native), so the
// figure follows the machine: 8 lanes on AVX2, 16 on AVX-512. `clock` is
// now_ms (wall) or cpu_ms (CPU time, for one thread on a shared machine).
inline double fp32_peak_gflops(int threads, double ms = 200, double (*clock)() = now_ms) {
#if defined(__AVX512F__)
  constexpr int kLanes = 16;
#else
  constexpr int kLanes = 8;
#endif
  typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));
  constexpr int kChains = 12;
  constexpr int64_t kInner = 1 << 16;
  double best = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    int64_t rounds = 0;
    const double t0 = clock();
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : rounds, sink)
    {
      Vec acc[kChains];
      for (int c = 0; c < kChains; ++c)
        for (int l = 0; l < kLanes; ++l) acc[c][l] = 1.0f + 1e-3f * static_cast<float>(c + l);
      Vec mul, add;
      for (int l = 0; l < kLanes; ++l) mul[l] = 0.999999f, add[l] = 1e-7f;
      while (clock() - t0 < ms) {
        for (int64_t i = 0; i < kInner; ++i)
#pragma GCC unroll 12
          for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * mul + add;
        ++rounds;
      }
      for (int c = 0; c < kChains; ++c)
        for (int l = 0; l < kLanes; ++l) sink += acc[c][l];
    }
    const double seconds = (clock() - t0) / 1e3;
    static volatile float keep;
    keep = keep + sink;
    best = std::max(best, static_cast<double>(rounds) * kInner * kChains * kLanes * 2 / seconds / 1e9);
  }
  return best;
}

}  // namespace liednet::bench
