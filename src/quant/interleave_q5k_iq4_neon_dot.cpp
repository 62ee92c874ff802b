// ARM64 NEON dot-product (ARMv8.2 SDOT) kernels over the interleaved Q5_K and IQ4_XS layouts (quant/interleave.h),
// dotted with Q8_K activations; run only after detection. Both follow the Q4_K kernel (interleave_k_neon_dot.cpp):
// four rows per 128-bit register (a quad), one load of a word feeding two SDOTs by element (its low and high
// nibbles, each against one word of a 16-byte activation register), the reference's exact integer sums per row
// and then its float steps, super-block after super-block.
//
// Q5_K: each nibble gets its fifth bit from qh word w (bit 2j or 2j + 1 for chunk j) with shift-and-insert (SLI
// for the low nibbles, SRI for the high ones) and one AND: u = q5 (0..31); isum, msum and the two fmas are Q4_K's.
// IQ4_XS: the nibbles index the grid with TBL (signed values, so SDOT takes them as they are); each block's sum
// times its scale ls - 32 adds to isum, and each row takes fma(isum, d * d_x, sum).
// As in interleave_k_neon_dot.cpp: GCC's pre-allocation scheduler would hoist a block's loads and spill the sums.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-schedule-insns")
#endif

#include <arm_neon.h>

#include <algorithm>
#include <cstddef>

#include "quant/interleave.h"
#include "quant/interleave_neon.h"
#include "quant/iq4_nl.h"
#include "quant/k_quant_math.h"
#include "quant/kernel_common.h"
#include "quant/neon_common.h"
#include "quant/q8_k.h"

namespace ternion::quant {

namespace {

constexpr size_t kQ8KValues = offsetof(BlockQ8_K, qs);
constexpr size_t kQ8KBsums = offsetof(BlockQ8_K, bsums);

// One byte per row of quads [q, q + QS) (a group's scales), as int32, zero- or sign-extended.
template <bool kSigned, int QS>
inline void quad_scales(const uint8_t* p, int q, int32x4_t (&out)[QS]) {
  if constexpr (QS == 4) {
    const uint8x16_t b = vld1q_u8(p);
    if constexpr (kSigned) {
      const int16x8_t h[2] = {vmovl_s8(vget_low_s8(vreinterpretq_s8_u8(b))), vmovl_high_s8(vreinterpretq_s8_u8(b))};
      for (int i = 0; i < 4; ++i) out[i] = i % 2 == 0 ? vmovl_s16(vget_low_s16(h[i / 2])) : vmovl_high_s16(h[i / 2]);
    } else {
      const uint16x8_t h[2] = {vmovl_u8(vget_low_u8(b)), vmovl_high_u8(b)};
      for (int i = 0; i < 4; ++i) {
        out[i] = vreinterpretq_s32_u32(i % 2 == 0 ? vmovl_u16(vget_low_u16(h[i / 2])) : vmovl_high_u16(h[i / 2]));
      }
    }
  } else {
    for (int i = 0; i < QS; ++i) {
      // 8 bytes read for 4: the block goes on after every group's scales.
      const uint8x8_t b = vld1_u8(p + 4 * (q + i));
      out[i] = kSigned ? vmovl_s16(vget_low_s16(vmovl_s8(vreinterpret_s8_u8(b))))
                       : vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(b))));
    }
  }
}

// The Q5_K values of one word of chunk J: low nibbles (elements of group 2J) and high nibbles (group 2J + 1) with
// their fifth bits (bits 2J and 2J + 1 of the qh word's bytes).
template <int J>
[[gnu::always_inline]] inline void q5_k_values(uint8x16_t v, uint8x16_t h, int8x16_t& lo, int8x16_t& hi) {
  const uint8x16_t m5 = vdupq_n_u8(0x1f);
  uint8x16_t hs = h;  // bit 2J at bit 0, 2J + 1 at bit 1
  if constexpr (J > 0) hs = vshrq_n_u8(h, 2 * J);
  lo = vreinterpretq_s8_u8(vandq_u8(vsliq_n_u8(v, hs, 4), m5));
  hi = vreinterpretq_s8_u8(vandq_u8(vsriq_n_u8(vshlq_n_u8(hs, 3), v, 4), m5));
}

// The exact integer sums of one Q5_K super-block for T tokens (xb: their Q8_K blocks) and quads [q, q + QS).
template <int T, int QS>
[[gnu::always_inline]] inline void q5_k_sums(const uint8_t* blk, int q, const uint8_t* const (&xb)[T],
                                             int32x4_t (&isum)[T][QS], int32x4_t (&msum)[T][QS]) {
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < QS; ++i) isum[t][i] = msum[t][i] = vdupq_n_s32(0);
  }
  // A straight super-block, as Q4_K's; the chunk is a constant (the shifts of q5_k_values take immediates).
  unroll<4>([&](auto chunk) __attribute__((always_inline)) {
    constexpr int j = decltype(chunk)::value;
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
      const uint8_t* words = blk + kQ5KInterleavedValues + 64 * (8 * j + 4 * h) + 16 * q;
      const uint8_t* high = blk + kQ5KInterleavedHigh + 64 * (4 * h) + 16 * q;
      unroll<4>([&](auto lane) __attribute__((always_inline)) {
        constexpr int l = decltype(lane)::value;
        for (int i = 0; i < QS; ++i) {
          int8x16_t vl;
          int8x16_t vh;
          q5_k_values<j>(vld1q_u8(words + 64 * l + 16 * i), vld1q_u8(high + 64 * l + 16 * i), vl, vh);
          for (int t = 0; t < T; ++t) {
            lo[t][i] = vdotq_laneq_s32(lo[t][i], vl, xl[t], l);
            hi[t][i] = vdotq_laneq_s32(hi[t][i], vh, xh[t], l);
          }
        }
      });
    }
    int32x4_t sc_lo[QS];
    int32x4_t sc_hi[QS];
    quad_scales<false, QS>(blk + kQ5KInterleavedScales + 16 * (2 * j), q, sc_lo);
    quad_scales<false, QS>(blk + kQ5KInterleavedScales + 16 * (2 * j + 1), q, sc_hi);
    for (int i = 0; i < QS; ++i) {
      for (int t = 0; t < T; ++t) {
        isum[t][i] = vmlaq_s32(vmlaq_s32(isum[t][i], lo[t][i], sc_lo[i]), hi[t][i], sc_hi[i]);
      }
    }
  });
  int16x8_t pairs[T];  // bsums[2g] + bsums[2g + 1]: |sum| <= 4096 fits in int16
  for (int t = 0; t < T; ++t) {
    const uint8_t* bs = xb[t] + kQ8KBsums;
    pairs[t] = vpaddq_s16(vreinterpretq_s16_u8(vld1q_u8(bs)), vreinterpretq_s16_u8(vld1q_u8(bs + 16)));
  }
  unroll<8>([&](auto group) __attribute__((always_inline)) {
    constexpr int g = decltype(group)::value;
    const uint8_t* mins = blk + kQ5KInterleavedMins + 16 * g;
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

// The exact integer sums of one IQ4_XS super-block for T tokens and quads [q, q + QS): per block of 32, the dots
// of the grid values (two chains: low and high nibbles) times the block scale.
template <int T, int QS>
[[gnu::always_inline]] inline void iq4_xs_sums(const uint8_t* blk, int q, const uint8_t* const (&xb)[T],
                                               int32x4_t (&isum)[T][QS]) {
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < QS; ++i) isum[t][i] = vdupq_n_s32(0);
  }
  const int8x16_t grid = vld1q_s8(kIq4Values);
  const uint8x16_t low = vdupq_n_u8(0x0f);
#pragma GCC unroll 8
  for (int ib = 0; ib < 8; ++ib) {
    int32x4_t lo[T][QS];
    int32x4_t hi[T][QS];
    int8x16_t xl[T];  // elements 32 ib + 0..15: low nibbles of words 4 ib..4 ib + 3
    int8x16_t xh[T];  // elements 32 ib + 16..31: their high nibbles
    for (int t = 0; t < T; ++t) {
      xl[t] = load_s8x16(xb[t] + kQ8KValues + 32 * ib);
      xh[t] = load_s8x16(xb[t] + kQ8KValues + 32 * ib + 16);
      for (int i = 0; i < QS; ++i) lo[t][i] = hi[t][i] = vdupq_n_s32(0);
    }
    const uint8_t* words = blk + kIQ4XSInterleavedValues + 64 * (4 * ib) + 16 * q;
    unroll<4>([&](auto lane) __attribute__((always_inline)) {
      constexpr int l = decltype(lane)::value;
      for (int i = 0; i < QS; ++i) {
        const uint8x16_t v = vld1q_u8(words + 64 * l + 16 * i);
        const int8x16_t vl = vqtbl1q_s8(grid, vandq_u8(v, low));
        const int8x16_t vh = vqtbl1q_s8(grid, vshrq_n_u8(v, 4));
        for (int t = 0; t < T; ++t) {
          lo[t][i] = vdotq_laneq_s32(lo[t][i], vl, xl[t], l);
          hi[t][i] = vdotq_laneq_s32(hi[t][i], vh, xh[t], l);
        }
      }
    });
    int32x4_t sc[QS];
    quad_scales<true, QS>(blk + kIQ4XSInterleavedScales + 16 * ib, q, sc);
    for (int i = 0; i < QS; ++i) {
      for (int t = 0; t < T; ++t) isum[t][i] = vmlaq_s32(isum[t][i], vaddq_s32(lo[t][i], hi[t][i]), sc[i]);
    }
  }
}

struct Q5KKernel {
  static constexpr size_t kBlock = kQ5KInterleavedBlock;
  // Adds one super-block of quads [q, q + QS) to acc[t][s..s + QS) (rows' float sums, the reference's steps).
  template <int T, int Q, int QS>
  [[gnu::always_inline]] static void add_block(const uint8_t* blk, int q, int s, const uint8_t* const (&xb)[T],
                                               float32x4_t (&acc)[T][Q]) {
    int32x4_t isum[T][QS];
    int32x4_t msum[T][QS];
    q5_k_sums<T, QS>(blk, q, xb, isum, msum);
    for (int i = 0; i < QS; ++i) {
      const float32x4_t d = quad_halves(blk + kQ5KInterleavedD + 8 * (q + i));
      const float32x4_t dmin = quad_halves(blk + kQ5KInterleavedDmin + 8 * (q + i));
      for (int t = 0; t < T; ++t) {
        const float dx = load_unaligned<float>(xb[t], 0);
        float32x4_t& a = acc[t][s + i];
        a = vfmaq_f32(a, vcvtq_f32_s32(isum[t][i]), vmulq_n_f32(d, dx));
        a = vfmaq_f32(a, vcvtq_f32_s32(vnegq_s32(msum[t][i])), vmulq_n_f32(dmin, dx));
      }
    }
  }
};

struct IQ4XSKernel {
  static constexpr size_t kBlock = kIQ4XSInterleavedBlock;
  template <int T, int Q, int QS>
  [[gnu::always_inline]] static void add_block(const uint8_t* blk, int q, int s, const uint8_t* const (&xb)[T],
                                               float32x4_t (&acc)[T][Q]) {
    int32x4_t isum[T][QS];
    iq4_xs_sums<T, QS>(blk, q, xb, isum);
    for (int i = 0; i < QS; ++i) {
      const float32x4_t d = quad_halves(blk + kIQ4XSInterleavedD + 8 * (q + i));
      for (int t = 0; t < T; ++t) {
        acc[t][s + i] =
            vfmaq_f32(acc[t][s + i], vcvtq_f32_s32(isum[t][i]), vmulq_n_f32(d, load_unaligned<float>(xb[t], 0)));
      }
    }
  }
};

// T tokens x quads [q0, q0 + Q) of one group over super-blocks [0, kb) (g and x at the first), QS quads at a
// time. acc starts from out (a later K chunk) or from zero; only the group's first n_valid rows are read or
// written.
template <class K, int T, int Q, int QS>
void tile(const uint8_t* g, int q0, int kb, const uint8_t* x, size_t x_stride, bool first_chunk, float* out,
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
    const uint8_t* blk = g + static_cast<size_t>(b) * K::kBlock;
    if (T <= 2) prefetch_lines<kDecodePrefetchBytes, K::kBlock>(blk);  // decode streams the row
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t) {
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    unroll<Q / QS>([&](auto step) __attribute__((always_inline)) {
      constexpr int s = decltype(step)::value * QS;
      K::template add_block<T, Q, QS>(blk, q0 + s, s, xb, acc);
    });
  }
  // Unrolled, so that acc stays in registers (an indexed store would put it in memory for the whole loop).
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
#pragma GCC unroll 16
    for (int q = 0; q < Q; ++q) store_row_quad(out + t * ldo, q0 + q, n_valid, acc[t][q]);
  }
}

using TileFn = void (*)(const uint8_t*, int, int, const uint8_t*, size_t, bool, float*, int64_t, int);

// Decode (1-2 tokens) reuses no weights: each group's whole row in one pass, all four quads per super-block (two
// at a time for two tokens). Prompts: K chunks of kChunkBlocks super-blocks, tiles of kTileTokens tokens x one quad.
constexpr int kTileTokens = 4;
constexpr int kChunkBlocks = 8;

template <class K>
void interleaved_gemm(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                      float* out, int64_t ldo) {
  static constexpr TileFn kPromptTiles[kTileTokens] = {tile<K, 1, 1, 1>, tile<K, 2, 1, 1>, tile<K, 3, 1, 1>,
                                                       tile<K, 4, 1, 1>};
  const int64_t nb = n / kQK_K;
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * K::kBlock;
  const auto* gp = static_cast<const uint8_t*>(groups);
  const auto* xp = static_cast<const uint8_t*>(x);
  if (n_tokens >= 1 && n_tokens <= 2) {
    const TileFn decode = n_tokens == 1 ? tile<K, 1, 4, 4> : tile<K, 2, 4, 2>;
    for (int64_t g = 0; g < n_groups; ++g) {
      decode(gp + static_cast<size_t>(g) * group_bytes, 0, static_cast<int>(nb), xp, x_stride, true,
             out + g * kInterleaveRows, ldo, group_rows(n_rows, g));
    }
    return;
  }
  for (int64_t b0 = 0; b0 < nb; b0 += kChunkBlocks) {
    const int kb = static_cast<int>(std::min<int64_t>(kChunkBlocks, nb - b0));
    for (int64_t g = 0; g < n_groups; ++g) {
      const int rows = group_rows(n_rows, g);
      const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * K::kBlock;
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

}  // namespace

void q5_k_interleaved_gemm_neon_dot(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q5KKernel>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void iq4_xs_interleaved_gemm_neon_dot(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                      int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<IQ4XSKernel>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
