// The ARM64 kernels over the interleaved Q4_0 and Q8_0 layouts, shared by the dot-product file
// (interleave_neon_dot.cpp) and the i8mm one (interleave_neon_i8mm.cpp, whose prompt tiles replace the SDOT ones):
// layouts, activation sums, the SDOT tile, decode and the chunked prompt driver. Include only from files compiled
// with the dot product, after their `#pragma GCC optimize` (see interleave_neon_dot.cpp).
//
// A group's block holds, for each 4-byte word k of the values, the 16 rows' word k in 64 bytes: four 128-bit
// registers of four rows (rows 4j..4j+3 at blk + 64k + 16j, a "quad"). SDOT by element (vdotq_laneq_s32) dots
// each row's word with one word of an activation register, so one 16-byte activation load feeds four words and
// each row's block sum builds up in its own lane: no horizontal reduction and no shuffle. Q4_0 nibbles (0..15)
// are dotted as they are and the -8 comes back through the activation block's sum (the accumulator starts at
// -8 * sum(x)); Q8_0 values, stored as q + 128, turn back to int8 with one EOR. Each row's block sum is then the
// exact integer of the reference, and each row accumulates fma(isum, d_w * d_x, sum) block after block, as
// vec_dot does.
//
// Everything here has internal linkage (see kernel_common.h for why).
#pragma once

#include <arm_neon.h>

#include <algorithm>
#include <type_traits>
#include <utility>

#include "quant/interleave.h"
#include "quant/interleave_neon.h"
#include "quant/kernel_common.h"
#include "quant/neon_common.h"
#include "quant/q4_0.h"
#include "quant/q8_0.h"

namespace ternion::quant {
namespace {

constexpr size_t kQ8Bytes = sizeof(BlockQ8_0);

// A layout's words: load<K>(quad, f) loads the K-th 16 bytes of one quad's block values and calls f(Word<w>{}, v)
// for each activation word w they meet, v the four rows' bytes of that word as int8 (elements 4w..4w+3).
template <int W>
using Word = std::integral_constant<int, W>;

struct Q4Layout {
  static constexpr size_t kValueBytes = kQ4_0BlockSize / 2;
  static constexpr size_t kBlockBytes = interleaved_block_bytes(kValueBytes);
  static constexpr int32_t kUnsignedOffset = 8;
  static constexpr int kLoads = 4;
  // Word k's low nibbles are elements 4k..4k+3, its high nibbles elements 16 + 4k..: activation words k and k + 4.
  template <int K, class F>
  static void load(const uint8_t* quad, F& f) {
    const uint8x16_t q = vld1q_u8(quad + 64 * K);
    f(Word<K>{}, vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))));
    f(Word<K + 4>{}, vreinterpretq_s8_u8(vshrq_n_u8(q, 4)));
  }
};

struct Q8Layout {
  static constexpr size_t kValueBytes = kQ8_0BlockSize;
  static constexpr size_t kBlockBytes = interleaved_block_bytes(kValueBytes);
  static constexpr int32_t kUnsignedOffset = 0;  // the EOR gives back the signed values: nothing to take out
  static constexpr int kLoads = 8;
  template <int K, class F>
  static void load(const uint8_t* quad, F& f) {
    f(Word<K>{}, vreinterpretq_s8_u8(veorq_u8(vld1q_u8(quad + 64 * K), vdupq_n_u8(0x80))));
  }
};

template <class L, class F, int... K>
void for_each_word(const uint8_t* quad, F&& f, std::integer_sequence<int, K...> /*loads*/) {
  (L::template load<K>(quad, f), ...);
}

// Prepared activations: token t's block b at [t * stride + b], b counted from the tile's first block.
struct ActivationView {
  const int32_t* neg_corr;  // -c * (sum of the block's values): each block's integer accumulators start there
  const float* scale;       // the block's scale as fp32
  size_t stride;
};

// For blocks [0, nb) of one activation row (xb at block 0).
void activation_sums(const uint8_t* xb, int64_t nb, int32_t c, int32_t* neg_corr, float* scale) {
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = xb + static_cast<size_t>(b) * kQ8Bytes;
    scale[b] = half_to_float(load_half(blk));
    if (c != 0) {  // |sum| <= 32 * 128: the int16 halves cannot overflow
      neg_corr[b] = -c * (int32_t{vaddlvq_s8(load_s8x16(blk + 2))} + int32_t{vaddlvq_s8(load_s8x16(blk + 18))});
    }
  }
}

// T tokens x quads [q0, q0 + Q) of one group, over blocks [b0, b0 + kb) (g points at block b0). acc starts from
// out (a later K chunk) or from zero; only the group's first n_valid rows are read or written.
template <class L, int T, int Q>
void interleaved_tile(const uint8_t* g, int q0, int kb, const ActivationView& a, int t0, const uint8_t* x,
                      size_t x_stride, int64_t b0, bool first_chunk, float* out, int64_t ldo, int n_valid) {
  constexpr bool kTwoChains = T == 1;  // one token: a second dependency chain per quad hides the SDOT latency
  float32x4_t acc[T][Q];
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
#pragma GCC unroll 16
    for (int q = 0; q < Q; ++q) {
      acc[t][q] = first_chunk ? vdupq_n_f32(0.0f) : load_row_quad(out + t * ldo, q0 + q, n_valid);
    }
  }
  const uint8_t* xt[T];
  for (int t = 0; t < T; ++t) {
    xt[t] = x + static_cast<size_t>(t0 + t) * x_stride + static_cast<size_t>(b0) * kQ8Bytes + 2;
  }
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * L::kBlockBytes;
    int8x16_t xv[T][2];
    for (int t = 0; t < T; ++t) {
      xv[t][0] = load_s8x16(xt[t] + b * kQ8Bytes);
      xv[t][1] = load_s8x16(xt[t] + b * kQ8Bytes + 16);
    }
    int32x4_t s[T][Q];
    int32x4_t s2[T][Q];
    for (int t = 0; t < T; ++t) {
      const size_t i = static_cast<size_t>(t0 + t) * a.stride + static_cast<size_t>(b);
      for (int q = 0; q < Q; ++q) {
        s[t][q] = vdupq_n_s32(L::kUnsignedOffset != 0 ? a.neg_corr[i] : 0);
        s2[t][q] = vdupq_n_s32(0);
      }
    }
    for (int q = 0; q < Q; ++q) {
      const auto dot = [&](auto word, int8x16_t v) {
        constexpr int w = decltype(word)::value;
        for (int t = 0; t < T; ++t) {
          int32x4_t& chain = kTwoChains && w >= 4 ? s2[t][q] : s[t][q];
          chain = vdotq_laneq_s32(chain, v, xv[t][w / 4], w % 4);
        }
      };
      for_each_word<L>(blk + 16 * (q0 + q), dot, std::make_integer_sequence<int, L::kLoads>{});
    }
    const uint8_t* scales = blk + kInterleaveRows * L::kValueBytes;
    for (int q = 0; q < Q; ++q) {
      const float32x4_t dw = quad_halves(scales + 8 * (q0 + q));
      for (int t = 0; t < T; ++t) {
        const int32x4_t isum = kTwoChains ? vaddq_s32(s[t][q], s2[t][q]) : s[t][q];
        const float dx = a.scale[static_cast<size_t>(t0 + t) * a.stride + static_cast<size_t>(b)];
        acc[t][q] = vfmaq_f32(acc[t][q], vcvtq_f32_s32(isum), vmulq_n_f32(dw, dx));
      }
    }
  }
  // Unrolled, so that acc stays in registers (an indexed store would put it in memory for the whole loop).
#pragma GCC unroll 16
  for (int t = 0; t < T; ++t) {
#pragma GCC unroll 16
    for (int q = 0; q < Q; ++q) store_row_quad(out + t * ldo, q0 + q, n_valid, acc[t][q]);
  }
}

// Prompts: activations prepared kPackBlocks blocks x kPackTokens tokens at a time; each group's stretch of those
// blocks (18 KiB for Q4_0) stays in cache while every token tile of the chunk reads it, two quads at a time.
constexpr int kPackBlocks = 64;
constexpr int kPackTokens = 128;
constexpr int kTileTokens = 4;  // 4 tokens x 2 quads: 8 int and 8 float accumulators, 8 activation registers
constexpr int kTileQuads = 2;

struct ActivationChunk {
  int32_t neg_corr[kPackTokens][kPackBlocks];
  float scale[kPackTokens][kPackBlocks];
};

template <class L>
using TileFn = void (*)(const uint8_t*, int, int, const ActivationView&, int, const uint8_t*, size_t, int64_t, bool,
                        float*, int64_t, int);

template <class L>
constexpr TileFn<L> kPromptTiles[kTileTokens] = {interleaved_tile<L, 1, kTileQuads>, interleaved_tile<L, 2, kTileQuads>,
                                                 interleaved_tile<L, 3, kTileQuads>,
                                                 interleaved_tile<L, 4, kTileQuads>};

// Decode (one or two tokens, rows of at most kRowDecodeBlocks blocks): the activations of whole rows prepared
// once, then each group walked front to back in one tile call of all four quads, so the weights stream in one
// sequential pass.
constexpr int64_t kRowDecodeTokens = 2;
constexpr int64_t kRowDecodeBlocks = 1024;  // rows up to 32768 wide; 16 KiB of prepared activations

template <class L>
void interleaved_decode(int64_t nb, const uint8_t* gp, int64_t n_rows, const uint8_t* xp, size_t x_stride, int n_tokens,
                        float* out, int64_t ldo) {
  int32_t neg_corr[kRowDecodeTokens][kRowDecodeBlocks];
  float scale[kRowDecodeTokens][kRowDecodeBlocks];
  for (int t = 0; t < n_tokens; ++t) {
    activation_sums(xp + static_cast<size_t>(t) * x_stride, nb, L::kUnsignedOffset, neg_corr[t], scale[t]);
  }
  const ActivationView view{neg_corr[0], scale[0], kRowDecodeBlocks};
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * L::kBlockBytes;
  constexpr TileFn<L> kTiles[kRowDecodeTokens] = {interleaved_tile<L, 1, 4>, interleaved_tile<L, 2, 4>};
  for (int64_t g = 0; g < n_groups; ++g) {
    kTiles[n_tokens - 1](gp + static_cast<size_t>(g) * group_bytes, 0, static_cast<int>(nb), view, 0, xp, x_stride, 0,
                         true, out + g * kInterleaveRows, ldo, group_rows(n_rows, g));
  }
}

// The SDOT prompt tiles: tt (1..kTileTokens) tokens at token t of the chunk.
template <class L>
struct DotPromptTiles {
  static void run(int tt, const uint8_t* g, int q0, int kb, const ActivationView& a, int t, const uint8_t* x,
                  size_t x_stride, int64_t b0, bool first_chunk, float* out, int64_t ldo, int n_valid) {
    kPromptTiles<L>[tt - 1](g, q0, kb, a, t, x, x_stride, b0, first_chunk, out, ldo, n_valid);
  }
};

// Decode through interleaved_decode, prompts in chunks of kPackTokens tokens x kPackBlocks blocks through
// Tiles::run, kTileTokens tokens x kTileQuads quads at a time.
template <class L, class Tiles = DotPromptTiles<L>>
void interleaved_gemm(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                      float* out, int64_t ldo) {
  const int64_t nb = n / kQ8_0BlockSize;
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * L::kBlockBytes;
  const auto* gp = static_cast<const uint8_t*>(groups);
  const auto* xp = static_cast<const uint8_t*>(x);
  if (n_tokens >= 1 && n_tokens <= kRowDecodeTokens && nb <= kRowDecodeBlocks) {
    interleaved_decode<L>(nb, gp, n_rows, xp, x_stride, static_cast<int>(n_tokens), out, ldo);
    return;
  }
  ActivationChunk act;  // 64 KiB
  const ActivationView view{act.neg_corr[0], act.scale[0], kPackBlocks};
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kPackTokens) {
    const int ts = static_cast<int>(std::min<int64_t>(kPackTokens, n_tokens - t0));
    const uint8_t* xs = xp + static_cast<size_t>(t0) * x_stride;
    for (int64_t b0 = 0; b0 < nb; b0 += kPackBlocks) {
      const int kb = static_cast<int>(std::min<int64_t>(kPackBlocks, nb - b0));
      for (int t = 0; t < ts; ++t) {
        activation_sums(xs + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0) * kQ8Bytes, kb,
                        L::kUnsignedOffset, act.neg_corr[t], act.scale[t]);
      }
      for (int64_t g = 0; g < n_groups; ++g) {
        const int rows = group_rows(n_rows, g);
        const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * L::kBlockBytes;
        for (int q0 = 0; 4 * q0 < rows; q0 += kTileQuads) {
          for (int t = 0; t < ts; t += kTileTokens) {
            const int tt = std::min(kTileTokens, ts - t);
            Tiles::run(tt, gb, q0, kb, view, t, xs, x_stride, b0, b0 == 0, out + (t0 + t) * ldo + g * kInterleaveRows,
                       ldo, rows);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace ternion::quant
