// Q8_K: the activation form for dots with K-quant weights: 256 int8 values with one fp32 scale and the sums
// of each group of 16 (used by types with per-group minimums or offsets). Layout bit-exact with ggml's
// block_q8_K. Kernels rely on bsums being the true group sums, as from_float writes them.
//
// from_float (the reference, which every SIMD variant reproduces bit for bit): max = the value of largest
// magnitude (the first on ties; NaN is skipped); an all-zero block is all zeros. Otherwise iscale = -127 / max,
// qs[j] = round-half-even(iscale * x[j]) clamped to [-128, 127] (NaN products give 0), d = 1 / iscale. For
// finite input with a normal max this is GGUF's quantize_row_q8_K: every qs lies in [-127, 127].
#pragma once

#include <cstddef>
#include <cstdint>

#include "ternion/quant/quant.h"

namespace ternion::quant {

struct BlockQ8_K {
  float d;            // scale
  int8_t qs[256];     // values
  int16_t bsums[16];  // sum of each group of 16 values
};
static_assert(sizeof(BlockQ8_K) == 292, "Q8_K block must match ggml");

void q8_k_to_float_ref(const void* src, float* dst, int64_t n);
void q8_k_from_float_ref(const float* src, void* dst, int64_t n);

void q8_k_from_float_avx2(const float* src, void* dst, int64_t n);

const QuantTraits* q8_k_traits(Isa isa);

}  // namespace ternion::quant
