// The cuBLAS half of the prompt path (matmul_blas.cpp): BlasMatmul's handle and one F16 x F16 product.
#pragma once

#include <cstdint>

#include "backend/cuda/cuda_matmul.h"

namespace ternion::cuda {

// y[t][r] = sum_c a[r][c] * b[t][c] (a: rows x cols F16, lda halves a row; b: n x cols F16, contiguous), through
// cublasGemmEx on `stream`. Throws ternion::Error naming the cuBLAS status on failure.
void blas_gemm_half(const BlasMatmul& blas, const void* a, int64_t lda, int64_t rows, const void* b, int64_t n,
                    int64_t cols, float* y, int64_t y_stride, void* stream);

}  // namespace ternion::cuda
