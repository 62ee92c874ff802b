// AVX-512 VNNI kernels over the interleaved Q4_K, Q6_K and TQ2_0 layouts (quant/interleave_k_avx512.h): the 4-byte
// dot as VPDPBUSD, whose int32 lanes hold any sum the kernels make (short sums are int32 already), so fields may
// stay in place (16 x a high nibble, 4^l x a trit) and be shifted back once, exactly.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "quant/interleave_k_avx512.h"

namespace ternion::quant {

namespace {

struct DotVnni512 {
  static constexpr bool kWideProducts = true;
  static __m512i short_dot(__m512i s, __m512i u, __m512i x) { return _mm512_dpbusd_epi32(s, u, x); }
  static __m512i widen(__m512i s) { return s; }
  static __m512i widen_scaled(__m512i s, __m512i sc) { return _mm512_mullo_epi32(s, sc); }
};

using Gemms = InterleavedKGemms<DotVnni512>;

}  // namespace

void q4_k_interleaved_gemm_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                  int64_t n_tokens, float* out, int64_t ldo) {
  Gemms::q4_k(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q6_k_interleaved_gemm_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                  int64_t n_tokens, float* out, int64_t ldo) {
  Gemms::q6_k(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void tq2_0_interleaved_gemm_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                   int64_t n_tokens, float* out, int64_t ldo) {
  Gemms::tq2_0(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
