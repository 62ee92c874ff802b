// What the ternary types TQ1_0 and TQ2_0 share: super-blocks of 256 values, each value a trit t in {0, 1, 2}
// standing for t - 1 in {-1, 0, +1}, times one fp16 scale per super-block; the quantizer's rounding rule; and the
// exact integer dot of a super-block with Q8_K activations.
//
// Everything here has internal linkage (see kernel_common.h for why).
#pragma once

#include <cmath>
#include <cstdint>

#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {
namespace {

constexpr int kTernaryBlockSize = 256;

// The largest |x| of a super-block, which becomes its scale d. Written as (amax > a ? amax : a) so that a NaN
// element propagates the way GGUF's reference quantizer lets it.
inline float ternary_absmax(const float* x) {
  float amax = 0.0f;
  for (int j = 0; j < kTernaryBlockSize; ++j) {
    const float a = std::fabs(x[j]);
    amax = amax > a ? amax : a;
  }
  return amax;
}

// The trit of x for inverse scale id: round(x * id) to nearest, ties away from zero, plus 1. For |x| <= amax
// this is 0, 1 or 2.
inline int ternary_trit(float x, float id) { return static_cast<int>(std::lround(x * id)) + 1; }

// The exact dot of 256 trits (t - 1) with a Q8_K block's values: sum over j of (t[j] - 1) * x.qs[j].
inline int32_t ternary_block_dot(const uint8_t* trits, const BlockQ8_K& x) {
  int32_t isum = 0;
  for (int j = 0; j < kTernaryBlockSize; ++j) isum += (static_cast<int32_t>(trits[j]) - 1) * x.qs[j];
  return isum;
}

// The reference dot of a ternary type with Q8_K activations: per super-block sum = fma(isum, d * d_x, sum), the
// order every kernel keeps. Block has an fp16 scale d; Unpack writes its 256 trits in element order.
template <class Block, void (*Unpack)(const Block&, uint8_t*)>
void ternary_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  uint8_t t[kTernaryBlockSize];
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kTernaryBlockSize; ++i) {
    const auto wb = load_unaligned<Block>(w, i);
    const auto xb = load_unaligned<BlockQ8_K>(x, i);
    Unpack(wb, t);
    const int32_t isum = ternary_block_dot(t, xb);
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * xb.d, sum);
  }
  *out = sum;
}

}  // namespace
}  // namespace ternion::quant
