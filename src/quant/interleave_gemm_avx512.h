// 512-bit kernels over the interleaved Q4_0 and Q8_0 layouts (quant/interleave.h), one template over the dot of
// unsigned weight bytes with signed activation bytes. Included, each with its own dot policy, by
// interleave_avx512.cpp (AVX-512 VNNI: VPDPBUSD) and interleave_avx512bw.cpp (AVX-512 without VNNI, Skylake-X:
// VPMADDUBSW + VPMADDWD, compiled without the VNNI flags so that nothing there needs it).
//
// A group's block holds, for each 4-byte word k of the values, one register with the 16 rows' word k; for Q4_0
// the low nibbles of word k meet activation word k and the high nibbles activation word k + 4, for Q8_0 word k
// meets word k (weights stored as q + 128). A dot with the activation word broadcast advances all 16 rows, so a
// block costs 8 dots per token and no horizontal reduction. Where the weights keep an unsigned offset it comes
// back out through the activation block's sum, so each row's block sum is the exact integer of the reference,
// and each row accumulates fma(isum, d_w * d_x, sum) block after block, as vec_dot does: the same bits for any
// tile shape.
//
// The dot policy D gives, for each layout, what its load keeps of a block's 8 words and the dot of one token:
//   D::Nibbles, D::nibble_load<kDecode>(blk, w), D::nibble_dot<kDecode>(acc, w, xv)       (Q4_0: q + 8)
//   D::Q8Weights, D::q8_load<kDecode>(blk, w), D::q8_dot<kDecode>(acc, w, xv), D::kQ8Offset (Q8_0)
// where dot adds to acc, per lane, the 8 words' products with activation words 0..7 at xv, and kDecode (one or two
// tokens a tile) lets a policy split the work into two chains to hide its latency. D::kQ4TileTokens and
// D::kQ8TileTokens are the prompt tiles' widths.
//
// Everything has internal linkage: the two files compile it for different instruction sets.
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
constexpr int kChunkTokens = 128;    // tokens whose activation sums are prepared at once
constexpr int kChunkBlocks = 64;     // blocks per K chunk: a group's stretch (Q4_0 18 KiB, Q8_0 34) stays cached
constexpr int kDecodeTokens = 2;     // one or two tokens walk whole rows
constexpr int kDecodeBlocks = 1024;  // rows up to 32768 wide; 8 KiB of prepared activations per token

// Activation word k of a Q8_0 block (values at xv) in every lane.
inline __m512i activation_word(const uint8_t* xv, int k) { return _mm512_set1_epi32(load_unaligned<int32_t>(xv, k)); }

// The two block layouts over a dot policy D.
template <class D>
struct Q4Kernel {
  static constexpr size_t kValueBytes = kQ4_0BlockSize / 2;
  static constexpr size_t kBlockBytes = interleaved_block_bytes(kValueBytes);
  static constexpr int32_t kOffset = 8;
  static constexpr int kTileTokens = D::kQ4TileTokens;
  using Weights = typename D::Nibbles;
  template <bool kDecode>
  static void load(const uint8_t* blk, Weights& w) {
    D::template nibble_load<kDecode>(blk, w);
  }
  template <bool kDecode>
  static __m512i dot(__m512i acc, const Weights& w, const uint8_t* xv) {
    return D::template nibble_dot<kDecode>(acc, w, xv);
  }
};

template <class D>
struct Q8Kernel {
  static constexpr size_t kValueBytes = kQ8_0BlockSize;
  static constexpr size_t kBlockBytes = interleaved_block_bytes(kValueBytes);
  static constexpr int32_t kOffset = D::kQ8Offset;
  static constexpr int kTileTokens = D::kQ8TileTokens;
  using Weights = typename D::Q8Weights;
  template <bool kDecode>
  static void load(const uint8_t* blk, Weights& w) {
    D::template q8_load<kDecode>(blk, w);
  }
  template <bool kDecode>
  static __m512i dot(__m512i acc, const Weights& w, const uint8_t* xv) {
    return D::template q8_dot<kDecode>(acc, w, xv);
  }
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

// T tokens x the 16 rows of one group, over blocks [b0, b0 + kb) (g points at block b0). acc starts from out (a
// later K chunk) or from zero; rows outside `mask` are neither read nor written.
template <class K, int T>
void interleaved_tile(const uint8_t* g, int kb, const ActivationView& a, int t0, const uint8_t* x, size_t x_stride,
                      int64_t b0, bool first_chunk, float* out, int64_t ldo, __mmask16 mask) {
  constexpr bool kDecode = T <= kDecodeTokens;
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + t * ldo);
  const uint8_t* xt[T];
  for (int t = 0; t < T; ++t) {
    xt[t] = x + static_cast<size_t>(t0 + t) * x_stride + static_cast<size_t>(b0) * kActBytes + 2;
  }
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * K::kBlockBytes;
    // Decode reads each weight once: asking for the lines 8 KiB ahead keeps more misses in flight than the hardware
    // prefetcher does alone on one core (Q4_0 decode on 4 threads of a Xeon: 75-80 % of the read bound before, 104 %
    // after; AVX2 67-72 % before, 90-97 % after).
    if (kDecode) prefetch_bytes(blk, kDecodePrefetchBytes, K::kBlockBytes);
    typename K::Weights w;
    K::template load<kDecode>(blk, w);
    const __m512 dw =
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kInterleaveRows * K::kValueBytes)));
    for (int t = 0; t < T; ++t) {
      const size_t at = static_cast<size_t>(t0 + t) * a.stride + static_cast<size_t>(b);
      const __m512i isum =
          K::template dot<kDecode>(_mm512_set1_epi32(a.neg_corr[at]), w, xt[t] + static_cast<size_t>(b) * kActBytes);
      const __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(a.scale[at]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), d, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + t * ldo, mask, acc[t]);
}

using InterleavedTileFn = void (*)(const uint8_t*, int, const ActivationView&, int, const uint8_t*, size_t, int64_t,
                                   bool, float*, int64_t, __mmask16);

template <class K, size_t... I>
constexpr std::array<InterleavedTileFn, sizeof...(I)> token_tiles(std::index_sequence<I...>) {
  return {interleaved_tile<K, static_cast<int>(I) + 1>...};
}

// kTiles<K>[t - 1] takes t tokens, up to max(K::kTileTokens, kDecodeTokens).
template <class K>
constexpr auto kTiles = token_tiles<K>(std::make_index_sequence<std::max(K::kTileTokens, kDecodeTokens)>{});

// Decode (one or two tokens, rows of at most kDecodeBlocks blocks): the activations of whole rows are prepared
// once, then each group's blocks are walked front to back in one tile call, so the weights stream in one
// sequential pass. K-chunked, a row of 8192 (256 blocks) became four 18 KiB stretches per group, 72 KiB apart,
// each a cold start for the hardware prefetcher. Same arithmetic in the same order either way.
template <class K>
void interleaved_decode(int64_t nb, const uint8_t* gp, int64_t n_rows, const uint8_t* xp, size_t x_stride, int n_tokens,
                        float* out, int64_t ldo) {
  alignas(64) int32_t neg_corr[kDecodeTokens][kDecodeBlocks];
  alignas(64) float scale[kDecodeTokens][kDecodeBlocks];
  for (int t = 0; t < n_tokens; ++t) {
    activation_sums(xp + static_cast<size_t>(t) * x_stride, nb, K::kOffset, neg_corr[t], scale[t]);
  }
  const ActivationView view{neg_corr[0], scale[0], kDecodeBlocks};
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * K::kBlockBytes;
  for (int64_t g = 0; g < n_groups; ++g) {
    kTiles<K>[n_tokens - 1](gp + static_cast<size_t>(g) * group_bytes, static_cast<int>(nb), view, 0, xp, x_stride, 0,
                            true, out + g * kInterleaveRows, ldo, group_mask(n_rows, g));
  }
}

// Prompts: activations are summed kChunkBlocks blocks x kChunkTokens tokens at a time; each group's stretch of
// those blocks stays in cache while every token tile of the chunk uses it.
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
    alignas(64) int32_t neg_corr[kChunkTokens][kChunkBlocks];
    alignas(64) float scale[kChunkTokens][kChunkBlocks];
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
        const __mmask16 mask = group_mask(n_rows, g);
        const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * K::kBlockBytes;
        for (int t = 0; t < ts; t += K::kTileTokens) {
          const int tt = std::min(K::kTileTokens, ts - t);
          kTiles<K>[tt - 1](gb, kb, view, t, xs, x_stride, b0, b0 == 0, out + (t0 + t) * ldo + g * kInterleaveRows, ldo,
                            mask);
        }
      }
    }
  }
}

}  // namespace
}  // namespace ternion::quant
