// The TQ2_0 weight format of the NEON ternary kernels (ternary_neon.h), shared by tq2_0_neon.cpp and
// tq2_0_neon_dot.cpp. Internal linkage (see kernel_common.h for why).
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "quant/tq2_0.h"

namespace ternion::quant {
namespace {

struct TQ2Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockTQ2_0);
  static constexpr size_t kScaleOffset = offsetof(BlockTQ2_0, d);
  static constexpr int kExcess = 1;  // the codes t themselves (value t - 1; the code 3 is +2, as in the reference)
  // Chunk C = 4g + l is bits 2l, 2l + 1 of qs[32g .. 32g + 32).
  template <int C>
  static void chunk(const uint8_t* block, int8x16_t& lo, int8x16_t& hi) {
    constexpr int g = C / 4;
    constexpr int l = C % 4;
    uint8x16_t q0 = vld1q_u8(block + 32 * g);
    uint8x16_t q1 = vld1q_u8(block + 32 * g + 16);
    if constexpr (l > 0) {
      q0 = vshrq_n_u8(q0, 2 * l);
      q1 = vshrq_n_u8(q1, 2 * l);
    }
    if constexpr (l < 3) {
      q0 = vandq_u8(q0, vdupq_n_u8(3));
      q1 = vandq_u8(q1, vdupq_n_u8(3));
    }
    lo = vreinterpretq_s8_u8(q0);
    hi = vreinterpretq_s8_u8(q1);
  }
};

}  // namespace
}  // namespace ternion::quant
