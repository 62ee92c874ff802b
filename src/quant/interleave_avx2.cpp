// AVX2 kernels over the interleaved Q4_0 and Q8_0 layouts (the template of interleave_gemm_avx2.h with
// VPMADDUBSW + VPMADDWD dots): the Avx2 level's interleaved kernels, which AVX-512 CPUs without VNNI use too.
#include "quant/interleave_gemm_avx2.h"

namespace ternion::quant {

void q4_0_interleaved_gemm_avx2(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q4Kernel<MaddubsDot>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q8_0_interleaved_gemm_avx2(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q8Kernel<MaddubsDot>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
