// AVX-512 (BW) step for the K-quant dots of q8_k_dot_avx2.h, included only by *_avx512(bw).cpp files: two chunks
// (64 values) per register, so maddubs and madd do twice the work per instruction. A weight format used with
// it gives pair(block, k): chunks 2k and 2k + 1 in the low and high 256 bits (the formats shift bit fields into
// place with per-half dword shifts, one uop where word shifts take two, and mask each byte afterwards). Everything else
// (the exact integer sums, their reduction and the float accumulation order) is the AVX2 kernels', so the results are
// the same bits.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "quant/q8_k_dot_avx2.h"

namespace ternion::quant {
namespace {

inline __m512i load512(const uint8_t* p) { return _mm512_loadu_si512(p); }

struct Avx512Step {
  using V = __m512i;
  static constexpr int kSteps = 4;
  template <class W>
  static V weights(const uint8_t* wb, int k) {
    return W::pair(wb, k);
  }
  static V activations(const uint8_t* xq, int k) { return load512(xq + 64 * k); }
  // Groups 4k .. 4k + 3 cover the four 128-bit lanes: lane L gets s_{4k + L} in all 8 int16.
  static V scales(const KPrep& p, int k) {
    const __m512i spread =
        _mm512_set_epi64(0x0706070607060706LL, 0x0706070607060706LL, 0x0504050405040504LL, 0x0504050405040504LL,
                         0x0302030203020302LL, 0x0302030203020302LL, 0x0100010001000100LL, 0x0100010001000100LL);
    return _mm512_shuffle_epi8(_mm512_set1_epi64(load_unaligned<int64_t>(p.scale, k)), spread);
  }
  static V dot(V u, V x, V s) { return _mm512_madd_epi16(_mm512_maddubs_epi16(u, x), s); }
  static V add(V a, V b) { return _mm512_add_epi32(a, b); }
  static V zero() { return _mm512_setzero_si512(); }
  static __m256i fold(V a) { return _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1)); }
};

}  // namespace
}  // namespace ternion::quant
