// BF16 conversions and dot kernels for AVX-512, built for the Avx512 level (F/BW/VL/DQ), whose record AVX-512 VNNI
// CPUs use as well. The conversion is done on the bits rather than with VCVTNEPS2BF16 (AVX512_BF16), which flushes
// subnormal inputs to zero and so differs from the reference.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/bf16.h"
#include "quant/float_dot_avx512.h"

namespace ternion::quant {

namespace {

struct Bf16Loader {
  static constexpr size_t kBytes = 2;  // bytes per element
  static __m512 load16(const uint8_t* p, int64_t i) {
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * i)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
  }
  // Elements [i, i + 16) where `m` is set, zero elsewhere; nothing outside the mask is read.
  static __m512 load16_masked(const uint8_t* p, int64_t i, __mmask16 m) {
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p + 2 * i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
  }
};

// fp32_to_bf16 on 16 lanes: round to nearest-even on the bits, NaN made quiet.
inline __m256i bf16_round16(__m512 v) {
  const __m512i x = _mm512_castps_si512(v);
  const __m512i top = _mm512_srli_epi32(x, 16);
  const __m512i bias = _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(top, _mm512_set1_epi32(1)));
  const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(x, bias), 16);
  const __m512i quiet_nan = _mm512_or_si512(top, _mm512_set1_epi32(0x40));
  const __mmask16 is_nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(is_nan, rounded, quiet_nan));
}

}  // namespace

void bf16_to_float_avx512(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, Bf16Loader::load16(s, i));
  if (i < n) {
    const auto mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, s + 2 * i));
    _mm512_mask_storeu_ps(dst + i, mask, _mm512_castsi512_ps(_mm512_slli_epi32(h, 16)));
  }
}

void bf16_from_float_avx512(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 2 * i), bf16_round16(_mm512_loadu_ps(src + i)));
  }
  if (i < n) {
    const auto mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm256_mask_storeu_epi16(d + 2 * i, mask, bf16_round16(_mm512_maskz_loadu_ps(mask, src + i)));
  }
}

void bf16_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  float_vec_dot_avx512<Bf16Loader, F32Loader>(n, out, w, x);
}

void bf16_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo) {
  float_gemm_avx512<Bf16Loader, F32Loader>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
