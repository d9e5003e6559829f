// Dense matrix multiply on row-major matrices: a packed, cache-blocked kernel
// (ops/gemm.cpp) threaded by OpenMP over blocks of C. Every element of C is
// summed over K in the same order whatever the block it falls in, so results
// are bit-identical for any thread count. Called inside a parallel region, it
// runs on the calling thread.
//   C (M, N) = alpha * op(A) * op(B) + beta * C,  op(A) is (M, K), op(B) is (K, N)
// A is stored (M, K) with row stride lda, or (K, M) when trans_a; likewise B.
#pragma once

#include <cstdint>
#include <functional>

namespace liednet::ops {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// The same product with op(B) produced by a function instead of read from a
// matrix, for operands that are never stored whole (a convolution's column
// matrix, gathered from the image as the kernel needs it). pack(k0, kc, j0, nc,
// dst) writes op(B)[k0 + k, j0 + c], k < kc, c < nc, to
//   dst[(c / NR) * kc * NR + k * NR + c % NR],   NR = gemm_panel_width<T>(),
// in any order; the columns of the last panel past nc are already zero. It is
// called from several threads at once (for disjoint column ranges).
template <typename T>
using PackB = std::function<void(int64_t k0, int64_t kc, int64_t j0, int64_t nc, T* dst)>;

template <typename T>
int gemm_panel_width();

template <typename T>
void gemm_pack_b(bool trans_a, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                 const PackB<T>& pack_b, T beta, T* C, int64_t ldc);

namespace detail {
// Test hook: the next n requests for a packing buffer made on OpenMP worker
// threads (not thread 0) fail as an allocation failure would.
void gemm_fail_worker_allocations(int n);

// Test hook: under the generic ISA, run the tile of AVX2 (32 bytes) or AVX-512
// (64 bytes) instead of the baseline's 16, compiled for the baseline, so a
// machine without AVX-512 still tests that tile's packing and edges; 0 undoes.
void gemm_generic_tile_bytes(int bytes);

// The definition, summed in double: the reference the kernel is tested against.
template <typename T>
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
}  // namespace detail

}  // namespace liednet::ops
