// Q5_1 kernels for AVX2 + FMA + F16C: dequantize, dot with Q8_0 activations, tiled gemm.
#include <immintrin.h>

#include "quant/kernel_common.h"
#include "quant/nibbles_avx2.h"
#include "quant/q5_1.h"
#include "quant/q8_min_dot_avx2.h"

namespace ternion::quant {

namespace {

struct Q5_1Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ5_1);
  static __m256i load_values(const uint8_t* block) { return q5_unsigned32(block + 4, block + 8); }
};

}  // namespace

void q5_1_to_float_avx2(const void* src, float* dst, int64_t n) { q8_min_to_float_avx2<Q5_1Weights>(src, dst, n); }

void q5_1_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  q8_min_vec_dot_avx2<Q5_1Weights>(n, out, w, x);
}

void q5_1_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                    int64_t n_tokens, float* out, int64_t ldo) {
  q8_min_gemm_avx2<Q5_1Weights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
