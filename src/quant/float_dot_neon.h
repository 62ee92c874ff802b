// NEON dot kernels shared by F32, F16 and BF16 (included by their *_neon.cpp files). A Loader says how to read
// 8 elements (two registers of 4), or 1, as fp32:
//   static void load8(const uint8_t* p, int64_t i, float32x4_t& lo, float32x4_t& hi);  // elements i .. i + 7
//   static float load1(const uint8_t* p, int64_t i);
// Each output keeps its 16 lanes in four registers (lanes 0-3, 4-7, 8-11, 12-15), accumulated with FMLA (one
// rounding, as std::fma); the tail and the lane reduction follow the reference order (kernel_common.h).
#pragma once

#include <arm_neon.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "quant/kernel_common.h"
#include "quant/neon_common.h"
#include "quant/tile_driver.h"

namespace ternion::quant {
namespace {

// Finishes one output from its 16 lanes so far: the tail elements [i, n) one by one, then the fixed reduction.
template <class Loader>
inline float finish_lanes_neon(float* lanes, int64_t i, int64_t n, const uint8_t* w, const uint8_t* x) {
  for (int64_t j = i; j < n; ++j) {
    lanes[j - i] = std::fma(Loader::load1(w, j), Loader::load1(x, j), lanes[j - i]);
  }
  return reduce_lanes16(lanes);
}

// R rows x T tokens; every output has its own four accumulators (4 x 1 and 2 x 3 use 16 and 24 of the 32
// registers, leaving room for the loaded rows). The loops over accumulators are unrolled so that each is only
// ever indexed by constants and lives in a register; they reach memory once, after the main loop.
template <class Loader, int R, int T>
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
        Loader::load8(x + t * x_stride, i + 8 * h, xlo, xhi);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          acc[r][t][2 * h] = vfmaq_f32(acc[r][t][2 * h], wv[r][0], xlo);
          acc[r][t][2 * h + 1] = vfmaq_f32(acc[r][t][2 * h + 1], wv[r][1], xhi);
        }
      }
    }
  }
  float lanes[R][T][kFloatLanes];
#pragma GCC unroll 32
  for (int k = 0; k < R * T * 4; ++k)
    vst1q_f32(&lanes[k / (T * 4)][(k / 4) % T][4 * (k % 4)], acc[k / (T * 4)][(k / 4) % T][k % 4]);
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) {
      out[t * ldo + r] = finish_lanes_neon<Loader>(lanes[r][t], i, n, w + r * w_stride, x + t * x_stride);
    }
  }
}

template <class Loader>
void float_vec_dot_neon(int64_t n, float* out, const void* w, const void* x) {
  float_tile_neon<Loader, 1, 1>(n, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(x), 0, out, 0);
}

// 4 rows x 1 token (decode), 2 x 2 and 2 x 3 (prompts).
template <class Loader>
void float_gemm_neon(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo) {
  static constexpr TileShape kShapes[] = {
      {4, float_tile_neon<Loader, 4, 1>, float_tile_neon<Loader, 1, 1>},
      {2, float_tile_neon<Loader, 2, 2>, float_tile_neon<Loader, 1, 2>},
      {2, float_tile_neon<Loader, 2, 3>, float_tile_neon<Loader, 1, 3>},
  };
  run_tiles(kShapes, 3, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace
}  // namespace ternion::quant
