// BF16 conversions and dot kernels for ARM64 NEON (ARMv8.0: bf16 is widened by a 16-bit shift, and rounded to
// nearest-even with integer arithmetic, as fp32_to_bf16 does).
#include <arm_neon.h>

#include "quant/float_dot_neon.h"
#include "quant/neon_kernels.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

inline float32x4_t widen_lo(uint16x8_t h) { return vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)); }
inline float32x4_t widen_hi(uint16x8_t h) { return vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)); }

struct BF16Loader {
  static void load8(const uint8_t* p, int64_t i, float32x4_t& lo, float32x4_t& hi) {
    const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(p + 2 * i));
    lo = widen_lo(h);
    hi = widen_hi(h);
  }
  static constexpr size_t kBytes = 2;  // bytes per element
};

// fp32_to_bf16 on four lanes: NaN keeps its top half with the quiet bit set; anything else adds
// 0x7fff + (bit 16) and keeps the top half.
inline uint32x4_t to_bf16_bits(float32x4_t v) {
  const uint32x4_t x = vreinterpretq_u32_f32(v);
  const uint32x4_t rounded =
      vaddq_u32(x, vaddq_u32(vdupq_n_u32(0x7fff), vandq_u32(vshrq_n_u32(x, 16), vdupq_n_u32(1))));
  const uint32x4_t nan = vcgtq_u32(vandq_u32(x, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
  const uint32x4_t quiet = vorrq_u32(x, vdupq_n_u32(0x400000));
  return vshrq_n_u32(vbslq_u32(nan, quiet, rounded), 16);
}

}  // namespace

void bf16_to_float_neon(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(s + 2 * i));
    vst1q_f32(dst + i, widen_lo(h));
    vst1q_f32(dst + i + 4, widen_hi(h));
  }
  for (; i < n; ++i) dst[i] = bf16_to_fp32(load_unaligned<uint16_t>(s, i));
}

void bf16_from_float_neon(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint16x8_t h =
        vcombine_u16(vmovn_u32(to_bf16_bits(vld1q_f32(src + i))), vmovn_u32(to_bf16_bits(vld1q_f32(src + i + 4))));
    vst1q_u8(d + 2 * i, vreinterpretq_u8_u16(h));
  }
  for (; i < n; ++i) store_unaligned<uint16_t>(dst, i, fp32_to_bf16(src[i]));
}

void bf16_vec_dot_neon(int64_t n, float* out, const void* w, const void* x) {
  float_vec_dot_neon<BF16Loader, F32Loader>(n, out, w, x);
}

void bf16_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  float_gemm_neon<BF16Loader, F32Loader>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
