// NEON dot kernels shared by F32, F16 and BF16 (included by their *_neon.cpp files). A Loader says how to read
// 8 elements (two registers of 4) as fp32, and how many bytes one takes:
//   static void load8(const uint8_t* p, int64_t i, float32x4_t& lo, float32x4_t& hi);  // elements i .. i + 7
//   static constexpr size_t kBytes;
// Each output keeps its 16 lanes in four registers (lanes 0-3, 4-7, 8-11, 12-15), accumulated with FMLA (one
// rounding, as std::fma); the tail goes into the first lanes with one FMLA each (from a zero-padded copy, then
// selected, so lanes past it keep their value) and the lanes are reduced in registers in the reference order
// (kernel_common.h), so every result has the reference's bits.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "quant/kernel_common.h"
#include "quant/neon_common.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

// F32 elements: the activation side of every float kernel whose vec_dot_type is F32 (F32 and BF16 weights).
struct F32Loader {
  static void load8(const uint8_t* p, int64_t i, float32x4_t& lo, float32x4_t& hi) {
    lo = load_f32x4(p + 4 * i);
    hi = load_f32x4(p + 4 * i + 16);
  }
  static constexpr size_t kBytes = 4;  // bytes per element
};

// reduce_lanes16 of one output's four registers, the same additions in the same order.
inline float reduce_registers16_neon(const float32x4_t* a) {
  const float32x4_t s4 = vaddq_f32(vaddq_f32(a[0], a[2]), vaddq_f32(a[1], a[3]));  // lane l: s8[l] + s8[l + 4]
  const float32x2_t s2 = vadd_f32(vget_low_f32(s4), vget_high_f32(s4));            // s4[0] + s4[2], s4[1] + s4[3]
  return vget_lane_f32(s2, 0) + vget_lane_f32(s2, 1);
}

// The tail [i, n), fewer than 16 elements, as four registers (zeros past it) read from a zero-padded copy.
template <class Loader>
inline void load_tail_neon(const uint8_t* p, int64_t i, int64_t n, float32x4_t* q) {
  alignas(16) uint8_t buf[kFloatLanes * Loader::kBytes] = {};
  std::memcpy(buf, p + static_cast<size_t>(i) * Loader::kBytes, static_cast<size_t>(n - i) * Loader::kBytes);
  Loader::load8(buf, 0, q[0], q[1]);
  Loader::load8(buf, 8, q[2], q[3]);
}

// R rows x T tokens; every output has its own four accumulators (4 x 1 and 2 x 3 use 16 and 24 of the 32
// registers, leaving room for the loaded rows). The loops over accumulators are unrolled so that each is only
// ever indexed by constants and lives in a register; they reach memory once, after the main loop.
template <class Loader, class XLoader, int R, int T>
void float_tile_neon(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* out,
                     int64_t ldo) {
  float32x4_t acc[R][T][4];
#pragma GCC unroll 32
  for (int k = 0; k < R * T * 4; ++k) acc[k / (T * 4)][(k / 4) % T][k % 4] = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + kFloatLanes <= n; i += kFloatLanes) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      float32x4_t wv[R][2];
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) Loader::load8(w + r * w_stride, i + 8 * h, wv[r][0], wv[r][1]);
#pragma GCC unroll 4
      for (int t = 0; t < T; ++t) {
        float32x4_t xlo;
        float32x4_t xhi;
        XLoader::load8(x + t * x_stride, i + 8 * h, xlo, xhi);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          acc[r][t][2 * h] = vfmaq_f32(acc[r][t][2 * h], wv[r][0], xlo);
          acc[r][t][2 * h + 1] = vfmaq_f32(acc[r][t][2 * h + 1], wv[r][1], xhi);
        }
      }
    }
  }
  if (i < n) {
    const uint32x4_t count = vdupq_n_u32(static_cast<uint32_t>(n - i));
    const uint32_t first[4] = {0, 1, 2, 3};
    uint32x4_t mask[4];  // lanes [0, n - i)
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) mask[q] = vcltq_u32(vaddq_u32(vld1q_u32(first), vdupq_n_u32(4u * q)), count);
    float32x4_t wt[R][4];
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) load_tail_neon<Loader>(w + r * w_stride, i, n, wt[r]);
#pragma GCC unroll 4
    for (int t = 0; t < T; ++t) {
      float32x4_t xt[4];
      load_tail_neon<XLoader>(x + t * x_stride, i, n, xt);
#pragma GCC unroll 16
      for (int k = 0; k < R * 4; ++k) {
        float32x4_t& a = acc[k / 4][t][k % 4];
        a = vbslq_f32(mask[k % 4], vfmaq_f32(a, wt[k / 4][k % 4], xt[k % 4]), a);
      }
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) out[t * ldo + r] = reduce_registers16_neon(acc[r][t]);
  }
}

template <class Loader, class XLoader = Loader>
void float_vec_dot_neon(int64_t n, float* out, const void* w, const void* x) {
  float_tile_neon<Loader, XLoader, 1, 1>(n, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(x), 0, out,
                                         0);
}

// 4 rows x 1 token (decode), 2 x 2 and 2 x 3 (prompts).
template <class Loader, class XLoader = Loader>
void float_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {4, float_tile_neon<Loader, XLoader, 4, 1>, float_tile_neon<Loader, XLoader, 1, 1>},
      {2, float_tile_neon<Loader, XLoader, 2, 2>, float_tile_neon<Loader, XLoader, 1, 2>},
      {2, float_tile_neon<Loader, XLoader, 2, 3>, float_tile_neon<Loader, XLoader, 1, 3>},
  };
  run_tiles(kShapes, 3, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
