// Run-time choice of the CPU kernels' instruction set. The library is built
// for a baseline (x86-64-v2 by default, CMakeLists.txt), and the hot loops
// (GEMM, the scan, depthwise, the fused ops) are compiled a second and third
// time for AVX2+FMA and for AVX-512, inside functions that carry GCC's
// `target` attribute. One of the three runs, chosen once from cpuid at the
// first use: the best the CPU has, or the one LIEDNET_ISA names
// (generic|avx2|avx512; one the CPU lacks is an error, never a SIGILL).
//
// How a kernel is compiled per ISA: on_isa(f) calls f() (or f(Tag<isa>)) through
//   run_generic(f) | run_avx2(f) | run_avx512(f),
// the last two declared `target(...)` and `flatten`: flatten inlines f's body
// and everything it calls (transitively, where the definition is visible) into
// that function, so the whole loop nest is generated for that ISA. Nothing is
// compiled for AVX2/AVX-512 outside these functions (tests/perf/isa_test.sh
// checks the binary for ymm/zmm registers elsewhere), so a baseline CPU never
// executes an instruction it lacks. Call on_isa inside a parallel task, not
// around parallel_for: OpenMP's outlined bodies are separate functions that
// flatten cannot reach.
//
// Results are bit-identical across thread counts within one ISA; across ISAs
// they differ in rounding (the baseline has no FMA, and the GEMM's tile is
// 4, 8 or 16 lanes wide), within the op harness's f32 bounds.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "tensor/parallel.h"

namespace liednet::isa {

enum class Isa { generic = 0, avx2 = 1, avx512 = 2 };

// The ISA a kernel is being compiled for, as a type: a body that needs it
// (the GEMM's vector width) takes it as its argument, `[&](auto tag)`, and
// reads decltype(tag)::value.
template <Isa I>
using Tag = std::integral_constant<Isa, I>;

// Bytes of the widest vector of each ISA.
template <Isa I>
constexpr int kVectorBytes = I == Isa::avx512 ? 64 : I == Isa::avx2 ? 32 : 16;

template <Isa I, typename F>
inline void call_tagged(F& f) {
  if constexpr (std::is_invocable_v<F&, Tag<I>>)
    f(Tag<I>{});
  else
    f();
}

// The kernels' ISA: chosen at the first call and fixed for the process.
// Throws liednet::Error for an unknown LIEDNET_ISA or one this CPU lacks.
Isa current();
const char* name(Isa isa);
// Whether this CPU (and its OS) runs the ISA's kernels.
bool supported(Isa isa);
// The best ISA this CPU runs.
Isa best();

// Denormals: the kernels run with flush-to-zero and denormals-are-zero set
// (MXCSR's FTZ and DAZ bits) on the thread that runs them, and the caller's
// setting is restored when they return (or throw). A result below the
// smallest normal number (1.2e-38 in f32, 2.2e-308 in f64) is 0, and a
// denormal input counts as 0: the scan's backward, whose products
// g (a h) with a = exp(dt A) near 1e-38 would otherwise run at a fraction
// of the speed (microcode assists on every such operation), runs at full
// speed. f64 values in the gradient checks are nowhere near 2.2e-308, so the
// f64 checks are unchanged.
#if defined(__x86_64__)
class FlushDenormals {
 public:
  FlushDenormals() : saved_(__builtin_ia32_stmxcsr()) { __builtin_ia32_ldmxcsr(saved_ | kFtzDaz); }
  ~FlushDenormals() { __builtin_ia32_ldmxcsr(saved_); }
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  static constexpr unsigned kFtzDaz = 0x8040;  // FTZ (bit 15) | DAZ (bit 6)
  unsigned saved_;
};
#else
struct FlushDenormals {};
#endif

#if defined(__x86_64__) && !defined(LIEDNET_NO_ISA_DISPATCH)
#define LIEDNET_ISA_DISPATCH 1
#define LIEDNET_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt"), flatten, noinline))
#define LIEDNET_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,f16c,bmi,bmi2,lzcnt,popcnt"), flatten, noinline))

template <typename F>
__attribute__((flatten, noinline)) void run_generic(F& f) {
  FlushDenormals ftz;
  call_tagged<Isa::generic>(f);
}
template <typename F>
LIEDNET_TARGET_AVX2 void run_avx2(F& f) {
  FlushDenormals ftz;
  call_tagged<Isa::avx2>(f);
}
template <typename F>
LIEDNET_TARGET_AVX512 void run_avx512(F& f) {
  FlushDenormals ftz;
  call_tagged<Isa::avx512>(f);
}

// f() compiled for the current ISA.
template <typename F>
inline void on_isa(F&& f) {
  switch (current()) {
    case Isa::avx512: run_avx512(f); break;
    case Isa::avx2: run_avx2(f); break;
    default: run_generic(f); break;
  }
}
#else
template <typename F>
inline void on_isa(F&& f) {
  FlushDenormals ftz;
  call_tagged<Isa::generic>(f);
}
#endif

// parallel_for and parallel_chunks (tensor/parallel.h) whose bodies run
// compiled for the current ISA: each thread's share of the range is one
// on_isa call. The split into tasks, and so every result, is that of the
// plain versions.
template <typename F>
void parallel_for_isa(int64_t begin, int64_t end, int64_t grain, F&& f) {
  const int64_t n = end - begin;
  if (n <= 0) return;
  const int64_t parts =
      (n <= grain || omp_in_parallel()) ? 1 : std::min<int64_t>(n, std::max(1, omp_get_max_threads()));
  parallel_for(0, parts, 1, [&](int64_t p) {
    const int64_t lo = begin + n * p / parts, hi = begin + n * (p + 1) / parts;
    on_isa([&] {
      for (int64_t i = lo; i < hi; ++i) f(i);
    });
  });
}

template <typename F>
void parallel_chunks_isa(int64_t n, int64_t min_chunk, F&& f) {
  parallel_chunks(n, min_chunk, [&](int64_t lo, int64_t hi) { on_isa([&] { f(lo, hi); }); });
}

}  // namespace liednet::isa
