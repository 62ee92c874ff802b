// AVX-VNNI kernels over the interleaved Q4_K, Q5_K, Q6_K, IQ4_XS and TQ2_0 layouts (quant/interleave_k_avx2.h,
// quant/interleave_q5k_iq4_avx2.h): the 4-byte dot as the VEX VPDPBUSD on 256-bit registers (Intel Alder Lake and
// later), compiled with -mavxvnni. The same template on EVEX VPDPBUSD is interleave_k_vnni256_avx512.cpp, which
// AVX-512 VNNI machines test.
#include "quant/interleave_k_avx2.h"
#include "quant/interleave_q5k_iq4_avx2.h"

namespace ternion::quant {

namespace {

struct DotAvxVnni {
  static constexpr bool kWideProducts = true;
  static __m256i dot(__m256i acc, __m256i u, __m256i x) { return _mm256_dpbusd_avx_epi32(acc, u, x); }
  static __m256i short_dot(__m256i s, __m256i u, __m256i x) { return dot(s, u, x); }
  static __m256i widen(__m256i s) { return s; }
  static __m256i widen_scaled(__m256i s, __m256i sc) { return _mm256_mullo_epi32(s, sc); }
};

using Gemms = InterleavedKGemms<DotAvxVnni>;
using Q5IQ4Gemms = InterleavedQ5IQ4Gemms<DotAvxVnni>;

}  // namespace

void q4_k_interleaved_gemm_avxvnni(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                   int64_t n_tokens, float* out, int64_t ldo) {
  Gemms::q4_k(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q6_k_interleaved_gemm_avxvnni(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                   int64_t n_tokens, float* out, int64_t ldo) {
  Gemms::q6_k(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void tq2_0_interleaved_gemm_avxvnni(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo) {
  Gemms::tq2_0(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q5_k_interleaved_gemm_avxvnni(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                   int64_t n_tokens, float* out, int64_t ldo) {
  Q5IQ4Gemms::q5_k(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void iq4_xs_interleaved_gemm_avxvnni(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                     int64_t n_tokens, float* out, int64_t ldo) {
  Q5IQ4Gemms::iq4_xs(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
