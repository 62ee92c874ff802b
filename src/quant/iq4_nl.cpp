// IQ4_NL: the scalar reference kernels, the IQ4 scale search (after llama.cpp's quantize_iq4_nl without an
// importance matrix, which is what llama-quantize writes) and the trait records of every level.
#include "quant/iq4_nl.h"

#include <cmath>

#include "quant/kernel_common.h"
#include "quant/q8_0.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

constexpr int kHalf = kIq4NlBlockSize / 2;
constexpr float kGroupMaxEps = 1e-15f;  // blocks whose largest magnitude is below this count as all zero
constexpr int kScaleTries = 7;          // candidates max / (127 - k), k = -7..7

}  // namespace

// Each float operation is rounded on its own, as in GGUF's quantizer: a fused multiply-add changes which
// candidate scale wins, and so the bytes written.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
int iq4_nearest_index(float v) {
  if (v <= kIq4Values[0]) return 0;
  if (v >= kIq4Values[15] || v != v) return 15;
  // kIq4Values[i] <= v < kIq4Values[i + 1]; counted without branches, which a search would mispredict
  int i = 0;
  for (int k = 1; k < 15; ++k) i += v >= kIq4Values[k] ? 1 : 0;
  return v - kIq4Values[i] < kIq4Values[i + 1] - v ? i : i + 1;
}

float iq4_sigma2(const float* x, int n) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  float sigma2 = 0.0f;
  for (int j = 0; j < n; ++j) sigma2 += x[j] * x[j];
  return sigma2 * (2.0f / static_cast<float>(n));
}

void iq4_importance(float sigma2, const float* xb, const float* qw, float* weight) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  for (int j = 0; j < kIq4NlBlockSize; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
}

namespace {

struct Fit {
  float sumqx;  // sum(w x q)
  float sumq2;  // sum(w q^2)
};

// The sums for the grid points q nearest x * id, accumulated in element order.
Fit fit(const float* x, const float* weight, float id) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  Fit f{0.0f, 0.0f};
  for (int j = 0; j < kIq4NlBlockSize; ++j) {
    const float q = kIq4Values[iq4_nearest_index(id * x[j])];
    f.sumqx += weight[j] * q * x[j];
    f.sumq2 += weight[j] * q * q;
  }
  return f;
}

}  // namespace

float iq4_block_scale(const float* x, const float* weights) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  float weight[kIq4NlBlockSize];
  float amax = 0.0f;
  float max = 0.0f;
  for (int j = 0; j < kIq4NlBlockSize; ++j) {
    weight[j] = weights != nullptr ? weights[j] : x[j] * x[j];
    const float ax = std::fabs(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  if (amax < kGroupMaxEps) return 0.0f;
  const float v0 = kIq4Values[0];
  Fit f = fit(x, weight, 1.0f / (-max / v0));
  float d = f.sumqx / f.sumq2;
  float best = d * f.sumqx;
  for (int k = -kScaleTries; k <= kScaleTries; ++k) {
    f = fit(x, weight, (static_cast<float>(k) + v0) / max);
    if (f.sumq2 > 0.0f && f.sumqx * f.sumqx > best * f.sumq2) {
      d = f.sumqx / f.sumq2;
      best = d * f.sumqx;
    }
  }
  return d;
}

void iq4_nl_from_float_ref(const float* src, void* dst, int64_t n) { iq4_nl_quantize_weighted(src, dst, n, nullptr); }

void iq4_nl_quantize_weighted(const float* src, void* dst, int64_t n, const float* qw) {
#if defined(__clang__)
#pragma clang fp contract(off)
#endif
  float weight[kIq4NlBlockSize];
  for (int64_t b = 0; b < n / kIq4NlBlockSize; ++b) {
    const float* x = src + b * kIq4NlBlockSize;
    if (qw != nullptr) iq4_importance(iq4_sigma2(x, kIq4NlBlockSize), x, qw + b * kIq4NlBlockSize, weight);
    const float d = iq4_block_scale(x, qw != nullptr ? weight : nullptr);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockIq4Nl blk;
    blk.d = fp32_to_fp16(d);
    for (int j = 0; j < kHalf; ++j) {
      blk.qs[j] = static_cast<uint8_t>(iq4_nearest_index(id * x[j]) | (iq4_nearest_index(id * x[j + kHalf]) << 4));
    }
    store_unaligned(dst, b, blk);
  }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

void iq4_nl_to_float_ref(const void* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kIq4NlBlockSize; ++b) {
    const auto blk = load_unaligned<BlockIq4Nl>(src, b);
    const float d = fp16_to_fp32(blk.d);
    float* y = dst + b * kIq4NlBlockSize;
    for (int j = 0; j < kHalf; ++j) {
      y[j] = d * static_cast<float>(kIq4Values[blk.qs[j] & 0x0f]);
      y[j + kHalf] = d * static_cast<float>(kIq4Values[blk.qs[j] >> 4]);
    }
  }
}

void iq4_nl_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kIq4NlBlockSize; ++b) {
    const auto wb = load_unaligned<BlockIq4Nl>(w, b);
    const auto xb = load_unaligned<BlockQ8_0>(x, b);
    int32_t isum = 0;
    for (int j = 0; j < kHalf; ++j) {
      isum += kIq4Values[wb.qs[j] & 0x0f] * int32_t{xb.qs[j]} + kIq4Values[wb.qs[j] >> 4] * int32_t{xb.qs[j + kHalf]};
    }
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * fp16_to_fp32(xb.d), sum);
  }
  *out = sum;
}

void iq4_nl_gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t n_rows, const void* x, size_t x_stride,
                     int64_t n_tokens, float* out, int64_t ldo) {
  gemm_with_vec_dot(iq4_nl_vec_dot_ref, n, w, w_stride, n_rows, x, x_stride, n_tokens, out, ldo);
}

// Activations are Q8_0, so from_float only quantizes weights; the reference serves every level.
const QuantTraits* iq4_nl_traits(Isa isa) {
  static constexpr QuantTraits kRef{DType::IQ4_NL,         DType::Q8_0,        Isa::Scalar,    iq4_nl_to_float_ref,
                                    iq4_nl_from_float_ref, iq4_nl_vec_dot_ref, iq4_nl_gemm_ref};
#if defined(__x86_64__)
  static constexpr QuantTraits kAvx2{DType::IQ4_NL,         DType::Q8_0,         Isa::Avx2,       iq4_nl_to_float_avx2,
                                     iq4_nl_from_float_ref, iq4_nl_vec_dot_avx2, iq4_nl_gemm_avx2};
  static constexpr QuantTraits kAvx512{DType::IQ4_NL,        DType::Q8_0,           Isa::Avx512Vnni,
                                       iq4_nl_to_float_avx2, iq4_nl_from_float_ref, iq4_nl_vec_dot_avx512,
                                       iq4_nl_gemm_avx512};
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512Vnni) return &kAvx512;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
