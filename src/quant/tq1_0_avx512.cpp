// TQ1_0 kernels for AVX-512 (F, BW, VL, DQ, VNNI): dot with Q8_K activations and tiled gemm (dequantizing uses the
// AVX2 kernel).
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "quant/ternary_avx512.h"
#include "quant/tq1_0.h"

namespace ternion::quant {

namespace {

// The leading trit of every byte p: (p * 3) >> 8, i.e. 1 from p = 86 and 2 from p = 171.
inline __m512i leading_trit(__m512i p) {
  const __mmask64 one = _mm512_cmpge_epu8_mask(p, _mm512_set1_epi8(86));
  const __mmask64 two = _mm512_cmpge_epu8_mask(p, _mm512_set1_epi8(static_cast<char>(171)));
  return _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(one, _mm512_set1_epi8(1)), two, _mm512_set1_epi8(2));
}

// p * 9 in every byte, modulo 256: moves the trit after next to the front.
inline __m512i times9(__m512i p) {
  const __m512i p3 = _mm512_add_epi8(p, _mm512_add_epi8(p, p));
  return _mm512_add_epi8(p3, _mm512_add_epi8(p3, p3));
}

struct TQ1Weights {
  static constexpr size_t kBlockBytes = sizeof(BlockTQ1_0);
  static constexpr size_t kScaleOffset = offsetof(BlockTQ1_0, d);
  static constexpr int64_t kPackMinTokens = 4;
  static void decode512(const uint8_t* block, __m512i* t) {
    constexpr __mmask64 kHighHalf = 0xffffffff00000000ull;
    constexpr __mmask64 kOddLanes = 0xffff0000ffff0000ull;  // 128-bit lanes 1 and 3
    // qs[0..32) in both halves, the high one times 3: trits 2i, 2i + 1 are elements 64i..64i+63.
    __m512i p = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block)));
    p = _mm512_mask_add_epi8(p, kHighHalf, p, _mm512_add_epi8(p, p));
    t[0] = leading_trit(p);
    p = times9(p);
    t[1] = leading_trit(p);
    p = times9(p);  // low half: trit 4, elements 128..159
    // qs[32..48) in every 128-bit lane, times [1, 3, 1, 3], then [9, 27, 9, 27], then 81 (lane 2).
    __m512i q = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 32)));
    q = _mm512_mask_add_epi8(q, kOddLanes, q, _mm512_add_epi8(q, q));
    t[2] = leading_trit(_mm512_mask_blend_epi64(0xf0, p, q));  // elements 160..191 in lanes 2, 3
    q = times9(q);
    const __m512i q81 = times9(q);
    // qh: byte 4k + j of lane 3 = qh[j] * 3^k; 16-bit multiplies, even and odd bytes apart.
    const __m128i h = _mm_set1_epi32(load_unaligned<int32_t>(block + offsetof(BlockTQ1_0, qh), 0));
    const __m128i f = _mm_setr_epi16(1, 1, 3, 3, 9, 9, 27, 27);
    const __m128i even = _mm_and_si128(_mm_mullo_epi16(h, f), _mm_set1_epi16(0x00ff));
    const __m128i odd = _mm_mullo_epi16(_mm_and_si128(h, _mm_set1_epi16(static_cast<short>(0xff00))), f);
    const __m512i last = _mm512_mask_blend_epi64(0x30, q, q81);  // [9q, 27q, 81q, -]
    t[3] = leading_trit(_mm512_inserti32x4(last, _mm_or_si128(even, odd), 3));
  }
  // Dword k < 8 of qs holds trit n of elements 32n + 4k + 0..3; dword 8 + k (k < 4) trit n of elements
  // 160 + 16n + 4k + 0..3; qh trit n of elements 240 + 4n + 0..3.
  static void pack16(const uint8_t* block, size_t w_stride, __m512i* out) {
    __m512i m[16];
    load_rows_transposed(block, w_stride, 52, m);
    for (int k = 0; k < 13; ++k) {
      __m512i p = m[k];
      const int trits = k < 12 ? 5 : 4;
      for (int n = 0; n < trits; ++n) {
        const int i = k < 8 ? 8 * n + k : k < 12 ? 40 + 4 * n + (k - 8) : 60 + n;
        out[i] = leading_trit(p);
        p = _mm512_add_epi8(p, _mm512_add_epi8(p, p));
      }
    }
  }
};

}  // namespace

void tq1_0_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  ternary_vec_dot_avx512<TQ1Weights>(n, out, w, x);
}

void tq1_0_gemm_avx512(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                       int64_t n_tokens, float* out, int64_t ldo) {
  ternary_gemm_avx512<TQ1Weights>(n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
