// IQ1_S and IQ1_M dots with Q8_K activations for AVX-512 F/BW/VL/DQ (iq_avx512.h): two blocks per step; their 8
// grid points become w = 8 * grid + delta sign (|w| <= 9), whose sign bits form the mask.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "quant/iq1.h"
#include "quant/iq_avx512.h"
#include "quant/q8_k.h"

namespace ternion::quant {

namespace {

constexpr int kBlocks = kIq1BlockSize / 32;

inline int64_t delta_bytes(bool negative) {
  return static_cast<int64_t>(negative ? 0xffffffffffffffffull : 0x0101010101010101ull);
}

// The int32 lanes of (2s + 1) * w . x over two blocks, from their 8 groups' indices and delta signs.
inline __m512i two_blocks(const int (&idx)[8], const int64_t (&delta)[8], __m512i x, __m512i scale16) {
  alignas(64) int64_t gv[8];
  for (int l = 0; l < 8; ++l) gv[l] = static_cast<int64_t>(kIq1Grid[idx[l]]);
  const __m512i g = _mm512_load_si512(gv);
  const __m512i dl = _mm512_loadu_si512(delta);
  const __m512i g8 = _mm512_and_si512(_mm512_slli_epi16(g, 3), _mm512_set1_epi8(static_cast<char>(0xf8)));
  const __m512i w = _mm512_add_epi8(g8, dl);
  return scaled_dot512(_mm512_abs_epi8(w), x, _mm512_movepi8_mask(w), scale16);
}

int32_t s_isum(const uint8_t* wb, const uint8_t* xb) {
  const uint8_t* qs = wb + 2;
  __m512i acc = _mm512_setzero_si512();
  for (int ib = 0; ib < kBlocks; ib += 2) {
    int idx[8];
    int64_t delta[8];
    int s[2];
    for (int k = 0; k < 2; ++k) {
      const int h = load_unaligned<uint16_t>(wb + 34, ib + k);
      for (int l = 0; l < 4; ++l) {
        idx[4 * k + l] = qs[4 * (ib + k) + l] | (((h >> (3 * l)) & 7) << 8);
        delta[4 * k + l] = delta_bytes(h & 0x8000);
      }
      s[k] = 2 * ((h >> 12) & 7) + 1;
    }
    acc = _mm512_add_epi32(acc, two_blocks(idx, delta, load_x64(xb, ib), quarter_scales(s[0], s[0], s[1], s[1])));
  }
  return _mm512_reduce_add_epi32(acc);
}

int32_t m_isum(const uint8_t* wb, const uint8_t* xb) {
  const uint8_t* qs = wb;
  const uint8_t* qh = wb + 32;
  __m512i acc = _mm512_setzero_si512();
  for (int ib = 0; ib < kBlocks; ib += 2) {
    int idx[8];
    int64_t delta[8];
    for (int l = 0; l < 8; ++l) {
      const int h = qh[2 * ib + l / 2] >> (4 * (l % 2));
      idx[l] = qs[4 * ib + l] | ((h & 7) << 8);
      delta[l] = delta_bytes(h & 8);
    }
    const int sc = load_unaligned<uint16_t>(wb + 48, ib / 2);  // both blocks' scales: bits 0-5 and 6-11
    const __m512i scale =
        quarter_scales(2 * (sc & 7) + 1, 2 * ((sc >> 3) & 7) + 1, 2 * ((sc >> 6) & 7) + 1, 2 * ((sc >> 9) & 7) + 1);
    acc = _mm512_add_epi32(acc, two_blocks(idx, delta, load_x64(xb, ib), scale));
  }
  return _mm512_reduce_add_epi32(acc);
}

}  // namespace

void iq1_s_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kIq1BlockSize; ++i) {
    const uint8_t* wb = wp + i * sizeof(BlockIq1S);
    const uint8_t* xb = xp + i * sizeof(BlockQ8_K);
    const float dw = _cvtsh_ss(load_unaligned<uint16_t>(wb, 0));
    sum = std::fma(static_cast<float>(s_isum(wb, xb)), dw * load_unaligned<float>(xb, 0), sum);
  }
  *out = 0.125f * sum;
}

void iq1_m_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kIq1BlockSize; ++i) {
    const uint8_t* wb = wp + i * sizeof(BlockIq1M);
    const uint8_t* xb = xp + i * sizeof(BlockQ8_K);
    const float dw = _cvtsh_ss(iq1_m_scale(wb + 48));
    sum = std::fma(static_cast<float>(m_isum(wb, xb)), dw * load_unaligned<float>(xb, 0), sum);
  }
  *out = 0.125f * sum;
}

}  // namespace ternion::quant
