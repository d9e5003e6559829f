// The machine's FP32 peak, measured: a loop of fused multiply-adds on
// independent accumulators (enough to hide the FMA latency on two pipes), on
// one thread (per core) and on every thread at once (all cores). Each vector
// width the CPU reports is measured (AVX-512, AVX2+FMA, and the x86-64-v2
// baseline SSE multiply + add), and the fastest is the peak: a CPU that runs AVX-512 as two
// 256-bit halves shows no gain over AVX2, so nothing is assumed from the flags.
// Rates are per thread CPU time (what the cores can do, whatever else runs) and
// per wall-clock time (what they did now). Then the memory bandwidth by a
// STREAM-like triad, on one thread and on all.
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

volatile float g_sink;  // keeps results alive

// One kernel: `iters` rounds of FMAs on its accumulators; returns FLOPs done.
using Kernel = double (*)(long iters);

#ifdef LIEDNET_X86
// The x86 loops are written in assembly so that nothing but the FMAs and the
// loop counter is in the loop: every accumulator is a named register, and no
// load, store or spill can appear (a compiled loop over an array of __m512
// kept its accumulators in memory on one AVX-512 machine and measured half
// the peak). tests/perf/peak_loop_test.py disassembles this program and checks
// each kernel's loop. Each accumulator does acc = acc * m + a, which stays
// near a / (1 - m): no overflow, no denormals.
//
// AVX-512: 24 zmm accumulators (zmm0-23), the constants in zmm30 and zmm31.
// 24 independent chains cover 2 FMA pipes x a latency of up to 12 cycles.
#define LIEDNET_REP24(X)                                                                                   \
  X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16) X(17) X(18) \
      X(19) X(20) X(21) X(22) X(23)
#define LIEDNET_REP14(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
#define LIEDNET_ZFMA(i) "vfmadd213ps %%zmm31, %%zmm30, %%zmm" #i "\n\t"
#define LIEDNET_ZINIT(i) "vmovaps %%zmm30, %%zmm" #i "\n\t"
#define LIEDNET_YFMA(i) "vfmadd213ps %%ymm15, %%ymm14, %%ymm" #i "\n\t"
#define LIEDNET_YINIT(i) "vmovaps %%ymm14, %%ymm" #i "\n\t"
#define LIEDNET_XMULADD(i) "mulps %%xmm14, %%xmm" #i "\n\taddps %%xmm15, %%xmm" #i "\n\t"
#define LIEDNET_XINIT(i) "movaps %%xmm14, %%xmm" #i "\n\t"

__attribute__((target("avx512f"), noinline)) double fma_avx512(long iters) {
  const float m = 0.999999f, a = 1e-7f;
  long n = iters;
  asm volatile(
      "vbroadcastss %[m], %%zmm30\n\t"
      "vbroadcastss %[a], %%zmm31\n\t" LIEDNET_REP24(LIEDNET_ZINIT)
      ".p2align 5\n"
      "1:\n\t" LIEDNET_REP24(LIEDNET_ZFMA)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      : [n] "+r"(n)
      : [m] "m"(m), [a] "m"(a)
      : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
        "xmm30", "xmm31");
  return 2.0 * 16 * 24 * static_cast<double>(iters);
}

// AVX2+FMA: 14 ymm accumulators (ymm0-13), the constants in ymm14 and ymm15.
__attribute__((target("avx2,fma"), noinline)) double fma_avx2(long iters) {
  const float m = 0.999999f, a = 1e-7f;
  long n = iters;
  asm volatile(
      "vbroadcastss %[m], %%ymm14\n\t"
      "vbroadcastss %[a], %%ymm15\n\t" LIEDNET_REP14(LIEDNET_YINIT)
      ".p2align 5\n"
      "1:\n\t" LIEDNET_REP14(LIEDNET_YFMA)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : [n] "+r"(n)
      : [m] "m"(m), [a] "m"(a)
      : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15");
  return 2.0 * 8 * 14 * static_cast<double>(iters);
}

// The baseline (x86-64-v2: SSE, no FMA): 14 xmm accumulators, a multiply and
// an add each (2 FLOPs per lane, like one FMA).
__attribute__((noinline)) double fma_generic(long iters) {
  alignas(16) const float m[4] = {0.999999f, 0.999999f, 0.999999f, 0.999999f};
  alignas(16) const float a[4] = {1e-7f, 1e-7f, 1e-7f, 1e-7f};
  long n = iters;
  asm volatile(
      "movaps %[m], %%xmm14\n\t"
      "movaps %[a], %%xmm15\n\t" LIEDNET_REP14(LIEDNET_XINIT)
      ".p2align 5\n"
      "1:\n\t" LIEDNET_REP14(LIEDNET_XMULADD)
      "dec %[n]\n\t"
      "jnz 1b\n\t"
      : [n] "+r"(n)
      : [m] "m"(m), [a] "m"(a)
      : "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15");
  return 2.0 * 4 * 14 * static_cast<double>(iters);
}
#else
// Other CPUs: the compiler's 4-lane vectors (check the generated code there).
double fma_generic(long iters) {
  typedef float v4 __attribute__((vector_size(16)));
  v4 a0 = v4{} + 1.0f, a1 = a0 + 1e-3f, a2 = a0 + 2e-3f, a3 = a0 + 3e-3f, a4 = a0 + 4e-3f, a5 = a0 + 5e-3f,
     a6 = a0 + 6e-3f, a7 = a0 + 7e-3f;
  const v4 m = v4{} + 0.999999f, a = v4{} + 1e-7f;
  for (long it = 0; it < iters; ++it) {
    a0 = a0 * m + a, a1 = a1 * m + a, a2 = a2 * m + a, a3 = a3 * m + a;
    a4 = a4 * m + a, a5 = a5 * m + a, a6 = a6 * m + a, a7 = a7 * m + a;
  }
  const v4 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
  g_sink = s[0] + s[3];
  return 2.0 * 4 * 8 * static_cast<double>(iters);
}
#endif

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

// STREAM's triad, a[i] = b[i] + s c[i], over three arrays of `n` floats far
// larger than the caches, on `threads` threads (each its static share, first
// touched by the thread that uses it). GB/s counted as STREAM does: 12 bytes
// per element (two reads, one write; the write-allocate read is not counted).
// Best of five passes after a warm-up pass.
double triad_gbs(int threads, int64_t n) {
  float* pa = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  float* pb = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  float* pc = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  if (!pa || !pb || !pc) {
    std::fprintf(stderr, "bench_peak: out of memory for the triad's arrays\n");
    std::exit(1);
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) pa[i] = 0, pb[i] = 1.0f, pc[i] = 2.0f;
  double best = 0;
  for (int pass = 0; pass < 6; ++pass) {
    const float sc = 0.5f + pass;
    const double t0 = bench::now_ms();
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; ++i) pa[i] = pb[i] + sc * pc[i];
    const double ms = bench::now_ms() - t0;
    if (pass > 0) best = std::max(best, 12.0 * n / ms / 1e6);
  }
  g_sink = pa[n / 2];
  std::free(pa), std::free(pb), std::free(pc);
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
  isas.push_back({"avx512", fma_avx512, static_cast<bool>(__builtin_cpu_supports("avx512f"))});
  isas.push_back({"avx2", fma_avx2,
                  __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")});
#endif
  isas.push_back({"generic", fma_generic, true});

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
  // Memory: three arrays of 2^24 floats (64 MiB each), beyond any L3 here.
  const int64_t n = int64_t{1} << 24;
  const double bw1 = triad_gbs(1, n), bwn = triad_gbs(threads, n);
  std::printf("memory bandwidth (triad, 3 x 64 MiB): %.1f GB/s on 1 thread, %.1f GB/s on %d threads\n", bw1, bwn,
              threads);
  out["triad_gbs_1"] = bw1;
  out["triad_gbs_all"] = bwn;
  out["peak_gflops_per_core"] = best1;
  out["peak_gflops_all"] = bestn;
  out["isa"] = best_isa;
  if (!json_path.empty()) bench::write_json(json_path, out);
  return 0;
}
