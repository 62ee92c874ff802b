// Unpacking of 4- and 5-bit block formats for the packed AVX-512 kernels (included only by *_avx512.cpp files):
// dword k of a block (elements 4k..4k+3) for 16 rows at once.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace ternion::quant {
namespace {

// Dword k (0..7) of 16 rows' 4-bit fields as bytes 0..15: for k < 4 the low nibbles of bytes 4k..4k+3 of the
// 16 bytes at qs, for k >= 4 the high nibbles of bytes 4(k-4)...
inline void gather_nibbles16(const uint8_t* qs, __m512i row_offsets, __m512i* out) {
  const __m512i low = _mm512_set1_epi8(0x0f);
  for (int k = 0; k < 4; ++k) {
    const __m512i q = _mm512_i32gather_epi32(row_offsets, qs + 4 * k, 1);
    out[k] = _mm512_and_si512(q, low);
    out[k + 4] = _mm512_and_si512(_mm512_srli_epi32(q, 4), low);
  }
}

// Bits first..first+3 of each dword of qh, moved to bit 4 of bytes 0..3: multiplying the 4-bit field by
// 0x00204081 puts its bit i at bit 8i (and nowhere else at a multiple of 8).
inline __m512i fifth_bits(__m512i qh, int first) {
  const __m512i field = _mm512_and_si512(_mm512_srl_epi32(qh, _mm_cvtsi32_si128(first)), _mm512_set1_epi32(0xf));
  const __m512i spread =
      _mm512_and_si512(_mm512_mullo_epi32(field, _mm512_set1_epi32(0x00204081)), _mm512_set1_epi32(0x01010101));
  return _mm512_slli_epi32(spread, 4);
}

// The unsigned 5-bit quants of a Q5_0 / Q5_1 block (fifth bits at qh, nibbles at qs), dword k for 16 rows.
inline void gather_q5_16(const uint8_t* qh, const uint8_t* qs, __m512i row_offsets, __m512i* out) {
  gather_nibbles16(qs, row_offsets, out);
  const __m512i bits = _mm512_i32gather_epi32(row_offsets, qh, 1);
  for (int k = 0; k < 8; ++k) out[k] = _mm512_or_si512(out[k], fifth_bits(bits, 4 * k));
}

}  // namespace
}  // namespace ternion::quant
