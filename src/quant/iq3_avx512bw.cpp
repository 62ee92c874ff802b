// IQ3_XXS and IQ3_S dots with Q8_K activations for AVX-512 F/BW/VL/DQ (iq_avx512.h): two blocks per step, their
// 16 grid points gathered into one register and their signs as one 64-bit mask.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "quant/iq3.h"
#include "quant/iq_avx512.h"
#include "quant/q8_k.h"

namespace ternion::quant {

namespace {

constexpr int kBlocks = kIq3BlockSize / 32;

inline __m512i grid16(const uint32_t* grid, __m512i idx) {
  return _mm512_i32gather_epi32(idx, reinterpret_cast<const int*>(grid), 4);
}

inline __m512i indices16(const uint8_t* q) {
  return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
}

int32_t xxs_isum(const uint8_t* wb, const uint8_t* xb) {
  const uint8_t* qs = wb + 2;
  __m512i acc = _mm512_setzero_si512();
  for (int ib = 0; ib < kBlocks; ib += 2) {
    const uint32_t a0 = load_unaligned<uint32_t>(qs + 64 + 4 * ib, 0);
    const uint32_t a1 = load_unaligned<uint32_t>(qs + 68 + 4 * ib, 0);
    const uint64_t codes = (a0 & 0x0fffffff) | (uint64_t{a1 & 0x0fffffff} << 28);
    const int s0 = static_cast<int>(2 * (a0 >> 28) + 1);
    const int s1 = static_cast<int>(2 * (a1 >> 28) + 1);
    acc = _mm512_add_epi32(acc, scaled_dot512(grid16(kIq3XxsGrid, indices16(qs + 8 * ib)), load_x64(xb, ib),
                                              sign_codes_mask(codes), quarter_scales(s0, s0, s1, s1)));
  }
  return _mm512_reduce_add_epi32(acc);
}

int32_t s_isum(const uint8_t* wb, const uint8_t* xb) {
  const uint8_t* qs = wb + 2;
  const uint8_t* qh = wb + 66;
  const uint8_t* signs = wb + 74;
  const uint8_t* scales = wb + 106;
  const __m512i shifts = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512i acc = _mm512_setzero_si512();
  for (int ib = 0; ib < kBlocks; ib += 2) {
    const int hh = qh[ib] | (qh[ib + 1] << 8);  // bit k: index k's bit 8, over both blocks
    const __m512i high = _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32(hh), shifts), _mm512_set1_epi32(1));
    const __m512i idx = _mm512_or_si512(indices16(qs + 8 * ib), _mm512_slli_epi32(high, 8));
    const int s0 = 2 * (scales[ib / 2] & 0x0f) + 1;
    const int s1 = 2 * (scales[ib / 2] >> 4) + 1;
    const __mmask64 negative = load_unaligned<uint64_t>(signs + 4 * ib, 0);
    acc = _mm512_add_epi32(
        acc, scaled_dot512(grid16(kIq3SGrid, idx), load_x64(xb, ib), negative, quarter_scales(s0, s0, s1, s1)));
  }
  return _mm512_reduce_add_epi32(acc);
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
    const float dw = _cvtsh_ss(load_unaligned<uint16_t>(wb, 0));
    sum = std::fma(static_cast<float>(isum), dw * load_unaligned<float>(xb, 0), sum);
  }
  *out = factor * sum;
}

}  // namespace

void iq3_xxs_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  dot<BlockIq3Xxs, xxs_isum>(n, out, w, x, 0.25f);
}
void iq3_s_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  dot<BlockIq3S, s_isum>(n, out, w, x, 1.0f);
}

}  // namespace ternion::quant
