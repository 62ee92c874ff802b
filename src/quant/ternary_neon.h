// NEON kernels shared by the ternary types (included by tq1_0_neon*.cpp and tq2_0_neon*.cpp). A weight format W
// decodes chunk C (elements 32C .. 32C + 31) of a super-block to int8 values v = t - 1 + kExcess, whichever is
// cheaper to produce (TQ1_0: t - 1 straight from its comparisons; TQ2_0: the 2-bit code t itself):
//   static constexpr size_t kBlockBytes;   // bytes per super-block
//   static constexpr size_t kScaleOffset;  // byte offset of its fp16 scale
//   static constexpr int kExcess;          // 0 or 1
//   template <int C> static void chunk(const uint8_t* block, int8x16_t& lo, int8x16_t& hi);
// A dot policy D accumulates the products of such chunks with Q8_K activations, exactly:
//   MullAcc (ARMv8.0): SMLAL into int16 lanes (a lane takes at most 32 products of magnitude <= 3 * 128 per
//                      super-block, 12288 in all), widened by SADDLP at the end of the block;
//   SdotAcc (ARMv8.2, *_neon_dot.cpp only): SDOT into int32 lanes.
// For kExcess = 1 the sum of the activations, read from their bsums (the true group sums, as every Q8_K quantizer
// writes them), is subtracted. The block sum is exact, and each output accumulates
// sum = fma(isum, d_w * d_x, sum) block after block, the reference order.
#pragma once

#include <arm_neon.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "quant/kernel_common.h"
#include "quant/neon_common.h"
#include "quant/q8_k.h"
#include "quant/ternary_common.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

constexpr int kTernaryChunks = 8;   // chunks of 32 values in a super-block
constexpr size_t kQ8KValuesAt = 4;  // offset of qs in a Q8_K block (after the fp32 scale)
constexpr size_t kQ8KBlockBytes = sizeof(BlockQ8_K);
constexpr size_t kQ8KSumsAt = 260;  // offset of bsums

// The sum of a Q8_K block's 256 values, from its 16 group sums (|group sum| <= 16 * 128, so pairs fit in int16).
inline int32_t q8_k_value_sum(const uint8_t* block) {
  const int16x8_t s0 = vreinterpretq_s16_u8(vld1q_u8(block + kQ8KSumsAt));
  const int16x8_t s1 = vreinterpretq_s16_u8(vld1q_u8(block + kQ8KSumsAt + 16));
  return vaddlvq_s16(vaddq_s16(s0, s1));
}

// What the decoded values add to a block sum beyond t - 1: kExcess times the activations' sum.
template <class W>
inline int32_t ternary_excess(const uint8_t* xb) {
  if constexpr (W::kExcess == 0) {
    return 0;
  } else {
    return W::kExcess * q8_k_value_sum(xb);
  }
}

struct MullAcc {
  using Acc = int16x8_t;
  static Acc zero() { return vdupq_n_s16(0); }
  static Acc add(Acc a, int8x16_t w, int8x16_t x) {
    return vmlal_high_s8(vmlal_s8(a, vget_low_s8(w), vget_low_s8(x)), w, x);
  }
  static int32x4_t finish(Acc a) { return vpaddlq_s16(a); }
};

#if defined(__ARM_FEATURE_DOTPROD)
struct SdotAcc {
  using Acc = int32x4_t;
  static Acc zero() { return vdupq_n_s32(0); }
  static Acc add(Acc a, int8x16_t w, int8x16_t x) { return vdotq_s32(a, w, x); }
  static int32x4_t finish(Acc a) { return a; }
};
#endif

// Calls f(std::integral_constant<int, C>) for C = 0 .. 7, so every chunk is decoded with constant shifts.
template <class F, int... C>
inline void for_each_chunk(F&& f, std::integer_sequence<int, C...> /*chunks*/) {
  (f(std::integral_constant<int, C>{}), ...);
}

template <class F>
inline void for_each_chunk(F&& f) {
  for_each_chunk(f, std::make_integer_sequence<int, kTernaryChunks>{});
}

template <class W>
inline float ternary_scale(const uint8_t* block) {
  return half_to_float(load_half(block + W::kScaleOffset));
}

inline float q8_k_scale(const uint8_t* block) { return load_unaligned<float>(block, 0); }

// Dequantizes n values: float(t - 1) * d, as the reference computes it.
template <class W>
void ternary_to_float_neon(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kTernaryBlockSize; ++b) {
    const uint8_t* blk = s + b * W::kBlockBytes;
    const float d = ternary_scale<W>(blk);
    float* y = dst + b * kTernaryBlockSize;
    for_each_chunk([&](auto c) {
      constexpr int C = decltype(c)::value;
      int8x16_t lo;
      int8x16_t hi;
      W::template chunk<C>(blk, lo, hi);
      if constexpr (W::kExcess != 0) {
        lo = vsubq_s8(lo, vdupq_n_s8(W::kExcess));
        hi = vsubq_s8(hi, vdupq_n_s8(W::kExcess));
      }
      int8_block_to_float(lo, hi, d, y + 32 * C);
    });
  }
}

// Four int32 lanes whose sum is the exact dot of one super-block's decoded values with one Q8_K block (the excess
// not yet taken out); two accumulators halve the dependency chain.
template <class W, class D>
inline int32x4_t ternary_block_lanes(const uint8_t* wb, const uint8_t* xb) {
  typename D::Acc a0 = D::zero();
  typename D::Acc a1 = D::zero();
  const uint8_t* xv = xb + kQ8KValuesAt;
  for_each_chunk([&](auto c) {
    constexpr int C = decltype(c)::value;
    int8x16_t lo;
    int8x16_t hi;
    W::template chunk<C>(wb, lo, hi);
    a0 = D::add(a0, lo, load_s8x16(xv + 32 * C));
    a1 = D::add(a1, hi, load_s8x16(xv + 32 * C + 16));
  });
  return vaddq_s32(D::finish(a0), D::finish(a1));
}

template <class W, class D>
void ternary_vec_dot_neon(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kTernaryBlockSize; ++b) {
    const uint8_t* wb = wp + b * W::kBlockBytes;
    const uint8_t* xb = xp + b * kQ8KBlockBytes;
    const int32_t isum = vaddvq_s32(ternary_block_lanes<W, D>(wb, xb)) - ternary_excess<W>(xb);
    sum = std::fma(static_cast<float>(isum), ternary_scale<W>(wb) * q8_k_scale(xb), sum);
  }
  *out = sum;
}

// 4 rows x 1 token (decode): row after row, each decoded in registers; the four block sums form one register
// (lane r = row r), so the scale and the fma of the four outputs are one FMUL and one FMLA.
template <class W, class D>
void ternary_tile_rows_neon(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t /*x_stride*/,
                            float* out, int64_t /*ldo*/) {
  float32x4_t sum = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < n / kTernaryBlockSize; ++b) {
    const uint8_t* wb = w + b * W::kBlockBytes;
    const uint8_t* xb = x + b * kQ8KBlockBytes;
    int32x4_t v[4];
    for (int r = 0; r < 4; ++r) v[r] = ternary_block_lanes<W, D>(wb + r * w_stride, xb);
    const int32x4_t isum = vsubq_s32(reduce4_s32(v), vdupq_n_s32(ternary_excess<W>(xb)));
    const float32x4_t d = vmulq_n_f32(load_halves4(wb + W::kScaleOffset, w_stride), q8_k_scale(xb));
    sum = vfmaq_f32(sum, vcvtq_f32_s32(isum), d);
  }
  vst1q_f32(out, sum);
}

// 4 rows x T tokens (prompts): each super-block of the four rows is decoded once into a small buffer (1 KiB, in
// L1) and then met with every token, 16 values at a time; the 4 T accumulators stay in registers.
template <class W, class D, int T>
void ternary_tile_tokens_neon(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride,
                              float* out, int64_t ldo) {
  constexpr int R = 4;
  alignas(16) int8_t decoded[R][kTernaryBlockSize];
  float32x4_t sum[T];
  for (int t = 0; t < T; ++t) sum[t] = vdupq_n_f32(0.0f);
  for (int64_t b = 0; b < n / kTernaryBlockSize; ++b) {
    const uint8_t* wb = w + b * W::kBlockBytes;
    const uint8_t* xb = x + b * kQ8KBlockBytes;
    for (int r = 0; r < R; ++r) {
      for_each_chunk([&](auto c) {
        constexpr int C = decltype(c)::value;
        int8x16_t lo;
        int8x16_t hi;
        W::template chunk<C>(wb + r * w_stride, lo, hi);
        vst1q_s8(decoded[r] + 32 * C, lo);
        vst1q_s8(decoded[r] + 32 * C + 16, hi);
      });
    }
    typename D::Acc acc[R][T];
#pragma GCC unroll 16
    for (int k = 0; k < R * T; ++k) acc[k / T][k % T] = D::zero();
    for (int j = 0; j < kTernaryBlockSize; j += 16) {
      int8x16_t xv[T];
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) xv[t] = load_s8x16(xb + t * x_stride + kQ8KValuesAt + j);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        const int8x16_t wv = vld1q_s8(decoded[r] + j);
#pragma GCC unroll 4
        for (int t = 0; t < T; ++t) acc[r][t] = D::add(acc[r][t], wv, xv[t]);
      }
    }
    const float32x4_t dw = load_halves4(wb + W::kScaleOffset, w_stride);
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      int32x4_t v[R];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) v[r] = D::finish(acc[r][t]);
      const uint8_t* xt = xb + t * x_stride;
      const int32x4_t isum = vsubq_s32(reduce4_s32(v), vdupq_n_s32(ternary_excess<W>(xt)));
      sum[t] = vfmaq_f32(sum[t], vcvtq_f32_s32(isum), vmulq_n_f32(dw, q8_k_scale(xt)));
    }
  }
  for (int t = 0; t < T; ++t) vst1q_f32(out + t * ldo, sum[t]);
}

// One row and T tokens, through the single dot.
template <class W, class D, int T>
void ternary_tile_single_neon(int64_t n, const uint8_t* w, size_t /*w_stride*/, const uint8_t* x, size_t x_stride,
                              float* out, int64_t ldo) {
  for (int t = 0; t < T; ++t) ternary_vec_dot_neon<W, D>(n, out + t * ldo, w, x + t * x_stride);
}

// 4 rows at a time; up to 4 tokens share each decoded super-block (16 accumulators, 4 registers of activations).
template <class W, class D>
void ternary_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                       int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {4, ternary_tile_rows_neon<W, D>, ternary_tile_single_neon<W, D, 1>},
      {4, ternary_tile_tokens_neon<W, D, 2>, ternary_tile_single_neon<W, D, 2>},
      {4, ternary_tile_tokens_neon<W, D, 3>, ternary_tile_single_neon<W, D, 3>},
      {4, ternary_tile_tokens_neon<W, D, 4>, ternary_tile_single_neon<W, D, 4>},
  };
  run_tiles(kShapes, 4, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
