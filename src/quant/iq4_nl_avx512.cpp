// IQ4_NL kernels for AVX-512 (F, BW, VL, DQ, VNNI): dot with Q8_0 activations and tiled gemm, through the
// Q8_0-activation machinery of q8_dot_avx512.h (weights as unsigned bytes: grid value + 128).
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/iq4_nl.h"
#include "quant/kernel_common.h"
#include "quant/nibbles_avx2.h"
#include "quant/nibbles_avx512.h"
#include "quant/q8_dot_avx2.h"
#include "quant/q8_dot_avx512.h"

namespace ternion::quant {

namespace {

inline __m256i grid256() {
  return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kIq4Values)));
}

struct Iq4NlWeights {
  static constexpr size_t kBlockBytes = sizeof(BlockIq4Nl);
  static constexpr int32_t kUnsignedOffset = 128;
  static constexpr bool kHasQuadStep = false;
  static __m256i load_values(const uint8_t* block) { return iq4_values32(block + 2, grid256()); }
  static __m256i load_one(const uint8_t* block) {
    return _mm256_xor_si256(load_values(block), _mm256_set1_epi8(-128));  // + 128, as unsigned bytes
  }
  // Blocks b and b+1: block b in 128-bit lanes 0-1, block b+1 in lanes 2-3 (activations in natural order).
  static constexpr int kPairShuffleFirst = 0x88;   // lanes (0, 2) of each source: the first half of each block
  static constexpr int kPairShuffleSecond = 0xdd;  // lanes (1, 3): the second half
  static __m512i load_pair(const uint8_t* block) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load_one(block)), load_one(block + kBlockBytes), 1);
  }
  static __m512i load_x_pair(const uint8_t* block) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load_q8_values(block)), load_q8_values(block + kQ8Bytes), 1);
  }
  // Dword k of the block for 16 rows as unsigned bytes (elements 4k..4k+3, grid value + 128).
  static void pack_block(const uint8_t* block, __m512i row_offsets, __m512i* out) {
    const __m512i grid = _mm512_xor_si512(
        _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kIq4Values))), _mm512_set1_epi8(-128));
    gather_nibbles16(block + 2, row_offsets, out);
    for (int k = 0; k < 8; ++k) out[k] = _mm512_shuffle_epi8(grid, out[k]);
  }
};

}  // namespace

void iq4_nl_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  q8_vec_dot_avx2<Iq4NlWeights, VnniDot>(n, out, w, x);
}

void iq4_nl_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                        int64_t n_tokens, float* out, int64_t ldo) {
  q8_gemm_avx512<Iq4NlWeights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
