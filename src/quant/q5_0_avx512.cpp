// Q5_0 kernels for AVX-512 (F, BW, VL, DQ, VNNI): dot with Q8_0 activations and tiled gemm, through the
// Q8_0-activation machinery of q8_dot_avx512.h (weights as unsigned bytes q = value + 16).
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/kernel_common.h"
#include "quant/nibbles_avx2.h"
#include "quant/nibbles_avx512.h"
#include "quant/q5_0.h"
#include "quant/q8_dot_avx2.h"
#include "quant/q8_dot_avx512.h"

namespace ternion::quant {

namespace {

struct Q5_0Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ5_0);
  static constexpr int32_t kUnsignedOffset = 16;
  static constexpr bool kHasQuadStep = false;
  static __m256i load_values(const uint8_t* block) { return q5_signed32(block + 2, block + 6); }  // q - 16
  static __m256i load_one(const uint8_t* block) { return q5_unsigned32(block + 2, block + 6); }   // q
  // Blocks b and b+1: block b in 128-bit lanes 0-1, block b+1 in lanes 2-3 (activations in natural order).
  static constexpr int kPairShuffleFirst = 0x88;   // lanes (0, 2) of each source: the first half of each block
  static constexpr int kPairShuffleSecond = 0xdd;  // lanes (1, 3): the second half
  static __m512i load_pair(const uint8_t* block) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load_one(block)), load_one(block + kBlockBytes), 1);
  }
  static __m512i load_x_pair(const uint8_t* block) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load_q8_values(block)), load_q8_values(block + kQ8Bytes), 1);
  }
  // Dword k of the block for 16 rows as unsigned quants (elements 4k..4k+3).
  static void pack_block(const uint8_t* block, __m512i row_offsets, __m512i* out) {
    gather_q5_16(block + 2, block + 6, row_offsets, out);
  }
};

}  // namespace

void q5_0_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  q8_vec_dot_avx2<Q5_0Weights, VnniDot>(n, out, w, x);
}

void q5_0_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_avx512<Q5_0Weights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
