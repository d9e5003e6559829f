// The CUDA GEMM (see gemm.h): cuBLAS SGEMM on the library's one stream, with
// a fixed workspace and atomics off, so a GEMM is bit-identical from run to run.
// Used by the CUDA paths of ops/conv2d.cpp and ops/ss2d_scan.cpp.
#include "ops/cuda/gemm.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/cuda/check.cuh"
#include "ops/cuda/launch.cuh"

namespace liednet::ops::cuda {

namespace {

#define GEMM_CUBLAS_CALL(expr)                                                                  \
  do {                                                                                          \
    const cublasStatus_t status_ = (expr);                                                      \
    if (status_ != CUBLAS_STATUS_SUCCESS) fail_at(#expr, cublasGetStatusString(status_), __FILE__, __LINE__); \
  } while (0)

std::atomic<bool> g_tf32{false};

// cuBLAS's guidance for Hopper: 32 MiB of workspace.
constexpr size_t kBlasWorkspaceBytes = size_t{32} << 20;

// One handle for the process, bound to the one stream. Its workspace is our
// own fixed buffer, allocated once (outside the caching allocator: it lives as
// long as the process), so cuBLAS never picks a workspace from a pool whose
// size could change its algorithm choice; atomics are off so no reduction in
// a GEMM depends on timing.
struct Blas {
  cublasHandle_t handle = nullptr;
  void* workspace = nullptr;

  Blas() {
    GEMM_CUBLAS_CALL(cublasCreate(&handle));
    // setStream resets the workspace to cuBLAS's pool, so it goes first.
    GEMM_CUBLAS_CALL(cublasSetStream(handle, stream()));
    LIEDNET_CUDA_CHECK(cudaMalloc(&workspace, kBlasWorkspaceBytes));
    GEMM_CUBLAS_CALL(cublasSetWorkspace(handle, workspace, kBlasWorkspaceBytes));
    GEMM_CUBLAS_CALL(cublasSetAtomicsMode(handle, CUBLAS_ATOMICS_NOT_ALLOWED));
    GEMM_CUBLAS_CALL(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST));
  }
  // Never destroyed: at process exit the driver may already be shutting down.
};

cublasHandle_t blas_handle() {
  static Blas* blas = new Blas();
  return blas->handle;
}

int checked_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX)
    throw std::runtime_error(std::string("gemm_cuda: ") + what + " = " + std::to_string(v) +
                             " does not fit cuBLAS's 32-bit sizes");
  return static_cast<int>(v);
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a
// row-major matrix read as column-major is its transpose: so cuBLAS gets B
// first, A second, and M and N swapped, with the same transpose flags.
void gemm_cuda(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  const int m = checked_int(N, "N"), n = checked_int(M, "M"), k = checked_int(K, "K");
  const int ld_first = checked_int(ldb, "ldb"), ld_second = checked_int(lda, "lda"), ld_c = checked_int(ldc, "ldc");
  cublasHandle_t h = blas_handle();
  GEMM_CUBLAS_CALL(cublasSetMathMode(h, g_tf32.load() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  GEMM_CUBLAS_CALL(cublasSgemm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha,
                               B, ld_first, A, ld_second, &beta, C, ld_c));
}

void set_tf32(bool on) { g_tf32.store(on); }
bool tf32() { return g_tf32.load(); }

}  // namespace

void register_gemm_kernels(GemmKernels& k) {
  k.gemm_cuda = gemm_cuda;
  k.set_tf32 = set_tf32;
  k.tf32 = tf32;
}

}  // namespace liednet::ops::cuda
