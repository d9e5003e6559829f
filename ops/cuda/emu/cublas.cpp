// The emulated cuBLAS (see cublas_v2.h): C = alpha op(A) op(B) + beta C in
// column-major order, with Eigen's float GEMM (the same library as the CPU
// backend; a naive loop made the whole-network tests take minutes). In
// CUBLAS_TF32_TENSOR_OP_MATH the factors are rounded to TF32 first (the GPU's
// own TF32 sums and bits differ).
#include "ops/cuda/emu/cublas_v2.h"

#include <Eigen/Core>
#include <cstdint>
#include <cstring>
#include <string>

struct cublasContext {
  cudaStream_t stream = nullptr;
  bool tf32 = false;
};

namespace {
// x rounded to TF32 (10 mantissa bits, to nearest, ties to even), as the
// tensor cores read their inputs in CUBLAS_TF32_TENSOR_OP_MATH.
float to_tf32(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return x;  // inf, NaN
  u += 0xfffu + ((u >> 13) & 1u);
  u &= 0xffffe000u;
  std::memcpy(&x, &u, 4);
  return x;
}

// memcheck: a matrix of rows x cols (column-major, leading dimension ld) must
// lie inside one device allocation.
bool matrix_ok(const char* name, const void* p, int rows, int cols, int ld) {
  if (rows == 0 || cols == 0) return true;
  if (ld < rows) {
    liednet::emu::fault(std::string("memcheck: cublasSgemm: leading dimension of ") + name + " (" +
                        std::to_string(ld) + ") is below its rows (" + std::to_string(rows) + ")");
    return false;
  }
  const size_t last = (static_cast<size_t>(cols) - 1) * ld + rows;  // elements spanned
  const auto* end = static_cast<const char*>(p) + last * sizeof(float) - 1;
  if (!liednet::emu::is_device_pointer(p) || !liednet::emu::is_device_pointer(end) ||
      !liednet::emu::is_device_pointer(static_cast<const char*>(p) + 0)) {
    liednet::emu::fault(std::string("memcheck: cublasSgemm: matrix ") + name + " (" + std::to_string(rows) + " x " +
                        std::to_string(cols) + ", ld " + std::to_string(ld) +
                        ") is not inside a live device allocation");
    return false;
  }
  return true;
}
}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* h) {
  *h = new cublasContext();
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void* workspace, size_t bytes) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (bytes > 0 && !liednet::emu::is_device_pointer(workspace)) return CUBLAS_STATUS_INVALID_VALUE;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetAtomicsMode(cublasHandle_t h, cublasAtomicsMode_t) {
  return h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}
cublasStatus_t cublasSetPointerMode(cublasHandle_t h, cublasPointerMode_t mode) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  return mode == CUBLAS_POINTER_MODE_HOST ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->tf32 = mode == CUBLAS_TF32_TENSOR_OP_MATH;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float* alpha, const float* A, int lda, const float* B, int ldb, const float* beta,
                           float* C, int ldc) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0 || ldc < (m > 1 ? m : 1)) return CUBLAS_STATUS_INVALID_VALUE;
  const bool at = ta == CUBLAS_OP_T, bt = tb == CUBLAS_OP_T;
  if (lda < ((at ? k : m) > 1 ? (at ? k : m) : 1) || ldb < ((bt ? n : k) > 1 ? (bt ? n : k) : 1))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  // op(A) is m x k: A is stored m x k, or k x m when transposed.
  if (k > 0 && (!matrix_ok("A", A, at ? k : m, at ? m : k, lda) || !matrix_ok("B", B, bt ? n : k, bt ? k : n, ldb)))
    return CUBLAS_STATUS_SUCCESS;  // the fault shows at the next synchronising call, as a kernel's would
  if (!matrix_ok("C", C, m, n, ldc)) return CUBLAS_STATUS_SUCCESS;
  const float a = *alpha, b = *beta;
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
  using Strided = Eigen::OuterStride<>;
  const Eigen::Map<const Matrix, 0, Strided> As(A, at ? k : m, at ? m : k, Strided(lda));
  const Eigen::Map<const Matrix, 0, Strided> Bs(B, bt ? n : k, bt ? k : n, Strided(ldb));
  Matrix opA = at ? Matrix(As.transpose()) : Matrix(As);
  Matrix opB = bt ? Matrix(Bs.transpose()) : Matrix(Bs);
  if (h->tf32) {
    opA = opA.unaryExpr(&to_tf32);
    opB = opB.unaryExpr(&to_tf32);
  }
  Eigen::Map<Matrix, 0, Strided> Cs(C, m, n, Strided(ldc));
  if (b == 0.0f)
    Cs.noalias() = a * (opA * opB);  // beta == 0: C is not read
  else
    Cs = a * (opA * opB) + b * Cs;
  return CUBLAS_STATUS_SUCCESS;
}
