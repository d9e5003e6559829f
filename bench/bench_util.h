// Small helpers for the benchmark programs: wall-clock timing with a median
// over repeats, and peak resident memory. Benchmarks print figures; they never
// pass or fail.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// Writes j to path through a temporary name and a rename (a reader never sees half a file);
// exits 1 with a message naming the file if it cannot.
inline void write_json(const std::string& path, const nlohmann::json& j) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream f(tmp);
    f << j.dump(1) << "\n";
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", tmp.c_str());
      std::exit(1);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::fprintf(stderr, "cannot rename %s to %s\n", tmp.c_str(), path.c_str());
    std::exit(1);
  }
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
