// Q8_K quantization of activations for ARM64 NEON: the same bytes as q8_k_from_float_ref (see q8_k.h).
#include <arm_neon.h>

#include <cmath>
#include <cstring>

#include "quant/k_quant_neon.h"
#include "quant/q8_k.h"

namespace ternion::quant {

void q8_k_from_float_neon(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    auto* out = static_cast<uint8_t*>(dst) + i * static_cast<int64_t>(sizeof(BlockQ8_K));
    // The largest magnitude, lane by lane: a lane moves only where |x| > max, so NaN is skipped as in the reference.
    float32x4_t vmax = vdupq_n_f32(0.0f);
    for (int j = 0; j < kQK_K; j += 4) {
      const float32x4_t ax = vabsq_f32(vld1q_f32(x + j));
      vmax = vbslq_f32(vcgtq_f32(ax, vmax), ax, vmax);
    }
    const float amax = vmaxvq_f32(vmax);
    if (amax == 0.0f) {
      std::memset(out, 0, sizeof(BlockQ8_K));
      continue;
    }
    // Its first occurrence keeps its sign.
    float max = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      if (std::fabs(x[j]) == amax) {
        max = x[j];
        break;
      }
    }
    const float iscale = -127.0f / max;
    int16_t sums[16];
    for (int g = 0; g < 16; ++g) {
      int32x4_t v[4];
      for (int k = 0; k < 4; ++k) {
        // FCVTNS rounds half to even, saturates and gives 0 for NaN; the narrowing saturates to [-128, 127].
        v[k] = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 16 * g + 4 * k), iscale));
      }
      const int16x8_t lo = vcombine_s16(vqmovn_s32(v[0]), vqmovn_s32(v[1]));
      const int16x8_t hi = vcombine_s16(vqmovn_s32(v[2]), vqmovn_s32(v[3]));
      const int8x16_t q = vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
      vst1q_u8(out + 4 + 16 * g, vreinterpretq_u8_s8(q));
      sums[g] = vaddlvq_s8(q);
    }
    const float d = 1.0f / iscale;
    std::memcpy(out, &d, sizeof(d));
    std::memcpy(out + 260, sums, sizeof(sums));
  }
}

}  // namespace ternion::quant
