// Q4_0 kernels for AVX-512 (F, BW, VL, DQ, VNNI): dequantize, dot with Q8_0 activations, tiled gemm.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/kernel_common.h"
#include "quant/q4_0.h"
#include "quant/q8_dot_avx2.h"
#include "quant/q8_dot_avx512.h"

namespace ternion::quant {

namespace {

struct Q4Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ4_0);
  static __m256i load_values(const uint8_t* block) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2));
    const __m256i nibbles = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
    return _mm256_sub_epi8(nibbles, _mm256_set1_epi8(8));
  }
  static constexpr int32_t kUnsignedOffset = 8;
  static constexpr bool kHasQuadStep = true;
  // Blocks b and b+1 as unsigned nibbles, 128-bit lanes: [low b, low b+1, high b, high b+1]; block b is in
  // lanes 0 and 2. The activations are laid out the same way.
  static constexpr int kPairShuffleFirst = 0x44;   // lanes (0, 1) of each source
  static constexpr int kPairShuffleSecond = 0xee;  // lanes (2, 3)
  static __m512i load_pair(const uint8_t* block) {
    const __m256i q = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kBlockBytes + 2)),
                                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2)));
    const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
    return _mm512_and_si512(both, _mm512_set1_epi8(0x0f));
  }
  static __m512i load_x_pair(const uint8_t* block) {
    const __m512i v =
        _mm512_inserti64x4(_mm512_castsi256_si512(load_q8_values(block)), load_q8_values(block + sizeof(BlockQ8_0)), 1);
    return _mm512_shuffle_i32x4(v, v, 0xd8);  // [b 0-15, b+1 0-15, b 16-31, b+1 16-31]
  }
  static __m256i load_one(const uint8_t* block) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
  }
  static __m256 decode_quad(const uint8_t* w, size_t w_stride, const uint8_t* x, const int32_t* neg_corr,
                            const float* x_scale, __m256 acc);
  // Dword k of the block for 16 rows as unsigned nibbles: k < 4 from the low nibbles of bytes 4k..4k+3, k >= 4
  // from the high nibbles of bytes 4(k-4)..
  static void pack_block(const uint8_t* block, __m512i row_offsets, __m512i* out) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int k = 0; k < 4; ++k) {
      const __m512i q = _mm512_i32gather_epi32(row_offsets, block + 2 + 4 * k, 1);
      out[k] = _mm512_and_si512(q, low);
      out[k + 4] = _mm512_and_si512(_mm512_srli_epi32(q, 4), low);
    }
  }
};

// Decode step of 8 rows x 4 blocks (72 bytes per row). The 16 value bytes of block j start at byte 18j + 2,
// an even offset, so one word permute collects the 4 blocks' values of a row into one register: 128-bit lane
// j = block j. Low nibbles meet activation elements 0-15 and high nibbles 16-31 of the same block, so each lane
// of the dot holds part of one block's sum and two levels of adds finish 4 rows x 4 blocks per register.
__m256 Q4Weights::decode_quad(const uint8_t* w, size_t w_stride, const uint8_t* x, const int32_t* neg_corr,
                              const float* x_scale, __m256 acc) {
  // Word i of the result: word 9j + 1 + (i % 8) of the 72 bytes, j = i / 8. Words past 31 are in the second
  // source, loaded at byte 56 (so byte 72 is never read): index 32 + (word - 28).
  alignas(64) static constexpr uint16_t kWords[32] = {1,  2,  3,  4,  5,  6,  7,  8,  10, 11, 12, 13, 14, 15, 16, 17,
                                                      19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 36, 37, 38, 39};
  const __m512i words = _mm512_load_si512(kWords);
  const __m512i low = _mm512_set1_epi8(0x0f);
  // Activations in the same lanes: elements 0-15 (x_lo) and 16-31 (x_hi) of block j in lane j.
  __m512i x_lo = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 2)));
  __m512i x_hi = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 18)));
  x_lo = _mm512_inserti32x4(x_lo, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + kQ8Bytes + 2)), 1);
  x_hi = _mm512_inserti32x4(x_hi, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + kQ8Bytes + 18)), 1);
  x_lo = _mm512_inserti32x4(x_lo, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 2 * kQ8Bytes + 2)), 2);
  x_hi = _mm512_inserti32x4(x_hi, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 2 * kQ8Bytes + 18)), 2);
  x_lo = _mm512_inserti32x4(x_lo, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 3 * kQ8Bytes + 2)), 3);
  x_hi = _mm512_inserti32x4(x_hi, _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 3 * kQ8Bytes + 18)), 3);
  __m512i v[8];
  for (int r = 0; r < 8; ++r) {
    const uint8_t* row = w + r * w_stride;
    const __m512i head = _mm512_loadu_si512(row);
    const __m512i tail = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 56)));
    const __m512i q = _mm512_permutex2var_epi16(head, words, tail);
    const __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(q, low), x_lo);
    v[r] = _mm512_dpbusd_epi32(d, _mm512_and_si512(_mm512_srli_epi16(q, 4), low), x_hi);
  }
  // Per 128-bit lane (one block): rows 0-3 in r03, rows 4-7 in r47.
  __m512i s[4];
  for (int i = 0; i < 4; ++i) {
    s[i] =
        _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
  }
  const __m512i r03 = _mm512_add_epi32(_mm512_unpacklo_epi64(s[0], s[1]), _mm512_unpackhi_epi64(s[0], s[1]));
  const __m512i r47 = _mm512_add_epi32(_mm512_unpacklo_epi64(s[2], s[3]), _mm512_unpackhi_epi64(s[2], s[3]));
  const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const __m512i corr = _mm512_permutexvar_epi32(
      spread, _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(neg_corr))));
  const __m512 dx = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_loadu_ps(x_scale)));
  // Row scales, lane 4j + r: row r (or r + 4) of block j.
  const __m512i scale_index =
      _mm512_add_epi32(_mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3),
                                          _mm512_set1_epi32(static_cast<int>(w_stride))),
                       _mm512_setr_epi32(0, 0, 0, 0, 18, 18, 18, 18, 36, 36, 36, 36, 54, 54, 54, 54));
  const __m512 dw03 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(scale_index, w, 1)));
  const __m512 dw47 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(scale_index, w + 4 * w_stride, 1)));
  const __m512 f03 = _mm512_cvtepi32_ps(_mm512_add_epi32(r03, corr));
  const __m512 f47 = _mm512_cvtepi32_ps(_mm512_add_epi32(r47, corr));
  const __m512 d03 = _mm512_mul_ps(dw03, dx);
  const __m512 d47 = _mm512_mul_ps(dw47, dx);
  // Block by block, rows 0-7 in one register.
  for (int j = 0; j < 4; ++j) {
    const __m512i pick = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 0, 0, 0, 0, 0, 0, 0, 0),
                                          _mm512_set1_epi32(4 * j));
    const __m256 fj = _mm512_castps512_ps256(_mm512_permutex2var_ps(f03, pick, f47));
    const __m256 dj = _mm512_castps512_ps256(_mm512_permutex2var_ps(d03, pick, d47));
    acc = _mm256_fmadd_ps(fj, dj, acc);
  }
  return acc;
}

}  // namespace

void q4_0_to_float_avx512(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQ4_0BlockSize; ++b) {
    const uint8_t* blk = s + b * Q4Weights::kBlockBytes;
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(load_scale(blk)));
    const __m256i q = Q4Weights::load_values(blk);
    float* y = dst + b * kQ4_0BlockSize;
    _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))), d));
    _mm512_storeu_ps(y + 16,
                     _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))), d));
  }
}

void q4_0_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  q8_vec_dot_avx2<Q4Weights, VnniDot>(n, out, w, x);
}

void q4_0_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_avx512<Q4Weights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
