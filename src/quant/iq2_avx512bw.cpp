// IQ2_XXS, IQ2_XS and IQ2_S dots with Q8_K activations for AVX-512 F/BW/VL/DQ (iq_avx512.h): two blocks per step,
// their 8 grid points gathered into one register and their signs as one 64-bit mask.
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics as maybe-uninitialized (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>

#include "quant/iq2.h"
#include "quant/iq_avx512.h"
#include "quant/q8_k.h"

namespace ternion::quant {

namespace {

constexpr int kBlocks = kIq2BlockSize / 32;

inline __m512i grid8(const uint64_t* grid, const int (&idx)[8]) {
  return _mm512_set_epi64(static_cast<int64_t>(grid[idx[7]]), static_cast<int64_t>(grid[idx[6]]),
                          static_cast<int64_t>(grid[idx[5]]), static_cast<int64_t>(grid[idx[4]]),
                          static_cast<int64_t>(grid[idx[3]]), static_cast<int64_t>(grid[idx[2]]),
                          static_cast<int64_t>(grid[idx[1]]), static_cast<int64_t>(grid[idx[0]]));
}

int32_t xxs_isum(const uint8_t* wb, const uint8_t* xb) {
  __m512i acc = _mm512_setzero_si512();
  for (int ib = 0; ib < kBlocks; ib += 2) {
    uint32_t a[4];  // a0, a1 of block ib, then of block ib + 1
    std::memcpy(a, wb + 2 + 8 * ib, sizeof(a));
    int idx[8];
    for (int l = 0; l < 4; ++l) {
      idx[l] = (a[0] >> (8 * l)) & 0xff;
      idx[4 + l] = (a[2] >> (8 * l)) & 0xff;
    }
    const uint64_t codes = (a[1] & 0x0fffffff) | (uint64_t{a[3] & 0x0fffffff} << 28);
    const int s0 = static_cast<int>(2 * (a[1] >> 28) + 1);
    const int s1 = static_cast<int>(2 * (a[3] >> 28) + 1);
    acc = _mm512_add_epi32(acc, scaled_dot512(grid8(kIq2XxsGrid, idx), load_x64(xb, ib), sign_codes_mask(codes),
                                              quarter_scales(s0, s0, s1, s1)));
  }
  return _mm512_reduce_add_epi32(acc);
}

int32_t xs_isum(const uint8_t* wb, const uint8_t* xb) {
  __m512i acc = _mm512_setzero_si512();
  for (int ib = 0; ib < kBlocks; ib += 2) {
    uint16_t q[8];
    std::memcpy(q, wb + 2 + 8 * ib, sizeof(q));
    int idx[8];
    uint64_t codes = 0;
    for (int l = 0; l < 8; ++l) {
      idx[l] = q[l] & 511;
      codes |= uint64_t{static_cast<uint64_t>(q[l] >> 9)} << (7 * l);
    }
    const int sc0 = wb[66 + ib];
    const int sc1 = wb[67 + ib];
    const __m512i scale =
        quarter_scales(2 * (sc0 & 0x0f) + 1, 2 * (sc0 >> 4) + 1, 2 * (sc1 & 0x0f) + 1, 2 * (sc1 >> 4) + 1);
    acc = _mm512_add_epi32(acc, scaled_dot512(grid8(kIq2XsGrid, idx), load_x64(xb, ib), sign_codes_mask(codes), scale));
  }
  return _mm512_reduce_add_epi32(acc);
}

int32_t s_isum(const uint8_t* wb, const uint8_t* xb) {
  const uint8_t* qs = wb + 2;
  const uint8_t* qh = wb + 66;
  const uint8_t* scales = wb + 74;
  __m512i acc = _mm512_setzero_si512();
  for (int ib = 0; ib < kBlocks; ib += 2) {
    int idx[8];
    for (int l = 0; l < 8; ++l) {
      const int h = qh[ib + l / 4];
      idx[l] = qs[4 * ib + l] | ((h << (8 - 2 * (l % 4))) & 0x300);
    }
    const __mmask64 negative = load_unaligned<uint64_t>(qs + 32 + 4 * ib, 0);
    const int sc0 = scales[ib];
    const int sc1 = scales[ib + 1];
    const __m512i scale =
        quarter_scales(2 * (sc0 & 0x0f) + 1, 2 * (sc0 >> 4) + 1, 2 * (sc1 & 0x0f) + 1, 2 * (sc1 >> 4) + 1);
    acc = _mm512_add_epi32(acc, scaled_dot512(grid8(kIq2SGrid, idx), load_x64(xb, ib), negative, scale));
  }
  return _mm512_reduce_add_epi32(acc);
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
    const float dw = _cvtsh_ss(load_unaligned<uint16_t>(wb, 0));
    sum = std::fma(static_cast<float>(isum), dw * load_unaligned<float>(xb, 0), sum);
  }
  *out = 0.125f * sum;
}

}  // namespace

void iq2_xxs_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  dot<BlockIq2Xxs, xxs_isum>(n, out, w, x);
}
void iq2_xs_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) {
  dot<BlockIq2Xs, xs_isum>(n, out, w, x);
}
void iq2_s_vec_dot_avx512(int64_t n, float* out, const void* w, const void* x) { dot<BlockIq2S, s_isum>(n, out, w, x); }

}  // namespace ternion::quant
