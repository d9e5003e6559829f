// The CUDA GEMM (cuBLAS), as function pointers filled by register_gemm_kernels
// (ops/cuda/gemm.cu, CUDA builds only). The CUDA paths of ops/conv2d.cpp and
// ops/ss2d_scan.cpp call it through cuda::gemm_kernels(); on the CPU they call
// ops/gemm.h.
//
// Raw device pointers (f32), the one stream (liednet::cuda_stream()), returns
// without synchronising. Plain C++17: this header is compiled by nvcc too.
#pragma once

#include <cstdint>

namespace liednet::ops::cuda {

struct GemmKernels {
  // Row-major SGEMM through cuBLAS, with the conventions of ops::gemm:
  //   C (M, N) = alpha * op(A) * op(B) + beta * C,  op(A) is (M, K), op(B) is (K, N);
  // A is stored (M, K) with row stride lda, or (K, M) when ta; likewise B.
  // With beta == 0, C is not read. Deterministic: cuBLAS atomics are off and
  // its workspace is fixed. For any op that needs a GEMM on the GPU.
  void (*gemm_cuda)(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                    const float* B, int64_t ldb, float beta, float* C, int64_t ldc) = nullptr;

  // TF32 tensor cores in gemm_cuda: off by default, so GEMMs round like the
  // CPU's f32 (the CUDA-vs-CPU tests need that). On, GEMMs are several times
  // faster and round their inputs to a 10-bit mantissa (relative error about
  // 1e-3). Process-wide; takes effect from the next GEMM.
  void (*set_tf32)(bool on) = nullptr;
  bool (*tf32)() = nullptr;
};

void register_gemm_kernels(GemmKernels& k);
const GemmKernels& gemm_kernels();

}  // namespace liednet::ops::cuda
