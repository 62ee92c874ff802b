// 256-bit kernels over the interleaved Q4_0 and Q8_0 layouts (quant/interleave.h), one template over the dot of
// unsigned weight bytes with signed activation bytes. Included, each with its own dot policy, by
// interleave_avx2.cpp (AVX2: VPMADDUBSW + VPMADDWD), interleave_avxvnni.cpp (AVX-VNNI: VEX VPDPBUSD) and
// interleave_vnni256_avx512.cpp (the same VNNI logic as EVEX VPDPBUSD on ymm, so that AVX-512 VNNI machines,
// which lack AVX-VNNI, test it).
//
// The layout is the AVX-512 kernels': a block of a group holds, for each 4-byte word k of the values, the 16 rows'
// word k in 64 bytes. A 256-bit register takes half of it (rows 0-7 at blk + 64k, rows 8-15 at blk + 64k + 32),
// so a half of a group is 8 outputs per token, one per 32-bit lane, and a dot with the activation word broadcast
// advances all 8 with no horizontal reduction. Each lane ends a block with the exact integer sum of the reference
// (an unsigned offset, where the weights carry one, taken back out through the activation block's sum) and
// accumulates fma(isum, d_w * d_x, sum) block after block, as vec_dot does: the same bits for any tile shape.
//
// Everything has internal linkage: the three files compile it for different instruction sets.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "quant/interleave.h"
#include "quant/kernel_common.h"
#include "quant/q4_0.h"
#include "quant/q8_0.h"

namespace ternion::quant {
namespace {

constexpr size_t kActBytes = sizeof(BlockQ8_0);
constexpr int kHalfRows = kInterleaveRows / 2;
constexpr int kChunkTokens = 128;    // tokens whose activation sums are prepared at once
constexpr int kChunkBlocks = 64;     // blocks per K chunk: a group's stretch (Q4_0 18 KiB, Q8_0 34) stays cached
constexpr int kDecodeTokens = 2;     // one or two tokens walk whole rows
constexpr int kDecodeBlocks = 1024;  // rows up to 32768 wide; 8 KiB of prepared activations per token

// Activation word k of a Q8_0 block (values at xv) in every lane.
inline __m256i activation_word(const uint8_t* xv, int k) { return _mm256_set1_epi32(load_unaligned<int32_t>(xv, k)); }

// The dot policies. Q4_0 weights are nibbles (0..15, q + 8): `nibble_dot` adds to acc, per lane, the 8 words'
// products with activation words 0..7. Q8_0 weights are stored as q + 128; `Q8Weights` is what `q8_load` keeps
// of 8 words and `q8_dot` adds their products with the activation; kQ8Offset is what the stored values carry
// after q8_load (taken back out through the activation sums).

// AVX2: VPMADDUBSW adds pairs of u8 x s8 products in saturating int16, VPMADDWD widens pairs to int32.
struct MaddubsDot {
  // A nibble pair is at most 2 * 15 * 128 = 3840 in magnitude, so the 8 words' pairs add exactly in int16 (30720)
  // before one widening.
  static __m256i nibble_dot(__m256i acc, const __m256i* w, const uint8_t* xv) {
    __m256i p = _mm256_maddubs_epi16(w[0], activation_word(xv, 0));
    for (int k = 1; k < 8; ++k) p = _mm256_add_epi16(p, _mm256_maddubs_epi16(w[k], activation_word(xv, k)));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
  }
  // q + 128 against an int8 could reach 2 * 255 * 128 and saturate, so Q8_0 goes back to signed: |q| (as u8,
  // 128 for -128) times x with q's sign. A pair is then at most 2 * 128 * 127 = 32512: exact for every weight
  // and for activations in [-127, 127], which is all the Q8_0 quantizer writes (as the AVX2 vec_dot assumes).
  struct Q8Weights {
    __m256i abs[8];
    __m256i sgn[8];
  };
  static constexpr int32_t kQ8Offset = 0;
  // The 16 weight registers spill either way; 8 tokens share their preparation (prompt512 over 2048 x 2048,
  // 2 threads on Zen 4 capped to AVX2: 101-110 ms against 109-133 ms with 4).
  static constexpr int kQ8TileTokens = 8;
  static void q8_load(const uint8_t* p, Q8Weights& w) {
    for (int k = 0; k < 8; ++k) {
      w.sgn[k] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * k)),
                                  _mm256_set1_epi8(static_cast<char>(0x80)));
      w.abs[k] = _mm256_abs_epi8(w.sgn[k]);
    }
  }
  static __m256i q8_dot(__m256i acc, const Q8Weights& w, const uint8_t* xv) {
    for (int k = 0; k < 8; ++k) {
      const __m256i p = _mm256_maddubs_epi16(w.abs[k], _mm256_sign_epi8(activation_word(xv, k), w.sgn[k]));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
    }
    return acc;
  }
};

// VNNI: VPDPBUSD adds the four u8 x s8 products of each lane to int32, exactly, so the stored q + 128 serves as
// it is. `Dpbusd` is the instruction (VEX or EVEX). Two chains (words 0-3, 4-7) halve the dependency on its
// latency when one token has the register to itself.
template <class Dpbusd>
struct VnniDot {
  static __m256i dot8(__m256i acc, const __m256i* w, const uint8_t* xv) {
    __m256i second = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
      acc = Dpbusd::run(acc, w[k], activation_word(xv, k));
      second = Dpbusd::run(second, w[k + 4], activation_word(xv, k + 4));
    }
    return _mm256_add_epi32(acc, second);
  }
  static __m256i nibble_dot(__m256i acc, const __m256i* w, const uint8_t* xv) { return dot8(acc, w, xv); }
  struct Q8Weights {
    __m256i v[8];
  };
  static constexpr int32_t kQ8Offset = 128;
  static constexpr int kQ8TileTokens = 4;  // 8 weight registers, as Q4_0's
  static void q8_load(const uint8_t* p, Q8Weights& w) {
    for (int k = 0; k < 8; ++k) w.v[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 64 * k));
  }
  static __m256i q8_dot(__m256i acc, const Q8Weights& w, const uint8_t* xv) { return dot8(acc, w.v, xv); }
};

// The two block layouts over a dot policy D: `load` takes half h of a block's values, `dot` adds one token's
// products to acc.
template <class D>
struct Q4Kernel {
  static constexpr size_t kValueBytes = kQ4_0BlockSize / 2;
  static constexpr size_t kBlockBytes = interleaved_block_bytes(kValueBytes);
  static constexpr int32_t kOffset = 8;
  // Tokens per prompt tile: 4 float accumulators next to 8 weight registers (prompt512 over 2048 x 2048, 2 threads
  // on Zen 4 capped to AVX2: 67-70 ms against 74-79 ms with 8).
  static constexpr int kTileTokens = 4;
  struct Weights {
    __m256i v[8];  // v[k] meets activation word k: low nibbles of words 0..3, then their high nibbles
  };
  static void load(const uint8_t* blk, int h, Weights& w) {
    const __m256i low = _mm256_set1_epi8(0x0f);
    for (int k = 0; k < 4; ++k) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * k + 32 * h));
      w.v[k] = _mm256_and_si256(q, low);
      w.v[k + 4] = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
    }
  }
  static __m256i dot(__m256i acc, const Weights& w, const uint8_t* xv) { return D::nibble_dot(acc, w.v, xv); }
};

template <class D>
struct Q8Kernel {
  static constexpr size_t kValueBytes = kQ8_0BlockSize;
  static constexpr size_t kBlockBytes = interleaved_block_bytes(kValueBytes);
  static constexpr int32_t kOffset = D::kQ8Offset;
  static constexpr int kTileTokens = D::kQ8TileTokens;
  using Weights = typename D::Q8Weights;
  static void load(const uint8_t* blk, int h, Weights& w) { D::q8_load(blk + 32 * h, w); }
  static __m256i dot(__m256i acc, const Weights& w, const uint8_t* xv) { return D::q8_dot(acc, w, xv); }
};

// For blocks [0, nb) of one activation row: -c * (the sum of the block's values) and the block's scale as fp32.
inline void activation_sums(const uint8_t* xb, int64_t nb, int32_t c, int32_t* neg_corr, float* scale) {
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = xb + static_cast<size_t>(b) * kActBytes;
    scale[b] = _cvtsh_ss(load_unaligned<uint16_t>(blk, 0));
    if (c == 0) {
      neg_corr[b] = 0;
      continue;
    }
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
    const __m256i pairs = _mm256_maddubs_epi16(_mm256_set1_epi8(1), x);  // |pair| <= 256
    __m256i s = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_unpackhi_epi64(h, h));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x55));
    neg_corr[b] = -c * _mm_cvtsi128_si32(h);
  }
}

// Prepared activations: token t's block b at [t * stride + b], b counted from the tile's first block.
struct ActivationView {
  const int32_t* neg_corr;
  const float* scale;
  size_t stride;
};

// Lane j all ones where bit j of `bits` is set.
inline __m256i lane_mask(unsigned bits) {
  const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), bit), bit);
}

// T tokens x the rows of H halves of one group (halves h0 .. h0 + H - 1), over blocks [b0, b0 + kb) (g points at
// block b0). acc starts from out (a later K chunk) or from zero; rows outside `mask` (bit r: row r of the group)
// are neither read nor written.
template <class K, int T, int H>
void interleaved_tile(const uint8_t* g, int kb, const ActivationView& a, int t0, const uint8_t* x, size_t x_stride,
                      int64_t b0, bool first_chunk, float* out, int64_t ldo, unsigned mask, int h0) {
  __m256 acc[H][T];
  for (int h = 0; h < H; ++h) {
    const __m256i m = lane_mask(mask >> (kHalfRows * (h0 + h)));
    for (int t = 0; t < T; ++t) {
      acc[h][t] = first_chunk ? _mm256_setzero_ps() : _mm256_maskload_ps(out + t * ldo + kHalfRows * (h0 + h), m);
    }
  }
  const uint8_t* xt[T];
  for (int t = 0; t < T; ++t)
    xt[t] = x + static_cast<size_t>(t0 + t) * x_stride + static_cast<size_t>(b0) * kActBytes + 2;
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * K::kBlockBytes;
    if (T <= 2) prefetch_bytes(blk, kDecodePrefetchBytes, K::kBlockBytes);  // decode: as the AVX-512 kernels
    for (int h = 0; h < H; ++h) {
      typename K::Weights w;
      K::load(blk, h0 + h, w);
      const __m256 dw = _mm256_cvtph_ps(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kInterleaveRows * K::kValueBytes + 16 * (h0 + h))));
      for (int t = 0; t < T; ++t) {
        const size_t at = static_cast<size_t>(t0 + t) * a.stride + static_cast<size_t>(b);
        const __m256i isum = K::dot(_mm256_set1_epi32(a.neg_corr[at]), w, xt[t] + static_cast<size_t>(b) * kActBytes);
        const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(a.scale[at]));
        acc[h][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc[h][t]);
      }
    }
  }
  for (int h = 0; h < H; ++h) {
    const __m256i m = lane_mask(mask >> (kHalfRows * (h0 + h)));
    for (int t = 0; t < T; ++t) _mm256_maskstore_ps(out + t * ldo + kHalfRows * (h0 + h), m, acc[h][t]);
  }
}

using InterleavedTileFn = void (*)(const uint8_t*, int, const ActivationView&, int, const uint8_t*, size_t, int64_t,
                                   bool, float*, int64_t, unsigned, int);

template <class K, size_t... I>
constexpr std::array<InterleavedTileFn, sizeof...(I)> prompt_tiles(std::index_sequence<I...>) {
  return {interleaved_tile<K, static_cast<int>(I) + 1, 1>...};
}

// kPromptTiles<K>[t - 1] takes t tokens, up to K::kTileTokens.
template <class K>
constexpr auto kPromptTiles = prompt_tiles<K>(std::make_index_sequence<K::kTileTokens>{});

// Decode: the activations of whole rows are prepared once, then each group's blocks are walked front to back, both
// halves of a block together, so the weights stream in one sequential pass.
template <class K>
void interleaved_decode(int64_t nb, const uint8_t* gp, int64_t n_rows, const uint8_t* xp, size_t x_stride, int n_tokens,
                        float* out, int64_t ldo) {
  alignas(32) int32_t neg_corr[kDecodeTokens][kDecodeBlocks];
  alignas(32) float scale[kDecodeTokens][kDecodeBlocks];
  for (int t = 0; t < n_tokens; ++t) {
    activation_sums(xp + static_cast<size_t>(t) * x_stride, nb, K::kOffset, neg_corr[t], scale[t]);
  }
  const ActivationView view{neg_corr[0], scale[0], kDecodeBlocks};
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * K::kBlockBytes;
  const InterleavedTileFn tile = n_tokens == 1 ? interleaved_tile<K, 1, 2> : interleaved_tile<K, 2, 2>;
  for (int64_t g = 0; g < n_groups; ++g) {
    tile(gp + static_cast<size_t>(g) * group_bytes, static_cast<int>(nb), view, 0, xp, x_stride, 0, true,
         out + g * kInterleaveRows, ldo, group_mask(n_rows, g), 0);
  }
}

// Prompts: activations are summed kChunkBlocks blocks x kChunkTokens tokens at a time; each group's stretch of
// those blocks stays in cache while every tile of tokens and each half of the group use it.
template <class K>
void interleaved_gemm(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                      float* out, int64_t ldo) {
  const int64_t nb = n / kQ8_0BlockSize;
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * K::kBlockBytes;
  const auto* gp = static_cast<const uint8_t*>(groups);
  const auto* xp = static_cast<const uint8_t*>(x);
  if (n_tokens >= 1 && n_tokens <= kDecodeTokens && nb <= kDecodeBlocks) {
    interleaved_decode<K>(nb, gp, n_rows, xp, x_stride, static_cast<int>(n_tokens), out, ldo);
    return;
  }
  struct Chunk {
    alignas(32) int32_t neg_corr[kChunkTokens][kChunkBlocks];
    alignas(32) float scale[kChunkTokens][kChunkBlocks];
  } act;  // 64 KiB
  const ActivationView view{act.neg_corr[0], act.scale[0], kChunkBlocks};
  for (int64_t t0 = 0; t0 < n_tokens; t0 += kChunkTokens) {
    const int ts = static_cast<int>(std::min<int64_t>(kChunkTokens, n_tokens - t0));
    const uint8_t* xs = xp + static_cast<size_t>(t0) * x_stride;
    for (int64_t b0 = 0; b0 < nb; b0 += kChunkBlocks) {
      const int kb = static_cast<int>(std::min<int64_t>(kChunkBlocks, nb - b0));
      for (int t = 0; t < ts; ++t) {
        activation_sums(xs + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0) * kActBytes, kb, K::kOffset,
                        act.neg_corr[t], act.scale[t]);
      }
      for (int64_t g = 0; g < n_groups; ++g) {
        const unsigned mask = group_mask(n_rows, g);
        const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * K::kBlockBytes;
        for (int h = 0; h < 2; ++h) {
          if (((mask >> (kHalfRows * h)) & 0xff) == 0) continue;  // the last group's missing half
          for (int t = 0; t < ts; t += K::kTileTokens) {
            const int tt = std::min(K::kTileTokens, ts - t);
            kPromptTiles<K>[tt - 1](gb, kb, view, t, xs, x_stride, b0, b0 == 0,
                                    out + (t0 + t) * ldo + g * kInterleaveRows, ldo, mask, h);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace ternion::quant
