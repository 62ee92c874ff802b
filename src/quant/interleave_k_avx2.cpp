// AVX2 kernels over the interleaved Q4_K, Q5_K, Q6_K, IQ4_XS and TQ2_0 layouts (quant/interleave_k_avx2.h,
// quant/interleave_q5k_iq4_avx2.h): the 4-byte dot as VPMADDUBSW (u8 x s8 pairs summed to int16) and VPMADDWD by
// ones (pairs summed to int32). The pair sums are exact: the kernels feed values up to 63 (Q6_K's q + 32; Q5_K's
// q, Q4_K nibbles and trits are smaller), and 2 * 63 * 128 = 16128 fits int16; IQ4_XS feeds |w| against x with
// w's sign, at most 2 * 127 * 127 for the activations the Q8_K quantizer writes.
#include "quant/interleave_k_avx2.h"
#include "quant/interleave_q5k_iq4_avx2.h"

namespace ternion::quant {

namespace {

struct DotAvx2 {
  static constexpr bool kWideProducts = false;
  static __m256i dot(__m256i acc, __m256i u, __m256i x) { return _mm256_add_epi32(acc, widen(pairs(u, x))); }
  // Short sums: int16 pairs (see interleave_k_avx2.h for the bounds that keep them exact).
  static __m256i short_dot(__m256i s, __m256i u, __m256i x) { return _mm256_add_epi16(s, pairs(u, x)); }
  static __m256i widen(__m256i s) { return _mm256_madd_epi16(s, _mm256_set1_epi16(1)); }
  static __m256i widen_scaled(__m256i s, __m256i sc) {
    return _mm256_madd_epi16(s, _mm256_blend_epi16(sc, _mm256_slli_epi32(sc, 16), 0xaa));  // sc in both halves
  }

 private:
  static __m256i pairs(__m256i u, __m256i x) { return _mm256_maddubs_epi16(u, x); }
};

using Gemms = InterleavedKGemms<DotAvx2>;
using Q5IQ4Gemms = InterleavedQ5IQ4Gemms<DotAvx2>;

}  // namespace

void q4_k_interleaved_gemm_avx2(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                int64_t n_tokens, float* out, int64_t ldo) {
  Gemms::q4_k(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q6_k_interleaved_gemm_avx2(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                int64_t n_tokens, float* out, int64_t ldo) {
  Gemms::q6_k(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void tq2_0_interleaved_gemm_avx2(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                 int64_t n_tokens, float* out, int64_t ldo) {
  Gemms::tq2_0(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q5_k_interleaved_gemm_avx2(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                int64_t n_tokens, float* out, int64_t ldo) {
  Q5IQ4Gemms::q5_k(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void iq4_xs_interleaved_gemm_avx2(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                  int64_t n_tokens, float* out, int64_t ldo) {
  Q5IQ4Gemms::iq4_xs(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
