// NEON kernels for weights dotted with Q8_0 activations (Q8_0 and Q4_0 weights), included by their *_neon.cpp
// and *_neon_dot.cpp files. A weight format W unpacks one block to int8:
//   static constexpr size_t kBlockBytes;
//   static void load(const uint8_t* block, int8x16_t& v0, int8x16_t& v1);  // elements 0-15 and 16-31
// A dot policy D gives four int32 lanes whose sum is the exact dot of one block pair: MullDot (ARMv8.0: SMULL
// and SMLAL to int16, then SADALP to int32) or SdotDot (ARMv8.2 SDOT, in *_neon_dot.cpp only).
//
// Per block the 32 products are summed exactly; each output accumulates sum = fma(isum, d_w * d_x, sum) block
// after block, the reference order. The tiles put four rows in the four lanes of one register, so the fma of
// four outputs is one FMLA.
#pragma once

#include <arm_neon.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "quant/kernel_common.h"
#include "quant/neon_common.h"
#include "quant/q8_0.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

constexpr size_t kQ8Bytes = sizeof(BlockQ8_0);

inline void load_q8_values(const uint8_t* block, int8x16_t& v0, int8x16_t& v1) {
  v0 = load_s8x16(block + 2);
  v1 = load_s8x16(block + 18);
}

struct Q8Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ8_0);
  static void load(const uint8_t* block, int8x16_t& v0, int8x16_t& v1) { load_q8_values(block, v0, v1); }
};

// Pairs of products are added in int16 before widening: |w x| <= 128 * 127, so two fit. Activations never hold
// -128 (the Q8_0 quantizer's values lie in [-127, 127]); weights may.
struct MullDot {
  static int32x4_t block(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
    const int16x8_t p0 = vmlal_high_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)), w0, x0);
    const int16x8_t p1 = vmlal_high_s8(vmull_s8(vget_low_s8(w1), vget_low_s8(x1)), w1, x1);
    return vpadalq_s16(vpaddlq_s16(p0), p1);
  }
};

#if defined(__ARM_FEATURE_DOTPROD)
struct SdotDot {
  static int32x4_t block(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), w0, x0), w1, x1);
  }
};
#endif

template <class W, class D>
void q8_vec_dot_neon(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  const int64_t nb = n / kQ8_0BlockSize;
  float sum = 0.0f;
  int64_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    const uint8_t* wb = wp + b * W::kBlockBytes;
    const uint8_t* xb = xp + b * kQ8Bytes;
    int32x4_t v[4];
    for (int j = 0; j < 4; ++j) {
      int8x16_t w0;
      int8x16_t w1;
      int8x16_t x0;
      int8x16_t x1;
      W::load(wb + j * W::kBlockBytes, w0, w1);
      load_q8_values(xb + j * kQ8Bytes, x0, x1);
      v[j] = D::block(w0, w1, x0, x1);
    }
    const float32x4_t isum = vcvtq_f32_s32(reduce4_s32(v));
    const float32x4_t d = vmulq_f32(load_halves4(wb, W::kBlockBytes), load_halves4(xb, kQ8Bytes));
    sum = std::fma(vgetq_lane_f32(isum, 0), vgetq_lane_f32(d, 0), sum);
    sum = std::fma(vgetq_lane_f32(isum, 1), vgetq_lane_f32(d, 1), sum);
    sum = std::fma(vgetq_lane_f32(isum, 2), vgetq_lane_f32(d, 2), sum);
    sum = std::fma(vgetq_lane_f32(isum, 3), vgetq_lane_f32(d, 3), sum);
  }
  for (; b < nb; ++b) {
    const uint8_t* wb = wp + b * W::kBlockBytes;
    const uint8_t* xb = xp + b * kQ8Bytes;
    int8x16_t w0;
    int8x16_t w1;
    int8x16_t x0;
    int8x16_t x1;
    W::load(wb, w0, w1);
    load_q8_values(xb, x0, x1);
    const int32_t isum = vaddvq_s32(D::block(w0, w1, x0, x1));
    sum = std::fma(static_cast<float>(isum), half_to_float(load_half(wb)) * half_to_float(load_half(xb)), sum);
  }
  *out = sum;
}

// 4 rows x T tokens: each block of the four rows is unpacked once and met with every token; the four rows'
// block sums of one token form one register (lane r = row r).
template <class W, class D, int T>
void q8_tile_neon(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* out,
                  int64_t ldo) {
  constexpr int R = 4;
  const int64_t nb = n / kQ8_0BlockSize;
  float32x4_t acc[T];
  for (int t = 0; t < T; ++t) acc[t] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* wb = w + b * W::kBlockBytes;
    const uint8_t* xb = x + b * kQ8Bytes;
    int8x16_t wv[R][2];
    for (int r = 0; r < R; ++r) W::load(wb + r * w_stride, wv[r][0], wv[r][1]);
    const float32x4_t dw = load_halves4(wb, w_stride);
    for (int t = 0; t < T; ++t) {
      const uint8_t* xt = xb + t * x_stride;
      int8x16_t x0;
      int8x16_t x1;
      load_q8_values(xt, x0, x1);
      int32x4_t v[R];
      for (int r = 0; r < R; ++r) v[r] = D::block(wv[r][0], wv[r][1], x0, x1);
      const float32x4_t d = vmulq_n_f32(dw, half_to_float(load_half(xt)));
      acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(reduce4_s32(v)), d);
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
void q8_tile_single_neon(int64_t n, const uint8_t* w, size_t /*w_stride*/, const uint8_t* x, size_t x_stride,
                         float* out, int64_t ldo) {
  for (int t = 0; t < T; ++t) q8_vec_dot_neon<W, D>(n, out + t * ldo, w, x + t * x_stride);
}

template <class W, class D>
void q8_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                  int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {4, q8_tile_neon<W, D, 1>, q8_tile_single_neon<W, D, 1>},
      {4, q8_tile_neon<W, D, 2>, q8_tile_single_neon<W, D, 2>},
      {4, q8_tile_neon<W, D, 3>, q8_tile_single_neon<W, D, 3>},
      {4, q8_tile_neon<W, D, 4>, q8_tile_single_neon<W, D, 4>},
  };
  run_tiles(kShapes, 4, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
