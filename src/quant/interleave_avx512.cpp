// AVX-512 VNNI kernels over the interleaved Q4_0 and Q8_0 layouts (quant/interleave.h).
//
// A group's block holds, for each 4-byte word k of the values, one register with the 16 rows' word k; for Q4_0
// the low nibbles of word k meet activation word k and the high nibbles activation word k + 4, for Q8_0 word k
// meets word k (weights stored as q + 128, unsigned). One VPDPBUSD with the activation word broadcast advances
// all 16 rows, so a block costs 8 dots per token and no horizontal reduction. The unsigned offset comes back
// out through the activation block's sum, so each row's block sum is the exact integer of the reference, and
// each row accumulates fma(isum, d_w * d_x, sum) block after block, as vec_dot does.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "quant/interleave.h"
#include "quant/kernel_common.h"
#include "quant/q4_0.h"
#include "quant/q8_0.h"
#include "quant/q8_dot_avx2.h"
#include "quant/q8_dot_avx512.h"

namespace ternion::quant {

namespace {

struct Q4Layout {
  static constexpr size_t kValueBytes = kQ4_0BlockSize / 2;
  static constexpr size_t kBlockBytes = interleaved_block_bytes(kValueBytes);
  static constexpr int32_t kUnsignedOffset = 8;
  // With `scaled_high`, v[4..7] hold 16 x the high nibbles (one AND instead of a shift and an AND): their dots
  // come out 16 x and the caller shifts that chain's sum back, exactly.
  template <bool scaled_high>
  static void values(const uint8_t* blk, __m512i* v) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int k = 0; k < 4; ++k) {
      const __m512i q = _mm512_loadu_si512(blk + 64 * k);
      v[k] = _mm512_and_si512(q, low);
      v[k + 4] = scaled_high ? _mm512_andnot_si512(low, q) : _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
    }
  }
  static constexpr bool kHasScaledHigh = true;
};

struct Q8Layout {
  static constexpr size_t kValueBytes = kQ8_0BlockSize;
  static constexpr size_t kBlockBytes = interleaved_block_bytes(kValueBytes);
  static constexpr int32_t kUnsignedOffset = 128;
  template <bool scaled_high>
  static void values(const uint8_t* blk, __m512i* v) {
    for (int k = 0; k < 8; ++k) v[k] = _mm512_loadu_si512(blk + 64 * k);
  }
  static constexpr bool kHasScaledHigh = false;
};

// Prepared activations (activation_sums): token t's block b at [t * stride + b], b counted from the tile's b0.
struct ActivationView {
  const int32_t* neg_corr;
  const float* scale;
  size_t stride;
};

// T tokens x the 16 rows of one group, over blocks [b0, b0 + kb) (g points at block b0). acc starts from out (a
// later K chunk) or from zero; rows outside `mask` are neither read nor written.
template <class L, int T>
void interleaved_tile(const uint8_t* g, int kb, const ActivationView& a, int t0, const uint8_t* x, size_t x_stride,
                      int64_t b0, bool first_chunk, float* out, int64_t ldo, __mmask16 mask) {
  constexpr bool kTwoChains = T <= 2;  // few tokens: two dependency chains per token hide the dot latency
  // The second chain holds words 4..7 alone, so it may take Q4_0's high nibbles 16 x and shift its sum back.
  constexpr bool kScaledHigh = kTwoChains && L::kHasScaledHigh;
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + t * ldo);
  const uint8_t* xt[T];
  for (int t = 0; t < T; ++t) {
    xt[t] = x + static_cast<size_t>(t0 + t) * x_stride + static_cast<size_t>(b0) * kQ8Bytes + 2;
  }
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * L::kBlockBytes;
    // Decode reads each weight once: asking for the lines 8 KiB ahead keeps more misses in flight than the hardware
    // prefetcher does alone on one core (Q4_0 decode on 4 threads of a Xeon: 75-80 % of the read bound before, 104 %
    // after; AVX2 67-72 % before, 90-97 % after).
    if (T <= 2) prefetch_bytes(blk, kDecodePrefetchBytes, L::kBlockBytes);
    __m512i v[8];
    L::template values<kScaledHigh>(blk, v);
    __m512i s[T];
    __m512i s2[T];
    for (int t = 0; t < T; ++t) {
      s[t] = _mm512_set1_epi32(a.neg_corr[static_cast<size_t>(t0 + t) * a.stride + static_cast<size_t>(b)]);
      s2[t] = _mm512_setzero_si512();
    }
    for (int k = 0; k < 8; ++k) {
      for (int t = 0; t < T; ++t) {
        const __m512i xw = _mm512_set1_epi32(load_unaligned<int32_t>(xt[t] + b * kQ8Bytes, k));
        if (kTwoChains && k >= 4) {
          s2[t] = _mm512_dpbusd_epi32(s2[t], v[k], xw);
        } else {
          s[t] = _mm512_dpbusd_epi32(s[t], v[k], xw);
        }
      }
    }
    const __m512 dw =
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kInterleaveRows * L::kValueBytes)));
    for (int t = 0; t < T; ++t) {
      const __m512i high = kScaledHigh ? _mm512_srai_epi32(s2[t], 4) : s2[t];  // exact: a multiple of 16
      const __m512i isum = kTwoChains ? _mm512_add_epi32(s[t], high) : s[t];
      const __m512 d =
          _mm512_mul_ps(dw, _mm512_set1_ps(a.scale[static_cast<size_t>(t0 + t) * a.stride + static_cast<size_t>(b)]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), d, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + t * ldo, mask, acc[t]);
}

using InterleavedTileFn = void (*)(const uint8_t*, int, const ActivationView&, int, const uint8_t*, size_t, int64_t,
                                   bool, float*, int64_t, __mmask16);

template <class L>
constexpr InterleavedTileFn kTiles[kPackTileTokens] = {
    interleaved_tile<L, 1>, interleaved_tile<L, 2>, interleaved_tile<L, 3>, interleaved_tile<L, 4>,
    interleaved_tile<L, 5>, interleaved_tile<L, 6>, interleaved_tile<L, 7>, interleaved_tile<L, 8>};

// Decode (one or two tokens, rows of at most kRowDecodeBlocks blocks): the activations of whole rows are
// prepared once, then each group's blocks are walked front to back in one tile call, so the weights stream in
// one sequential pass. K-chunked, a row of 8192 (256 blocks) became four 18 KiB stretches per group, 72 KiB
// apart, each a cold start for the hardware prefetcher. Same arithmetic in the same order either way.
constexpr int64_t kRowDecodeTokens = 2;
constexpr int64_t kRowDecodeBlocks = 1024;  // rows up to 32768 wide; 16 KiB of prepared activations

template <class L>
void interleaved_decode(int64_t nb, const uint8_t* gp, int64_t n_rows, const uint8_t* xp, size_t x_stride, int n_tokens,
                        float* out, int64_t ldo) {
  alignas(64) int32_t neg_corr[kRowDecodeTokens][kRowDecodeBlocks];
  alignas(64) float scale[kRowDecodeTokens][kRowDecodeBlocks];
  for (int t = 0; t < n_tokens; ++t) {
    activation_sums(xp + static_cast<size_t>(t) * x_stride, nb, L::kUnsignedOffset, neg_corr[t], scale[t]);
  }
  const ActivationView view{neg_corr[0], scale[0], kRowDecodeBlocks};
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * L::kBlockBytes;
  for (int64_t g = 0; g < n_groups; ++g) {
    kTiles<L>[n_tokens - 1](gp + static_cast<size_t>(g) * group_bytes, static_cast<int>(nb), view, 0, xp, x_stride, 0,
                            true, out + g * kInterleaveRows, ldo, group_mask(n_rows, g));
  }
}

// Activations are summed kPackBlocks blocks x kPackTokens tokens at a time; each group's stretch of those blocks
// (18 KiB for Q4_0) stays in cache while every token tile of the chunk uses it.
template <class L>
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
      prepare_activations(act, xs, x_stride, ts, b0, kb, L::kUnsignedOffset);
      for (int64_t g = 0; g < n_groups; ++g) {
        const __mmask16 mask = group_mask(n_rows, g);
        const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * L::kBlockBytes;
        for (int t = 0; t < ts; t += kPackTileTokens) {
          const int tt = std::min(kPackTileTokens, ts - t);
          kTiles<L>[tt - 1](gb, kb, view, t, xs, x_stride, b0, b0 == 0, out + (t0 + t) * ldo + g * kInterleaveRows, ldo,
                            mask);
        }
      }
    }
  }
}

}  // namespace

void q4_0_interleaved_gemm_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                  int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q4Layout>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q8_0_interleaved_gemm_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                  int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q8Layout>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
