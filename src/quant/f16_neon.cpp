// F16 conversions and dot kernels for ARM64 NEON (FCVTL / FCVTN convert four halves at a time).
#include <arm_neon.h>

#include "quant/float_dot_neon.h"
#include "quant/neon_kernels.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

struct F16Loader {
  static void load8(const uint8_t* p, int64_t i, float32x4_t& lo, float32x4_t& hi) {
    const float16x8_t h = vreinterpretq_f16_u8(vld1q_u8(p + 2 * i));
    lo = vcvt_f32_f16(vget_low_f16(h));
    hi = vcvt_high_f32_f16(h);
  }
  static constexpr size_t kBytes = 2;  // bytes per element
};

// Halves that are NaN: (h & 0x7fff) > 0x7c00.
inline bool any_nan_half(uint16x8_t h) { return vmaxvq_u16(vandq_u16(h, vdupq_n_u16(0x7fff))) > 0x7c00; }

inline bool any_nan(float32x4_t v) { return vminvq_u32(vceqq_f32(v, v)) == 0; }

}  // namespace

// FCVTL is exact like fp16_to_fp32, except that it quiets a signalling NaN; blocks holding a NaN are redone the
// reference way so every payload matches.
void f16_to_float_neon(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(s + 2 * i));
    if (any_nan_half(h)) {
      for (int64_t j = i; j < i + 8; ++j) dst[j] = fp16_to_fp32(load_unaligned<uint16_t>(s, j));
      continue;
    }
    const float16x8_t hf = vreinterpretq_f16_u16(h);
    vst1q_f32(dst + i, vcvt_f32_f16(vget_low_f16(hf)));
    vst1q_f32(dst + i + 4, vcvt_high_f32_f16(hf));
  }
  for (; i < n; ++i) dst[i] = fp16_to_fp32(load_unaligned<uint16_t>(s, i));
}

// FCVTN rounds to nearest-even like fp32_to_fp16 (overflow to infinity, subnormal halves included); only NaN
// payloads differ, so groups holding a NaN are redone the reference way.
void f16_from_float_neon(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const float32x4_t lo = vld1q_f32(src + i);
    const float32x4_t hi = vld1q_f32(src + i + 4);
    if (any_nan(lo) || any_nan(hi)) {
      for (int64_t j = i; j < i + 8; ++j) store_unaligned<uint16_t>(dst, j, fp32_to_fp16(src[j]));
      continue;
    }
    vst1q_u8(d + 2 * i, vreinterpretq_u8_f16(vcvt_high_f16_f32(vcvt_f16_f32(lo), hi)));
  }
  for (; i < n; ++i) store_unaligned<uint16_t>(dst, i, fp32_to_fp16(src[i]));
}

void f16_vec_dot_neon(int64_t n, float* out, const void* w, const void* x) {
  float_vec_dot_neon<F16Loader>(n, out, w, x);
}

void f16_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                   int64_t n_tokens, float* out, int64_t ldo) {
  float_gemm_neon<F16Loader>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
