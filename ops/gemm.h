// Dense matrix multiply on row-major matrices: a packed, cache-blocked kernel
// (ops/gemm.cpp) threaded by OpenMP over blocks of C. Every element of C is
// summed over K in the same order whatever the block it falls in, so results
// are bit-identical for any thread count. Called inside a parallel region, it
// runs on the calling thread.
//   C (M, N) = alpha * op(A) * op(B) + beta * C,  op(A) is (M, K), op(B) is (K, N)
// A is stored (M, K) with row stride lda, or (K, M) when trans_a; likewise B.
#pragma once

#include <cstdint>

namespace liednet::ops {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

namespace detail {
// The definition, summed in double: the reference the kernel is tested against.
template <typename T>
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* B, int64_t ldb, T beta, T* C, int64_t ldc);
}  // namespace detail

}  // namespace liednet::ops
