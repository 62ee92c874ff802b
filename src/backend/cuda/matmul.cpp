// The host side of cuda_matmul.h: argument checks, the choice of path and the scratch layout.
#include <algorithm>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_matmul.h"
#include "backend/cuda/matmul_blas.h"
#include "backend/cuda/matmul_launch.h"
#include "ternion/core/error.h"

namespace ternion::cuda {

namespace {

constexpr size_t kScratchAlign = 256;

size_t align_up(size_t v) { return (v + kScratchAlign - 1) / kScratchAlign * kScratchAlign; }

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Types whose units are read with 16-byte loads (the others with 2-byte ones).
bool wide_loads(DType type) {
  return type == DType::F32 || type == DType::F16 || type == DType::BF16 || type == DType::Q4_K || type == DType::Q5_K;
}

void check_launch(const char* error, const char* what) {
  if (error != nullptr) throw Error(std::string("CUDA matmul: ") + what + " failed: " + error);
}

void check_args(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                int64_t x_stride, const float* y, int64_t y_stride, int64_t n) {
  const std::string name(dtype_info(type).name);
  const int block = detail::matmul_block_elems(type);
  if (block == 0) throw Error("CUDA matmul: weight type " + name + " is not supported");
  if (rows < 0 || n < 0) throw Error("CUDA matmul: negative rows or token count");
  if (cols <= 0 || cols % block != 0 || cols > (int64_t{1} << 30))
    throw Error("CUDA matmul: cols " + std::to_string(cols) + " is not a positive multiple of " +
                std::to_string(block) + " for " + name + " (at most 2^30)");
  const DTypeInfo& info = dtype_info(type);
  if (row_bytes < ternion::row_bytes(info, static_cast<uint64_t>(cols)))
    throw Error("CUDA matmul: row_bytes " + std::to_string(row_bytes) + " is less than one row of " + name);
  if (row_bytes % (wide_loads(type) ? 16 : 2) != 0 || !aligned16(w))
    throw Error("CUDA matmul: " + name + " weights need 16-byte alignment and rows a multiple of " +
                std::string(wide_loads(type) ? "16" : "2") + " bytes");
  if (!aligned16(x) || x_stride % 4 != 0 || x_stride < cols)
    throw Error("CUDA matmul: x must be 16-byte aligned with a stride >= cols and a multiple of 4 floats");
  if (y == nullptr || y_stride < rows) throw Error("CUDA matmul: y is null or y_stride < rows");
}

void matvec_groups(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                   int64_t x_stride, float* y, int64_t y_stride, int64_t n, void* stream) {
  for (int64_t t = 0; t < n; t += kMatvecMaxTokens) {
    const int group = static_cast<int>(std::min(kMatvecMaxTokens, n - t));
    check_launch(detail::launch_matvec(type, w, row_bytes, rows, cols, x + t * x_stride, x_stride, y + t * y_stride,
                                       y_stride, group, stream),
                 "mat-vec launch");
  }
}

// One F16 x F16 product: ours, or cuBLAS's when a handle is given.
void gemm_half(const BlasMatmul* blas, const void* a, int64_t lda, int64_t rows, const void* b, int64_t n, int64_t cols,
               float* y, int64_t y_stride, void* stream) {
  if (blas != nullptr) {
    blas_gemm_half(*blas, a, lda, rows, b, n, cols, y, y_stride, stream);
    return;
  }
  check_launch(detail::launch_gemm_half(a, lda, rows, b, n, cols, y, y_stride, stream), "GEMM launch");
}

void gemm(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
          float* y, int64_t y_stride, int64_t n, void* scratch, void* stream, const BlasMatmul* blas) {
  if (scratch == nullptr || !aligned16(scratch))
    throw Error("CUDA matmul: " + std::to_string(n) + " tokens need a 16-byte aligned scratch buffer");
  auto* xh = static_cast<unsigned char*>(scratch);
  check_launch(detail::launch_to_half(x, x_stride, n, cols, xh, stream), "activation conversion");
  if (type == DType::F16) {
    check_launch(
        detail::launch_gemm_half(w, static_cast<int64_t>(row_bytes / 2), rows, xh, n, cols, y, y_stride, stream),
        "GEMM launch");
    return;
  }
  unsigned char* wh = xh + align_up(static_cast<size_t>(n * cols) * 2);
  const int64_t chunk = detail::gemm_chunk_rows(rows, cols);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t count = std::min(chunk, rows - r0);
    check_launch(detail::launch_dequant_half(type, w, row_bytes, r0, count, cols, wh, stream), "dequantisation");
    gemm_half(blas, wh, cols, count, xh, n, cols, y + r0, y_stride, stream);
  }
}

}  // namespace

bool matmul_supports(DType type) { return detail::matmul_block_elems(type) != 0; }

size_t matmul_scratch_bytes(DType type, int64_t rows, int64_t cols, int64_t n) {
  if (n <= kMatvecMaxTokens || rows <= 0 || cols <= 0 || !matmul_supports(type)) return 0;
  size_t bytes = align_up(static_cast<size_t>(n * cols) * 2);
  if (type != DType::F16) bytes += static_cast<size_t>(detail::gemm_chunk_rows(rows, cols) * cols) * 2;
  return bytes;
}

void matmul(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
            float* y, int64_t y_stride, int64_t n, void* scratch, void* stream) {
  matmul(type, w, row_bytes, rows, cols, x, x_stride, y, y_stride, n, scratch, stream, MatmulOrder::Fast);
}

void matmul(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
            float* y, int64_t y_stride, int64_t n, void* scratch, void* stream, MatmulOrder order) {
  matmul(type, w, row_bytes, rows, cols, x, x_stride, y, y_stride, n, scratch, stream, order, nullptr);
}

void matmul(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
            float* y, int64_t y_stride, int64_t n, void* scratch, void* stream, MatmulOrder order,
            const BlasMatmul* blas) {
  check_args(type, w, row_bytes, rows, cols, x, x_stride, y, y_stride, n);
  if (rows == 0 || n == 0) return;
  if (n <= kMatvecMaxTokens || order == MatmulOrder::BatchInvariant) {
    matvec_groups(type, w, row_bytes, rows, cols, x, x_stride, y, y_stride, n, stream);
    return;
  }
  gemm(type, w, row_bytes, rows, cols, x, x_stride, y, y_stride, n, scratch, stream, blas);
}

}  // namespace ternion::cuda
