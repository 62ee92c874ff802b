// The TQ1_0 weight format of the NEON ternary kernels (ternary_neon.h), shared by tq1_0_neon.cpp and
// tq1_0_neon_dot.cpp. Internal linkage (see kernel_common.h for why).
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "quant/kernel_common.h"
#include "quant/tq1_0.h"

namespace ternion::quant {
namespace {

// The leading trit of every byte p, minus 1: (p * 3) >> 8 is 0 below 86, 1 from 86 and 2 from 171. The two
// comparisons give 0 or -1 each; their sum s is 0, -1 or -2, and t - 1 = ~s.
inline int8x16_t leading_trit_minus1(uint8x16_t p) {
  const uint8x16_t s = vaddq_u8(vcgeq_u8(p, vdupq_n_u8(86)), vcgeq_u8(p, vdupq_n_u8(171)));
  return vreinterpretq_s8_u8(vmvnq_u8(s));
}

// p * 3^k in every byte, modulo 256: moves trit k to the front.
template <int k>
inline uint8x16_t shift_trits(uint8x16_t p) {
  constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  if constexpr (k == 0) {
    return p;
  } else {
    return vmulq_u8(p, vdupq_n_u8(kPow3[k]));
  }
}

struct TQ1Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockTQ1_0);
  static constexpr size_t kScaleOffset = offsetof(BlockTQ1_0, d);
  static constexpr int kExcess = 0;  // t - 1 itself
  // Chunks 0..4 are trit C of qs[0..32); chunks 5 and 6 are trits 0, 1 and 2, 3 of qs[32..48); chunk 7 is trit 4
  // of qs[32..48) and then the qh trits (element 240 + i is trit i / 4 of qh[i % 4]).
  template <int C>
  static void chunk(const uint8_t* block, int8x16_t& lo, int8x16_t& hi) {
    if constexpr (C < 5) {
      lo = leading_trit_minus1(shift_trits<C>(vld1q_u8(block)));
      hi = leading_trit_minus1(shift_trits<C>(vld1q_u8(block + 16)));
    } else if constexpr (C < 7) {
      const uint8x16_t q = vld1q_u8(block + 32);
      lo = leading_trit_minus1(shift_trits<2 * (C - 5)>(q));
      hi = leading_trit_minus1(shift_trits<2 * (C - 5) + 1>(q));
    } else {
      lo = leading_trit_minus1(shift_trits<4>(vld1q_u8(block + 32)));
      const uint8x16_t h =
          vreinterpretq_u8_u32(vdupq_n_u32(load_unaligned<uint32_t>(block + offsetof(BlockTQ1_0, qh), 0)));
      static constexpr uint8_t kPowers[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
      hi = leading_trit_minus1(vmulq_u8(h, vld1q_u8(kPowers)));
    }
  }
};

}  // namespace
}  // namespace ternion::quant
