// IQ2_XXS, IQ2_XS and IQ2_S dots with Q8_K activations for AVX2 (iq_avx2.h says how the integers stay exact): the
// grid points of a block's 4 groups are gathered into one register, their signs applied to the activations.
#include <immintrin.h>

#include <cmath>

#include "quant/iq2.h"
#include "quant/iq_avx2.h"
#include "quant/q8_k.h"

namespace ternion::quant {

namespace {

constexpr int kBlocks = kIq2BlockSize / 32;

inline __m256i grid4(const uint64_t* grid, int i0, int i1, int i2, int i3) {
  return _mm256_set_epi64x(static_cast<int64_t>(grid[i3]), static_cast<int64_t>(grid[i2]),
                           static_cast<int64_t>(grid[i1]), static_cast<int64_t>(grid[i0]));
}

// The exact isum of one super-block.
int32_t xxs_isum(const uint8_t* wb, const uint8_t* xb) {
  __m256i acc = _mm256_setzero_si256();
  for (int ib = 0; ib < kBlocks; ++ib) {
    const uint32_t a0 = load_unaligned<uint32_t>(wb + 2 + 8 * ib, 0);
    const uint32_t a1 = load_unaligned<uint32_t>(wb + 6 + 8 * ib, 0);
    const __m256i q = grid4(kIq2XxsGrid, a0 & 0xff, (a0 >> 8) & 0xff, (a0 >> 16) & 0xff, a0 >> 24);
    const __m256i scale = _mm256_set1_epi16(static_cast<int16_t>(2 * (a1 >> 28) + 1));
    acc = _mm256_add_epi32(acc, scaled_dot(q, load_x32(xb, ib), sign_codes(a1), scale));
  }
  return hsum_epi32(acc);
}

int32_t xs_isum(const uint8_t* wb, const uint8_t* xb) {
  __m256i acc = _mm256_setzero_si256();
  for (int ib = 0; ib < kBlocks; ++ib) {
    uint16_t q[4];
    std::memcpy(q, wb + 2 + 8 * ib, sizeof(q));
    const __m256i g = grid4(kIq2XsGrid, q[0] & 511, q[1] & 511, q[2] & 511, q[3] & 511);
    const uint32_t codes =
        static_cast<uint32_t>((q[0] >> 9) | ((q[1] >> 9) << 7) | ((q[2] >> 9) << 14) | ((q[3] >> 9) << 21));
    const int sc = wb[66 + ib];
    const __m256i scale = half_scales(2 * (sc & 0x0f) + 1, 2 * (sc >> 4) + 1);
    acc = _mm256_add_epi32(acc, scaled_dot(g, load_x32(xb, ib), sign_codes(codes), scale));
  }
  return hsum_epi32(acc);
}

int32_t s_isum(const uint8_t* wb, const uint8_t* xb) {
  const uint8_t* qs = wb + 2;
  const uint8_t* qh = wb + 66;
  const uint8_t* scales = wb + 74;
  __m256i acc = _mm256_setzero_si256();
  for (int ib = 0; ib < kBlocks; ++ib) {
    const uint8_t* q = qs + 4 * ib;
    const int h = qh[ib];
    const __m256i g = grid4(kIq2SGrid, q[0] | ((h << 8) & 0x300), q[1] | ((h << 6) & 0x300), q[2] | ((h << 4) & 0x300),
                            q[3] | ((h << 2) & 0x300));
    const __m256i signs = expand_signs(load_unaligned<uint32_t>(qs + 32 + 4 * ib, 0));
    const int sc = scales[ib];
    const __m256i scale = half_scales(2 * (sc & 0x0f) + 1, 2 * (sc >> 4) + 1);
    acc = _mm256_add_epi32(acc, scaled_dot(g, load_x32(xb, ib), signs, scale));
  }
  return hsum_epi32(acc);
}

template <typename Block, int32_t (*Isum)(const uint8_t*, const uint8_t*)>
void dot(int64_t n, float* out, const void* w, const void* x) {
  const auto* wp = static_cast<const uint8_t*>(w);
  const auto* xp = static_cast<const uint8_t*>(x);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kIq2BlockSize; ++i) {
    const uint8_t* wb = wp + i * sizeof(Block);
    const uint8_t* xb = xp + i * sizeof(BlockQ8_K);
    const int32_t isum = Isum(wb, xb);
    sum = std::fma(static_cast<float>(isum), _cvtsh_ss(load_scale(wb)) * load_unaligned<float>(xb, 0), sum);
  }
  *out = 0.125f * sum;
}

}  // namespace

void iq2_xxs_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  dot<BlockIq2Xxs, xxs_isum>(n, out, w, x);
}
void iq2_xs_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) {
  dot<BlockIq2Xs, xs_isum>(n, out, w, x);
}
void iq2_s_vec_dot_avx2(int64_t n, float* out, const void* w, const void* x) { dot<BlockIq2S, s_isum>(n, out, w, x); }

}  // namespace ternion::quant
