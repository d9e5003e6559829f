#include <doctest/doctest.h>

#include <cmath>

#include "ops/gemm.h"
#include "ops/isa.h"
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

  TEST_CASE("gemm in f32 matches the double-sum reference across the kernel's block edges") {
    // Sizes that cross the register tile (6 rows, 2 vectors of columns), the
    // packed blocks (96 rows, 256 of K, 2048 columns) and leave partial tiles.
    Generator g(13);
    for (auto [M, N, K] : {std::tuple{1, 1, 1}, {7, 17, 257}, {97, 2049 + 16, 300}, {13, 40, 1000}})
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (float beta : {0.0f, 1.0f}) {
            Tensor A = Tensor::randn({ta ? K : M, ta ? M : K}, g);
            Tensor B = Tensor::randn({tb ? N : K, tb ? K : N}, g);
            Tensor C = Tensor::randn({M, N}, g);
            Tensor want = C.clone();
            ops::detail::gemm_reference<float>(ta, tb, M, N, K, 1.0f, A.data<float>(), ta ? M : K, B.data<float>(),
                                               tb ? K : N, beta, want.data<float>(), N);
            ops::gemm<float>(ta, tb, M, N, K, 1.0f, A.data<float>(), ta ? M : K, B.data<float>(), tb ? K : N, beta,
                             C.data<float>(), N);
            double err = 0;
            for (int64_t i = 0; i < M * N; ++i)
              err = std::max(err, std::abs(static_cast<double>(C.data<float>()[i] - want.data<float>()[i])));
            INFO("M=", M, " N=", N, " K=", K, " ta=", ta, " tb=", tb, " beta=", beta);
            CHECK(err < 2e-6 * std::sqrt(static_cast<double>(K)) * 4);
          }
  }

  TEST_CASE("gemm: any block of C computed on its own has the bits of the whole product") {
    // The property behind thread-count independence: an element's sum does not
    // depend on which block (or thread) computes it, nor on M and N.
    Generator g(14);
    const int64_t M = 50, N = 70, K = 600;
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Tensor A = Tensor::randn({ta ? K : M, ta ? M : K}, g), B = Tensor::randn({tb ? N : K, tb ? K : N}, g);
        const int64_t lda = ta ? M : K, ldb = tb ? K : N;
        Tensor whole = Tensor::zeros({M, N}), part = Tensor::zeros({M, N});
        ops::gemm<float>(ta, tb, M, N, K, 1.0f, A.data<float>(), lda, B.data<float>(), ldb, 0.0f, whole.data<float>(), N);
        // Rows [5, 38) and columns [3, 61): offsets inside the register tile on both sides.
        const int64_t i0 = 5, i1 = 38, j0 = 3, j1 = 61;
        const float* a = A.data<float>() + (ta ? i0 : i0 * lda);
        const float* b = B.data<float>() + (tb ? j0 * ldb : j0);
        ops::gemm<float>(ta, tb, i1 - i0, j1 - j0, K, 1.0f, a, lda, b, ldb, 0.0f, part.data<float>() + i0 * N + j0, N);
        bool same = true;
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) same = same && part.at({i, j}) == whole.at({i, j});
        INFO("ta=", ta, " tb=", tb);
        CHECK(same);
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

TEST_SUITE("ops") {
  TEST_CASE("an allocation that fails on a worker thread reaches the caller as an Error, and gemm recovers") {
    // Two threads, and a product large enough to be split between them: the
    // worker's packing buffer fails; before, the exception left the OpenMP
    // region and ended the program (terminate, exit 134).
    const int saved = num_threads();
    set_num_threads(2);
    const int64_t M = 96, N = 512, K = 64;
    Generator g(5);
    Tensor A = Tensor::randn({M, K}, g, DType::F32), B = Tensor::randn({K, N}, g, DType::F32);
    Tensor C = Tensor::zeros({M, N}, DType::F32), C2 = Tensor::zeros({M, N}, DType::F32);
    ops::detail::gemm_fail_worker_allocations(1000);
    std::string what;
    try {
      ops::gemm<float>(false, false, M, N, K, 1.0f, A.data<float>(), K, B.data<float>(), N, 0.0f, C.data<float>(), N);
    } catch (const Error& e) {
      what = e.what();
    }
    ops::detail::gemm_fail_worker_allocations(0);
    CHECK(what.find("gemm: out of memory for a packing buffer") != std::string::npos);
    // The next product runs, and matches the same product on one thread.
    ops::gemm<float>(false, false, M, N, K, 1.0f, A.data<float>(), K, B.data<float>(), N, 0.0f, C.data<float>(), N);
    set_num_threads(1);
    ops::gemm<float>(false, false, M, N, K, 1.0f, A.data<float>(), K, B.data<float>(), N, 0.0f, C2.data<float>(), N);
    set_num_threads(saved);
    CHECK(C.to_vector() == C2.to_vector());
  }
}

TEST_SUITE("ops") {
  TEST_CASE("gemm with the AVX2 and AVX-512 tiles: the definition, and identical bits for any thread count") {
    // The wider tiles compiled for the baseline (ops/gemm.h's hook): on a CPU
    // without AVX-512 this is the only run of the 6 x 32 tile's packing and edges.
    if (isa::current() != isa::Isa::generic) {
      MESSAGE("skipped: runs under LIEDNET_ISA=generic (ctest ops_isa_generic)");
      return;
    }
    Generator g(19);
    const int saved = num_threads();
    for (int bytes : {32, 64}) {
      ops::detail::gemm_generic_tile_bytes(bytes);
      for (auto [M, N, K] : {std::tuple{7, 45, 5}, {70, 300, 33}, {13, 1, 300}})
        for (bool ta : {false, true})
          for (bool tb : {false, true}) {
            INFO("tile bytes ", bytes, " M ", M, " N ", N, " K ", K, " ta ", ta, " tb ", tb);
            Tensor A = Tensor::randn({ta ? K : M, ta ? M : K}, g, DType::F64);
            Tensor B = Tensor::randn({tb ? N : K, tb ? K : N}, g, DType::F64);
            Tensor C = Tensor::randn({M, N}, g, DType::F64);
            const auto want = reference(ta, tb, M, N, K, 0.7, A.to_vector(), B.to_vector(), 0.5, C.to_vector());
            std::vector<std::vector<double>> got;
            for (int threads : {1, 2}) {
              set_num_threads(threads);
              Tensor Ct = C.clone();
              ops::gemm<double>(ta, tb, M, N, K, 0.7, A.data<double>(), ta ? M : K, B.data<double>(), tb ? K : N,
                                0.5, Ct.data<double>(), N);
              got.push_back(Ct.to_vector());
            }
            double err = 0;
            for (size_t i = 0; i < want.size(); ++i) err = std::max(err, std::abs(got[0][i] - want[i]));
            CHECK(err < 1e-12);
            CHECK(got[0] == got[1]);
            CHECK(ops::gemm_panel_width<double>() == 2 * bytes / 8);
          }
    }
    ops::detail::gemm_generic_tile_bytes(0);
    set_num_threads(saved);
    CHECK(ops::gemm_panel_width<float>() == 8);
  }
}
