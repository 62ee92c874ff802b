// The kernel launchers behind cuda_matmul.h (plain C++ declarations; the arguments were checked by matmul.cpp).
// Each launches on `stream` (a cudaStream_t) and returns nullptr, or the CUDA error text when the launch failed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/core/dtype.h"

namespace ternion::cuda::detail {

// Elements per block (the unit of cols) of a type matmul runs, or 0 when it runs no such type.
int matmul_block_elems(DType type);

// Mat-vec: y[t][r] = W[r] . x[t] for t < n, 1 <= n <= 8, float activations (matmul_vec.cu).
const char* launch_matvec(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                          int64_t x_stride, float* y, int64_t y_stride, int n, void* stream);

// x (n rows, x_stride apart) rounded to F16 into dst (n rows of cols halves, contiguous) (matmul_gemm.cu).
const char* launch_to_half(const float* x, int64_t x_stride, int64_t n, int64_t cols, void* dst, void* stream);

// Rows [row0, row0 + n_rows) of W dequantised to F16 into dst (n_rows rows of cols halves, contiguous).
const char* launch_dequant_half(DType type, const void* w, size_t row_bytes, int64_t row0, int64_t n_rows, int64_t cols,
                                void* dst, void* stream);

// Tensor cores: y[t][r] = sum_c a[r][c] * b[t][c] for r < rows, t < n; a and b F16 with lda / cols halves per
// row (multiples of 8, 16-byte aligned).
const char* launch_gemm_half(const void* a, int64_t lda, int64_t rows, const void* b, int64_t n, int64_t cols, float* y,
                             int64_t y_stride, void* stream);

// The device decoders run on the host over one row of cols elements (16-byte aligned): what the kernels read
// each element as. False when matmul has no decoder for the type. For the tests.
bool decode_row_on_host(DType type, const void* row, int64_t cols, float* out);

// Rows of W the prompt path dequantises per GEMM call (bounds its scratch).
int64_t gemm_chunk_rows(int64_t rows, int64_t cols);

}  // namespace ternion::cuda::detail
