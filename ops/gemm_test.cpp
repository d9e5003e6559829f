#include <doctest/doctest.h>

#include "ops/gemm.h"
#include "tensor/parallel.h"
#include "tensor/tensor.h"

using namespace liednet;

namespace {
// C = alpha op(A) op(B) + beta C by the definition, in double.
std::vector<double> reference(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                              const std::vector<double>& A, const std::vector<double>& B, double beta,
                              std::vector<double> C) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += (ta ? A[k * M + i] : A[i * K + k]) * (tb ? B[j * K + k] : B[k * N + j]);
      C[i * N + j] = alpha * s + beta * C[i * N + j];
    }
  return C;
}
}  // namespace

TEST_SUITE("ops") {
  TEST_CASE("gemm matches the definition for every transpose, alpha and beta") {
    Generator g(11);
    for (auto [M, N, K] : {std::tuple{5, 7, 3}, {130, 9, 17}, {9, 300, 4}, {1, 1, 1}})
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (double beta : {0.0, 1.0, -0.5}) {
            Tensor A = Tensor::randn({ta ? K : M, ta ? M : K}, g, DType::F64);
            Tensor B = Tensor::randn({tb ? N : K, tb ? K : N}, g, DType::F64);
            Tensor C = Tensor::randn({M, N}, g, DType::F64);
            auto want = reference(ta, tb, M, N, K, 0.7, A.to_vector(), B.to_vector(), beta, C.to_vector());
            ops::gemm<double>(ta, tb, M, N, K, 0.7, A.data<double>(), ta ? M : K, B.data<double>(), tb ? K : N, beta,
                              C.data<double>(), N);
            auto got = C.to_vector();
            double err = 0;
            for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::abs(got[i] - want[i]));
            INFO("M=", M, " N=", N, " K=", K, " ta=", ta, " tb=", tb, " beta=", beta);
            CHECK(err < 1e-12);
          }
  }

  TEST_CASE("gemm gives identical bits for any thread count") {
    Generator g(12);
    const int64_t M = 700, N = 90, K = 3000;
    Tensor A = Tensor::randn({M, K}, g), B = Tensor::randn({K, N}, g);
    auto run = [&](int threads) {
      set_num_threads(threads);
      Tensor C = Tensor::zeros({M, N});
      ops::gemm<float>(false, false, M, N, K, 1.0f, A.data<float>(), K, B.data<float>(), N, 0.0f, C.data<float>(), N);
      return C.to_vector();
    };
    const int saved = num_threads();
    auto one = run(1), two = run(2), three = run(3);
    set_num_threads(saved);
    CHECK(one == two);
    CHECK(one == three);
  }
}
