// IQ1_S and IQ1_M dots with Q8_K activations for AVX2 (iq_avx2.h): the grid points of a block's 4 groups are
// gathered into one register and turned into w = 8 * grid + delta sign (|w| <= 9), whose magnitudes meet the
// activations carrying w's sign in maddubs.
#include <immintrin.h>

#include <cmath>

#include "quant/iq1.h"
#include "quant/iq_avx2.h"
#include "quant/q8_k.h"

namespace ternion::quant {

namespace {

constexpr int kBlocks = kIq1BlockSize / 32;

inline int64_t delta_bytes(bool negative) {
  return static_cast<int64_t>(negative ? 0xffffffffffffffffull : 0x0101010101010101ull);
}

// 8 * grid + delta bytes of 4 groups (16-bit shifts spill into the neighbour byte's low 3 bits; the mask clears
// them).
inline __m256i weights(const int (&idx)[4], __m256i delta) {
  const __m256i g = _mm256_set_epi64x(static_cast<int64_t>(kIq1Grid[idx[3]]), static_cast<int64_t>(kIq1Grid[idx[2]]),
                                      static_cast<int64_t>(kIq1Grid[idx[1]]), static_cast<int64_t>(kIq1Grid[idx[0]]));
  const __m256i g8 = _mm256_and_si256(_mm256_slli_epi16(g, 3), _mm256_set1_epi8(static_cast<char>(0xf8)));
  return _mm256_add_epi8(g8, delta);
}

inline __m256i signed_dot(__m256i w, __m256i x, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), scale16);
}

int32_t s_isum(const uint8_t* wb, const uint8_t* xb) {
  const uint8_t* qs = wb + 2;
  __m256i acc = _mm256_setzero_si256();
  for (int ib = 0; ib < kBlocks; ++ib) {
    const int h = load_unaligned<uint16_t>(wb + 34, ib);
    int idx[4];
    for (int l = 0; l < 4; ++l) idx[l] = qs[4 * ib + l] | (((h >> (3 * l)) & 7) << 8);
    const __m256i w = weights(idx, _mm256_set1_epi64x(delta_bytes(h & 0x8000)));
    const __m256i scale = _mm256_set1_epi16(static_cast<int16_t>(2 * ((h >> 12) & 7) + 1));
    acc = _mm256_add_epi32(acc, signed_dot(w, load_x32(xb, ib), scale));
  }
  return hsum_epi32(acc);
}

int32_t m_isum(const uint8_t* wb, const uint8_t* xb) {
  const uint8_t* qs = wb;
  const uint8_t* qh = wb + 32;
  __m256i acc = _mm256_setzero_si256();
  for (int ib = 0; ib < kBlocks; ++ib) {
    int idx[4];
    int64_t delta[4];
    for (int l = 0; l < 4; ++l) {
      const int h = qh[2 * ib + l / 2] >> (4 * (l % 2));
      idx[l] = qs[4 * ib + l] | ((h & 7) << 8);
      delta[l] = delta_bytes(h & 8);
    }
    const __m256i w = weights(idx, _mm256_set_epi64x(delta[3], delta[2], delta[1], delta[0]));
    const int word = load_unaligned<uint16_t>(wb + 48, ib / 2) >> (6 * (ib % 2));
    const __m256i scale = half_scales(2 * (word & 7) + 1, 2 * ((word >> 3) & 7) + 1);
    acc = _mm256_add_epi32(acc, signed_dot(w, load_x32(xb, ib), scale));
  }
  return hsum_epi32(acc);
}

}  // namespace

void iq1_s_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kIq1BlockSize; ++i) {
    const uint8_t* wb = wp + i * sizeof(BlockIq1S);
    const uint8_t* xb = xp + i * sizeof(BlockQ8_K);
    const int32_t isum = s_isum(wb, xb);
    sum = std::fma(static_cast<float>(isum), _cvtsh_ss(load_scale(wb)) * load_unaligned<float>(xb, 0), sum);
  }
  *out = 0.125f * sum;
}

void iq1_m_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kIq1BlockSize; ++i) {
    const uint8_t* wb = wp + i * sizeof(BlockIq1M);
    const uint8_t* xb = xp + i * sizeof(BlockQ8_K);
    const int32_t isum = m_isum(wb, xb);
    sum = std::fma(static_cast<float>(isum), _cvtsh_ss(iq1_m_scale(wb + 48)) * load_unaligned<float>(xb, 0), sum);
  }
  *out = 0.125f * sum;
}

}  // namespace ternion::quant
