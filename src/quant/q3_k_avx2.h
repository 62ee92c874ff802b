// Q3_K as a weight format of the K-quant SIMD kernels (q8_k_dot_avx2.h): the group data and the quants of a
// super-block as AVX2 registers. Included by q3_k_avx2.cpp and q3_k_avx512.cpp (internal linkage).
#pragma once

#include <immintrin.h>

#include <cstring>

#include "quant/q3_k.h"
#include "quant/q8_k_dot_avx2.h"

namespace ternion::quant {
namespace {

struct Q3KWeights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ3_K);
  static constexpr bool kHasMins = false;
  // The 16 6-bit scales: low nibbles from bytes 0-7 (scales 0-7 low, 8-15 high nibbles), top bits from bytes
  // 8-11 (bits 2k, 2k + 1 of byte 8 + g % 4 for g / 4 = k), minus 32.
  static void prepare(const uint8_t* block, KPrep& p) {
    uint32_t a[3];
    std::memcpy(a, block + offsetof(BlockQ3_K, scales), 12);
    const uint32_t m4 = 0x0f0f0f0fu;
    const uint32_t m2 = 0x03030303u;
    const __m128i bytes = _mm_setr_epi32(static_cast<int>((a[0] & m4) | ((a[2] & m2) << 4)),
                                         static_cast<int>((a[1] & m4) | (((a[2] >> 2) & m2) << 4)),
                                         static_cast<int>(((a[0] >> 4) & m4) | (((a[2] >> 4) & m2) << 4)),
                                         static_cast<int>(((a[1] >> 4) & m4) | (((a[2] >> 6) & m2) << 4)));
    const __m256i s = _mm256_sub_epi16(_mm256_cvtepu8_epi16(bytes), _mm256_set1_epi16(32));
    _mm256_store_si256(reinterpret_cast<__m256i*>(p.scale), s);
    _mm256_store_si256(reinterpret_cast<__m256i*>(p.coef),
                       _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(s, 2)));
    p.d = _cvtsh_ss(load_unaligned<uint16_t>(block + offsetof(BlockQ3_K, d), 0));
    p.dmin = 0.0f;
  }
  // Chunk c = 4 h + s: bits 2s, 2s + 1 of qs[32 h ..], and bit c of hmask as bit 2.
  static __m256i chunk(const uint8_t* block, int c) {
    const int s = c % 4;
    const __m256i q = load256(block + offsetof(BlockQ3_K, qs) + 32 * (c / 4));
    const __m256i hm = load256(block);
    const __m256i low = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), _mm256_set1_epi8(3));
    const __m256i bit = c <= 2 ? _mm256_slli_epi16(hm, 2 - c) : _mm256_srli_epi16(hm, c - 2);
    return _mm256_or_si256(low, _mm256_and_si256(bit, _mm256_set1_epi8(4)));
  }
};

}  // namespace
}  // namespace ternion::quant
