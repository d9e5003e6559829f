// The machine's FP32 peak, measured: a loop of fused multiply-adds on
// independent accumulators (enough to hide the FMA latency on two pipes), on
// one thread (per core) and on every thread at once (all cores). Each vector
// width the CPU reports is measured (AVX-512, AVX2+FMA, else the compiler's
// 128-bit vectors), and the fastest is the peak: a CPU that runs AVX-512 as two
// 256-bit halves shows no gain over AVX2, so nothing is assumed from the flags.
// Rates are per thread CPU time (what the cores can do, whatever else runs) and
// per wall-clock time (what they did now).
// bench/targets.py divides the convolutions' and the training step's FLOP
// rates by this figure.
//   usage: bench_peak [--seconds S] [--json FILE]
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "tensor/parallel.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LIEDNET_X86 1
#endif

using namespace liednet;

namespace {

volatile float g_sink;  // keeps the accumulators alive

// One kernel: `iters` rounds of FMAs on its accumulators; returns FLOPs done.
using Kernel = double (*)(long iters);

#ifdef LIEDNET_X86
// 24 accumulators of 16 lanes: 32 zmm registers hold them and the two constants.
__attribute__((target("avx512f"))) double fma_avx512(long iters) {
  constexpr int kAcc = 24;
  __m512 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
  __m512 s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = _mm512_add_ps(s, acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, s);
  g_sink = lanes[0] + lanes[15];
  return 2.0 * 16 * kAcc * static_cast<double>(iters);
}

// 12 accumulators of 8 lanes: with the two constants, 14 of the 16 ymm registers.
__attribute__((target("avx2,fma"))) double fma_avx2(long iters) {
  constexpr int kAcc = 12;
  __m256 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  __m256 s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = _mm256_add_ps(s, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, s);
  g_sink = lanes[0] + lanes[7];
  return 2.0 * 8 * kAcc * static_cast<double>(iters);
}
#endif

// Any CPU: the compiler's 4-lane vectors, multiply then add (fused where the target can).
double fma_generic(long iters) {
  typedef float v4 __attribute__((vector_size(16)));
  constexpr int kAcc = 12;
  v4 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = v4{1.0f, 1.0f, 1.0f, 1.0f} + i * 1e-3f;
  const v4 m = v4{1, 1, 1, 1} * 0.999999f, a = v4{1, 1, 1, 1} * 1e-7f;
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = acc[i] * m + a;
  float s = 0;
  for (int i = 0; i < kAcc; ++i) s += acc[i][0] + acc[i][3];
  g_sink = s;
  return 2.0 * 4 * kAcc * static_cast<double>(iters);
}

double thread_cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

struct Rate {
  double cpu;   // sum over the threads of FLOPs / the thread's own CPU time: what the cores can do
  double wall;  // all FLOPs / wall time: what they did now, other processes included
};

// GFLOP/s of `threads` threads each running k for about `seconds`: the best of five runs.
// On a shared machine the wall-clock rate drops with the load; the CPU-time rate counts
// only the time each thread ran, so it is the hardware's (two threads on one core's SMT
// siblings still share its FMA units, and show it).
Rate measure(Kernel k, int threads, double seconds) {
  long iters = 1 << 16;
  for (;;) {  // calibrate on one thread: about a tenth of the time per run
    const double t0 = bench::now_ms();
    k(iters);
    if (bench::now_ms() - t0 > seconds * 100) break;
    iters *= 2;
  }
  Rate best{0, 0};
  for (int run = 0; run < 5; ++run) {
    double flops = 0, cpu_rate = 0;
    const double t0 = bench::now_ms();
#pragma omp parallel num_threads(threads) reduction(+ : flops, cpu_rate)
    {
      const double c0 = thread_cpu_ms();
      const double f = k(iters);
      flops += f;
      cpu_rate += f / (thread_cpu_ms() - c0) / 1e6;
    }
    best.wall = std::max(best.wall, flops / (bench::now_ms() - t0) / 1e6);
    best.cpu = std::max(best.cpu, cpu_rate);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  init_threads_from_env();
  double seconds = 0.2;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_peak [--seconds S] [--json FILE]\n");
      return 2;
    }
  }
  struct Isa {
    const char* name;
    Kernel kernel;
    bool supported;
  };
  std::vector<Isa> isas;
#ifdef LIEDNET_X86
  __builtin_cpu_init();
  isas.push_back({"avx512f", fma_avx512, static_cast<bool>(__builtin_cpu_supports("avx512f"))});
  isas.push_back({"avx2+fma", fma_avx2,
                  __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")});
#endif
  isas.push_back({"generic 128-bit", fma_generic, true});

  const int threads = num_threads();
  nlohmann::json out = {{"threads", threads}, {"isas", nlohmann::json::array()}};
  double best1 = 0, bestn = 0;
  std::string best_isa;
  std::printf("FP32 FMA peak (best of 5 runs of ~%.1f s each; %d threads for all cores; rates per thread CPU time,\n"
              "and in brackets per wall-clock time, which a busy machine lowers)\n", seconds, threads);
  for (const Isa& isa : isas) {
    if (!isa.supported) {
      std::printf("  %-16s not supported by this CPU\n", isa.name);
      continue;
    }
    const Rate one = measure(isa.kernel, 1, seconds), all = measure(isa.kernel, threads, seconds);
    std::printf("  %-16s %8.1f GFLOP/s per core (%.1f), %8.1f GFLOP/s on %d threads (%.1f)\n", isa.name, one.cpu,
                one.wall, all.cpu, threads, all.wall);
    out["isas"].push_back({{"isa", isa.name}, {"gflops_per_core", one.cpu}, {"gflops_all", all.cpu},
                           {"gflops_per_core_wall", one.wall}, {"gflops_all_wall", all.wall}});
    if (all.cpu > bestn) bestn = all.cpu, best1 = one.cpu, best_isa = isa.name;
  }
  std::printf("peak: %.1f GFLOP/s per core, %.1f GFLOP/s on all %d threads (%s)\n", best1, bestn, threads,
              best_isa.c_str());
  out["peak_gflops_per_core"] = best1;
  out["peak_gflops_all"] = bestn;
  out["isa"] = best_isa;
  if (!json_path.empty()) bench::write_json(json_path, out);
  return 0;
}
