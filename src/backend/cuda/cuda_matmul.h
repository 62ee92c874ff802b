// Weight-matrix multiplication on a CUDA device: y = W x for the weight types of GGUF files, W in its file block
// layout in device memory. A plain C++ header (no CUDA includes): the backend calls it, the kernels are in
// matmul_*.cu.
//
// Paths (see ARCHITECTURE.md, "CUDA matmul"):
//  - n <= kMatvecMaxTokens (decode): mat-vec kernels that read each weight byte once, dequantise it in registers
//    and multiply with the float activations (4 weight rows per 128-thread block, the columns split over the
//    threads, a fixed-order reduction).
//  - larger n (prompts): W is dequantised to F16 (in row chunks, into the scratch; F16 weights are used as they
//    are), x rounded to F16, and a tensor-core tile kernel (WMMA, F32 accumulation) multiplies them.
// Reduction order: each output's sum has one fixed order per path, whatever n and whichever other tokens share the
// call; so a token's result depends only on which path ran (n <= kMatvecMaxTokens or not). MatmulOrder::
// BatchInvariant runs the mat-vec path for every n (tokens in groups of up to 8), so a token's result never depends
// on its batch, at the cost of prompt speed (no tensor cores; weights re-read once per 8 tokens).
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/core/dtype.h"

namespace ternion::cuda {

// Largest token count that takes the mat-vec path in MatmulOrder::Fast.
inline constexpr int64_t kMatvecMaxTokens = 8;

enum class MatmulOrder {
  Fast,            // mat-vec for n <= kMatvecMaxTokens, tensor cores above
  BatchInvariant,  // mat-vec for every n: a token's result is that of a one-token call
};

// The cuBLAS route for the prompt path: cublasGemmEx on the same F16 operands (F32 accumulation) in place of the
// WMMA tile kernel, for where cuBLAS's Hopper kernels beat ours. Its kernel choice depends on the shape, n included,
// so with it a token's prompt-path bits may depend on its batch (decode and BatchInvariant never use it). Owns one
// cuBLAS handle: one per backend, used from one host thread at a time.
class BlasMatmul {
 public:
  BlasMatmul();  // throws ternion::Error when cuBLAS cannot start
  ~BlasMatmul();
  BlasMatmul(const BlasMatmul&) = delete;
  BlasMatmul& operator=(const BlasMatmul&) = delete;
  void* handle() const { return handle_; }  // the cublasHandle_t

 private:
  void* handle_ = nullptr;
};

// Whether matmul() runs weights of this type directly (others are converted to F16 at upload by the backend).
bool matmul_supports(DType type);

// Device scratch bytes matmul() needs for up to n tokens of this matrix shape (0 when none); enough for either
// MatmulOrder.
size_t matmul_scratch_bytes(DType type, int64_t rows, int64_t cols, int64_t n);

// y[t][r] = sum_c W[r][c] * x[t][c] for t < n. W: `rows` rows of `row_bytes` bytes each in GGUF's block layout of
// `type`, in device memory; x: n rows of cols floats (x_stride floats apart), y: n rows of `rows` floats (y_stride
// apart), both device memory; scratch as sized above; stream: a cudaStream_t passed as void*. Asynchronous on that
// stream. Requirements (ternion::Error names the one broken): cols a multiple of the type's block (of 8 for F32,
// F16, BF16); W, x and scratch 16-byte aligned, row_bytes a multiple of 16 for F32, F16, BF16, Q4_K and Q5_K (even
// for the others); x_stride a multiple of 4 and >= cols; y_stride >= rows. Throws on a launch error.
void matmul(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
            float* y, int64_t y_stride, int64_t n, void* scratch, void* stream);
void matmul(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
            float* y, int64_t y_stride, int64_t n, void* scratch, void* stream, MatmulOrder order);
// As above; with `blas` non-null, MatmulOrder::Fast runs its prompt path through cuBLAS.
void matmul(DType type, const void* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t x_stride,
            float* y, int64_t y_stride, int64_t n, void* scratch, void* stream, MatmulOrder order,
            const BlasMatmul* blas);

}  // namespace ternion::cuda
