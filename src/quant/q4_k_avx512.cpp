// Q4_K gemm for AVX-512 VNNI: packed rows and VPDPBUSD for prompt batches (q8_k_packed_avx512.h), the row tiles of
// the 512-bit dot (q8_k_dot_avx512.h) for the rest; the dot itself is in q4_k_avx512bw.cpp.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "quant/q4_k_avx512.h"
#include "quant/q8_k_packed_avx512.h"

namespace ternion::quant {

void q4_k_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo) {
  kq_gemm_avx512<Q4KWeights512>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
