// Interleaved weight layouts: a matrix's rows regrouped once, at load, so that the matmul kernels stream them.
//
// Rows are taken kInterleaveRows at a time (a group; the last group is padded with zero rows). Within a group the
// blocks follow each other in order, and each block of the 16 rows is stored as
//   values: for every 4-byte word k of the block's values, the 16 rows' word k side by side (one 64-byte
//           register: row r at bytes 4r..4r+3), Q8_0 values shifted to unsigned (q + 128);
//   scales: the 16 rows' fp16 block scales.
// One register load then feeds one VNNI dot for 16 outputs (AVX-512), two 256-bit ones for 8 outputs each (AVX2,
// AVX-VNNI) or four SDOTs by element for 4 each (ARM64), and no gather or shuffle is left in the loop.
// The kernels give exactly the bits of the type's vec_dot on the original rows (tested), so a model computes
// the same numbers whichever layout its weights are in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ternion/core/dtype.h"
#include "ternion/quant/quant.h"

namespace ternion {

constexpr int64_t kInterleaveRows = 16;

struct InterleavedKernels {
  DType type;
  Isa isa;
  // Bytes of one group of kInterleaveRows rows of `cols` elements.
  size_t (*group_bytes)(int64_t cols);
  // Writes ceil(rows / kInterleaveRows) groups of the rows at w (w_stride bytes apart) to dst.
  void (*pack)(const void* w, size_t w_stride, int64_t rows, int64_t cols, void* dst);
  // out[t * ldo + r] = vec_dot(row r, x row t) for r < n_rows, t < n_tokens, where row 0 is the first row of the
  // group at `groups` (x: activation rows of the type's vec_dot_type, x_stride bytes apart).
  void (*gemm)(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
               float* out, int64_t ldo);
};

// The interleaved kernels of this type for this CPU (those of its quant_traits record), or nullptr when the type
// keeps its file layout here.
const InterleavedKernels* interleaved_kernels(DType type);

// The interleaved kernels of every level of this type that the CPU runs, narrowest first (tests and benchmarks
// compare them); empty when there are none.
std::vector<const InterleavedKernels*> interleaved_kernels_variants(DType type);

// Bytes of a whole interleaved matrix.
size_t interleaved_bytes(const InterleavedKernels& k, int64_t rows, int64_t cols);

}  // namespace ternion
