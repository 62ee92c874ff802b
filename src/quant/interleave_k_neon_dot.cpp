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
    if (T <= 2) prefetch_lines<kQ4KInterleavedBlock, kQ4KInterleavedBlock>(blk);  // decode: the next super-block
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

// Q6_K. Values are rebuilt as unsigned u = q + 32 (0..63) from a word of ql (low or high nibbles) and a word of qh
// (2 of its bits) with shift-and-insert (SLI, SRI), four rows per register; per group g of 16 values the dot of u
// starts from -32 * bsum_g, which leaves the exact sum of q * x. isum = sum_g scale_g * gsum_g, and each row takes
// fma(isum, d * d_x, sum) super-block after super-block, as the reference does. One token dots the values as they
// are rebuilt; more tokens first rebuild a K chunk of the group into a buffer that all their tiles read.

// The values h*128 + 4i + 32q + 0..3 (q = 0..3) of one quad of rows.
[[gnu::always_inline]] inline void q6_k_values(const uint8_t* blk, int h, int i, int quad, int8x16_t (&u)[4]) {
  const uint8_t* triple = blk + kQ6KInterleavedValues + 192 * (8 * h + i) + 16 * quad;
  const uint8x16_t a = vld1q_u8(triple);         // ql word 16h + i: elements +0 (low), +64 (high nibbles)
  const uint8x16_t c = vld1q_u8(triple + 64);    // ql word 16h + 8 + i: elements +32, +96
  const uint8x16_t hb = vld1q_u8(triple + 128);  // qh word 8h + i: bits 2q, 2q + 1 of element +32q
  const uint8x16_t hb2 = vshrq_n_u8(hb, 2);
  const uint8x16_t m6 = vdupq_n_u8(0x3f);
  u[0] = vreinterpretq_s8_u8(vandq_u8(vsliq_n_u8(a, hb, 4), m6));
  u[1] = vreinterpretq_s8_u8(vandq_u8(vsliq_n_u8(c, hb2, 4), m6));
  u[2] = vreinterpretq_s8_u8(vandq_u8(vsriq_n_u8(hb, a, 4), m6));
  u[3] = vreinterpretq_s8_u8(vsriq_n_u8(hb2, c, 4));  // hb2's bits 6-7 are zero already
}

// Group g's signed scales of quad `quad` as int32.
inline int32x4_t q6_k_scales(const uint8_t* blk, int g, int quad) {
  // 8 bytes read for 4: the next ones are still in the block (the next group's scales, or the values).
  const int8x8_t b = vreinterpret_s8_u8(vld1_u8(blk + kQ6KInterleavedScales + 16 * static_cast<size_t>(g) + 4 * quad));
  return vmovl_s16(vget_low_s16(vmovl_s8(b)));
}

inline int32x4_t q6_k_group_start(const uint8_t* xb, int g) {
  return vdupq_n_s32(-32 * int32_t{load_unaligned<int16_t>(xb + kQ8KBsums, g)});
}

constexpr int kQ6DecodeQuads = 2;  // quads per pass over a super-block: 8 group chains, 4 activation registers

// One token, super-blocks [0, kb) of one group (g and x at the first), all four quads.
void q6_k_decode_group(const uint8_t* g, int kb, const uint8_t* x, float* out, int n_valid) {
  float32x4_t acc[4];
  for (auto& a : acc) a = vdupq_n_f32(0.0f);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ6KInterleavedBlock;
    const uint8_t* xb = x + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    prefetch_lines<kDecodePrefetchBytes, kQ6KInterleavedBlock>(blk);
    const float dx = load_unaligned<float>(xb, 0);
    unroll<4 / kQ6DecodeQuads>([&](auto step) {
      constexpr int q0 = decltype(step)::value * kQ6DecodeQuads;
      int32x4_t isum[kQ6DecodeQuads] = {};
#pragma GCC unroll 2
      for (int h = 0; h < 2; ++h) {
#pragma GCC unroll 2
        for (int iq = 0; iq < 2; ++iq) {  // groups 8h + 2q + iq
          int32x4_t s[kQ6DecodeQuads][4];
          int8x16_t xr[4];
          for (int q = 0; q < 4; ++q) {
            xr[q] = load_s8x16(xb + kQ8KValues + 128 * h + 32 * q + 16 * iq);
            for (auto& chains : s) chains[q] = q6_k_group_start(xb, 8 * h + 2 * q + iq);
          }
          unroll<4>([&](auto lane) {
            constexpr int ii = decltype(lane)::value;
            for (int j = 0; j < kQ6DecodeQuads; ++j) {
              int8x16_t u[4];
              q6_k_values(blk, h, 4 * iq + ii, q0 + j, u);
              for (int q = 0; q < 4; ++q) s[j][q] = vdotq_laneq_s32(s[j][q], u[q], xr[q], ii);
            }
          });
          for (int j = 0; j < kQ6DecodeQuads; ++j) {
            for (int q = 0; q < 4; ++q)
              isum[j] = vmlaq_s32(isum[j], s[j][q], q6_k_scales(blk, 8 * h + 2 * q + iq, q0 + j));
          }
        }
      }
      for (int j = 0; j < kQ6DecodeQuads; ++j) {
        const float32x4_t d = quad_halves(blk + kQ6KInterleavedD + 8 * (q0 + j));
        acc[q0 + j] = vfmaq_f32(acc[q0 + j], vcvtq_f32_s32(isum[j]), vmulq_n_f32(d, dx));
      }
    });
  }
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) store_row_quad(out, q, n_valid, acc[q]);
}

// A K chunk of one group's values rebuilt as unsigned bytes: word w (values 4w..4w+3) of quad j at [b][w][16 j].
constexpr int kUnpackChunkBlocks = 4;  // 16 rows x 4 super-blocks x 256 values: 16 KiB, in L1 for every tile
struct Unpacked {
  uint8_t u[kUnpackChunkBlocks][64][kInterleaveRows * 4];
};

void q6_k_unpack_chunk(const uint8_t* g, int kb, Unpacked& out) {
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ6KInterleavedBlock;
    for (int h = 0; h < 2; ++h) {
      for (int i = 0; i < 8; ++i) {
        for (int j = 0; j < 4; ++j) {
          int8x16_t u[4];
          q6_k_values(blk, h, i, j, u);
          for (int q = 0; q < 4; ++q) vst1q_s8(reinterpret_cast<int8_t*>(out.u[b][32 * h + 8 * q + i] + 16 * j), u[q]);
        }
      }
    }
  }
}

// TQ2_0. Trits t (value t - 1) sit 4 to a byte; a word's field l (bits 2l, 2l + 1) holds elements
// 128 (k / 8) + 32 l + 4 (k % 8) + 0..3 of four rows per register. Each super-block's dot starts from minus the
// sum of the activations, which leaves the exact sum of (t - 1) * x, and each row takes fma(isum, d * d_x, sum)
// super-block after super-block, as the reference does.

inline int32_t q8_k_sum(const uint8_t* xb) {
  const int16x8_t lo = vreinterpretq_s16_u8(vld1q_u8(xb + kQ8KBsums));
  const int16x8_t hi = vreinterpretq_s16_u8(vld1q_u8(xb + kQ8KBsums + 16));
  return vaddlvq_s16(lo) + vaddlvq_s16(hi);
}

constexpr int kTQ2DecodeQuads = 2;  // quads per pass: 4 field chains each, 8 activation registers

// One token, super-blocks [0, kb) of one group, as q6_k_decode_group. Fields 0-2 are taken in place (masked, not
// shifted: 0x30 keeps the byte positive) so their dots come out 4^l x and are shifted back exactly; field 3 is
// shifted down (in place it would read as negative bytes).
void tq2_0_decode_group(const uint8_t* g, int kb, const uint8_t* x, float* out, int n_valid) {
  float32x4_t acc[4];
  for (auto& a : acc) a = vdupq_n_f32(0.0f);
  const uint8x16_t field[3] = {vdupq_n_u8(0x03), vdupq_n_u8(0x0c), vdupq_n_u8(0x30)};
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kTQ2InterleavedBlock;
    const uint8_t* xb = x + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    prefetch_lines<kDecodePrefetchBytes, kTQ2InterleavedBlock>(blk);
    const int32x4_t neg_sum = vdupq_n_s32(-q8_k_sum(xb));
    const float dx = load_unaligned<float>(xb, 0);
    unroll<4 / kTQ2DecodeQuads>([&](auto step) {
      constexpr int q0 = decltype(step)::value * kTQ2DecodeQuads;
      int32x4_t f[kTQ2DecodeQuads][4] = {};
#pragma GCC unroll 2
      for (int half = 0; half < 2; ++half) {  // words 8 half .. 8 half + 7
        int8x16_t xr[4][2];                   // field l, words 8 half + 4p .. + 3
        for (int l = 0; l < 4; ++l) {
          for (int p = 0; p < 2; ++p) xr[l][p] = load_s8x16(xb + kQ8KValues + 128 * half + 32 * l + 16 * p);
        }
        unroll<8>([&](auto word) {
          constexpr int kk = decltype(word)::value;
          for (int j = 0; j < kTQ2DecodeQuads; ++j) {
            const uint8x16_t q = vld1q_u8(blk + kTQ2InterleavedValues + 64 * (8 * half + kk) + 16 * (q0 + j));
            for (int l = 0; l < 3; ++l) {
              f[j][l] = vdotq_laneq_s32(f[j][l], vreinterpretq_s8_u8(vandq_u8(q, field[l])), xr[l][kk / 4], kk % 4);
            }
            f[j][3] = vdotq_laneq_s32(f[j][3], vreinterpretq_s8_u8(vshrq_n_u8(q, 6)), xr[3][kk / 4], kk % 4);
          }
        });
      }
      for (int j = 0; j < kTQ2DecodeQuads; ++j) {
        const int32x4_t isum = vaddq_s32(
            vaddq_s32(vaddq_s32(f[j][0], vshrq_n_s32(f[j][1], 2)), vaddq_s32(vshrq_n_s32(f[j][2], 4), f[j][3])),
            neg_sum);
        const float32x4_t d = quad_halves(blk + kTQ2InterleavedD + 8 * (q0 + j));
        acc[q0 + j] = vfmaq_f32(acc[q0 + j], vcvtq_f32_s32(isum), vmulq_n_f32(d, dx));
      }
    });
  }
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) store_row_quad(out, q, n_valid, acc[q]);
}

void tq2_0_unpack_chunk(const uint8_t* g, int kb, Unpacked& out) {
  const uint8x16_t m = vdupq_n_u8(0x03);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kTQ2InterleavedBlock;
    for (int k = 0; k < 16; ++k) {
      for (int j = 0; j < 4; ++j) {
        const uint8x16_t q = vld1q_u8(blk + kTQ2InterleavedValues + 64 * k + 16 * j);
        vst1q_u8(out.u[b][32 * (k / 8) + 8 + k % 8] + 16 * j, vandq_u8(vshrq_n_u8(q, 2), m));
        vst1q_u8(out.u[b][32 * (k / 8) + k % 8] + 16 * j, vandq_u8(q, m));
        vst1q_u8(out.u[b][32 * (k / 8) + 16 + k % 8] + 16 * j, vandq_u8(vshrq_n_u8(q, 4), m));
        vst1q_u8(out.u[b][32 * (k / 8) + 24 + k % 8] + 16 * j, vshrq_n_u8(q, 6));
      }
    }
  }
}

// T tokens x quad j of a group over the unpacked super-blocks [0, kb): the dots of each group of 16 values
// (4 words, one activation register) start from K::group_start and end in K::add_group.
template <class K, int T>
void unpacked_tile(const Unpacked& un, const uint8_t* g, int j, int kb, const uint8_t* x, size_t x_stride,
                   bool first_chunk, float* out, int64_t ldo, int n_valid) {
  float32x4_t acc[T];
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? vdupq_n_f32(0.0f) : load_row_quad(out + t * ldo, j, n_valid);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * K::kBlock;
    const uint8_t* xb[T];
    int32x4_t isum[T];
    for (int t = 0; t < T; ++t) {
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
      isum[t] = K::block_start(xb[t]);
    }
    for (int grp = 0; grp < 16; ++grp) {
      int32x4_t s[T];
      int8x16_t xr[T];
      for (int t = 0; t < T; ++t) {
        s[t] = K::group_start(xb[t], grp);
        xr[t] = load_s8x16(xb[t] + kQ8KValues + 16 * grp);
      }
      unroll<4>([&](auto lane) {
        constexpr int w = decltype(lane)::value;
        const int8x16_t u = vreinterpretq_s8_u8(vld1q_u8(un.u[b][4 * grp + w] + 16 * j));
        for (int t = 0; t < T; ++t) s[t] = vdotq_laneq_s32(s[t], u, xr[t], w);
      });
      K::add_group(blk, grp, j, s, isum);
    }
    const float32x4_t d = quad_halves(blk + K::kD + 8 * j);
    for (int t = 0; t < T; ++t) {
      acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(isum[t]), vmulq_n_f32(d, load_unaligned<float>(xb[t], 0)));
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < T; ++t) store_row_quad(out + t * ldo, j, n_valid, acc[t]);
}

struct Q6KKernels {
  static constexpr size_t kBlock = kQ6KInterleavedBlock;
  static constexpr size_t kD = kQ6KInterleavedD;
  static constexpr auto decode_group = q6_k_decode_group;
  static constexpr auto unpack_chunk = q6_k_unpack_chunk;
  static int32x4_t block_start(const uint8_t* /*xb*/) { return vdupq_n_s32(0); }
  static int32x4_t group_start(const uint8_t* xb, int grp) { return q6_k_group_start(xb, grp); }
  template <int T>
  static void add_group(const uint8_t* blk, int grp, int j, const int32x4_t (&s)[T], int32x4_t (&isum)[T]) {
    const int32x4_t sc = q6_k_scales(blk, grp, j);
    for (int t = 0; t < T; ++t) isum[t] = vmlaq_s32(isum[t], s[t], sc);
  }
};

// TQ2_0 in the tiles: one sum per super-block, from minus the activations' sum.
struct TQ2Kernels {
  static constexpr size_t kBlock = kTQ2InterleavedBlock;
  static constexpr size_t kD = kTQ2InterleavedD;
  static constexpr auto decode_group = tq2_0_decode_group;
  static constexpr auto unpack_chunk = tq2_0_unpack_chunk;
  static int32x4_t block_start(const uint8_t* xb) { return vdupq_n_s32(-q8_k_sum(xb)); }
  static int32x4_t group_start(const uint8_t* /*xb*/, int /*grp*/) { return vdupq_n_s32(0); }
  template <int T>
  static void add_group(const uint8_t* /*blk*/, int /*grp*/, int /*j*/, const int32x4_t (&s)[T], int32x4_t (&isum)[T]) {
    for (int t = 0; t < T; ++t) isum[t] = vaddq_s32(isum[t], s[t]);
  }
};

constexpr int kUnpackedTileTokens = 4;

// One token: each group dotted as its values are rebuilt, row after row in one pass. More: per K chunk and group,
// the values unpacked once into a buffer that every token tile of every quad reads.
template <class K>
void unpacking_gemm(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                    float* out, int64_t ldo) {
  const int64_t nb = n / kQK_K;
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * K::kBlock;
  const auto* gp = static_cast<const uint8_t*>(groups);
  const auto* xp = static_cast<const uint8_t*>(x);
  if (n_tokens == 1) {
    for (int64_t g = 0; g < n_groups; ++g) {
      K::decode_group(gp + static_cast<size_t>(g) * group_bytes, static_cast<int>(nb), xp, out + g * kInterleaveRows,
                      group_rows(n_rows, g));
    }
    return;
  }
  using TileFn =
      void (*)(const Unpacked&, const uint8_t*, int, int, const uint8_t*, size_t, bool, float*, int64_t, int);
  static constexpr TileFn kTiles[kUnpackedTileTokens] = {unpacked_tile<K, 1>, unpacked_tile<K, 2>, unpacked_tile<K, 3>,
                                                         unpacked_tile<K, 4>};
  Unpacked un;  // 16 KiB
  for (int64_t b0 = 0; b0 < nb; b0 += kUnpackChunkBlocks) {
    const int kb = static_cast<int>(std::min<int64_t>(kUnpackChunkBlocks, nb - b0));
    for (int64_t g = 0; g < n_groups; ++g) {
      const int rows = group_rows(n_rows, g);
      const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * K::kBlock;
      K::unpack_chunk(gb, kb, un);
      for (int j = 0; 4 * j < rows; ++j) {
        for (int64_t t = 0; t < n_tokens; t += kUnpackedTileTokens) {
          const int tt = static_cast<int>(std::min<int64_t>(kUnpackedTileTokens, n_tokens - t));
          kTiles[tt - 1](un, gb, j, kb,
                         xp + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0) * sizeof(BlockQ8_K), x_stride,
                         b0 == 0, out + t * ldo + g * kInterleaveRows, ldo, rows);
        }
      }
    }
  }
}

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

void q6_k_interleaved_gemm_neon_dot(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo) {
  unpacking_gemm<Q6KKernels>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void tq2_0_interleaved_gemm_neon_dot(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                     int64_t n_tokens, float* out, int64_t ldo) {
  unpacking_gemm<TQ2Kernels>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
