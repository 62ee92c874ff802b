// Matrix multiplication on the CPU: y = W x for a batch of token rows, with weights of any supported type
// (quant/quant.h). Results are bit-identical for any thread count and any batch composition: each output is one
// dot product computed in the fixed order of its type's vec_dot, whichever kernel shape or thread computes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "ternion/core/dtype.h"
#include "ternion/core/thread_pool.h"

namespace ternion {

struct InterleavedKernels;  // ternion/quant/interleave.h

// A GGUF 2-D tensor with ne0 = cols, ne1 = rows: row r starts at data + r * row_bytes.
struct WeightMatrix {
  DType type;
  int64_t rows;
  int64_t cols;
  const uint8_t* data;
  size_t row_bytes;
  // Optional: the same rows packed once in an interleaved layout (ternion/quant/interleave.h) and its kernels;
  // matmul then reads these instead of `data`, with the same results.
  const uint8_t* interleaved = nullptr;
  const InterleavedKernels* interleaved_ops = nullptr;
  // The matrix's values are these rows times `scale` (BitNet's `<name>.scale`, I2_S's one scale per tensor).
  // matmul computes with the rows alone; the forward pass multiplies the product by it (InferenceContext).
  float scale = 1.0f;
};

// Bytes of scratch matmul needs for n_tokens activation rows of `cols` (converted to the weight type's
// vec_dot_type). 0 for F32 weights. Throws ternion::Error for a type without kernels.
size_t matmul_scratch_bytes(DType weight_type, int64_t cols, int64_t n_tokens);

// y[t * ldy + r] = dot(W row r, x row t) for t < n_tokens, r < w.rows. x is n_tokens x w.cols floats (row
// stride w.cols). scratch holds at least matmul_scratch_bytes(...) bytes; matmul allocates nothing.
// Throws ternion::Error on a type without kernels, cols not a multiple of the block size, ldy < rows or too
// little scratch.
// `next`, when given, is the matrix the caller multiplies next: with a few tokens, a thread that has no chunk
// left to claim asks the caches for the start of the chunk it will likely take of it (ThreadPool::IdleReads).
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, int64_t ldy, std::span<uint8_t> scratch,
            ThreadPool& pool, const WeightMatrix* next = nullptr);

// One product of a matmul_many call: y[t * ldy + r] = dot(W row r, x row t).
struct MatmulOutput {
  const WeightMatrix* w;
  float* y;
  int64_t ldy;
};

// Several matrices over the same input (Q, K and V; gate and up), with results bit-identical to one matmul call
// each. The input is converted once per activation type and all the products' chunks share one pool job: one
// synchronisation instead of one per matrix. Every w must have x's row length `cols`. scratch holds at least
// matmul_many_scratch_bytes(...) bytes: matmul_scratch_bytes(...) summed over the products' distinct activation
// types. Throws ternion::Error as
// matmul does, or for a product whose cols differ.
size_t matmul_many_scratch_bytes(std::span<const WeightMatrix* const> ws, int64_t n_tokens);
void matmul_many(std::span<const MatmulOutput> outputs, const float* x, int64_t cols, int64_t n_tokens,
                 std::span<uint8_t> scratch, ThreadPool& pool, const WeightMatrix* next = nullptr);

}  // namespace ternion
