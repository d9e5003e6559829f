// Small helpers for the benchmark programs: wall-clock timing with a median
// over repeats, and peak resident memory. Benchmarks print figures; they never
// pass or fail.
#pragma once

#include <algorithm>
#include <chrono>
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

}  // namespace liednet::bench
