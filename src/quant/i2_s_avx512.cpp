// I2_S kernels for AVX-512 (F, BW, VL, DQ, VNNI): dot with Q8_K activations and tiled gemm (ternary_avx512.h's,
// with a block scale of 1; dequantizing uses the AVX2 kernel).
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/i2_s.h"
#include "quant/ternary_avx512.h"

namespace ternion::quant {

namespace {

struct I2SWeights {
  static constexpr size_t kBlockBytes = kI2SBlockBytes;
  static constexpr bool kUnitScale = true;
  static constexpr int64_t kPackMinTokens = 8;
  // Elements 64k..64k+63 are bits 6-2l, 7-2l (l = 2(k % 2)) of bytes 32h .. 32h+32 (h = k / 2), then bits 4-2l,
  // 5-2l: the 32 bytes in both halves of a register, shifted by a different amount per half.
  static void decode512(const uint8_t* block, __m512i* t) {
    const __m512i mask = _mm512_set1_epi8(3);
    const __m512i shift_low = _mm512_inserti64x4(_mm512_set1_epi16(6), _mm256_set1_epi16(4), 1);
    const __m512i shift_high = _mm512_inserti64x4(_mm512_set1_epi16(2), _mm256_setzero_si256(), 1);
    for (int h = 0; h < 2; ++h) {
      const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32 * h)));
      t[2 * h] = _mm512_and_si512(_mm512_srlv_epi16(q, shift_low), mask);
      t[2 * h + 1] = _mm512_and_si512(_mm512_srlv_epi16(q, shift_high), mask);
    }
  }
  // Dword k holds, in bits 6-2l, 7-2l of its bytes, elements 128h + 32l + 4(k % 8) + 0..3 (h = k / 8).
  static void pack16(const uint8_t* block, size_t w_stride, __m512i* out) {
    __m512i m[16];
    load_rows_transposed(block, w_stride, 64, m);
    const __m512i mask = _mm512_set1_epi8(3);
    for (int k = 0; k < 16; ++k) {
      for (int l = 0; l < 4; ++l) {
        out[32 * (k / 8) + 8 * l + k % 8] =
            _mm512_and_si512(_mm512_srli_epi32(m[k], static_cast<unsigned>(6 - 2 * l)), mask);
      }
    }
  }
};

}  // namespace

void i2_s_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  ternary_vec_dot_avx512<I2SWeights>(n, out, w, x);
}

void i2_s_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo) {
  ternary_gemm_avx512<I2SWeights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
