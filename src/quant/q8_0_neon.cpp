// Q8_0 kernels for ARM64 NEON (ARMv8.0): quantize (activations), dequantize, dot, tiled gemm.
#include <arm_neon.h>

#include "quant/kernel_common.h"
#include "quant/neon_kernels.h"
#include "quant/q8_0.h"
#include "quant/q8_dot_neon.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

void q8_0_to_float_neon(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const uint8_t* blk = s + b * kQ8Bytes;
    int8x16_t v0;
    int8x16_t v1;
    load_q8_values(blk, v0, v1);
    int8_block_to_float(v0, v1, half_to_float(load_half(blk)), dst + b * kQ8_0BlockSize);
  }
}

// Same steps as q8_0_from_float_ref: max |x| with NaN skipped (exact in any order), d = amax / 127, id = 1 / d,
// values rounded to nearest-even by FCVTNS and saturated to int8 by SQXTN (as clamp(lrint(x * id)) does, NaN
// products giving 0); the scale is stored by the reference conversion.
void q8_0_from_float_neon(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const float* x = src + b * kQ8_0BlockSize;
    float32x4_t v[8];
    float32x4_t amax = vdupq_n_f32(0.0f);
    for (int k = 0; k < 8; ++k) {
      v[k] = vld1q_f32(x + 4 * k);
      const float32x4_t a = vabsq_f32(v[k]);
      // NaN lanes become +0, which std::max(amax, NaN) leaves out too.
      amax = vmaxq_f32(amax, vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vceqq_f32(a, a))));
    }
    const float d = vmaxvq_f32(amax) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int16x8_t q16[4];
    for (int k = 0; k < 4; ++k) {
      const int32x4_t lo = vcvtnq_s32_f32(vmulq_n_f32(v[2 * k], id));
      const int32x4_t hi = vcvtnq_s32_f32(vmulq_n_f32(v[2 * k + 1], id));
      q16[k] = vqmovn_high_s32(vqmovn_s32(lo), hi);
    }
    uint8_t* blk = out + b * kQ8Bytes;
    store_unaligned<uint16_t>(blk, 0, fp32_to_fp16(d));
    vst1q_u8(blk + 2, vreinterpretq_u8_s8(vqmovn_high_s16(vqmovn_s16(q16[0]), q16[1])));
    vst1q_u8(blk + 18, vreinterpretq_u8_s8(vqmovn_high_s16(vqmovn_s16(q16[2]), q16[3])));
  }
}

void q8_0_vec_dot_neon(int64_t n, float* out, const void* w, const void* x) {
  q8_vec_dot_neon<Q8Weights, MullDot>(n, out, w, x);
}

void q8_0_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_neon<Q8Weights, MullDot>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
