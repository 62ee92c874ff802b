// ARM64 NEON dot-product (ARMv8.2 SDOT) kernels over the interleaved Q4_K layout (quant/interleave.h), dotted with
// Q8_K activations; run only after detection.
//
// Per super-block and 16 rows: word k = 8j + w of the values holds the low nibbles of group 2j (elements
// 64j + 4w..) and the high nibbles of group 2j + 1 (elements 64j + 32 + 4w..) of four rows per 128-bit register
// (a quad, as in interleave_neon_dot.cpp). One load feeds two SDOTs by element, each against one word of a 16-byte
// activation register: exact group sums per row, in the row's lane. The scales and mins, stored as bytes, widen to
// one lane per row, and isum = sum_g sc_g * gsum_g, msum = sum_g m_g * (bsum_2g + bsum_2g+1) are the reference's
// integers; each row then takes fma(isum, d * d_x, sum) and fma(-msum, dmin * d_x, sum), super-block after
// super-block, as the reference vec_dot does.
// GCC's scheduler before register allocation hoists the loads of a whole block ahead of their dots and then spills
// accumulators (525 stack accesses per Q4_K decode super-block, 16-31 per block in the Q4_0 and Q8_0 prompt tiles);
// without it the loops keep every accumulator in its register. Set before the includes: GCC inlines no function
// whose optimization options differ from its caller's.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-schedule-insns")
#endif

#include <arm_neon.h>

#include <algorithm>
#include <cstddef>

#include "quant/interleave.h"
#include "quant/interleave_neon.h"
#include "quant/k_quant_math.h"
#include "quant/kernel_common.h"
#include "quant/neon_common.h"
#include "quant/q8_k.h"

namespace ternion::quant {

namespace {

constexpr size_t kQ8KValues = offsetof(BlockQ8_K, qs);
constexpr size_t kQ8KBsums = offsetof(BlockQ8_K, bsums);

// One byte per row of quads [q, q + QS) (a group's scales), as int32: quad by quad, or all 16 rows at once
// (QS == 4: the whole group, q == 0).
template <int QS>
inline void quad_scales(const uint8_t* p, int q, int32x4_t (&out)[QS]) {
  if constexpr (QS == 4) {
    const uint8x16_t b = vld1q_u8(p);
    const uint16x8_t h[2] = {vmovl_u8(vget_low_u8(b)), vmovl_high_u8(b)};
    for (int i = 0; i < 4; ++i) {
      out[i] = vreinterpretq_s32_u32(i % 2 == 0 ? vmovl_u16(vget_low_u16(h[i / 2])) : vmovl_high_u16(h[i / 2]));
    }
  } else {
    for (int i = 0; i < QS; ++i) out[i] = quad_bytes_s32(p + 4 * (q + i));
  }
}

// The exact integer sums of one super-block for T tokens (xb: their Q8_K blocks) and quads [q, q + QS).
template <int T, int QS>
[[gnu::always_inline]] inline void q4_k_sums(const uint8_t* blk, int q, const uint8_t* const (&xb)[T],
                                             int32x4_t (&isum)[T][QS], int32x4_t (&msum)[T][QS]) {
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < QS; ++i) isum[t][i] = msum[t][i] = vdupq_n_s32(0);
  }
  const uint8x16_t low = vdupq_n_u8(0x0f);
  // Unrolled: a straight super-block, whose instruction count is the cost model (see the commit message).
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    int32x4_t lo[T][QS];  // group 2j
    int32x4_t hi[T][QS];  // group 2j + 1
    for (int t = 0; t < T; ++t) {
      for (int i = 0; i < QS; ++i) lo[t][i] = hi[t][i] = vdupq_n_s32(0);
    }
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {  // words 4h..4h+3 of chunk j: one activation register of each group
      int8x16_t xl[T];
      int8x16_t xh[T];
      for (int t = 0; t < T; ++t) {
        xl[t] = load_s8x16(xb[t] + kQ8KValues + 64 * j + 16 * h);
        xh[t] = load_s8x16(xb[t] + kQ8KValues + 64 * j + 32 + 16 * h);
      }
      const uint8_t* words = blk + kQ4KInterleavedValues + 64 * (8 * j + 4 * h) + 16 * q;
      unroll<4>([&](auto lane) {
        constexpr int l = decltype(lane)::value;
        for (int i = 0; i < QS; ++i) {
          const uint8x16_t v = vld1q_u8(words + 64 * l + 16 * i);
          const int8x16_t vl = vreinterpretq_s8_u8(vandq_u8(v, low));
          const int8x16_t vh = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
          for (int t = 0; t < T; ++t) {
            lo[t][i] = vdotq_laneq_s32(lo[t][i], vl, xl[t], l);
            hi[t][i] = vdotq_laneq_s32(hi[t][i], vh, xh[t], l);
          }
        }
      });
    }
    int32x4_t sc_lo[QS];
    int32x4_t sc_hi[QS];
    quad_scales<QS>(blk + kQ4KInterleavedScales + 16 * (2 * j), q, sc_lo);
    quad_scales<QS>(blk + kQ4KInterleavedScales + 16 * (2 * j + 1), q, sc_hi);
    for (int i = 0; i < QS; ++i) {
      for (int t = 0; t < T; ++t) {
        isum[t][i] = vmlaq_s32(vmlaq_s32(isum[t][i], lo[t][i], sc_lo[i]), hi[t][i], sc_hi[i]);
      }
    }
  }
  int16x8_t pairs[T];  // bsums[2g] + bsums[2g + 1]: |sum| <= 4096 fits in int16
  for (int t = 0; t < T; ++t) {
    const uint8_t* bs = xb[t] + kQ8KBsums;
    pairs[t] = vpaddq_s16(vreinterpretq_s16_u8(vld1q_u8(bs)), vreinterpretq_s16_u8(vld1q_u8(bs + 16)));
  }
  unroll<8>([&](auto group) {
    constexpr int g = decltype(group)::value;
    const uint8_t* mins = blk + kQ4KInterleavedMins + 16 * g;
    if constexpr (QS == 4) {  // all 16 rows: two widenings, SMLAL and SMLAL2 take the halves
      const uint8x16_t b = vld1q_u8(mins);
      const int16x8_t m[2] = {vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(b))), vreinterpretq_s16_u16(vmovl_high_u8(b))};
      for (int t = 0; t < T; ++t) {
        for (int h = 0; h < 2; ++h) {
          msum[t][2 * h] = vmlal_laneq_s16(msum[t][2 * h], vget_low_s16(m[h]), pairs[t], g);
          msum[t][2 * h + 1] = vmlal_high_laneq_s16(msum[t][2 * h + 1], m[h], pairs[t], g);
        }
      }
    } else {
      for (int i = 0; i < QS; ++i) {
        const int16x4_t m = vreinterpret_s16_u16(quad_bytes_u16(mins + 4 * (q + i)));
        for (int t = 0; t < T; ++t) msum[t][i] = vmlal_laneq_s16(msum[t][i], m, pairs[t], g);
      }
    }
  });
}

// T tokens x quads [q0, q0 + Q) of one group over super-blocks [0, kb) (g and x at the first), QS quads at a
// time (the integer sums of T x QS quads live in registers; Q x T float sums stay across super-blocks). acc
// starts from out (a later K chunk) or from zero; only the group's first n_valid rows are read or written.
template <int T, int Q, int QS>
void q4_k_tile(const uint8_t* g, int q0, int kb, const uint8_t* x, size_t x_stride, bool first_chunk, float* out,
               int64_t ldo, int n_valid) {
  float32x4_t acc[T][Q];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
#pragma GCC unroll 16
    for (int q = 0; q < Q; ++q) {
      acc[t][q] = first_chunk ? vdupq_n_f32(0.0f) : load_row_quad(out + t * ldo, q0 + q, n_valid);
    }
  }
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ4KInterleavedBlock;
    if (T <= 2) prefetch_bytes(blk, kQ4KInterleavedBlock, kQ4KInterleavedBlock);  // decode: the next super-block
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t) {
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    unroll<Q / QS>([&](auto step) {
      constexpr int s = decltype(step)::value * QS;
      int32x4_t isum[T][QS];
      int32x4_t msum[T][QS];
      q4_k_sums<T, QS>(blk, q0 + s, xb, isum, msum);
      for (int i = 0; i < QS; ++i) {
        const float32x4_t d = quad_halves(blk + kQ4KInterleavedD + 8 * (q0 + s + i));
        const float32x4_t dmin = quad_halves(blk + kQ4KInterleavedDmin + 8 * (q0 + s + i));
        for (int t = 0; t < T; ++t) {
          const float dx = load_unaligned<float>(xb[t], 0);
          float32x4_t& a = acc[t][s + i];
          a = vfmaq_f32(a, vcvtq_f32_s32(isum[t][i]), vmulq_n_f32(d, dx));
          a = vfmaq_f32(a, vcvtq_f32_s32(vnegq_s32(msum[t][i])), vmulq_n_f32(dmin, dx));
        }
      }
    });
  }
  // Unrolled, so that acc stays in registers (an indexed store would put it in memory for the whole loop).
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
#pragma GCC unroll 16
    for (int q = 0; q < Q; ++q) store_row_quad(out + t * ldo, q0 + q, n_valid, acc[t][q]);
  }
}

using Q4KTileFn = void (*)(const uint8_t*, int, int, const uint8_t*, size_t, bool, float*, int64_t, int);

// Prompts: K chunks of kChunkBlocks super-blocks (16 rows x 8 = 19 KiB of weights, reused by every token tile),
// tiles of kTileTokens tokens x one quad: 4 tokens x (group sums, isum, 2 activation registers) fill the registers.
constexpr int kTileTokens = 4;
constexpr int kChunkBlocks = 8;
constexpr Q4KTileFn kPromptTiles[kTileTokens] = {q4_k_tile<1, 1, 1>, q4_k_tile<2, 1, 1>, q4_k_tile<3, 1, 1>,
                                                 q4_k_tile<4, 1, 1>};

}  // namespace

void q4_k_interleaved_gemm_neon_dot(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo) {
  const int64_t nb = n / kQK_K;
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * kQ4KInterleavedBlock;
  const auto* gp = static_cast<const uint8_t*>(groups);
  const auto* xp = static_cast<const uint8_t*>(x);
  if (n_tokens >= 1 && n_tokens <= 2) {
    // Decode reuses no weights: each group's whole row in one pass, the weights streamed front to back, all four
    // quads per super-block (two at a time for two tokens).
    const Q4KTileFn tile = n_tokens == 1 ? q4_k_tile<1, 4, 4> : q4_k_tile<2, 4, 2>;
    for (int64_t g = 0; g < n_groups; ++g) {
      tile(gp + static_cast<size_t>(g) * group_bytes, 0, static_cast<int>(nb), xp, x_stride, true,
           out + g * kInterleaveRows, ldo, group_rows(n_rows, g));
    }
    return;
  }
  for (int64_t b0 = 0; b0 < nb; b0 += kChunkBlocks) {
    const int kb = static_cast<int>(std::min<int64_t>(kChunkBlocks, nb - b0));
    for (int64_t g = 0; g < n_groups; ++g) {
      const int rows = group_rows(n_rows, g);
      const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * kQ4KInterleavedBlock;
      for (int q = 0; 4 * q < rows; ++q) {
        for (int64_t t = 0; t < n_tokens; t += kTileTokens) {
          const int tt = static_cast<int>(std::min<int64_t>(kTileTokens, n_tokens - t));
          kPromptTiles[tt - 1](gb, q, kb,
                               xp + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0) * sizeof(BlockQ8_K),
                               x_stride, b0 == 0, out + t * ldo + g * kInterleaveRows, ldo, rows);
        }
      }
    }
  }
}

}  // namespace ternion::quant
