// The weight matmul kernels of the CUDA backend, behind one plain C++ interface (no CUDA headers: the backend's
// host code includes it). PLACEHOLDER: matmul_placeholder.cu implements it for F32 and F16 only, so that the
// backend builds and is tested before the real kernels land; those replace this header and that file.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/core/dtype.h"

namespace ternion::cuda {

// Whether matmul() runs weights of this type directly (others: convert them to F16 at upload, on the host, with the
// quant layer's to-float, then use F16).
bool matmul_supports(DType type);
// Device scratch bytes matmul() needs for up to n tokens of this matrix shape.
size_t matmul_scratch_bytes(DType type, int64_t rows, int64_t cols, int64_t n);
// y[t][r] = sum_c W[r][c] * x[t][c] for t < n. W: `rows` rows of `row_bytes` bytes each in GGUF's block layout of
// `type`, in device memory; x: n rows of cols floats (x_stride floats apart), y: n rows of `rows` floats (y_stride
// apart), both device memory; scratch as sized above; stream: a cudaStream_t passed as void*. Asynchronous on that
// stream.
void matmul(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
            float* y, int64_t y_stride, int64_t n, void* scratch, void* stream);

}  // namespace ternion::cuda
