// AVX-512 kernels without VNNI (Skylake-X: F/BW/VL/DQ) over the interleaved Q4_0 and Q8_0 layouts: the template of
// interleave_gemm_avx512.h with the dot as VPMADDUBSW (u8 x s8 pairs summed in saturating int16) and VPMADDWD
// (pairs widened to int32). The pair sums stay exact as in the AVX2 kernels (interleave_gemm_avx2.h).
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "quant/interleave_gemm_avx512.h"

namespace ternion::quant {

namespace {

struct MaddubsDot512 {
  static __m512i widen(__m512i pairs) { return _mm512_madd_epi16(pairs, _mm512_set1_epi16(1)); }

  // A nibble pair is at most 2 * 15 * 128 = 3840 in magnitude, so the 8 words' pairs add exactly in int16 (30720)
  // before one widening.
  struct Nibbles {
    __m512i v[8];  // v[k] meets activation word k: low nibbles of words 0..3, then their high nibbles
  };
  template <bool kDecode>
  static void nibble_load(const uint8_t* blk, Nibbles& w) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    for (int k = 0; k < 4; ++k) {
      const __m512i q = _mm512_loadu_si512(blk + 64 * k);
      w.v[k] = _mm512_and_si512(q, low);
      w.v[k + 4] = _mm512_and_si512(_mm512_srli_epi16(q, 4), low);
    }
  }
  template <bool kDecode>
  static __m512i nibble_dot(__m512i acc, const Nibbles& w, const uint8_t* xv) {
    __m512i p = _mm512_maddubs_epi16(w.v[0], activation_word(xv, 0));
    for (int k = 1; k < 8; ++k) p = _mm512_add_epi16(p, _mm512_maddubs_epi16(w.v[k], activation_word(xv, k)));
    return _mm512_add_epi32(acc, widen(p));
  }
  static constexpr int kQ4TileTokens = 8;

  // q + 128 against an int8 could reach 2 * 255 * 128 and saturate, so Q8_0 goes back to signed: |q| (as u8, 128
  // for -128) times x negated where q < 0 (AVX-512 has no VPSIGNB: a masked subtract from zero). A pair is then at
  // most 2 * 128 * 127 = 32512: exact for every weight and for activations in [-127, 127], which is all the Q8_0
  // quantizer writes (as the AVX2 kernels assume).
  struct Q8Weights {
    __m512i abs[8];
    __mmask64 neg[8];
  };
  static constexpr int32_t kQ8Offset = 0;
  static constexpr int kQ8TileTokens = 4;  // 8 weight registers more than Q4_0's
  template <bool kDecode>
  static void q8_load(const uint8_t* blk, Q8Weights& w) {
    for (int k = 0; k < 8; ++k) {
      const __m512i q = _mm512_xor_si512(_mm512_loadu_si512(blk + 64 * k), _mm512_set1_epi8(static_cast<char>(0x80)));
      w.abs[k] = _mm512_abs_epi8(q);
      w.neg[k] = _mm512_movepi8_mask(q);
    }
  }
  template <bool kDecode>
  static __m512i q8_dot(__m512i acc, const Q8Weights& w, const uint8_t* xv) {
    for (int k = 0; k < 8; ++k) {
      const __m512i xw = activation_word(xv, k);
      const __m512i signed_x = _mm512_mask_sub_epi8(xw, w.neg[k], _mm512_setzero_si512(), xw);
      acc = _mm512_add_epi32(acc, widen(_mm512_maddubs_epi16(w.abs[k], signed_x)));
    }
    return acc;
  }
};

}  // namespace

void q4_0_interleaved_gemm_avx512bw(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q4Kernel<MaddubsDot512>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

void q8_0_interleaved_gemm_avx512bw(int64_t n, const void* groups, int64_t n_rows, const void* x, size_t x_stride,
                                    int64_t n_tokens, float* out, int64_t ldo) {
  interleaved_gemm<Q8Kernel<MaddubsDot512>>(n, groups, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
