// IQ4_XS kernels for AVX2 + FMA + F16C: dequantize, dot with Q8_K activations, tiled gemm.
//
// Per block of 32 the grid values meet the activations in maddubs (|w| against x with w's sign, exact: pairs of
// products stay below 2^15), and madd with the block scale adds pairs into int32 lanes; the 8 blocks of a
// super-block sum exactly into one int32 vector per output, which then enters the float sum in the order of the
// reference. Activations must not hold -128 (the Q8_K quantizer gives [-127, 127]).
#include <immintrin.h>

#include <cmath>

#include "quant/iq4_nl.h"
#include "quant/iq4_xs.h"
#include "quant/kernel_common.h"
#include "quant/nibbles_avx2.h"
#include "quant/q8_dot_avx2.h"
#include "quant/q8_k.h"
#include "quant/tile_driver.h"

namespace ternion::quant {

namespace {

constexpr size_t kWBytes = sizeof(BlockIq4Xs);
constexpr size_t kXBytes = sizeof(BlockQ8_K);
constexpr int kBlocks = kIq4XsBlockSize / 32;
constexpr size_t kWQs = 8;  // offset of qs in a weight super-block
constexpr size_t kXQs = 4;  // offset of qs in an activation super-block

inline __m256i grid256() {
  return _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kIq4Values)));
}

// The 8 block scales (ls - 32) of a super-block.
inline void block_scales(const uint8_t* sb, int16_t* scales) {
  const uint16_t high = load_unaligned<uint16_t>(sb + 2, 0);
  for (int ib = 0; ib < kBlocks; ++ib) {
    const int low = (sb[4 + ib / 2] >> (4 * (ib % 2))) & 0x0f;
    scales[ib] = static_cast<int16_t>((low | (((high >> (2 * ib)) & 3) << 4)) - 32);
  }
}

// 8 int32 lanes summing to scale * (block of grid values w . block of activations x).
inline __m256i scaled_block(__m256i w, __m256i x, __m256i scale16) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), scale16);
}

inline __m256i load_x(const uint8_t* sb, int ib) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + kXQs + 32 * ib));
}

// R rows x T tokens = 8 outputs, output j = t * R + r in lane j.
template <int R, int T>
void iq4_xs_tile(int64_t n, const uint8_t* w, size_t w_stride, const uint8_t* x, size_t x_stride, float* out,
                 int64_t ldo) {
  static_assert(R * T == 8, "one output per lane");
  const __m256i grid = grid256();
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kIq4XsBlockSize; ++i) {
    const uint8_t* wb = w + i * kWBytes;
    const uint8_t* xb = x + i * kXBytes;
    int16_t scales[R][kBlocks];
    for (int r = 0; r < R; ++r) block_scales(wb + r * w_stride, scales[r]);
    __m256i v[8];
    for (auto& vj : v) vj = _mm256_setzero_si256();
    for (int ib = 0; ib < kBlocks; ++ib) {
      __m256i xq[T];
      for (int t = 0; t < T; ++t) xq[t] = load_x(xb + t * x_stride, ib);
      for (int r = 0; r < R; ++r) {
        const __m256i wq = iq4_values32(wb + r * w_stride + kWQs + 16 * ib, grid);
        const __m256i s = _mm256_set1_epi16(scales[r][ib]);
        for (int t = 0; t < T; ++t) v[t * R + r] = _mm256_add_epi32(v[t * R + r], scaled_block(wq, xq[t], s));
      }
    }
    alignas(16) uint16_t dw[8];
    alignas(32) float dx[8];
    for (int j = 0; j < 8; ++j) {
      dw[j] = load_scale(wb + (j % R) * w_stride);
      dx[j] = load_unaligned<float>(xb + (j / R) * x_stride, 0);
    }
    const __m256 d =
        _mm256_mul_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dw))), _mm256_load_ps(dx));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8_epi32(v)), d, acc);
  }
  alignas(32) float res[8];
  _mm256_store_ps(res, acc);
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) out[t * ldo + r] = res[t * R + r];
  }
}

template <int T>
void iq4_xs_tile_single(int64_t n, const uint8_t* w, size_t /*w_stride*/, const uint8_t* x, size_t x_stride, float* out,
                        int64_t ldo) {
  for (int t = 0; t < T; ++t) iq4_xs_vec_dot_avx2(n, out + t * ldo, w, x + t * x_stride);
}

}  // namespace

void iq4_xs_to_float_avx2(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  const __m256i grid = grid256();
  for (int64_t i = 0; i < n / kIq4XsBlockSize; ++i) {
    const uint8_t* sb = s + i * kWBytes;
    const float d = _cvtsh_ss(load_scale(sb));
    int16_t scales[kBlocks];
    block_scales(sb, scales);
    for (int ib = 0; ib < kBlocks; ++ib) {
      const __m256 dl = _mm256_set1_ps(d * static_cast<float>(scales[ib]));
      alignas(32) int8_t q[32];
      _mm256_store_si256(reinterpret_cast<__m256i*>(q), iq4_values32(sb + kWQs + 16 * ib, grid));
      float* y = dst + i * kIq4XsBlockSize + 32 * ib;
      for (int j = 0; j < 32; j += 8) {
        const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + j));
        _mm256_storeu_ps(y + j, _mm256_mul_ps(dl, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8))));
      }
    }
  }
}

void iq4_xs_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  const __m256i grid = grid256();
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kIq4XsBlockSize; ++i) {
    const uint8_t* wb = wp + i * kWBytes;
    const uint8_t* xb = xp + i * kXBytes;
    int16_t scales[kBlocks];
    block_scales(wb, scales);
    __m256i acc0 = _mm256_setzero_si256();
    __m256i acc1 = _mm256_setzero_si256();
    for (int ib = 0; ib < kBlocks; ib += 2) {
      const __m256i w0 = iq4_values32(wb + kWQs + 16 * ib, grid);
      const __m256i w1 = iq4_values32(wb + kWQs + 16 * (ib + 1), grid);
      acc0 = _mm256_add_epi32(acc0, scaled_block(w0, load_x(xb, ib), _mm256_set1_epi16(scales[ib])));
      acc1 = _mm256_add_epi32(acc1, scaled_block(w1, load_x(xb, ib + 1), _mm256_set1_epi16(scales[ib + 1])));
    }
    const int32_t isum = hsum_epi32(_mm256_add_epi32(acc0, acc1));
    sum = std::fma(static_cast<float>(isum), _cvtsh_ss(load_scale(wb)) * load_unaligned<float>(xb, 0), sum);
  }
  *out = sum;
}

void iq4_xs_gemm_avx2(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                      int64_t n_tokens, float* out, int64_t ldo) {
  // One token: row by row (8 rows at once keep too many registers live to gain over the single dot).
  static constexpr TileShape kShapes[] = {
      {1, iq4_xs_tile_single<1>, iq4_xs_tile_single<1>},
      {4, iq4_xs_tile<4, 2>, iq4_xs_tile_single<2>},
  };
  run_tiles(kShapes, 2, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

}  // namespace ternion::quant
