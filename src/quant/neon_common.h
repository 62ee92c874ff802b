// Small NEON helpers shared by the ARM64 kernels (*_neon.cpp, *_neon_dot.cpp): unaligned loads, fp16 scales,
// the exact int32 reduction of four outputs' lanes into one register, and int8 values to fp32.
//
// Everything here has internal linkage (see kernel_common.h for why).
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "quant/kernel_common.h"

namespace ternion::quant {
namespace {

// Loads through byte pointers: any alignment is fine on ARM64 and no typed pointer is formed at an odd address.
inline float32x4_t load_f32x4(const uint8_t* p) { return vreinterpretq_f32_u8(vld1q_u8(p)); }
inline int8x16_t load_s8x16(const uint8_t* p) { return vreinterpretq_s8_u8(vld1q_u8(p)); }

// One fp16 scale as fp32 (FCVT: exact, like fp16_to_fp32 for every non-NaN value).
inline float half_to_float(uint16_t h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

inline uint16_t load_half(const uint8_t* p) { return load_unaligned<uint16_t>(p, 0); }

// The fp16 scales of four blocks `stride` bytes apart, as fp32.
inline float32x4_t load_halves4(const uint8_t* p, size_t stride) {
  uint16x4_t h = vdup_n_u16(load_half(p));
  h = vset_lane_u16(load_half(p + stride), h, 1);
  h = vset_lane_u16(load_half(p + 2 * stride), h, 2);
  h = vset_lane_u16(load_half(p + 3 * stride), h, 3);
  return vcvt_f32_f16(vreinterpret_f16_u16(h));
}

// Lane j = the sum of v[j]'s four lanes. Exact (int32).
inline int32x4_t reduce4_s32(const int32x4_t* v) { return vpaddq_s32(vpaddq_s32(v[0], v[1]), vpaddq_s32(v[2], v[3])); }

// Dequantizes one block of 32 int8 values: float(q) * d, as the reference computes it.
inline void int8_block_to_float(int8x16_t v0, int8x16_t v1, float d, float* y) {
  const int8x16_t v[2] = {v0, v1};
  for (int h = 0; h < 2; ++h) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(v[h]));
    const int16x8_t hi = vmovl_high_s8(v[h]);
    vst1q_f32(y + 16 * h, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
    vst1q_f32(y + 16 * h + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d));
    vst1q_f32(y + 16 * h + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
    vst1q_f32(y + 16 * h + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d));
  }
}

}  // namespace
}  // namespace ternion::quant
