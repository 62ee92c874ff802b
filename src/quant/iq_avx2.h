// AVX2 pieces of the low-bit i-quant dots (iq1_avx2.cpp, iq2_avx2.cpp, iq3_avx2.cpp).
//
// A block of 32 weights meets its 32 activations in one maddubs: unsigned magnitudes (at most 62) against the
// activations carrying the weights' signs, so a pair of products stays below 2 * 62 * 127 < 2^15 and nothing
// saturates; madd with the block's (or half block's) odd scale then adds pairs into int32 lanes, and the blocks of
// a super-block sum exactly. Activations must not hold -128 (the Q8_K quantizer gives [-127, 127]), since the
// sign is applied by negating them.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "quant/iq_grids.h"
#include "quant/kernel_common.h"
#include "quant/q8_dot_avx2.h"

namespace ternion::quant {
namespace {

constexpr size_t kQ8KQs = 4;  // offset of qs in a Q8_K super-block

inline __m256i load_x32(const uint8_t* xb, int ib) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + kQ8KQs + 32 * ib));
}

// 4 bytes of 8 sign bits (group l in byte l) -> 32 bytes, byte 8l + j = -1 where bit j of byte l is set, else +1.
inline __m256i expand_signs(uint32_t signs) {
  const __m256i spread =
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bits = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int32_t>(signs)), spread);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
  return _mm256_or_si256(set, _mm256_set1_epi8(1));
}

// 4 sign codes of 7 bits (code l at bits 7l) -> 32 bytes of -1 / +1.
inline __m256i sign_codes(uint32_t codes) {
  return _mm256_set_epi64x(
      static_cast<int64_t>(kIqSignBytes[(codes >> 21) & 127]), static_cast<int64_t>(kIqSignBytes[(codes >> 14) & 127]),
      static_cast<int64_t>(kIqSignBytes[(codes >> 7) & 127]), static_cast<int64_t>(kIqSignBytes[codes & 127]));
}

// int32 lanes summing to sum over the block of |w| * (x with sign s) * scale (scale per int16 pair lane).
inline __m256i scaled_dot(__m256i magnitudes, __m256i x, __m256i signs, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(magnitudes, _mm256_sign_epi8(x, signs)), scale16);
}

// Scale lo for bytes 0 .. 15 (groups 0, 1), hi for bytes 16 .. 31.
inline __m256i half_scales(int lo, int hi) {
  return _mm256_set_m128i(_mm_set1_epi16(static_cast<int16_t>(hi)), _mm_set1_epi16(static_cast<int16_t>(lo)));
}

}  // namespace
}  // namespace ternion::quant
