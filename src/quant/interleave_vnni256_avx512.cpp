// The AVX-VNNI kernels' source (interleave_gemm_avx2.h with a 256-bit VPDPBUSD) compiled for AVX-512 VNNI, whose
// EVEX VPDPBUSD on ymm computes the same: AVX-512 VNNI CPUs (Zen 4, Ice Lake) lack AVX-VNNI, so this is how the
// kernel tests check that logic on them. Production on those CPUs uses the 512-bit kernels (interleave_avx512.cpp).
#include "quant/interleave_gemm_avx2.h"

namespace ternion::quant {

namespace {

struct EvexDpbusd {
  static __m256i run(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
};

}  // namespace

void q4_0_interleaved_gemm_vnni256_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                          int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q4Kernel<VnniDot<EvexDpbusd>>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q8_0_interleaved_gemm_vnni256_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                          int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q8Kernel<VnniDot<EvexDpbusd>>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
