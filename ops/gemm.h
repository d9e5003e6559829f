// Dense matrix multiply on row-major matrices (Eigen underneath, threaded by
// OpenMP over tiles of C). The one place Eigen's headers are compiled. Results
// are bit-identical for any thread count.
//   C (M, N) = alpha * op(A) * op(B) + beta * C,  op(A) is (M, K), op(B) is (K, N)
// A is stored (M, K) with row stride lda, or (K, M) when trans_a; likewise B.
#pragma once

#include <cstdint>

namespace liednet::ops {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace liednet::ops
