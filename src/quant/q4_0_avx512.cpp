// Q4_0 kernels for AVX-512 (F, BW, VL, DQ, VNNI): dequantize, dot with Q8_0 activations, tiled gemm.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/kernel_common.h"
#include "quant/q4_0.h"
#include "quant/q8_dot_avx2.h"
#include "quant/q8_dot_avx512.h"

namespace ternion::quant {

namespace {

struct Q4Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ4_0);
  static __m256i load_values(const uint8_t* block) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2));
    const __m256i nibbles = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
    return _mm256_sub_epi8(nibbles, _mm256_set1_epi8(8));
  }
  static constexpr int32_t kUnsignedOffset = 8;
  // Blocks b and b+1 as unsigned nibbles, 128-bit lanes: [low b, low b+1, high b, high b+1]; block b is in
  // lanes 0 and 2. The activations are laid out the same way.
  static constexpr int kPairShuffleFirst = 0x44;   // lanes (0, 1) of each source
  static constexpr int kPairShuffleSecond = 0xee;  // lanes (2, 3)
  static __m512i load_pair(const uint8_t* block) {
    const __m256i q = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + kBlockBytes + 2)),
                                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2)));
    const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
    return _mm512_and_si512(both, _mm512_set1_epi8(0x0f));
  }
  static __m512i load_x_pair(const uint8_t* block) {
    const __m512i v =
        _mm512_inserti64x4(_mm512_castsi256_si512(load_q8_values(block)), load_q8_values(block + sizeof(BlockQ8_0)), 1);
    return _mm512_shuffle_i32x4(v, v, 0xd8);  // [b 0-15, b+1 0-15, b 16-31, b+1 16-31]
  }
  static __m256i load_one(const uint8_t* block) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 2));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
  }
  // Dword k of the block for 16 rows as unsigned nibbles: k < 4 from the low nibbles of bytes 4k..4k+3, k >= 4
  // from the high nibbles of bytes 4(k-4)..
  static void pack_block(const uint8_t* block, __m512i row_offsets, __m512i* out) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int k = 0; k < 4; ++k) {
      const __m512i q = _mm512_i32gather_epi32(row_offsets, block + 2 + 4 * k, 1);
      out[k] = _mm512_and_si512(q, low);
      out[k + 4] = _mm512_and_si512(_mm512_srli_epi32(q, 4), low);
    }
  }
};

}  // namespace

void q4_0_to_float_avx512(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQ4_0BlockSize; ++b) {
    const uint8_t* blk = s + b * Q4Weights::kBlockBytes;
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(load_scale(blk)));
    const __m256i q = Q4Weights::load_values(blk);
    float* y = dst + b * kQ4_0BlockSize;
    _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))), d));
    _mm512_storeu_ps(y + 16,
                     _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))), d));
  }
}

void q4_0_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  q8_vec_dot_avx2<Q4Weights, VnniDot>(n, out, w, x);
}

void q4_0_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_avx512<Q4Weights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
