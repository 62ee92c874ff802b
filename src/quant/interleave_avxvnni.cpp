// AVX-VNNI kernels over the interleaved Q4_0 and Q8_0 layouts (the template of interleave_gemm_avx2.h with the VEX
// VPDPBUSD of Intel's client CPUs, 12th generation on). No CPU we test on has AVX-VNNI: the same source compiled
// with EVEX VPDPBUSD (interleave_vnni256_avx512.cpp) is what the kernel tests check on AVX-512 VNNI machines.
#include "quant/interleave_gemm_avx2.h"

namespace ternion::quant {

namespace {

struct VexDpbusd {
  static __m256i run(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_avx_epi32(acc, u, s); }
};

}  // namespace

void q4_0_interleaved_gemm_avxvnni(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                   int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q4Kernel<VnniDot<VexDpbusd>>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q8_0_interleaved_gemm_avxvnni(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                   int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q8Kernel<VnniDot<VexDpbusd>>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
