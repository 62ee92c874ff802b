// Q6_K row kernels for the Avx512 level (AVX-512 F/BW/VL/DQ, no VNNI): the dot with Q8_K activations, 64 values
// per register (q8_k_dot_avx512.h: VPMADDUBSW + VPMADDWD), which the AVX-512 VNNI record uses too, and the tiled
// gemm over it (q6_k_avx512.cpp has the VNNI one).
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "quant/q6_k_avx512.h"

namespace ternion::quant {

void q6_k_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  kq_vec_dot<Q6KWeights512, Avx512Step>(n, out, w, x);
}

void q6_k_gemm_avx512bw(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo) {
  kq_gemm<Q6KWeights512, Avx512Step>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
