// TQ1_0 kernels for AVX2 + FMA + F16C: dequantize, dot with Q8_K activations, tiled gemm.
#include <immintrin.h>

#include "quant/ternary_avx2.h"
#include "quant/tq1_0.h"

namespace ternion::quant {

namespace {

// The leading trit of every byte p: (p * 3) >> 8, i.e. 1 from p = 86 and 2 from p = 171.
inline __m256i leading_trit(__m256i p) {
  const __m256i one = _mm256_set1_epi8(1);
  const __m256i a = _mm256_min_epu8(_mm256_subs_epu8(p, _mm256_set1_epi8(85)), one);
  const __m256i b = _mm256_min_epu8(_mm256_subs_epu8(p, _mm256_set1_epi8(static_cast<char>(170))), one);
  return _mm256_add_epi8(a, b);
}

// p * 3 in every byte, modulo 256: moves the next trit to the front.
inline __m256i times3(__m256i p) { return _mm256_add_epi8(p, _mm256_add_epi8(p, p)); }

struct TQ1Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockTQ1_0);
  static constexpr size_t kScaleOffset = offsetof(BlockTQ1_0, d);
  static void decode(const uint8_t* block, __m256i* t) {
    // qs[0..32): trit k is chunk k.
    __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block));
    t[0] = leading_trit(p);
    for (int k = 1; k < 5; ++k) {
      p = times3(p);
      t[k] = leading_trit(p);
    }
    // qs[32..48): trits 2i and 2i + 1 form chunk 5 + i, the low and high halves; trit 4 is the low half of chunk 7.
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 32));
    __m256i u = _mm256_set_m128i(_mm_add_epi8(q, _mm_add_epi8(q, q)), q);
    t[5] = leading_trit(u);
    u = times3(times3(u));
    t[6] = leading_trit(u);
    u = times3(times3(u));
    // qh: the high half of chunk 7 is byte 4k + j = qh[j] * 3^k; 16-bit multiplies, even and odd bytes apart.
    const __m128i h = _mm_set1_epi32(load_unaligned<int32_t>(block + offsetof(BlockTQ1_0, qh), 0));
    const __m128i f = _mm_setr_epi16(1, 1, 3, 3, 9, 9, 27, 27);
    const __m128i even = _mm_and_si128(_mm_mullo_epi16(h, f), _mm_set1_epi16(0x00ff));
    const __m128i odd = _mm_mullo_epi16(_mm_and_si128(h, _mm_set1_epi16(static_cast<short>(0xff00))), f);
    t[7] = leading_trit(_mm256_inserti128_si256(u, _mm_or_si128(even, odd), 1));
  }
};

}  // namespace

void tq1_0_to_float_avx2(const void* src, float* dst, int64_t n) { ternary_to_float_avx2<TQ1Weights>(src, dst, n); }

void tq1_0_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  ternary_vec_dot_avx2<TQ1Weights>(n, out, w, x);
}

void tq1_0_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo) {
  ternary_gemm_avx2<TQ1Weights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
