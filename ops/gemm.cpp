#include "ops/gemm.h"

#include <Eigen/Core>

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
}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  MutMap<T> c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    if (beta == T(0)) c.setZero();
    else c *= beta;
    return;
  }
  ConstMap<T> a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  ConstMap<T> b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) assign<T>(c, a, b, alpha, beta);
  else if (trans_a && !trans_b) assign<T>(c, a.transpose(), b, alpha, beta);
  else if (!trans_a && trans_b) assign<T>(c, a, b.transpose(), alpha, beta);
  else assign<T>(c, a.transpose(), b.transpose(), alpha, beta);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace liednet::ops
