// Q5_1 kernels for AVX-512 (F, BW, VL, DQ, VNNI): dot with Q8_0 activations and tiled gemm (q8_min_dot_avx512.h).
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/kernel_common.h"
#include "quant/nibbles_avx2.h"
#include "quant/nibbles_avx512.h"
#include "quant/q5_1.h"
#include "quant/q8_min_dot_avx2.h"
#include "quant/q8_min_dot_avx512.h"

namespace ternion::quant {

namespace {

struct Q5_1Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ5_1);
  static __m256i load_values(const uint8_t* block) { return q5_unsigned32(block + 4, block + 8); }
  // Dword k of the block for 16 rows (elements 4k..4k+3).
  static void pack_block(const uint8_t* block, __m512i row_offsets, __m512i* out) {
    gather_q5_16(block + 4, block + 8, row_offsets, out);
  }
};

}  // namespace

void q5_1_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  q8_min_vec_dot_avx2<Q5_1Weights, VnniUnsignedDot>(n, out, w, x);
}

void q5_1_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo) {
  q8_min_gemm_avx512<Q5_1Weights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
