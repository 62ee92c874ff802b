// The Q4_0 weight format of the NEON dot kernels (q8_dot_neon.h), shared by q4_0_neon.cpp and q4_0_neon_dot.cpp.
// Internal linkage (see kernel_common.h for why).
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "quant/neon_common.h"
#include "quant/q4_0.h"

namespace ternion::quant {
namespace {

struct Q4Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ4_0);
  // Low nibbles are elements 0..15, high nibbles 16..31; as int8 in [-8, 7].
  static void load(const uint8_t* block, int8x16_t& v0, int8x16_t& v1) {
    const uint8x16_t q = vld1q_u8(block + 2);
    const int8x16_t eight = vdupq_n_s8(8);
    v0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), eight);
    v1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
  }
};

}  // namespace
}  // namespace ternion::quant
