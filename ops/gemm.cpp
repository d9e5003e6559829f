#include "ops/gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "ops/isa.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

namespace liednet::ops {

namespace {

// ---- the register tile -----------------------------------------------------------
//
// A packed, cache-blocked GEMM in the BLIS layout: B is packed into panels of
// NR columns, A into panels of MR rows, and a micro-kernel keeps an MR x NR
// tile of C in vector registers while it walks K. The vector is the widest of
// the ISA chosen at run time (ops/isa.h; VB bytes): 4 floats on the baseline,
// 8 on AVX2, 16 on AVX-512. MR = 6 with NR = two vectors uses 12 accumulators,
// 2 loads and a broadcast: 15 of the 16 registers of SSE and AVX2.
constexpr int MR = 6;

template <typename T, int VB>
struct Tile {
  typedef T Vec __attribute__((vector_size(VB)));
  static constexpr int L = VB / sizeof(T);  // lanes
  static constexpr int NR = 2 * L;
};

// Every element of C is the sum over K in blocks of KC, in order; within a
// block, one FMA chain in k order. Neither depends on where the element lies in
// C, on how C is split into tiles or among threads, or on M and N: so results
// are bit-identical for any thread count and any partition of the work.
constexpr int64_t KC = 256;
constexpr int64_t MC = 96;    // rows of A per packed block (MC x KC: 96 KiB of f32, in L2)
constexpr int64_t NC = 2048;  // columns of B per packed panel (KC x NC: 2 MiB of f32, in L3)

template <typename T, int VB>
using Vec = typename Tile<T, VB>::Vec;

// How a register tile reaches C: into a (MR, NR) buffer for update() to apply,
// or straight into a full tile of C, stored (C = acc) or added (C = C + acc).
// The straight paths do exactly what update() does for alpha = 1 with beta 0
// or 1, so a tile rounds alike whichever path it takes.
enum class Out { Buffer, Store, Add };

// acc (MR, NR) = sum over k < kc of a[k*MR + i] * b[k*NR + j], then written
// per `out` to c (row stride ldc; NR for the buffer).
template <typename T, int VB, Out out>
inline void micro_kernel(int64_t kc, const T* a, const T* b, T* c, int64_t ldc) {
  constexpr int L = Tile<T, VB>::L, NR = Tile<T, VB>::NR;
  using V = Vec<T, VB>;
  // Zeroed register by register: `= {}` on the array made GCC clear a 384-byte
  // stack copy with `rep stos` on every call, which cost more than a short K's FMAs.
  V acc[MR][2];
  const V zero = {};
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = zero;
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    V b0, b1;
    std::memcpy(&b0, b + k * NR, sizeof b0);
    std::memcpy(&b1, b + k * NR + L, sizeof b1);
    const T* ak = a + k * MR;
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      acc[i][0] += ak[i] * b0;
      acc[i][1] += ak[i] * b1;
    }
  }
  for (int i = 0; i < MR; ++i) {
    T* ci = c + i * ldc;
    if constexpr (out == Out::Add) {
      V c0, c1;
      std::memcpy(&c0, ci, sizeof c0);
      std::memcpy(&c1, ci + L, sizeof c1);
      acc[i][0] = c0 + acc[i][0];
      acc[i][1] = c1 + acc[i][1];
    }
    std::memcpy(ci, &acc[i][0], sizeof acc[i][0]);
    std::memcpy(ci + L, &acc[i][1], sizeof acc[i][1]);
  }
}

// C (mr, nr) block, row stride ldc, updated from tile (MR, NR) of one K block:
// the first block applies beta (C is not read when beta is 0), later ones add.
// One routine for full and partial tiles, so both round alike.
template <typename T, int VB>
inline void update(T* c, int64_t ldc, const T* tile, int64_t mr, int64_t nr, T alpha, T beta, bool first) {
  constexpr int NR = Tile<T, VB>::NR;
  for (int64_t i = 0; i < mr; ++i) {
    T* ci = c + i * ldc;
    const T* t = tile + i * NR;
    if (alpha == T(1)) {
      if (!first || beta == T(1))
        for (int64_t j = 0; j < nr; ++j) ci[j] = ci[j] + t[j];
      else if (beta == T(0))
        for (int64_t j = 0; j < nr; ++j) ci[j] = t[j];
      else
        for (int64_t j = 0; j < nr; ++j) ci[j] = std::fma(beta, ci[j], t[j]);
    } else {
      if (!first || beta == T(1))
        for (int64_t j = 0; j < nr; ++j) ci[j] = std::fma(alpha, t[j], ci[j]);
      else if (beta == T(0))
        for (int64_t j = 0; j < nr; ++j) ci[j] = alpha * t[j];
      else
        for (int64_t j = 0; j < nr; ++j) ci[j] = std::fma(alpha, t[j], beta * ci[j]);
    }
  }
}

// op(A) rows [i0, i0+mc), columns [k0, k0+kc) into panels of MR rows,
// dst[p][k][r] = op(A)[i0 + p*MR + r, k0 + k], zero past row mc. Sources are
// read along their rows (one stream at a time), which the prefetchers follow.
template <typename T>
void pack_a(bool trans, const T* A, int64_t lda, int64_t i0, int64_t mc, int64_t k0, int64_t kc, T* dst) {
  const int64_t panels = (mc + MR - 1) / MR;
  if (mc % MR) std::fill(dst + (panels - 1) * kc * MR, dst + panels * kc * MR, T(0));
  if (!trans) {
    // A full panel interleaves MR row streams, k outermost, so the writes are contiguous.
    int64_t p = 0;
    for (; p < mc / MR; ++p) {
      const T* src = A + (i0 + p * MR) * lda + k0;
      T* d = dst + p * kc * MR;
      for (int64_t k = 0; k < kc; ++k)
#pragma GCC unroll 6
        for (int r = 0; r < MR; ++r) d[k * MR + r] = src[r * lda + k];
    }
    for (int64_t i = p * MR; i < mc; ++i) {
      const T* src = A + (i0 + i) * lda + k0;
      T* d = dst + p * kc * MR + i % MR;
      for (int64_t k = 0; k < kc; ++k) d[k * MR] = src[k];
    }
  } else {
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = A + (k0 + k) * lda + i0;
      int64_t p = 0;
      for (; p < mc / MR; ++p)
        for (int r = 0; r < MR; ++r) dst[(p * kc + k) * MR + r] = src[p * MR + r];
      for (int64_t r = 0; r < mc - p * MR; ++r) dst[(p * kc + k) * MR + r] = src[p * MR + r];
    }
  }
}

// op(B) rows [k0, k0+kc), columns [j0, j0+nc) into panels of NR columns,
// dst[p][k][c] = op(B)[k0 + k, j0 + p*NR + c] (the caller zeroes the columns past nc).
template <typename T, int VB>
void pack_b(bool trans, const T* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nc, T* dst) {
  constexpr int NR = Tile<T, VB>::NR;
  const int64_t full = nc / NR;
  if (!trans) {
    for (int64_t k = 0; k < kc; ++k) {
      const T* src = B + (k0 + k) * ldb + j0;
      for (int64_t p = 0; p < full; ++p) std::memcpy(dst + (p * kc + k) * NR, src + p * NR, NR * sizeof(T));
      for (int64_t c = full * NR; c < nc; ++c) dst[(full * kc + k) * NR + c - full * NR] = src[c];
    }
  } else {
    // A full panel interleaves NR column streams, k outermost, so the writes are contiguous.
    for (int64_t p = 0; p < full; ++p) {
      const T* src = B + (j0 + p * NR) * ldb + k0;
      T* d = dst + p * kc * NR;
      for (int64_t k = 0; k < kc; ++k)
#pragma GCC unroll 16
        for (int c = 0; c < NR; ++c) d[k * NR + c] = src[c * ldb + k];
    }
    for (int64_t j = full * NR; j < nc; ++j) {
      const T* src = B + (j0 + j) * ldb + k0;
      T* d = dst + full * kc * NR + j % NR;
      for (int64_t k = 0; k < kc; ++k) d[k * NR] = src[k];
    }
  }
}

// Packing-buffer requests still to fail on worker threads (the test hook of ops/gemm.h).
std::atomic<int> g_failing_worker_allocations{0};

// 64-byte aligned memory or an Error (thrown on a worker thread:
// parallel_for carries it out of the region and rethrows it on the caller).
[[gnu::noinline]] void* gemm_alloc(size_t bytes, bool forced_failure) {
  void* p = forced_failure ? nullptr : std::aligned_alloc(64, bytes);
  if (!p) fail("gemm: out of memory for a packing buffer of ", bytes, " bytes");
  return p;
}

[[gnu::noinline]] bool take_forced_failure() {
  if (omp_get_thread_num() == 0) return false;
  int n = g_failing_worker_allocations.load();
  while (n > 0)
    if (g_failing_worker_allocations.compare_exchange_weak(n, n - 1)) return true;
  return false;
}

// A thread's packing buffers, kept across calls (64-byte aligned).
template <typename T>
T* pack_buffer(int which, int64_t elements) {
  struct Buffer {
    std::unique_ptr<T, decltype(&std::free)> data{nullptr, &std::free};
    int64_t size = 0;
  };
  thread_local Buffer buffers[2];
  Buffer& b = buffers[which];
  const bool forced = g_failing_worker_allocations.load(std::memory_order_relaxed) > 0 && take_forced_failure();
  if (b.size < elements || forced) {
    const size_t bytes = (static_cast<size_t>(elements) * sizeof(T) + 63) / 64 * 64;
    b.data.reset(static_cast<T*>(gemm_alloc(bytes, forced)));
    b.size = elements;
  }
  return b.data.get();
}

// C rows [i0, i1) and columns [j0, j1) on the calling thread; pack_b(k0, kc,
// j0, nc, dst) fills a panel block of op(B) (ops/gemm.h, PackB).
template <typename T, int VB, typename PackBFn>
void gemm_block(bool trans_a, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t K, T alpha, const T* A,
                int64_t lda, const PackBFn& pack_b, T beta, T* C, int64_t ldc) {
  constexpr int NR = Tile<T, VB>::NR;
  const int64_t nc_max = std::min<int64_t>(NC, (j1 - j0 + NR - 1) / NR * NR);
  const int64_t mc_max = std::min<int64_t>(MC, (i1 - i0 + MR - 1) / MR * MR);
  T* pb = pack_buffer<T>(0, KC * nc_max);
  T* pa = pack_buffer<T>(1, KC * mc_max);
  alignas(64) T tile[MR * NR];
  for (int64_t jc = j0; jc < j1; jc += NC) {
    const int64_t nc = std::min(NC, j1 - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      if (nc % NR) std::fill(pb + nc / NR * kc * NR, pb + (nc / NR + 1) * kc * NR, T(0));
      pack_b(pc, kc, jc, nc, pb);
      for (int64_t ic = i0; ic < i1; ic += MC) {
        const int64_t mc = std::min(MC, i1 - ic);
        pack_a(trans_a, A, lda, ic, mc, pc, kc, pa);
        for (int64_t jr = 0; jr < nc; jr += NR)
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min<int64_t>(MR, mc - ir), nr = std::min<int64_t>(NR, nc - jr);
            T* c = C + (ic + ir) * ldc + jc + jr;
            if (mr == MR && nr == NR && alpha == T(1) && pc == 0 && beta == T(0)) {
              micro_kernel<T, VB, Out::Store>(kc, pa + ir * kc, pb + jr * kc, c, ldc);
            } else if (mr == MR && nr == NR && alpha == T(1) && (pc > 0 || beta == T(1))) {
              micro_kernel<T, VB, Out::Add>(kc, pa + ir * kc, pb + jr * kc, c, ldc);
            } else {
              micro_kernel<T, VB, Out::Buffer>(kc, pa + ir * kc, pb + jr * kc, tile, NR);
              update<T, VB>(c, ldc, tile, mr, nr, alpha, beta, pc == 0);
            }
          }
      }
    }
  }
}

// The tile's vector bytes that the generic kernels use instead of their own
// 16 (the test hook of ops/gemm.h; 0: their own).
std::atomic<int> g_generic_tile_bytes{0};

// Vector bytes of the tile the kernels run: the ISA's (ops/isa.h), or under
// the generic ISA the test hook's.
int tile_bytes() {
  const isa::Isa now = isa::current();
  const int forced = g_generic_tile_bytes.load(std::memory_order_relaxed);
  if (now == isa::Isa::generic && forced) return forced;
  return now == isa::Isa::avx512 ? isa::kVectorBytes<isa::Isa::avx512>
         : now == isa::Isa::avx2 ? isa::kVectorBytes<isa::Isa::avx2>
                                 : isa::kVectorBytes<isa::Isa::generic>;
}

// NR of the tile the kernels run.
template <typename T>
int panel_width() {
  return 2 * tile_bytes() / static_cast<int>(sizeof(T));
}

// f.template operator()<VB>() with VB = tile_bytes() as a constant.
template <typename F>
void with_tile_bytes(int vb, F&& f) {
  switch (vb) {
    case 64: f.template operator()<64>(); break;
    case 32: f.template operator()<32>(); break;
    default: f.template operator()<16>(); break;
  }
}

// Below this many multiply-adds a product runs on one thread.
constexpr int64_t kMinParallelWork = int64_t{1} << 18;

// Threads split C into one block per thread, along N when it is wide enough
// (each thread packs its own panels of B and all of A) and along M otherwise.
// Block edges fall on tile edges; the split does not change any element's sum.
template <typename T, typename PackBFn>
void gemm_split(bool trans_a, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                const PackBFn& pack_b, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  const int NR = panel_width<T>();
  const int threads = omp_in_parallel() ? 1 : num_threads();
  const int64_t col_tiles = (N + NR - 1) / NR, row_tiles = (M + MR - 1) / MR;
  int64_t parts = std::min<int64_t>(threads, std::max<int64_t>(1, M * N * K / kMinParallelWork));
  const bool split_cols = col_tiles >= parts * 4 || col_tiles >= row_tiles;
  parts = std::min(parts, split_cols ? col_tiles : row_tiles);
  const int vb = tile_bytes();
  parallel_for(0, parts, 1, [&](int64_t p) {
    isa::on_isa([&](auto tag) {
      auto block = [&]<int VB>() {
        if (split_cols) {
          const int64_t j0 = col_tiles * p / parts * NR, j1 = std::min(N, col_tiles * (p + 1) / parts * NR);
          gemm_block<T, VB>(trans_a, 0, M, j0, j1, K, alpha, A, lda, pack_b, beta, C, ldc);
        } else {
          const int64_t i0 = row_tiles * p / parts * MR, i1 = std::min(M, row_tiles * (p + 1) / parts * MR);
          gemm_block<T, VB>(trans_a, i0, i1, 0, N, K, alpha, A, lda, pack_b, beta, C, ldc);
        }
      };
      constexpr isa::Isa I = decltype(tag)::value;
      if constexpr (I == isa::Isa::generic)
        with_tile_bytes(vb, block);  // the test hook's tile, compiled for the baseline
      else
        block.template operator()<isa::kVectorBytes<I>>();
    });
  });
}

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  gemm_split<T>(
      trans_a, M, N, K, alpha, A, lda,
      [&](int64_t k0, int64_t kc, int64_t j0, int64_t nc, T* dst) {
        // The panel width of the tile running (tile_bytes).
        with_tile_bytes(tile_bytes(), [&]<int VB>() { pack_b<T, VB>(trans_b, B, ldb, k0, kc, j0, nc, dst); });
      },
      beta, C, ldc);
}

template <typename T>
int gemm_panel_width() {
  return panel_width<T>();
}

template <typename T>
void gemm_pack_b(bool trans_a, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                 const PackB<T>& pack_b, T beta, T* C, int64_t ldc) {
  gemm_split<T>(trans_a, M, N, K, alpha, A, lda, pack_b, beta, C, ldc);
}

namespace detail {
void gemm_fail_worker_allocations(int n) { g_failing_worker_allocations.store(n); }

void gemm_generic_tile_bytes(int bytes) {
  LIEDNET_CHECK(bytes == 0 || bytes == 16 || bytes == 32 || bytes == 64, "gemm_generic_tile_bytes: ", bytes,
                " is not 0, 16, 32 or 64");
  g_generic_tile_bytes.store(bytes);
}

template <typename T>
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k)
        s += static_cast<double>(trans_a ? A[k * lda + i] : A[i * lda + k]) *
             static_cast<double>(trans_b ? B[j * ldb + k] : B[k * ldb + j]);
      T& c = C[i * ldc + j];
      c = static_cast<T>(alpha * s + (beta == T(0) ? 0.0 : static_cast<double>(beta) * c));
    }
}
}  // namespace detail

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template int gemm_panel_width<float>();
template int gemm_panel_width<double>();
template void gemm_pack_b<float>(bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const PackB<float>&,
                                 float, float*, int64_t);
template void gemm_pack_b<double>(bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                  const PackB<double>&, double, double*, int64_t);
template void detail::gemm_reference<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                            const float*, int64_t, float, float*, int64_t);
template void detail::gemm_reference<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                             const double*, int64_t, double, double*, int64_t);

}  // namespace liednet::ops
