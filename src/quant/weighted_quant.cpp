// The importance-weighted quantizers (see weighted_quant.h). Each float operation is rounded on its own, as in
// GGUF's quantizers: a fused multiply-add changes which candidate scale wins, and so the bytes written.
#include "quant/weighted_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "quant/iq1.h"
#include "quant/iq2.h"
#include "quant/iq3.h"
#include "quant/iq4_nl.h"
#include "quant/iq4_xs.h"
#include "quant/k_quant_math.h"
#include "quant/kernel_common.h"
#include "quant/q2_k.h"
#include "quant/q3_k.h"
#include "quant/q4_0.h"
#include "quant/q4_1.h"
#include "quant/q4_k.h"
#include "quant/q5_0.h"
#include "quant/q5_1.h"
#include "quant/q5_k.h"
#include "quant/q6_k.h"
#include "ternion/core/error.h"
#include "ternion/core/fp16.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace ternion::quant {

namespace {

constexpr int kQ = 32;  // block size of the 32-wide types

// sigma2 of the 32-wide types: the mean square of the whole row.
float row_sigma2(const float* x, int64_t n) {
  float sum_x2 = 0.0f;
  for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  return sum_x2 / static_cast<float>(n);
}

// w[j] = qw[j] * sqrt(sigma2 + x[j]^2): the importance times a measure of the value's own size.
void scaled_weights(const float* x, const float* qw, float sigma2, int n, float* w) {
  for (int j = 0; j < n; ++j) w[j] = qw[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

// Low nibble element j, high nibble element j + 16; for the 5-bit types bit 4 of element j goes to bit j of qh.
void pack_nibbles(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
}

uint32_t high_bits(const uint8_t* L) {
  uint32_t qh = 0;
  for (int j = 0; j < kQ; ++j) qh |= static_cast<uint32_t>((L[j] & 0x10u) >> 4) << j;
  return qh;
}

// Q4_0 (nmax 8) and Q5_0 (nmax 16): a symmetric weighted search per block.
template <class Block>
void symmetric_row(const float* x, void* dst, int64_t n, const float* qw, int nmax) {
  const float sigma2 = row_sigma2(x, n);
  float w[kQ];
  int8_t L[kQ];
  uint8_t u[kQ];
  for (int64_t ib = 0; ib < n / kQ; ++ib) {
    const float* xb = x + ib * kQ;
    scaled_weights(xb, qw + ib * kQ, sigma2, kQ, w);
    const float d = make_qx_quants(kQ, nmax, xb, L, w);
    for (int j = 0; j < kQ; ++j) u[j] = static_cast<uint8_t>(L[j]);
    Block b{};
    b.d = fp32_to_fp16(d);
    pack_nibbles(u, b.qs);
    if constexpr (std::is_same_v<Block, BlockQ5_0>) {
      const uint32_t qh = high_bits(u);
      std::memcpy(b.qh, &qh, sizeof(qh));
    }
    store_unaligned(dst, ib, b);
  }
}

// Q4_1 (nmax 15) and Q5_1 (nmax 31): an asymmetric weighted search per block.
template <class Block>
void affine_row(const float* x, void* dst, int64_t n, const float* qw, int nmax) {
  const float sigma2 = row_sigma2(x, n);
  float w[kQ];
  uint8_t L[kQ];
  uint8_t Laux[kQ];
  for (int64_t ib = 0; ib < n / kQ; ++ib) {
    const float* xb = x + ib * kQ;
    scaled_weights(xb, qw + ib * kQ, sigma2, kQ, w);
    float min = 0.0f;
    const float d = make_qkx3_quants(kQ, nmax, xb, w, L, &min, Laux, -0.9f, 0.05f, 36, false);
    Block b{};
    b.d = fp32_to_fp16(d);
    b.m = fp32_to_fp16(-min);
    pack_nibbles(L, b.qs);
    if constexpr (std::is_same_v<Block, BlockQ5_1>) {
      const uint32_t qh = high_bits(L);
      std::memcpy(b.qh, &qh, sizeof(qh));
    }
    store_unaligned(dst, ib, b);
  }
}

float superblock_sum_x2(const float* x) {
  float s = 0.0f;
  for (int j = 0; j < kQK_K; ++j) s += x[j] * x[j];
  return s;
}

// Four 2-bit levels per byte: byte l of half h holds elements 128h + l, +32, +64, +96.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t* p = L + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>((p[0] & 3) | ((p[32] & 3) << 2) | ((p[64] & 3) << 4) | ((p[96] & 3) << 6));
    }
  }
}

void q2_k_row(const float* src, void* dst, int64_t n, const float* qw_row) {
  uint8_t L[kQK_K];
  uint8_t Laux[16];
  uint8_t Ls[16];
  uint8_t Lm[16];
  float scales[16];
  float mins[16];
  float sw[16];
  float w[16];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    const float* qw = qw_row + i * kQK_K;
    const float sigma2 = superblock_sum_x2(x) / kQK_K;
    for (int g = 0; g < 16; ++g) {
      scaled_weights(x + 16 * g, qw + 16 * g, sigma2, 16, w);
      sw[g] = 0.0f;
      for (int l = 0; l < 16; ++l) sw[g] += w[l];
      scales[g] = make_qkx3_quants(16, 3, x + 16 * g, w, L + 16 * g, &mins[g], Laux, -0.9f, 0.05f, 36, false);
    }
    BlockQ2_K b{};
    b.d = fp32_to_fp16(make_qp_quants(16, 15, scales, Ls, sw));
    b.dmin = fp32_to_fp16(make_qp_quants(16, 15, mins, Lm, sw));
    const float dm = fp16_to_fp32(b.d);
    const float mm = fp16_to_fp32(b.dmin);
    for (int g = 0; g < 16; ++g) b.scales[g] = static_cast<uint8_t>(Ls[g] | (Lm[g] << 4));
    for (int g = 0; g < 16; ++g) {
      const float d = dm * static_cast<float>(b.scales[g] & 0xF);
      if (d == 0.0f) continue;
      const float m = mm * static_cast<float>(b.scales[g] >> 4);
      for (int l = 0; l < 16; ++l) {
        L[16 * g + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[16 * g + l] + m) / d), 0, 3));
      }
    }
    pack_2bit(L, b.qs);
    store_unaligned(dst, i, b);
  }
}

void q3_k_row(const float* src, void* dst, int64_t n, const float* qw_row) {
  int8_t L[kQK_K];
  int8_t Ls[16];
  float scales[16];
  float sw[16];
  float w[16];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    const float* qw = qw_row + i * kQK_K;
    const float sigma2 = 2 * superblock_sum_x2(x) / kQK_K;
    for (int g = 0; g < 16; ++g) {
      scaled_weights(x + 16 * g, qw + 16 * g, sigma2, 16, w);
      sw[g] = 0.0f;
      for (int l = 0; l < 16; ++l) sw[g] += w[l];
      scales[g] = make_qx_quants(16, 4, x + 16 * g, L + 16 * g, w);
    }
    BlockQ3_K b{};
    const float d_block = make_qx_quants(16, 32, scales, Ls, sw);
    for (int g = 0; g < 16; ++g) {
      const int l = Ls[g];
      if (g < 8) {
        b.scales[g] = static_cast<uint8_t>(l & 0xF);
      } else {
        b.scales[g - 8] = static_cast<uint8_t>(b.scales[g - 8] | ((l & 0xF) << 4));
      }
      b.scales[8 + g % 4] = static_cast<uint8_t>(b.scales[8 + g % 4] | ((l >> 4) << (2 * (g / 4))));
    }
    b.d = fp32_to_fp16(d_block);
    int sc[16];
    unpack_q3_k_scales(b.scales, sc);
    const float dd = fp16_to_fp32(b.d);
    for (int g = 0; g < 16; ++g) {
      const float d = dd * static_cast<float>(sc[g]);
      if (d == 0.0f) continue;
      for (int l = 0; l < 16; ++l) {
        L[16 * g + l] = static_cast<int8_t>(std::clamp(nearest_int(x[16 * g + l] / d), -4, 3) + 4);
      }
    }
    // Levels in [0, 7]: bit 2 of element 32k + l (k = 0..7) goes to bit k of hmask[l], bits 0-1 to qs.
    uint8_t low[kQK_K];
    for (int j = 0; j < kQK_K; ++j) {
      low[j] = static_cast<uint8_t>(L[j] & 3);
      b.hmask[j % 32] = static_cast<uint8_t>(b.hmask[j % 32] | (((L[j] >> 2) & 1) << (j / 32)));
    }
    pack_2bit(low, b.qs);
    store_unaligned(dst, i, b);
  }
}

void q4_k_row(const float* src, void* dst, int64_t n, const float* qw) {
  uint8_t L[kQK_K];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const ScaleMinK4 s = quantize_scale_min_k4_weighted(src + i * kQK_K, 15, qw + i * kQK_K, L);
    BlockQ4_K b;
    b.d = s.d;
    b.dmin = s.dmin;
    std::copy(s.scales, s.scales + 12, b.scales);
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 32; ++l) b.qs[32 * k + l] = static_cast<uint8_t>(L[64 * k + l] | (L[64 * k + 32 + l] << 4));
    }
    store_unaligned(dst, i, b);
  }
}

void q5_k_row(const float* src, void* dst, int64_t n, const float* qw) {
  uint8_t L[kQK_K];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const ScaleMinK4 s = quantize_scale_min_k4_weighted(src + i * kQK_K, 31, qw + i * kQK_K, L);
    BlockQ5_K b;
    b.d = s.d;
    b.dmin = s.dmin;
    std::copy(s.scales, s.scales + 12, b.scales);
    std::fill(b.qh, b.qh + 32, uint8_t{0});
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 32; ++l) {
        const int lo = L[64 * k + l];
        const int hi = L[64 * k + 32 + l];
        b.qs[32 * k + l] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
        b.qh[l] = static_cast<uint8_t>(b.qh[l] | ((lo >> 4) << (2 * k)) | ((hi >> 4) << (2 * k + 1)));
      }
    }
    store_unaligned(dst, i, b);
  }
}

}  // namespace

bool takes_importance(DType type) {
  switch (type) {
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q5_0:
    case DType::Q5_1:
    case DType::Q2_K:
    case DType::Q3_K:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K:
    case DType::IQ4_NL:
    case DType::IQ4_XS:
    case DType::IQ1_S:
    case DType::IQ1_M:
    case DType::IQ2_XXS:
    case DType::IQ2_XS:
    case DType::IQ2_S:
    case DType::IQ3_XXS:
    case DType::IQ3_S:
      return true;
    default:
      return false;
  }
}

void quantize_row_weighted(DType type, const float* x, void* dst, int64_t n, const float* qw) {
  switch (type) {
    case DType::Q4_0:
      return symmetric_row<BlockQ4_0>(x, dst, n, qw, 8);
    case DType::Q5_0:
      return symmetric_row<BlockQ5_0>(x, dst, n, qw, 16);
    case DType::Q4_1:
      return affine_row<BlockQ4_1>(x, dst, n, qw, 15);
    case DType::Q5_1:
      return affine_row<BlockQ5_1>(x, dst, n, qw, 31);
    case DType::Q2_K:
      return q2_k_row(x, dst, n, qw);
    case DType::Q3_K:
      return q3_k_row(x, dst, n, qw);
    case DType::Q4_K:
      return q4_k_row(x, dst, n, qw);
    case DType::Q5_K:
      return q5_k_row(x, dst, n, qw);
    case DType::Q6_K:
      return q6_k_quantize_weighted(x, dst, n, qw);
    case DType::IQ4_NL:
      return iq4_nl_quantize_weighted(x, dst, n, qw);
    case DType::IQ4_XS:
      return iq4_xs_quantize_weighted(x, dst, n, qw);
    // The i-quants: one row of their multi-row quantizers (each row is searched on its own there too).
    case DType::IQ1_S:
      return iq1_s_quantize(x, dst, 1, n, qw);
    case DType::IQ1_M:
      return iq1_m_quantize(x, dst, 1, n, qw);
    case DType::IQ2_XXS:
      return iq2_xxs_quantize(x, dst, 1, n, qw);
    case DType::IQ2_XS:
      return iq2_xs_quantize(x, dst, 1, n, qw);
    case DType::IQ2_S:
      return iq2_s_quantize(x, dst, 1, n, qw);
    case DType::IQ3_XXS:
      return iq3_xxs_quantize(x, dst, 1, n, qw);
    case DType::IQ3_S:
      return iq3_s_quantize(x, dst, 1, n, qw);
    default:
      throw Error("quantize: type " + std::string(dtype_info(type).name) + " takes no importance weights");
  }
}

}  // namespace ternion::quant
