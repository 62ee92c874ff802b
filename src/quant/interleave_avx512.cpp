// AVX-512 VNNI kernels over the interleaved Q4_0 and Q8_0 layouts: the template of interleave_gemm_avx512.h with
// VPDPBUSD, which adds the four u8 x s8 products of each lane to int32 exactly, so the stored q + 128 of Q8_0
// serves as it is.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "quant/interleave_gemm_avx512.h"

namespace ternion::quant {

namespace {

struct VnniDot512 {
  static __m512i dpbusd(__m512i acc, __m512i u, __m512i s) { return _mm512_dpbusd_epi32(acc, u, s); }

  // Decode tiles split the 8 words into two chains (words 0-3, 4-7) to hide the dot latency; the second chain holds
  // words 4..7 alone, so for Q4_0 it takes 16 x the high nibbles (one AND instead of a shift and an AND) and its
  // sum is shifted back, exactly (a multiple of 16).
  struct Nibbles {
    __m512i v[8];
  };
  template <bool kDecode>
  static void nibble_load(const uint8_t* blk, Nibbles& w) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int k = 0; k < 4; ++k) {
      const __m512i q = _mm512_loadu_si512(blk + 64 * k);
      w.v[k] = _mm512_and_si512(q, low);
      w.v[k + 4] = kDecode ? _mm512_andnot_si512(low, q) : _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
    }
  }
  template <bool kDecode>
  static __m512i nibble_dot(__m512i acc, const Nibbles& w, const uint8_t* xv) {
    if constexpr (kDecode) {
      __m512i high = _mm512_setzero_si512();
      for (int k = 0; k < 4; ++k) {
        acc = dpbusd(acc, w.v[k], activation_word(xv, k));
        high = dpbusd(high, w.v[k + 4], activation_word(xv, k + 4));
      }
      return _mm512_add_epi32(acc, _mm512_srai_epi32(high, 4));
    } else {
      for (int k = 0; k < 8; ++k) acc = dpbusd(acc, w.v[k], activation_word(xv, k));
      return acc;
    }
  }
  static constexpr int kQ4TileTokens = 8;  // 8 int + 8 float accumulators next to 8 weight registers

  struct Q8Weights {
    __m512i v[8];
  };
  static constexpr int32_t kQ8Offset = 128;
  static constexpr int kQ8TileTokens = 8;
  template <bool kDecode>
  static void q8_load(const uint8_t* blk, Q8Weights& w) {
    for (int k = 0; k < 8; ++k) w.v[k] = _mm512_loadu_si512(blk + 64 * k);
  }
  template <bool kDecode>
  static __m512i q8_dot(__m512i acc, const Q8Weights& w, const uint8_t* xv) {
    if constexpr (kDecode) {
      __m512i second = _mm512_setzero_si512();
      for (int k = 0; k < 4; ++k) {
        acc = dpbusd(acc, w.v[k], activation_word(xv, k));
        second = dpbusd(second, w.v[k + 4], activation_word(xv, k + 4));
      }
      return _mm512_add_epi32(acc, second);
    } else {
      for (int k = 0; k < 8; ++k) acc = dpbusd(acc, w.v[k], activation_word(xv, k));
      return acc;
    }
  }
};

}  // namespace

void q4_0_interleaved_gemm_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                  int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q4Kernel<VnniDot512>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q8_0_interleaved_gemm_avx512(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                  int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q8Kernel<VnniDot512>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
