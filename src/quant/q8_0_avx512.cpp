// Q8_0 kernels for AVX-512 (F, BW, VL, DQ, VNNI): quantize (activations), dequantize, dot, tiled gemm.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/kernel_common.h"
#include "quant/q8_0.h"
#include "quant/q8_dot_avx2.h"
#include "quant/q8_dot_avx512.h"

namespace ternion::quant {

namespace {

struct Q8Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockQ8_0);
  static constexpr int32_t kUnsignedOffset = 128;
  static constexpr bool kHasQuadStep = false;
  static __m256i load_values(const uint8_t* block) { return load_q8_values(block); }
  // Blocks b and b+1 as unsigned bytes: block b in 128-bit lanes 0-1, block b+1 in lanes 2-3.
  static constexpr int kPairShuffleFirst = 0x88;   // lanes (0, 2) of each source: the first half of each block
  static constexpr int kPairShuffleSecond = 0xdd;  // lanes (1, 3): the second half
  static __m512i load_pair(const uint8_t* block) {
    const __m512i v =
        _mm512_inserti64x4(_mm512_castsi256_si512(load_q8_values(block)), load_q8_values(block + kBlockBytes), 1);
    return _mm512_xor_si512(v, _mm512_set1_epi8(-128));
  }
  static __m512i load_x_pair(const uint8_t* block) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load_q8_values(block)), load_q8_values(block + kQ8Bytes), 1);
  }
  static __m256i load_one(const uint8_t* block) {
    return _mm256_xor_si256(load_q8_values(block), _mm256_set1_epi8(-128));
  }
  // Dword k of the block for 16 rows, as unsigned bytes (value + 128).
  static void pack_block(const uint8_t* block, __m512i row_offsets, __m512i* out) {
    for (int k = 0; k < 8; ++k) {
      out[k] = _mm512_xor_si512(_mm512_i32gather_epi32(row_offsets, block + 2 + 4 * k, 1), _mm512_set1_epi8(-128));
    }
  }
};

}  // namespace

void q8_0_to_float_avx512(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const uint8_t* blk = s + b * kQ8Bytes;
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(load_scale(blk)));
    for (int j = 0; j < kQ8_0BlockSize; j += 16) {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2 + j));
      _mm512_storeu_ps(dst + b * kQ8_0BlockSize + j, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d));
    }
  }
}

// Same steps as q8_0_from_float_ref; vpmovsdb saturates like the reference's clamp.
void q8_0_from_float_avx512(const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const float* x = src + b * kQ8_0BlockSize;
    const __m512 v0 = _mm512_loadu_ps(x);
    const __m512 v1 = _mm512_loadu_ps(x + 16);
    const __m512 amax = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1));
    const float d = _mm512_reduce_max_ps(amax) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512 idv = _mm512_set1_ps(id);
    uint8_t* blk = out + b * kQ8Bytes;
    store_unaligned<uint16_t>(blk, 0, _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
    const __m128i q0 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, idv)));
    const __m128i q1 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, idv)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blk + 2), q0);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blk + 18), q1);
  }
}

void q8_0_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  q8_vec_dot_avx2<Q8Weights, VnniDot>(n, out, w, x);
}

void q8_0_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_avx512<Q8Weights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
