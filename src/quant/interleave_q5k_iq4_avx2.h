// 256-bit kernels over the interleaved Q5_K and IQ4_XS layouts (quant/interleave.h), dotted with Q8_K activations:
// the arithmetic of interleave_q5k_iq4_avx512.cpp on half groups (rows 0-7 and 8-15 of a 64-byte word, one
// register each), over the dot policies of interleave_k_avx2.h, whose helpers (HalfRows, load_half, ...) it
// uses. Included after that header by interleave_k_avx2.cpp, interleave_k_avxvnni.cpp and
// interleave_k_vnni256_avx512.cpp; every output has the bits of the type's vec_dot (tested in
// tests/quant/test_interleave_avx2.cpp).
//
// Q5_K: the fifth bits come from qh word w (bits 2j and 2j + 1 for chunk j) moved to bit 4 and ORed into the
// nibbles: u = q5 (0..31). VPMADDUBSW pairs are then at most 2 * 31 * 128 = 7936, so AVX2's int16 short sums take
// 4 words (31744) before they are widened with the group's scale; VNNI takes the 8 words of a group at once.
// IQ4_XS, VNNI: grid value + 128 from VPSHUFB, each block's dot starting from -128 * its activation sum (exact for
// every activation). AVX2: grid value w from VPSHUFB, |w| against x with w's sign (VPSIGNB), widened with the block
// scale at once (a pair reaches 2 * 127 * 127); exact for activations in [-127, 127], all that the Q8_K
// quantizer writes (as the AVX2 row kernels assume).
//
// Everything has internal linkage: each including file is compiled with its own instruction set.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "quant/interleave.h"
#include "quant/iq4_nl.h"
#include "quant/k_quant_math.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"

namespace ternion::quant {
namespace {

constexpr int kQ5TileTokens = 4;   // tokens per prompt micro-kernel call
constexpr int kQ5ChunkBlocks = 8;  // super-blocks per K chunk (16 rows: 23 KiB of Q5_K, 17 of IQ4_XS)

// Bit kBit of every byte moved to bit 4 (other bits garbage; the caller keeps bit 4 only). With 16-bit shifts of
// at most 4, bit 4 of a byte comes from the same byte.
template <int kBit>
inline __m256i bit_to_4(__m256i h) {
  if constexpr (kBit < 4) return _mm256_slli_epi16(h, 4 - kBit);
  if constexpr (kBit > 4) return _mm256_srli_epi16(h, kBit - 4);
  return h;
}

inline int32_t q8_k_pair_sum(const uint8_t* xb, int i) {  // bsums[2i] + bsums[2i + 1]: a group of 32
  return static_cast<int32_t>(load_unaligned<int16_t>(xb + offsetof(BlockQ8_K, bsums), 2 * i)) +
         static_cast<int32_t>(load_unaligned<int16_t>(xb + offsetof(BlockQ8_K, bsums), 2 * i + 1));
}

// isum[t] += the chunk-J part of half hh's Q5_K sums: sc_2J * (group 2J dot) + sc_2J+1 * (group 2J+1 dot).
template <class Dot, int J, int T>
[[gnu::always_inline]] inline void q5_k_chunk(const uint8_t* blk, int hh, const uint8_t* const (&xb)[T],
                                              __m256i (&isum)[T]) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i m16 = _mm256_set1_epi8(0x10);
  const __m256i sc_lo = widen_u8(blk + kQ5KInterleavedScales + 16 * (2 * J) + kHalfRows * hh);
  const __m256i sc_hi = widen_u8(blk + kQ5KInterleavedScales + 16 * (2 * J + 1) + kHalfRows * hh);
  constexpr int kWords = Dot::kWideProducts ? 8 : 4;  // words per short sum (see above)
  for (int w0 = 0; w0 < 8; w0 += kWords) {
    __m256i lo[T];
    __m256i hi[T];
    for (int t = 0; t < T; ++t) lo[t] = hi[t] = _mm256_setzero_si256();
    for (int w = w0; w < w0 + kWords; ++w) {
      const __m256i q = load_half(blk + kQ5KInterleavedValues + 64 * (8 * J + w) + 32 * hh);
      const __m256i h = load_half(blk + kQ5KInterleavedHigh + 64 * w + 32 * hh);
      const __m256i ul = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_and_si256(bit_to_4<2 * J>(h), m16));
      const __m256i uh =
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), _mm256_and_si256(bit_to_4<2 * J + 1>(h), m16));
      for (int t = 0; t < T; ++t) {
        const uint8_t* xq = xb[t] + offsetof(BlockQ8_K, qs) + 64 * J + 4 * w;
        lo[t] = Dot::short_dot(lo[t], ul, broadcast_word(xq));
        hi[t] = Dot::short_dot(hi[t], uh, broadcast_word(xq + 32));
      }
    }
    for (int t = 0; t < T; ++t) {
      isum[t] =
          _mm256_add_epi32(isum[t], _mm256_add_epi32(Dot::widen_scaled(lo[t], sc_lo), Dot::widen_scaled(hi[t], sc_hi)));
    }
  }
}

// Tokens [0, T) of halves [h0, h0 + H) of one Q5_K group, super-blocks [0, kb) (as q4_k_tile).
template <class Dot, int T, int H>
void q5_k_tile(const uint8_t* g, int kb, const uint8_t* x, size_t x_stride, bool first_chunk, float* out, int64_t ldo,
               uint16_t mask, int h0) {
  HalfRows rows[H];
  __m256 acc[H][T];
  for (int h = 0; h < H; ++h) {
    rows[h] = HalfRows(mask, h0 + h);
    for (int t = 0; t < T; ++t) {
      acc[h][t] = first_chunk ? _mm256_setzero_ps() : rows[h].load(out + t * ldo + kHalfRows * (h0 + h));
    }
  }
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ5KInterleavedBlock;
    if (T <= 2) prefetch_bytes(blk, kDecodePrefetchBytes, kQ5KInterleavedBlock);  // decode streams the row
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t) {
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    for (int h = 0; h < H; ++h) {
      if (rows[h].empty()) continue;
      const int hh = h0 + h;
      __m256i isum[T];
      for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
      q5_k_chunk<Dot, 0, T>(blk, hh, xb, isum);
      q5_k_chunk<Dot, 1, T>(blk, hh, xb, isum);
      q5_k_chunk<Dot, 2, T>(blk, hh, xb, isum);
      q5_k_chunk<Dot, 3, T>(blk, hh, xb, isum);
      // msum: each lane's (m_g, m_g) int16 pair times the pair of Q8_K group sums (bsum_2g, bsum_2g+1).
      __m256i msum[T];
      for (int t = 0; t < T; ++t) msum[t] = _mm256_setzero_si256();
      for (int grp = 0; grp < 8; ++grp) {
        const __m256i m = widen_u8(blk + kQ5KInterleavedMins + 16 * grp + kHalfRows * hh);
        const __m256i m2 = _mm256_or_si256(m, _mm256_slli_epi32(m, 16));
        for (int t = 0; t < T; ++t) {
          const __m256i bs = broadcast_word(xb[t] + offsetof(BlockQ8_K, bsums) + 4 * grp);
          msum[t] = _mm256_add_epi32(msum[t], _mm256_madd_epi16(m2, bs));
        }
      }
      const __m256 d = load_halves_ps(blk + kQ5KInterleavedD + 2 * kHalfRows * hh);
      const __m256 dmin = load_halves_ps(blk + kQ5KInterleavedDmin + 2 * kHalfRows * hh);
      for (int t = 0; t < T; ++t) {
        const __m256 dx = _mm256_set1_ps(load_unaligned<float>(xb[t], 0));
        acc[h][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, dx), acc[h][t]);
        acc[h][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_setzero_si256(), msum[t])),
                                    _mm256_mul_ps(dmin, dx), acc[h][t]);
      }
    }
  }
  for (int h = 0; h < H; ++h) {
    for (int t = 0; t < T; ++t) rows[h].store(out + t * ldo + kHalfRows * (h0 + h), acc[h][t]);
  }
}

// isum[t] += half hh's (ls_ib - 32) * (block ib's dot of grid values) for IQ4_XS.
template <class Dot, int T>
[[gnu::always_inline]] inline void iq4_xs_block(const uint8_t* blk, int ib, int hh, const uint8_t* const (&xb)[T],
                                                __m256i (&isum)[T]) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m128i grid128 = _mm_load_si128(reinterpret_cast<const __m128i*>(kIq4Values));
  const __m256i sc = _mm256_cvtepi8_epi32(
      _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + kIQ4XSInterleavedScales + 16 * ib + kHalfRows * hh)));
  if constexpr (Dot::kWideProducts) {
    const __m256i grid = _mm256_broadcastsi128_si256(_mm_xor_si128(grid128, _mm_set1_epi8(-128)));  // value + 128
    __m256i lo[T];  // two chains: the low nibbles' dots from the offset, the high nibbles' from zero
    __m256i hi[T];
    for (int t = 0; t < T; ++t) {
      lo[t] = _mm256_set1_epi32(-128 * q8_k_pair_sum(xb[t], ib));
      hi[t] = _mm256_setzero_si256();
    }
    for (int kk = 0; kk < 4; ++kk) {
      const __m256i q = load_half(blk + kIQ4XSInterleavedValues + 64 * (4 * ib + kk) + 32 * hh);
      const __m256i ul = _mm256_shuffle_epi8(grid, _mm256_and_si256(q, m4));
      const __m256i uh = _mm256_shuffle_epi8(grid, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
      for (int t = 0; t < T; ++t) {
        const uint8_t* xq = xb[t] + offsetof(BlockQ8_K, qs) + 32 * ib + 4 * kk;
        lo[t] = Dot::dot(lo[t], ul, broadcast_word(xq));
        hi[t] = Dot::dot(hi[t], uh, broadcast_word(xq + 16));
      }
    }
    for (int t = 0; t < T; ++t)
      isum[t] = _mm256_add_epi32(isum[t], Dot::widen_scaled(_mm256_add_epi32(lo[t], hi[t]), sc));
  } else {
    const __m256i grid = _mm256_broadcastsi128_si256(grid128);
    for (int kk = 0; kk < 4; ++kk) {
      const __m256i q = load_half(blk + kIQ4XSInterleavedValues + 64 * (4 * ib + kk) + 32 * hh);
      const __m256i wl = _mm256_shuffle_epi8(grid, _mm256_and_si256(q, m4));
      const __m256i wh = _mm256_shuffle_epi8(grid, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
      const __m256i al = _mm256_abs_epi8(wl);
      const __m256i ah = _mm256_abs_epi8(wh);
      for (int t = 0; t < T; ++t) {
        const uint8_t* xq = xb[t] + offsetof(BlockQ8_K, qs) + 32 * ib + 4 * kk;
        const __m256i pl = _mm256_maddubs_epi16(al, _mm256_sign_epi8(broadcast_word(xq), wl));
        const __m256i ph = _mm256_maddubs_epi16(ah, _mm256_sign_epi8(broadcast_word(xq + 16), wh));
        isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(Dot::widen_scaled(pl, sc), Dot::widen_scaled(ph, sc)));
      }
    }
  }
}

// Tokens [0, T) of halves [h0, h0 + H) of one IQ4_XS group, super-blocks [0, kb).
template <class Dot, int T, int H>
void iq4_xs_tile(const uint8_t* g, int kb, const uint8_t* x, size_t x_stride, bool first_chunk, float* out, int64_t ldo,
                 uint16_t mask, int h0) {
  HalfRows rows[H];
  __m256 acc[H][T];
  for (int h = 0; h < H; ++h) {
    rows[h] = HalfRows(mask, h0 + h);
    for (int t = 0; t < T; ++t) {
      acc[h][t] = first_chunk ? _mm256_setzero_ps() : rows[h].load(out + t * ldo + kHalfRows * (h0 + h));
    }
  }
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kIQ4XSInterleavedBlock;
    if (T <= 2) prefetch_bytes(blk, kDecodePrefetchBytes, kIQ4XSInterleavedBlock);  // decode streams the row
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t) {
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    for (int h = 0; h < H; ++h) {
      if (rows[h].empty()) continue;
      const int hh = h0 + h;
      __m256i isum[T];
      for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
      for (int ib = 0; ib < 8; ++ib) iq4_xs_block<Dot, T>(blk, ib, hh, xb, isum);
      const __m256 d = load_halves_ps(blk + kIQ4XSInterleavedD + 2 * kHalfRows * hh);
      for (int t = 0; t < T; ++t) {
        const __m256 dx = _mm256_set1_ps(load_unaligned<float>(xb[t], 0));
        acc[h][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, dx), acc[h][t]);
      }
    }
  }
  for (int h = 0; h < H; ++h) {
    for (int t = 0; t < T; ++t) rows[h].store(out + t * ldo + kHalfRows * (h0 + h), acc[h][t]);
  }
}

using HalfGroupTileFn = void (*)(const uint8_t*, int, const uint8_t*, size_t, bool, float*, int64_t, uint16_t, int);

// Decode (1-2 tokens): each group's whole row in one pass, both halves of a super-block together. Prompts: K chunks
// of kQ5ChunkBlocks super-blocks, one half of a group's chunk dotted with every token tile while it is cached.
template <size_t kBlock>
void half_group_gemm(const HalfGroupTileFn (&tiles)[kQ5TileTokens], const HalfGroupTileFn (&decode)[2], int64_t n,
                     const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens, float* out,
                     int64_t ldo) {
  const int64_t nb = n / kQK_K;
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * kBlock;
  const auto* gp = static_cast<const uint8_t*>(groups);
  const auto* xp = static_cast<const uint8_t*>(x);
  if (n_tokens >= 1 && n_tokens <= 2) {
    for (int64_t g = 0; g < n_groups; ++g) {
      decode[n_tokens - 1](gp + static_cast<size_t>(g) * group_bytes, static_cast<int>(nb), xp, x_stride, true,
                           out + g * kInterleaveRows, ldo, group_mask(n_rows, g), 0);
    }
    return;
  }
  for (int64_t b0 = 0; b0 < nb; b0 += kQ5ChunkBlocks) {
    const int kb = static_cast<int>(std::min<int64_t>(kQ5ChunkBlocks, nb - b0));
    for (int64_t g = 0; g < n_groups; ++g) {
      const uint16_t mask = group_mask(n_rows, g);
      const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * kBlock;
      for (int h = 0; h < 2; ++h) {
        if (HalfRows(mask, h).empty()) continue;
        for (int64_t t = 0; t < n_tokens; t += kQ5TileTokens) {
          const int tt = static_cast<int>(std::min<int64_t>(kQ5TileTokens, n_tokens - t));
          tiles[tt - 1](gb, kb, xp + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0) * sizeof(BlockQ8_K),
                        x_stride, b0 == 0, out + t * ldo + g * kInterleaveRows, ldo, mask, h);
        }
      }
    }
  }
}

// The exported Q5_K and IQ4_XS gemms of one dot policy, with InterleavedKernels::gemm's signature.
template <class Dot>
struct InterleavedQ5IQ4Gemms {
  static void q5_k(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                   float* out, int64_t ldo) {
    static constexpr HalfGroupTileFn kTiles[kQ5TileTokens] = {q5_k_tile<Dot, 1, 1>, q5_k_tile<Dot, 2, 1>,
                                                              q5_k_tile<Dot, 3, 1>, q5_k_tile<Dot, 4, 1>};
    static constexpr HalfGroupTileFn kDecode[2] = {q5_k_tile<Dot, 1, 2>, q5_k_tile<Dot, 2, 2>};
    half_group_gemm<kQ5KInterleavedBlock>(kTiles, kDecode, n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
  }
  static void iq4_xs(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                     float* out, int64_t ldo) {
    static constexpr HalfGroupTileFn kTiles[kQ5TileTokens] = {iq4_xs_tile<Dot, 1, 1>, iq4_xs_tile<Dot, 2, 1>,
                                                              iq4_xs_tile<Dot, 3, 1>, iq4_xs_tile<Dot, 4, 1>};
    static constexpr HalfGroupTileFn kDecode[2] = {iq4_xs_tile<Dot, 1, 2>, iq4_xs_tile<Dot, 2, 2>};
    half_group_gemm<kIQ4XSInterleavedBlock>(kTiles, kDecode, n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
  }
};

}  // namespace
}  // namespace ternion::quant
