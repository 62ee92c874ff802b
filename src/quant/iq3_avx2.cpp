// IQ3_XXS and IQ3_S dots with Q8_K activations for AVX2 (iq_avx2.h says how the integers stay exact): a block's
// 8 grid points are gathered into one register, their signs applied to the activations.
#include <immintrin.h>

#include <cmath>

#include "quant/iq3.h"
#include "quant/iq_avx2.h"
#include "quant/q8_k.h"

namespace ternion::quant {

namespace {

constexpr int kBlocks = kIq3BlockSize / 32;

// The 8 grid points of 8 byte indices.
inline __m256i grid8(const uint32_t* grid, __m256i idx) {
  return _mm256_i32gather_epi32(reinterpret_cast<const int*>(grid), idx, 4);
}

inline __m256i indices8(const uint8_t* q) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)));
}

int32_t xxs_isum(const uint8_t* wb, const uint8_t* xb) {
  const uint8_t* qs = wb + 2;
  __m256i acc = _mm256_setzero_si256();
  for (int ib = 0; ib < kBlocks; ++ib) {
    const uint32_t a = load_unaligned<uint32_t>(qs + 64 + 4 * ib, 0);
    const __m256i q = grid8(kIq3XxsGrid, indices8(qs + 8 * ib));
    const __m256i scale = _mm256_set1_epi16(static_cast<int16_t>(2 * (a >> 28) + 1));
    acc = _mm256_add_epi32(acc, scaled_dot(q, load_x32(xb, ib), sign_codes(a), scale));
  }
  return hsum_epi32(acc);
}

int32_t s_isum(const uint8_t* wb, const uint8_t* xb) {
  const uint8_t* qs = wb + 2;
  const uint8_t* qh = wb + 66;
  const uint8_t* signs = wb + 74;
  const uint8_t* scales = wb + 106;
  const __m256i shifts = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i acc = _mm256_setzero_si256();
  for (int ib = 0; ib < kBlocks; ++ib) {
    const __m256i high = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(qh[ib]), shifts), _mm256_set1_epi32(1));
    const __m256i idx = _mm256_or_si256(indices8(qs + 8 * ib), _mm256_slli_epi32(high, 8));
    const int s = (scales[ib / 2] >> (4 * (ib % 2))) & 0x0f;
    const __m256i sg = expand_signs(load_unaligned<uint32_t>(signs + 4 * ib, 0));
    acc = _mm256_add_epi32(acc, scaled_dot(grid8(kIq3SGrid, idx), load_x32(xb, ib), sg,
                                           _mm256_set1_epi16(static_cast<int16_t>(2 * s + 1))));
  }
  return hsum_epi32(acc);
}

template <typename Block, int32_t (*Isum)(const uint8_t*, const uint8_t*)>
void dot(int64_t n, float* out, const void* w, const void* x, float factor) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kIq3BlockSize; ++i) {
    const uint8_t* wb = wp + i * sizeof(Block);
    const uint8_t* xb = xp + i * sizeof(BlockQ8_K);
    const int32_t isum = Isum(wb, xb);
    sum = std::fma(static_cast<float>(isum), _cvtsh_ss(load_scale(wb)) * load_unaligned<float>(xb, 0), sum);
  }
  *out = factor * sum;
}

}  // namespace

void iq3_xxs_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  dot<BlockIq3Xxs, xxs_isum>(n, out, w, x, 0.25f);
}
void iq3_s_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  dot<BlockIq3S, s_isum>(n, out, w, x, 1.0f);
}

}  // namespace ternion::quant
