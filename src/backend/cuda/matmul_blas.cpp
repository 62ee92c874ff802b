// cuBLAS for the prompt path: a handle per BlasMatmul, GemmEx on F16 operands with F32 accumulation.
#include "backend/cuda/matmul_blas.h"

#include <cublas_v2.h>

#include <string>

#include "ternion/core/error.h"

namespace ternion::cuda {

namespace {

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("CUDA matmul: ") + what + " failed: " + cublasGetStatusString(status));
}

}  // namespace

BlasMatmul::BlasMatmul() {
  cublasHandle_t handle = nullptr;
  check(cublasCreate(&handle), "cublasCreate");
  handle_ = handle;
}

BlasMatmul::~BlasMatmul() { cublasDestroy(static_cast<cublasHandle_t>(handle_)); }

void blas_gemm_half(const BlasMatmul& blas, const void* a, int64_t lda, int64_t rows, const void* b, int64_t n,
                    int64_t cols, float* y, int64_t y_stride, void* stream) {
  constexpr int64_t kIntMax = 0x7FFFFFFF;
  if (rows > kIntMax || n > kIntMax || lda > kIntMax || y_stride > kIntMax)
    throw Error("CUDA matmul: a dimension exceeds cuBLAS's 32-bit range");
  auto* handle = static_cast<cublasHandle_t>(blas.handle());
  check(cublasSetStream(handle, static_cast<cudaStream_t>(stream)), "cublasSetStream");
  // Column-major view: y is the rows x n matrix C (ldc = y_stride) = A^T B, with A the cols x rows matrix of a
  // (lda) and B the cols x n matrix of b (ldb = cols).
  const float alpha = 1.0f, beta = 0.0f;
  check(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), static_cast<int>(n),
                     static_cast<int>(cols), &alpha, a, CUDA_R_16F, static_cast<int>(lda), b, CUDA_R_16F,
                     static_cast<int>(cols), &beta, y, CUDA_R_32F, static_cast<int>(y_stride), CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx");
}

}  // namespace ternion::cuda
