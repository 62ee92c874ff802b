// Unpacking of 4- and 5-bit block formats (Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS) for their AVX2 and AVX-512
// kernels.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "quant/kernel_common.h"

namespace ternion::quant {
namespace {

// Byte j = 0xff when bit j of `bits` is set, else 0.
inline __m256i bit_bytes32(uint32_t bits) {
  // byte j takes byte j / 8 of `bits` (the shuffle works within 128-bit lanes, each of which holds all four)
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i mask = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask);
}

// The 32 low 4-bit fields of a block (16 bytes at p: low nibbles are elements 0..15, high nibbles 16..31).
inline __m256i nibbles32(const uint8_t* p) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
}

// The 32 unsigned 5-bit quants of a Q5_0 / Q5_1 block (qh: the fifth bits, qs: the nibbles), in element order.
inline __m256i q5_unsigned32(const uint8_t* qh, const uint8_t* qs) {
  const __m256i high = _mm256_and_si256(bit_bytes32(load_unaligned<uint32_t>(qh, 0)), _mm256_set1_epi8(0x10));
  return _mm256_or_si256(nibbles32(qs), high);
}

// The same quants minus 16, as int8 in [-16, 15]: a clear fifth bit makes the byte 0xf0 | nibble = nibble - 16.
inline __m256i q5_signed32(const uint8_t* qh, const uint8_t* qs) {
  const __m256i high =
      _mm256_andnot_si256(bit_bytes32(load_unaligned<uint32_t>(qh, 0)), _mm256_set1_epi8(static_cast<char>(0xf0)));
  return _mm256_or_si256(nibbles32(qs), high);
}

// The 32 IQ4 grid values (int8) of 16 bytes of indices at p: low nibbles are elements 0..15, high nibbles 16..31.
// grid: kIq4Values in both 128-bit lanes.
inline __m256i iq4_values32(const uint8_t* p, __m256i grid) { return _mm256_shuffle_epi8(grid, nibbles32(p)); }

}  // namespace
}  // namespace ternion::quant
