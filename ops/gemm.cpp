#include "ops/gemm.h"

#include <algorithm>
#include <mutex>

#include <Eigen/Core>

#include "tensor/parallel.h"

namespace liednet::ops {

namespace {
template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstMap = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;
template <typename T>
using MutMap = Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>;

template <typename T, typename L, typename R>
void assign(MutMap<T>& c, const L& lhs, const R& rhs, T alpha, T beta) {
  if (beta == T(0))
    c.noalias() = alpha * (lhs * rhs);
  else {
    if (beta != T(1)) c *= beta;
    c.noalias() += alpha * (lhs * rhs);
  }
}

// One tile of C, computed by Eigen on the calling thread.
template <typename T>
void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                 const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  MutMap<T> c(C, M, N, Eigen::OuterStride<>(ldc));
  ConstMap<T> a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  ConstMap<T> b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) assign<T>(c, a, b, alpha, beta);
  else if (trans_a && !trans_b) assign<T>(c, a.transpose(), b, alpha, beta);
  else if (!trans_a && trans_b) assign<T>(c, a, b.transpose(), alpha, beta);
  else assign<T>(c, a.transpose(), b.transpose(), alpha, beta);
}

constexpr int64_t kMinTile = 64;   // rows or columns of C per tile
constexpr int64_t kMaxTiles = 64;
}  // namespace

// Threads split C into tiles whose sizes depend only on the shapes, and each
// tile is one serial Eigen product (Eigen runs serially inside a parallel
// region). Eigen's own threading picks its blocking from the thread count,
// which changes the summation order; this way every element of C is summed the
// same way whatever the thread count, so results are bit-identical.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    MutMap<T> c(C, M, N, Eigen::OuterStride<>(ldc));
    if (beta == T(0)) c.setZero();
    else c *= beta;
    return;
  }
  // Eigen never threads by itself: all threading is the tiling below.
  static std::once_flag eigen_serial;
  std::call_once(eigen_serial, [] { Eigen::setNbThreads(1); });
  const bool split_rows = M >= N;
  const int64_t extent = split_rows ? M : N;
  const int64_t tiles = std::clamp<int64_t>(extent / kMinTile, 1, kMaxTiles);
  parallel_for(0, tiles, 1, [&](int64_t t) {
    const int64_t lo = extent * t / tiles, hi = extent * (t + 1) / tiles;
    if (split_rows) {
      const T* a = trans_a ? A + lo : A + lo * lda;
      gemm_serial<T>(trans_a, trans_b, hi - lo, N, K, alpha, a, lda, B, ldb, beta, C + lo * ldc, ldc);
    } else {
      const T* b = trans_b ? B + lo * ldb : B + lo;
      gemm_serial<T>(trans_a, trans_b, M, hi - lo, K, alpha, A, lda, b, ldb, beta, C + lo, ldc);
    }
  });
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace liednet::ops
