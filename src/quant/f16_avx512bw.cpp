// F16 conversions and dot kernels for AVX-512 (F16C conversions on 16 lanes), built for the Avx512 level
// (F/BW/VL/DQ), whose record AVX-512 VNNI CPUs use as well.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/f16.h"
#include "quant/float_dot_avx512.h"

namespace ternion::quant {

namespace {

struct F16Loader {
  static constexpr size_t kBytes = 2;  // bytes per element
  static __m512 load16(const uint8_t* p, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * i)));
  }
  // Elements [i, i + 16) where `m` is set, zero elsewhere; nothing outside the mask is read.
  static __m512 load16_masked(const uint8_t* p, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p + 2 * i));
  }
};

// fp32_to_fp16 on up to 16 lanes: the hardware rounds to nearest-even like the reference; NaN lanes become
// sign | 0x7e00 as the reference makes them.
inline __m256i fp16_round16(__m512 v) {
  const __m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  const __m512i sign = _mm512_and_si512(_mm512_srli_epi32(_mm512_castps_si512(v), 16), _mm512_set1_epi32(0x8000));
  const __m256i quiet = _mm512_cvtepi32_epi16(_mm512_or_si512(sign, _mm512_set1_epi32(0x7e00)));
  return _mm256_mask_blend_epi16(nan, h, quiet);
}

}  // namespace

void f16_to_float_avx512(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, F16Loader::load16(s, i));
  if (i < n) {
    const auto mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m256i h = _mm256_maskz_loadu_epi16(mask, s + 2 * i);
    _mm512_mask_storeu_ps(dst + i, mask, _mm512_cvtph_ps(h));
  }
}

void f16_from_float_avx512(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + 2 * i), fp16_round16(_mm512_loadu_ps(src + i)));
  }
  if (i < n) {
    const auto mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm256_mask_storeu_epi16(d + 2 * i, mask, fp16_round16(_mm512_maskz_loadu_ps(mask, src + i)));
  }
}

void f16_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  float_vec_dot_avx512<F16Loader>(n, out, w, x);
}

void f16_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo) {
  float_gemm_avx512<F16Loader>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
