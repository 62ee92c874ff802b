// The ARM64 NEON kernels of the K-quants (Q4_K, Q5_K, Q6_K) and of their Q8_K activations: the declarations for
// the trait records, and the kernel templates shared by the *_neon.cpp and *_neon_dot.cpp files. ARM64 builds
// only.
//
// A weight format W unpacks one super-block into Unpacked (its quants as int8, 16 values a register, and its
// group scales) and computes the exact int32 sums of one super-block pair from it (see each type's header for
// the sums). A dot policy D adds the exact products of 16 int8 pairs into four int32 lanes: KMullDot (ARMv8.0:
// SMULL and SMLAL to int16, then SADALP) or KSdotDot (ARMv8.2 SDOT, in *_neon_dot.cpp only).
//
// Each output then accumulates, super-block after super-block from +0, sum = fma(float(isum), d_w * d_x, sum)
// and for the types with mins sum = fma(float(-msum), dmin_w * d_x, sum): the reference order. The tiles put four
// rows in the four lanes of one register, so each fma of four outputs is one FMLA.
//
// Everything but the declarations has internal linkage (see kernel_common.h for why).
#pragma once

#include <arm_neon.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "quant/k_quant_math.h"
#include "quant/neon_common.h"
#include "quant/q4_k.h"
#include "quant/q5_k.h"
#include "quant/q6_k.h"
#include "quant/q8_k.h"
#include "quant/tile_driver.h"

namespace ternion::quant {

void q8_k_from_float_neon(const float* src, void* dst, int64_t n);

void q4_k_vec_dot_neon(int64_t n, float* out, const void* w, const void* x);
void q4_k_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);
void q4_k_vec_dot_neon_dot(int64_t n, float* out, const void* w, const void* x);
void q4_k_gemm_neon_dot(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo);

void q5_k_vec_dot_neon(int64_t n, float* out, const void* w, const void* x);
void q5_k_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);
void q5_k_vec_dot_neon_dot(int64_t n, float* out, const void* w, const void* x);
void q5_k_gemm_neon_dot(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo);

void q6_k_vec_dot_neon(int64_t n, float* out, const void* w, const void* x);
void q6_k_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo);
void q6_k_vec_dot_neon_dot(int64_t n, float* out, const void* w, const void* x);
void q6_k_gemm_neon_dot(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo);

namespace {

constexpr size_t kQ8KBytes = sizeof(BlockQ8_K);
constexpr size_t kQ8KValues = 4;   // offset of qs in a Q8_K block
constexpr size_t kQ8KBsums = 260;  // offset of bsums

inline float q8_k_scale(const uint8_t* xb) { return load_unaligned<float>(xb, 0); }

// Products of int8 pairs: |w x| <= 32 * 128 for every K-quant (weights in [-32, 31] or [0, 31], activations in
// [-128, 127]), so two of them fit in int16 before widening.
struct KMullDot {
  static int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vpadalq_s16(acc, vmlal_high_s8(vmull_s8(vget_low_s8(a), vget_low_s8(b)), a, b));
  }
};

#if defined(__ARM_FEATURE_DOTPROD)
struct KSdotDot {
  static int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }
};
#endif

// The 8 scales and 8 mins of Q4_K / Q5_K as int16.
inline void unpack_scales_mins_k4(const uint8_t* packed, int16x8_t& scales, int16x8_t& mins) {
  int16_t s[8];
  int16_t m[8];
  for (int g = 0; g < 8; ++g) {
    uint8_t sc = 0;
    uint8_t mn = 0;
    unpack_scale_min_k4(g, packed, &sc, &mn);
    s[g] = sc;
    m[g] = mn;
  }
  scales = vld1q_s16(s);
  mins = vld1q_s16(m);
}

// The exact sums of the asymmetric types (8 groups of 32, q[2g] and q[2g + 1] group g):
// isum = sum_g scale_g * dot_g, msum = sum_g min_g * (bsums[2g] + bsums[2g + 1]).
template <class D>
inline void affine_sums(const int8x16_t* q, int16x8_t scales, int16x8_t mins, const uint8_t* xb, int32_t& isum,
                        int32_t& msum) {
  const uint8_t* xq = xb + kQ8KValues;
  int32x4_t g[8];
  for (int k = 0; k < 8; ++k) {
    const int32x4_t a = D::dot16(vdupq_n_s32(0), q[2 * k], load_s8x16(xq + 32 * k));
    g[k] = D::dot16(a, q[2 * k + 1], load_s8x16(xq + 32 * k + 16));
  }
  const int32x4_t s03 = reduce4_s32(g);
  const int32x4_t s47 = reduce4_s32(g + 4);
  int32x4_t t = vmulq_s32(s03, vmovl_s16(vget_low_s16(scales)));
  t = vmlaq_s32(t, s47, vmovl_high_s16(scales));
  isum = vaddvq_s32(t);
  const int16x8_t b0 = vreinterpretq_s16_u8(vld1q_u8(xb + kQ8KBsums));
  const int16x8_t b1 = vreinterpretq_s16_u8(vld1q_u8(xb + kQ8KBsums + 16));
  const int16x8_t pairs = vpaddq_s16(b0, b1);  // |bsum| <= 2048: a pair fits in int16
  const int32x4_t m = vmlal_high_s16(vmull_s16(vget_low_s16(pairs), vget_low_s16(mins)), pairs, mins);
  msum = vaddvq_s32(m);
}

struct Q4KWeights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ4_K);
  static constexpr bool kHasMins = true;
  struct Unpacked {
    int8x16_t q[16];
    int16x8_t scales;
    int16x8_t mins;
  };
  static float d(const uint8_t* b) { return half_to_float(load_half(b)); }
  static float dmin(const uint8_t* b) { return half_to_float(load_half(b + 2)); }
  static void unpack(const uint8_t* b, Unpacked& u) {
    const uint8x16_t mask = vdupq_n_u8(0x0f);
    for (int k = 0; k < 4; ++k) {
      const uint8x16_t a = vld1q_u8(b + 16 + 32 * k);
      const uint8x16_t c = vld1q_u8(b + 32 + 32 * k);
      u.q[4 * k + 0] = vreinterpretq_s8_u8(vandq_u8(a, mask));
      u.q[4 * k + 1] = vreinterpretq_s8_u8(vandq_u8(c, mask));
      u.q[4 * k + 2] = vreinterpretq_s8_u8(vshrq_n_u8(a, 4));
      u.q[4 * k + 3] = vreinterpretq_s8_u8(vshrq_n_u8(c, 4));
    }
    unpack_scales_mins_k4(b + 4, u.scales, u.mins);
  }
  template <class D>
  static void sums(const Unpacked& u, const uint8_t* xb, int32_t& isum, int32_t& msum) {
    affine_sums<D>(u.q, u.scales, u.mins, xb, isum, msum);
  }
};

struct Q5KWeights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ5_K);
  static constexpr bool kHasMins = true;
  using Unpacked = Q4KWeights::Unpacked;
  static float d(const uint8_t* b) { return half_to_float(load_half(b)); }
  static float dmin(const uint8_t* b) { return half_to_float(load_half(b + 2)); }
  static void unpack(const uint8_t* b, Unpacked& u) {
    const uint8x16_t mask = vdupq_n_u8(0x0f);
    const uint8x16_t five = vdupq_n_u8(0x10);
    const uint8x16_t h[2] = {vld1q_u8(b + 16), vld1q_u8(b + 32)};
    for (int k = 0; k < 4; ++k) {
      for (int half = 0; half < 2; ++half) {
        const uint8x16_t a = vld1q_u8(b + 48 + 32 * k + 16 * half);
        const uint8x16_t bit_lo = vandq_u8(vtstq_u8(h[half], vdupq_n_u8(static_cast<uint8_t>(1u << (2 * k)))), five);
        const uint8x16_t bit_hi =
            vandq_u8(vtstq_u8(h[half], vdupq_n_u8(static_cast<uint8_t>(1u << (2 * k + 1)))), five);
        u.q[4 * k + half] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(a, mask), bit_lo));
        u.q[4 * k + 2 + half] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(a, 4), bit_hi));
      }
    }
    unpack_scales_mins_k4(b + 4, u.scales, u.mins);
  }
  template <class D>
  static void sums(const Unpacked& u, const uint8_t* xb, int32_t& isum, int32_t& msum) {
    affine_sums<D>(u.q, u.scales, u.mins, xb, isum, msum);
  }
};

// Q6_K: 16 groups of 16, group g = q[g]; isum = sum_g scales[g] * dot_g.
struct Q6KWeights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ6_K);
  static constexpr bool kHasMins = false;
  struct Unpacked {
    int8x16_t q[16];
    int8x16_t scales;
  };
  static float d(const uint8_t* b) { return half_to_float(load_half(b + 208)); }
  static float dmin(const uint8_t* /*b*/) { return 0.0f; }
  static void unpack(const uint8_t* b, Unpacked& u) {
    const uint8x16_t mask = vdupq_n_u8(0x0f);
    const uint8x16_t three = vdupq_n_u8(0x30);
    const int8x16_t offset = vdupq_n_s8(32);
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = b + 64 * half;
      const uint8_t* qh = b + 128 + 32 * half;
      for (int s = 0; s < 2; ++s) {  // l in [16 s, 16 s + 16)
        const uint8x16_t l0 = vld1q_u8(ql + 16 * s);
        const uint8x16_t l1 = vld1q_u8(ql + 32 + 16 * s);
        const uint8x16_t h = vld1q_u8(qh + 16 * s);
        const uint8x16_t v0 = vorrq_u8(vandq_u8(l0, mask), vandq_u8(vshlq_n_u8(h, 4), three));
        const uint8x16_t v1 = vorrq_u8(vandq_u8(l1, mask), vandq_u8(vshlq_n_u8(h, 2), three));
        const uint8x16_t v2 = vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(h, three));
        const uint8x16_t v3 = vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(h, 2), three));
        int8x16_t* out = u.q + 8 * half + s;
        out[0] = vsubq_s8(vreinterpretq_s8_u8(v0), offset);
        out[2] = vsubq_s8(vreinterpretq_s8_u8(v1), offset);
        out[4] = vsubq_s8(vreinterpretq_s8_u8(v2), offset);
        out[6] = vsubq_s8(vreinterpretq_s8_u8(v3), offset);
      }
    }
    u.scales = load_s8x16(b + 192);
  }
  template <class D>
  static void sums(const Unpacked& u, const uint8_t* xb, int32_t& isum, int32_t& msum) {
    const uint8_t* xq = xb + kQ8KValues;
    int32x4_t g[16];
    for (int k = 0; k < 16; ++k) g[k] = D::dot16(vdupq_n_s32(0), u.q[k], load_s8x16(xq + 16 * k));
    const int16x8_t s_lo = vmovl_s8(vget_low_s8(u.scales));
    const int16x8_t s_hi = vmovl_high_s8(u.scales);
    int32x4_t t = vmulq_s32(reduce4_s32(g), vmovl_s16(vget_low_s16(s_lo)));
    t = vmlaq_s32(t, reduce4_s32(g + 4), vmovl_high_s16(s_lo));
    t = vmlaq_s32(t, reduce4_s32(g + 8), vmovl_s16(vget_low_s16(s_hi)));
    t = vmlaq_s32(t, reduce4_s32(g + 12), vmovl_high_s16(s_hi));
    isum = vaddvq_s32(t);
    msum = 0;
  }
};

template <class W, class D>
void k_vec_dot_neon(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  float sum = 0.0f;
  typename W::Unpacked u;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* wb = wp + i * W::kBlockBytes;
    const uint8_t* xb = xp + i * kQ8KBytes;
    W::unpack(wb, u);
    int32_t isum = 0;
    int32_t msum = 0;
    W::template sums<D>(u, xb, isum, msum);
    const float dx = q8_k_scale(xb);
    sum = std::fma(static_cast<float>(isum), W::d(wb) * dx, sum);
    if constexpr (W::kHasMins) sum = std::fma(static_cast<float>(-msum), W::dmin(wb) * dx, sum);
  }
  *out = sum;
}

// 4 rows x T tokens: each super-block of the four rows is unpacked once and met with every token; the four rows'
// sums of one token form one register (lane r = row r).
template <class W, class D, int T>
void k_tile_neon(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* out,
                 int64_t ldo) {
  constexpr int R = 4;
  float32x4_t acc[T];
  for (int t = 0; t < T; ++t) acc[t] = vdupq_n_f32(0.0f);
  typename W::Unpacked u[R];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const uint8_t* wb = w + i * W::kBlockBytes;
    const uint8_t* xb = x + i * kQ8KBytes;
    float dw[R];
    float dm[R];
    for (int r = 0; r < R; ++r) {
      W::unpack(wb + r * w_stride, u[r]);
      dw[r] = W::d(wb + r * w_stride);
      dm[r] = W::dmin(wb + r * w_stride);
    }
    const float32x4_t vdw = vld1q_f32(dw);
    const float32x4_t vdm = vld1q_f32(dm);
    for (int t = 0; t < T; ++t) {
      const uint8_t* xt = xb + t * x_stride;
      int32_t is[R];
      int32_t ms[R];
      for (int r = 0; r < R; ++r) W::template sums<D>(u[r], xt, is[r], ms[r]);
      const float dx = q8_k_scale(xt);
      acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(vld1q_s32(is)), vmulq_n_f32(vdw, dx));
      if constexpr (W::kHasMins) {
        acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(vnegq_s32(vld1q_s32(ms))), vmulq_n_f32(vdm, dx));
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    float res[R];
    vst1q_f32(res, acc[t]);
    for (int r = 0; r < R; ++r) out[t * ldo + r] = res[r];
  }
}

// One row and T tokens, through the single dot.
template <class W, class D, int T>
void k_tile_single_neon(int64_t n, const uint8_t* w, size_t /*w_stride*/, const uint8_t* x, size_t x_stride, float* out,
                        int64_t ldo) {
  for (int t = 0; t < T; ++t) k_vec_dot_neon<W, D>(n, out + t * ldo, w, x + t * x_stride);
}

template <class W, class D>
void k_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                 int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {4, k_tile_neon<W, D, 1>, k_tile_single_neon<W, D, 1>},
      {4, k_tile_neon<W, D, 2>, k_tile_single_neon<W, D, 2>},
      {4, k_tile_neon<W, D, 3>, k_tile_single_neon<W, D, 3>},
      {4, k_tile_neon<W, D, 4>, k_tile_single_neon<W, D, 4>},
  };
  run_tiles(kShapes, 4, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
