// AVX-512 (F, BW, VL, DQ) pieces of the low-bit i-quant dots: two blocks of 32 per register. As in iq_avx2.h, the
// weights' magnitudes meet the activations carrying their signs in maddubs (exact: a pair stays below 2^15), and
// madd with the odd block scales adds pairs into int32 lanes; here a sign is a mask bit, applied by a masked
// subtraction from zero. Activations must not hold -128 (the Q8_K quantizer gives [-127, 127]).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "quant/iq_grids.h"
#include "quant/kernel_common.h"

namespace ternion::quant {
namespace {

// Blocks ib, ib + 1 of a Q8_K super-block's values.
inline __m512i load_x64(const uint8_t* xb, int ib) {
  return _mm512_loadu_si512(reinterpret_cast<const __m512i*>(xb + 4 + 32 * ib));
}

// 8 sign codes of 7 bits (code l at bits 7l of codes) -> 64 sign bits, group l in bits 8l .. 8l+7.
inline __mmask64 sign_codes_mask(uint64_t codes) {
  uint64_t m = 0;
  for (int l = 0; l < 8; ++l) m |= uint64_t{kIqSigns[(codes >> (7 * l)) & 127]} << (8 * l);
  return m;
}

// int32 lanes summing to sum of |w| * (x negated where the mask bit is set) * scale (per int16 pair lane).
inline __m512i scaled_dot512(__m512i magnitudes, __m512i x, __mmask64 negative, __m512i scale16) {
  const __m512i sx = _mm512_mask_sub_epi8(x, negative, _mm512_setzero_si512(), x);
  return _mm512_madd_epi16(_mm512_maddubs_epi16(magnitudes, sx), scale16);
}

// int16 scale s_k for bytes 16k .. 16k + 15 (groups 2k, 2k + 1).
inline __m512i quarter_scales(int s0, int s1, int s2, int s3) {
  const auto pair = [](int s) { return static_cast<int32_t>(s | (s << 16)); };
  const int32_t p0 = pair(s0), p1 = pair(s1), p2 = pair(s2), p3 = pair(s3);
  return _mm512_set_epi32(p3, p3, p3, p3, p2, p2, p2, p2, p1, p1, p1, p1, p0, p0, p0, p0);
}

}  // namespace
}  // namespace ternion::quant
