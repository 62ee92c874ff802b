// 256-bit kernels over the interleaved Q4_K, Q6_K and TQ2_0 layouts (quant/interleave.h), dotted with Q8_K
// activations: the arithmetic of interleave_k_avx512.cpp on half groups. A 64-byte word of a group holds 16 rows'
// 4-byte words; its first 32 bytes (rows 0-7) and its last 32 (rows 8-15) are each one 256-bit register, so every
// step below runs once per half, with the same integers and the same float operations in the same order as the
// type's reference vec_dot (bit-identical results, tested in tests/quant/test_interleave_avx2.cpp).
//
// One template, several instruction sets: the 4-byte dot of unsigned weights by signed activations is a policy,
//   Dot::dot(acc, u, x): acc + for each 32-bit lane, the sum of its 4 products u8 * s8;
//   Dot::short_dot(s, u, x): the same into "short sums", which Dot::widen(s) turns into int32 lanes and
//     Dot::widen_scaled(s, sc) into sc * sum (sc: int32 lanes within int16's range);
//   Dot::kWideProducts: whether a single product may exceed int16 (VNNI), so the kernels can leave a field in
//     place (4^l or 16 x its value) instead of shifting it down first.
// interleave_k_avx2.cpp gives it VPMADDUBSW + VPMADDWD (AVX2). There the int16 pair sums must not saturate:
// every value dot sees is at most 63, so a pair is at most 2 * 63 * 128 = 16128; short sums stay int16 pairs
// (one VPADDW a dot, VPMADDWD once at the end), so they take only values below 16 and at most 8 words of them
// (8 * 2 * 15 * 128 = 30720), or trits (0..3) and at most 32 words (24576). interleave_k_avxvnni.cpp gives it
// VEX VPDPBUSD (AVX-VNNI) and interleave_k_vnni256_avx512.cpp EVEX VPDPBUSD on ymm registers (AVX-512 VL +
// VNNI), where short sums are int32 already.
//
// Everything has internal linkage: each including file is compiled with its own instruction set.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "quant/interleave.h"
#include "quant/k_quant_math.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"

namespace ternion::quant {
namespace {

constexpr int kHalfRows = 8;  // rows of a half group: one 32-bit lane each

inline __m256i load_half(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// 8 bytes widened to one 32-bit lane per row.
inline __m256i widen_u8(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// 8 fp16 values (one per row) as floats.
inline __m256 load_halves_ps(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

inline __m256i broadcast_word(const uint8_t* p) { return _mm256_set1_epi32(load_unaligned<int32_t>(p, 0)); }

// The outputs of one half group: rows 8h..8h+7 of a group whose present rows are the bits of `mask`. A full half
// is loaded and stored whole; a partial one through a lane mask (rows past the matrix are never written).
class HalfRows {
 public:
  HalfRows() = default;
  HalfRows(uint16_t mask, int h) : bits_((mask >> (kHalfRows * h)) & 0xff) {
    const __m256i lane_bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    lanes_ = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits_)), lane_bit), lane_bit);
  }
  bool empty() const { return bits_ == 0; }
  __m256 load(const float* p) const { return bits_ == 0xff ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, lanes_); }
  void store(float* p, __m256 v) const {
    if (bits_ == 0xff) {
      _mm256_storeu_ps(p, v);
    } else {
      _mm256_maskstore_ps(p, lanes_, v);
    }
  }

 private:
  uint32_t bits_ = 0;
  __m256i lanes_ = _mm256_setzero_si256();
};

// The sum of a Q8_K block's 256 values (from its 16 group sums).
inline int32_t q8_k_sum(const uint8_t* xb) {
  const __m256i s = _mm256_madd_epi16(load_half(xb + offsetof(BlockQ8_K, bsums)), _mm256_set1_epi16(1));
  __m128i v = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
  v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
  return _mm_cvtsi128_si32(v);
}

// Super-blocks per K piece of a one-token product: rows up to 65536 columns are taken whole.
constexpr int kDecodeBlocks = 256;

// ---------------------------------------------------------------------------------------------------------------
// Q4_K. Word k of a super-block holds, for chunk j = k / 8, the low nibbles of group 2j and the high nibbles of
// group 2j + 1; isum = sum_g sc_g * gsum_g, msum = sum_g m_g * (bsum_2g + bsum_2g+1), and each row takes
// fma(isum, d * d_x, sum) then fma(-msum, dmin * d_x, sum), super-block after super-block, as the reference.

constexpr int kQ4KTileTokens = 4;   // tokens per micro-kernel call
constexpr int kQ4KChunkBlocks = 8;  // super-blocks per K chunk: 16 rows x 8 = 19 KiB, reused by every tile

// Tokens [0, T) of halves [h0, h0 + H) of one group, super-blocks [0, kb). Decode takes both halves of each
// super-block in turn (one pass over the weights); prompts one half per call (the chunk stays in L1).
template <class Dot, int T, int H>
void q4_k_tile(const uint8_t* g, int kb, const uint8_t* x, size_t x_stride, bool first_chunk, float* out, int64_t ldo,
               uint16_t mask, int h0) {
  HalfRows rows[H];
  __m256 acc[H][T];
  for (int h = 0; h < H; ++h) {
    rows[h] = HalfRows(mask, h0 + h);
    for (int t = 0; t < T; ++t) {
      acc[h][t] = first_chunk ? _mm256_setzero_ps() : rows[h].load(out + t * ldo + kHalfRows * (h0 + h));
    }
  }
  const __m256i low = _mm256_set1_epi8(0x0f);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ4KInterleavedBlock;
    if (T <= 2) prefetch_bytes(blk, kQ4KInterleavedBlock, kQ4KInterleavedBlock);  // decode: the next super-block
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t) {
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    for (int h = 0; h < H; ++h) {
      if (rows[h].empty()) continue;  // decode's last group may have no rows 8..15
      const int hh = h0 + h;
      __m256i isum[T];
      for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
      for (int j = 0; j < 4; ++j) {
        __m256i lo[T];
        __m256i hi[T];
        for (int t = 0; t < T; ++t) lo[t] = hi[t] = _mm256_setzero_si256();
        for (int w = 0; w < 8; ++w) {
          const __m256i q = load_half(blk + kQ4KInterleavedValues + 64 * (8 * j + w) + 32 * hh);
          const __m256i ql = _mm256_and_si256(q, low);
          // VNNI: 16 x the high nibble in place, shifted back below; AVX2's int16 pairs need the nibble itself.
          const __m256i qh =
              Dot::kWideProducts ? _mm256_andnot_si256(low, q) : _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
          for (int t = 0; t < T; ++t) {
            const uint8_t* xq = xb[t] + offsetof(BlockQ8_K, qs) + 64 * j + 4 * w;
            lo[t] = Dot::short_dot(lo[t], ql, broadcast_word(xq));  // 8 words of nibbles: short sums hold them
            hi[t] = Dot::short_dot(hi[t], qh, broadcast_word(xq + 32));
          }
        }
        const __m256i sc_lo = widen_u8(blk + kQ4KInterleavedScales + 16 * (2 * j) + kHalfRows * hh);
        const __m256i sc_hi = widen_u8(blk + kQ4KInterleavedScales + 16 * (2 * j + 1) + kHalfRows * hh);
        for (int t = 0; t < T; ++t) {
          const __m256i hs = Dot::kWideProducts ? _mm256_srai_epi32(hi[t], 4) : hi[t];  // exact: a multiple of 16
          isum[t] = _mm256_add_epi32(isum[t],
                                     _mm256_add_epi32(Dot::widen_scaled(lo[t], sc_lo), Dot::widen_scaled(hs, sc_hi)));
        }
      }
      // msum: each lane's (m_g, m_g) int16 pair times the pair of Q8_K group sums (bsum_2g, bsum_2g+1).
      __m256i msum[T];
      for (int t = 0; t < T; ++t) msum[t] = _mm256_setzero_si256();
      for (int grp = 0; grp < 8; ++grp) {
        const __m256i m = widen_u8(blk + kQ4KInterleavedMins + 16 * grp + kHalfRows * hh);
        const __m256i m2 = _mm256_or_si256(m, _mm256_slli_epi32(m, 16));
        for (int t = 0; t < T; ++t) {
          const __m256i bs = broadcast_word(xb[t] + offsetof(BlockQ8_K, bsums) + 4 * grp);
          msum[t] = _mm256_add_epi32(msum[t], _mm256_madd_epi16(m2, bs));
        }
      }
      const __m256 d = load_halves_ps(blk + kQ4KInterleavedD + 2 * kHalfRows * hh);
      const __m256 dmin = load_halves_ps(blk + kQ4KInterleavedDmin + 2 * kHalfRows * hh);
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

template <class Dot>
void q4_k_gemm(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
               float* out, int64_t ldo) {
  using TileFn = void (*)(const uint8_t*, int, const uint8_t*, size_t, bool, float*, int64_t, uint16_t, int);
  static constexpr TileFn kTiles[kQ4KTileTokens] = {q4_k_tile<Dot, 1, 1>, q4_k_tile<Dot, 2, 1>, q4_k_tile<Dot, 3, 1>,
                                                    q4_k_tile<Dot, 4, 1>};
  static constexpr TileFn kDecode[2] = {q4_k_tile<Dot, 1, 2>, q4_k_tile<Dot, 2, 2>};
  const int64_t nb = n / kQK_K;
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * kQ4KInterleavedBlock;
  const auto* gp = static_cast<const uint8_t*>(groups);
  const auto* xp = static_cast<const uint8_t*>(x);
  if (n_tokens >= 1 && n_tokens <= 2) {
    // Decode reuses no weights: each group's whole row in one pass, both halves of a super-block together.
    for (int64_t g = 0; g < n_groups; ++g) {
      kDecode[n_tokens - 1](gp + static_cast<size_t>(g) * group_bytes, static_cast<int>(nb), xp, x_stride, true,
                            out + g * kInterleaveRows, ldo, group_mask(n_rows, g), 0);
    }
    return;
  }
  for (int64_t b0 = 0; b0 < nb; b0 += kQ4KChunkBlocks) {
    const int kb = static_cast<int>(std::min<int64_t>(kQ4KChunkBlocks, nb - b0));
    for (int64_t g = 0; g < n_groups; ++g) {
      const uint16_t mask = group_mask(n_rows, g);
      const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * kQ4KInterleavedBlock;
      for (int h = 0; h < 2; ++h) {
        if (HalfRows(mask, h).empty()) continue;
        for (int64_t t = 0; t < n_tokens; t += kQ4KTileTokens) {
          const int tt = static_cast<int>(std::min<int64_t>(kQ4KTileTokens, n_tokens - t));
          kTiles[tt - 1](gb, kb, xp + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0) * sizeof(BlockQ8_K),
                         x_stride, b0 == 0, out + t * ldo + g * kInterleaveRows, ldo, mask, h);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Q6_K and TQ2_0: one token dots the values as they are rebuilt (both halves of each super-block in turn, so the
// weights are read once, front to back); more tokens first rebuild a K chunk of a group into a buffer that every
// token tile reads, one half at a time.

// What a decode group reads of the activations besides their blocks: nothing for Q6_K.
struct NoDecodeActivations {
  NoDecodeActivations(const uint8_t*, int) {}
};

// Rebuilt values of the chunk of one group: u[half][super-block][word], word w holding values 4w..4w+3 of the
// half's 8 rows. 16 KiB.
template <int kChunkBlocks>
struct HalfUnpacked {
  __m256i u[2][kChunkBlocks][64];
};

// Q6_K. Values are rebuilt as unsigned u = q + 32 from a word of ql (low or high nibbles) and a word of qh (2 of
// its bits); per group g of 16 values the dot of u starts from -32 * bsum_g, which leaves the exact sum of q * x.
// isum = sum_g scale_g * gsum_g, and each row takes fma(isum, d * d_x, sum) super-block after super-block.
constexpr int kQ6ChunkBlocks = 4;
constexpr int kQ6TileTokens = 4;

// The values h*128 + 4i + 32q + 0..3 (q = 0..3) of the 8 rows of half hr of one super-block.
struct Q6Values {
  __m256i u[4];
  Q6Values(const uint8_t* blk, int h, int i, int hr) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i m2 = _mm256_set1_epi8(0x30);
    const uint8_t* triple = blk + kQ6KInterleavedValues + 192 * (8 * h + i) + 32 * hr;
    const __m256i a = load_half(triple);
    const __m256i c = load_half(triple + 64);
    const __m256i hb = load_half(triple + 128);
    u[0] = _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m2));
    u[1] = _mm256_or_si256(_mm256_and_si256(c, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m2));
    u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_and_si256(hb, m2));
    u[3] =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hb, 2), m2));
  }
};

inline __m256i q6_scales(const uint8_t* blk, int grp, int hr) {
  return _mm256_cvtepi8_epi32(
      _mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + kQ6KInterleavedScales + 16 * grp + kHalfRows * hr)));
}

// isum[t] = -32 * sum_g scale_g * bsum_g (token t, the 8 rows of half hr): the offset that turns the dots of
// u = q + 32 into those of q, taken as int16 pairs (scale_2k, scale_2k+1) x (bsum_2k, bsum_2k+1).
template <int T>
void q6_offsets(const uint8_t* blk, int hr, const uint8_t* const* xb, __m256i* isum) {
  __m256i off[T];
  for (int t = 0; t < T; ++t) off[t] = _mm256_setzero_si256();
  for (int k = 0; k < 8; ++k) {
    const __m256i pair =
        _mm256_blend_epi16(q6_scales(blk, 2 * k, hr), _mm256_slli_epi32(q6_scales(blk, 2 * k + 1, hr), 16), 0xaa);
    for (int t = 0; t < T; ++t) {
      off[t] =
          _mm256_add_epi32(off[t], _mm256_madd_epi16(pair, broadcast_word(xb[t] + offsetof(BlockQ8_K, bsums) + 4 * k)));
    }
  }
  for (int t = 0; t < T; ++t) isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off[t], 5));
}

// One token, super-blocks [0, kb) of one group (g and x point at the first); the sums start from zero (first
// piece) or from out.
template <class Dot>
void q6_k_decode_group(const uint8_t* g, int kb, const NoDecodeActivations&, const uint8_t* x, bool first_piece,
                       float* out, uint16_t mask) {
  const HalfRows rows[2] = {HalfRows(mask, 0), HalfRows(mask, 1)};
  __m256 acc[2];
  for (int hr = 0; hr < 2; ++hr) acc[hr] = first_piece ? _mm256_setzero_ps() : rows[hr].load(out + kHalfRows * hr);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ6KInterleavedBlock;
    const uint8_t* xb = x + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    const uint8_t* xq = xb + offsetof(BlockQ8_K, qs);
    prefetch_bytes(blk, kDecodePrefetchBytes, kQ6KInterleavedBlock);
    const __m256 dx = _mm256_set1_ps(load_unaligned<float>(xb, 0));
    for (int hr = 0; hr < 2; ++hr) {
      if (rows[hr].empty()) continue;
      __m256i isum;
      q6_offsets<1>(blk, hr, &xb, &isum);
      constexpr int kWords = Dot::kWideProducts ? 4 : 2;  // per short sum, as in q6_k_tile
      for (int h = 0; h < 2; ++h) {
        for (int iq = 0; iq < 2; ++iq) {  // groups 8h + 2q + iq
          for (int i0 = 4 * iq; i0 < 4 * iq + 4; i0 += kWords) {
            __m256i s[4];
            for (int q = 0; q < 4; ++q) s[q] = _mm256_setzero_si256();
            for (int i = i0; i < i0 + kWords; ++i) {
              const Q6Values v(blk, h, i, hr);
              for (int q = 0; q < 4; ++q) {
                s[q] = Dot::short_dot(s[q], v.u[q], broadcast_word(xq + 128 * h + 32 * q + 4 * i));
              }
            }
            for (int q = 0; q < 4; ++q) {
              isum = _mm256_add_epi32(isum, Dot::widen_scaled(s[q], q6_scales(blk, 8 * h + 2 * q + iq, hr)));
            }
          }
        }
      }
      const __m256 d = load_halves_ps(blk + kQ6KInterleavedD + 2 * kHalfRows * hr);
      acc[hr] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(d, dx), acc[hr]);
    }
  }
  for (int hr = 0; hr < 2; ++hr) rows[hr].store(out + kHalfRows * hr, acc[hr]);
}

void q6_k_unpack_chunk(const uint8_t* g, int kb, HalfUnpacked<kQ6ChunkBlocks>& out) {
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ6KInterleavedBlock;
    for (int hr = 0; hr < 2; ++hr) {
      for (int h = 0; h < 2; ++h) {
        for (int i = 0; i < 8; ++i) {
          const Q6Values v(blk, h, i, hr);
          for (int q = 0; q < 4; ++q) out.u[hr][b][32 * h + 8 * q + i] = v.u[q];
        }
      }
    }
  }
}

// Tokens [0, T) of half hr of a group: un holds that half's rebuilt values, out points at its first row.
template <class Dot, int T>
void q6_k_tile(const __m256i (*un)[64], int hr, const uint8_t* g, int kb, const uint8_t* x, size_t x_stride,
               bool first_chunk, float* out, int64_t ldo, const HalfRows& rows) {
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm256_setzero_ps() : rows.load(out + t * ldo);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kQ6KInterleavedBlock;
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t) {
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    __m256i isum[T];
    q6_offsets<T>(blk, hr, xb, isum);
    for (int grp = 0; grp < 16; ++grp) {
      const __m256i sc = q6_scales(blk, grp, hr);
      // AVX2: short sums of 2 words (2 * 2 * 63 * 128 = 32256 fits int16), each widened by the scale.
      constexpr int kWords = Dot::kWideProducts ? 4 : 2;
      for (int w0 = 0; w0 < 4; w0 += kWords) {
        __m256i s[T];
        for (int t = 0; t < T; ++t) s[t] = _mm256_setzero_si256();
        for (int w = w0; w < w0 + kWords; ++w) {
          const __m256i u = _mm256_load_si256(&un[b][4 * grp + w]);
          for (int t = 0; t < T; ++t) {
            s[t] = Dot::short_dot(s[t], u, broadcast_word(xb[t] + offsetof(BlockQ8_K, qs) + 16 * grp + 4 * w));
          }
        }
        for (int t = 0; t < T; ++t) isum[t] = _mm256_add_epi32(isum[t], Dot::widen_scaled(s[t], sc));
      }
    }
    const __m256 d = load_halves_ps(blk + kQ6KInterleavedD + 2 * kHalfRows * hr);
    for (int t = 0; t < T; ++t) {
      const __m256 dx = _mm256_set1_ps(load_unaligned<float>(xb[t], 0));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, dx), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) rows.store(out + t * ldo, acc[t]);
}

// TQ2_0. Trits t (value t - 1) sit 4 to a byte; a word's field l (bits 2l, 2l + 1) holds elements
// 128 (k / 8) + 32 l + 4 (k % 8) + 0..3 of the rows. Each super-block's dot starts from minus the sum of the
// activations, which leaves the exact sum of (t - 1) * x; each row takes fma(isum, d * d_x, sum).
constexpr int kTQ2ChunkBlocks = 4;
constexpr int kTQ2TileTokens = 4;

// Minus the sum of each super-block's activations, taken once per product rather than once per group.
struct TQ2DecodeActivations {
  int32_t neg_sum[kDecodeBlocks];
  TQ2DecodeActivations(const uint8_t* x, int kb) {
    for (int b = 0; b < kb; ++b) neg_sum[b] = -q8_k_sum(x + static_cast<size_t>(b) * sizeof(BlockQ8_K));
  }
};

// One token, super-blocks [0, kb) of one group, as q6_k_decode_group. With wide products field l is taken in
// place (masked, not shifted), its dots 4^l x, shifted back exactly at the end of the super-block, and each field
// has its own sums; AVX2 shifts each field down and all fields share the sums. Two chains (even and odd words)
// hide the dot latency.
template <class Dot>
void tq2_0_decode_group(const uint8_t* g, int kb, const TQ2DecodeActivations& acts, const uint8_t* x, bool first_piece,
                        float* out, uint16_t mask) {
  const HalfRows rows[2] = {HalfRows(mask, 0), HalfRows(mask, 1)};
  __m256 acc[2];
  for (int hr = 0; hr < 2; ++hr) acc[hr] = first_piece ? _mm256_setzero_ps() : rows[hr].load(out + kHalfRows * hr);
  const __m256i trit = _mm256_set1_epi8(0x03);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kTQ2InterleavedBlock;
    const uint8_t* xb = x + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    const uint8_t* xq = xb + offsetof(BlockQ8_K, qs);
    prefetch_bytes(blk, kDecodePrefetchBytes, kTQ2InterleavedBlock);
    const __m256 dx = _mm256_set1_ps(load_unaligned<float>(xb, 0));
    for (int hr = 0; hr < 2; ++hr) {
      if (rows[hr].empty()) continue;
      constexpr int kSums = Dot::kWideProducts ? 4 : 1;
      __m256i c[2][kSums];
      for (int l = 0; l < kSums; ++l) c[0][l] = c[1][l] = _mm256_setzero_si256();
#pragma GCC unroll 16
      for (int k = 0; k < 16; ++k) {
        const __m256i q = load_half(blk + kTQ2InterleavedValues + 64 * k + 32 * hr);
        const uint8_t* xk = xq + 128 * (k / 8) + 4 * (k % 8);
        for (int l = 0; l < 4; ++l) {
          const __m256i f = Dot::kWideProducts
                                ? _mm256_and_si256(q, _mm256_set1_epi8(static_cast<char>(0x03 << (2 * l))))
                                : _mm256_and_si256(_mm256_srli_epi16(q, 2 * l), trit);
          __m256i& sum = c[k % 2][Dot::kWideProducts ? l : 0];  // AVX2: 32 words of trits a chain
          sum = Dot::short_dot(sum, f, broadcast_word(xk + 32 * l));
        }
      }
      __m256i isum = _mm256_set1_epi32(acts.neg_sum[b]);
      for (int l = 0; l < kSums; ++l) {
        const __m256i f = _mm256_add_epi32(Dot::widen(c[0][l]), Dot::widen(c[1][l]));
        isum = _mm256_add_epi32(isum, _mm256_srai_epi32(f, 2 * l));  // exact: 4^l x an integer
      }
      const __m256 d = load_halves_ps(blk + kTQ2InterleavedD + 2 * kHalfRows * hr);
      acc[hr] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(d, dx), acc[hr]);
    }
  }
  for (int hr = 0; hr < 2; ++hr) rows[hr].store(out + kHalfRows * hr, acc[hr]);
}

void tq2_0_unpack_chunk(const uint8_t* g, int kb, HalfUnpacked<kTQ2ChunkBlocks>& out) {
  const __m256i trit = _mm256_set1_epi8(0x03);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kTQ2InterleavedBlock;
    for (int hr = 0; hr < 2; ++hr) {
      for (int k = 0; k < 16; ++k) {
        const __m256i q = load_half(blk + kTQ2InterleavedValues + 64 * k + 32 * hr);
        for (int l = 0; l < 4; ++l) {
          out.u[hr][b][32 * (k / 8) + 8 * l + k % 8] = _mm256_and_si256(_mm256_srli_epi16(q, 2 * l), trit);
        }
      }
    }
  }
}

template <class Dot, int T>
void tq2_0_tile(const __m256i (*un)[64], int hr, const uint8_t* g, int kb, const uint8_t* x, size_t x_stride,
                bool first_chunk, float* out, int64_t ldo, const HalfRows& rows) {
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = first_chunk ? _mm256_setzero_ps() : rows.load(out + t * ldo);
  for (int b = 0; b < kb; ++b) {
    const uint8_t* blk = g + static_cast<size_t>(b) * kTQ2InterleavedBlock;
    const uint8_t* xb[T];
    for (int t = 0; t < T; ++t) {
      xb[t] = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b) * sizeof(BlockQ8_K);
    }
    __m256i s[T];
    __m256i s2[T];  // two chains per token hide the dot latency; short sums of 32 words of trits each
    for (int t = 0; t < T; ++t) s[t] = s2[t] = _mm256_setzero_si256();
    for (int w = 0; w < 64; w += 2) {
      const __m256i u0 = _mm256_load_si256(&un[b][w]);
      const __m256i u1 = _mm256_load_si256(&un[b][w + 1]);
      for (int t = 0; t < T; ++t) {
        const uint8_t* xq = xb[t] + offsetof(BlockQ8_K, qs) + 4 * w;
        s[t] = Dot::short_dot(s[t], u0, broadcast_word(xq));
        s2[t] = Dot::short_dot(s2[t], u1, broadcast_word(xq + 4));
      }
    }
    const __m256 d = load_halves_ps(blk + kTQ2InterleavedD + 2 * kHalfRows * hr);
    for (int t = 0; t < T; ++t) {
      const __m256 dx = _mm256_set1_ps(load_unaligned<float>(xb[t], 0));
      const __m256i isum =
          _mm256_add_epi32(_mm256_set1_epi32(-q8_k_sum(xb[t])), _mm256_add_epi32(Dot::widen(s[t]), Dot::widen(s2[t])));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(d, dx), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) rows.store(out + t * ldo, acc[t]);
}

using HalfTileFn = void (*)(const __m256i (*)[64], int, const uint8_t*, int, const uint8_t*, size_t, bool, float*,
                            int64_t, const HalfRows&);

template <class Dot>
struct Q6KKernels {
  using Unpacked = HalfUnpacked<kQ6ChunkBlocks>;
  using DecodeActivations = NoDecodeActivations;
  static constexpr size_t kBlock = kQ6KInterleavedBlock;
  static constexpr int kChunkBlocks = kQ6ChunkBlocks;
  static constexpr int kTileTokens = kQ6TileTokens;
  static constexpr auto decode_group = q6_k_decode_group<Dot>;
  static constexpr auto unpack_chunk = q6_k_unpack_chunk;
  static constexpr HalfTileFn tiles[kTileTokens] = {q6_k_tile<Dot, 1>, q6_k_tile<Dot, 2>, q6_k_tile<Dot, 3>,
                                                    q6_k_tile<Dot, 4>};
};

template <class Dot>
struct TQ2Kernels {
  using Unpacked = HalfUnpacked<kTQ2ChunkBlocks>;
  using DecodeActivations = TQ2DecodeActivations;
  static constexpr size_t kBlock = kTQ2InterleavedBlock;
  static constexpr int kChunkBlocks = kTQ2ChunkBlocks;
  static constexpr int kTileTokens = kTQ2TileTokens;
  static constexpr auto decode_group = tq2_0_decode_group<Dot>;
  static constexpr auto unpack_chunk = tq2_0_unpack_chunk;
  static constexpr HalfTileFn tiles[kTileTokens] = {tq2_0_tile<Dot, 1>, tq2_0_tile<Dot, 2>, tq2_0_tile<Dot, 3>,
                                                    tq2_0_tile<Dot, 4>};
};

// One token: each group dotted as its values are rebuilt. More: per K chunk and group, the values unpacked once
// into a buffer that every token tile of each half reads.
template <class K>
void unpacking_gemm(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                    float* out, int64_t ldo) {
  const int64_t nb = n / kQK_K;
  const int64_t n_groups = (n_rows + kInterleaveRows - 1) / kInterleaveRows;
  const size_t group_bytes = static_cast<size_t>(nb) * K::kBlock;
  const auto* gp = static_cast<const uint8_t*>(groups);
  const auto* xp = static_cast<const uint8_t*>(x);
  if (n_tokens == 1) {
    // Whole rows at a time (K pieces only past kDecodeBlocks super-blocks), each group read front to back.
    for (int64_t b0 = 0; b0 < nb; b0 += kDecodeBlocks) {
      const int kb = static_cast<int>(std::min<int64_t>(kDecodeBlocks, nb - b0));
      const uint8_t* xb = xp + static_cast<size_t>(b0) * sizeof(BlockQ8_K);
      const typename K::DecodeActivations acts(xb, kb);
      for (int64_t g = 0; g < n_groups; ++g) {
        K::decode_group(gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * K::kBlock, kb, acts, xb,
                        b0 == 0, out + g * kInterleaveRows, group_mask(n_rows, g));
      }
    }
    return;
  }
  alignas(32) typename K::Unpacked un;  // 16 KiB
  for (int64_t b0 = 0; b0 < nb; b0 += K::kChunkBlocks) {
    const int kb = static_cast<int>(std::min<int64_t>(K::kChunkBlocks, nb - b0));
    for (int64_t g = 0; g < n_groups; ++g) {
      const uint8_t* gb = gp + static_cast<size_t>(g) * group_bytes + static_cast<size_t>(b0) * K::kBlock;
      K::unpack_chunk(gb, kb, un);
      for (int hr = 0; hr < 2; ++hr) {
        const HalfRows rows(group_mask(n_rows, g), hr);
        if (rows.empty()) continue;
        for (int64_t t = 0; t < n_tokens; t += K::kTileTokens) {
          const int tt = static_cast<int>(std::min<int64_t>(K::kTileTokens, n_tokens - t));
          K::tiles[tt - 1](un.u[hr], hr, gb, kb,
                           xp + static_cast<size_t>(t) * x_stride + static_cast<size_t>(b0) * sizeof(BlockQ8_K),
                           x_stride, b0 == 0, out + t * ldo + g * kInterleaveRows + kHalfRows * hr, ldo, rows);
        }
      }
    }
  }
}

// The exported kernels of one dot policy: q4_k, q6_k and tq2_0 gemms with InterleavedKernels::gemm's signature.
template <class Dot>
struct InterleavedKGemms {
  static void q4_k(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                   float* out, int64_t ldo) {
    q4_k_gemm<Dot>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
  }
  static void q6_k(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                   float* out, int64_t ldo) {
    unpacking_gemm<Q6KKernels<Dot>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
  }
  static void tq2_0(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride, int64_t n_tokens,
                    float* out, int64_t ldo) {
    unpacking_gemm<TQ2Kernels<Dot>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
  }
};

}  // namespace
}  // namespace ternion::quant
