// AVX-512 kernels without VNNI (Skylake-X: F/BW/VL/DQ) over the interleaved Q4_K, Q6_K and TQ2_0 layouts
// (quant/interleave_k_avx512.h): the 4-byte dot as VPMADDUBSW (u8 x s8 pairs summed to int16) and VPMADDWD (pairs
// summed to int32). Short sums are int16 pairs; the template keeps them within the bounds that make them exact.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "quant/interleave_k_avx512.h"

namespace ternion::quant {

namespace {

struct DotMaddubs512 {
  static constexpr bool kWideProducts = false;
  static __m512i short_dot(__m512i s, __m512i u, __m512i x) { return _mm512_add_epi16(s, _mm512_maddubs_epi16(u, x)); }
  static __m512i widen(__m512i s) { return _mm512_madd_epi16(s, _mm512_set1_epi16(1)); }
  static __m512i widen_scaled(__m512i s, __m512i sc) { return _mm512_madd_epi16(s, int16_pairs(sc, sc)); }
};

using Gemms = InterleavedKGemms<DotMaddubs512>;

}  // namespace

void q4_k_interleaved_gemm_avx512bw(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo) {
  Gemms::q4_k(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q6_k_interleaved_gemm_avx512bw(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo) {
  Gemms::q6_k(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void tq2_0_interleaved_gemm_avx512bw(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                     int64_t n_tokens, float* out, int64_t ldo) {
  Gemms::tq2_0(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
