// The reference dot of the K-quants with a 6-bit scale and min per group of 32 (Q4_K, Q5_K) against Q8_K
// activations: per super-block the exact integers isum = sum_g sc_g * (q_g . x_g) and
// msum = sum_g m_g * (bsum_2g + bsum_2g+1), then sum = fma(isum, d * d_x, sum) and fma(-msum, dmin * d_x, sum),
// the order every SIMD kernel of these types keeps. Internal linkage (see kernel_common.h for why).
#pragma once

#include <cmath>
#include <cstdint>

#include "quant/k_quant_math.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {
namespace {

// Block has d, dmin (fp16 bits) and scales[12]; Unpack writes its 256 unsigned quants in element order.
template <class Block, void (*Unpack)(const Block&, uint8_t*)>
void scale_min_k_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  uint8_t q[kQK_K];
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto wb = load_unaligned<Block>(w, i);
    const auto xb = load_unaligned<BlockQ8_K>(x, i);
    Unpack(wb, q);
    int32_t isum = 0;
    int32_t msum = 0;
    for (int g = 0; g < 8; ++g) {
      uint8_t sc = 0;
      uint8_t m = 0;
      unpack_scale_min_k4(g, wb.scales, &sc, &m);
      int32_t gs = 0;
      for (int l = 0; l < 32; ++l) gs += static_cast<int32_t>(q[32 * g + l]) * xb.qs[32 * g + l];
      isum += static_cast<int32_t>(sc) * gs;
      msum += static_cast<int32_t>(m) * (xb.bsums[2 * g] + xb.bsums[2 * g + 1]);
    }
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * xb.d, sum);
    sum = std::fma(static_cast<float>(-msum), fp16_to_fp32(wb.dmin) * xb.d, sum);
  }
  *out = sum;
}

}  // namespace
}  // namespace ternion::quant
