// BF16 conversions and dot kernels for AVX2 + FMA.
#include <immintrin.h>

#include <bit>

#include "quant/bf16.h"
#include "quant/float_dot_avx2.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

struct Bf16Loader {
  static constexpr size_t kBytes = 2;  // bytes per element
  static __m256 load8(const uint8_t* p, int64_t i) {
    const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
  }
  static float load1(const uint8_t* p, int64_t i) {
    return std::bit_cast<float>(static_cast<uint32_t>(load_unaligned<uint16_t>(p, i)) << 16);
  }
};

// fp32_to_bf16 on 8 lanes: round to nearest-even on the bits, NaN made quiet; the results in the low 16 bits.
__m256i bf16_round8(__m256 v) {
  const __m256i x = _mm256_castps_si256(v);
  const __m256i top = _mm256_srli_epi32(x, 16);
  const __m256i bias = _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(top, _mm256_set1_epi32(1)));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(x, bias), 16);
  const __m256i quiet_nan = _mm256_or_si256(top, _mm256_set1_epi32(0x40));
  const __m256i is_nan =
      _mm256_cmpgt_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  return _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
}

}  // namespace

void bf16_to_float_avx2(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, Bf16Loader::load8(s, i));
  for (; i < n; ++i) dst[i] = Bf16Loader::load1(s, i);
}

void bf16_from_float_avx2(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint8_t*>(dst);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i r = bf16_round8(_mm256_loadu_ps(src + i));
    // Pack the low halves of the 8 lanes: packus works per 128-bit half, so gather the halves afterwards.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 2 * i), _mm256_castsi256_si128(packed));
  }
  for (; i < n; ++i) store_unaligned<uint16_t>(dst, i, fp32_to_bf16(src[i]));
}

void bf16_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  float_vec_dot_avx2<Bf16Loader, F32Loader>(n, out, w, x);
}

void bf16_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  float_gemm_avx2<Bf16Loader, F32Loader>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
