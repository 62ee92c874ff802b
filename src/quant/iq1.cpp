// IQ1_S and IQ1_M: the scalar reference kernels (the specification, after GGUF's dequantize_row_iq1_*) and the
// trait records of every level.
#include "quant/iq1.h"

#include <cmath>

#include "quant/iq_common.h"
#include "quant/iq_grids.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

constexpr int kBlocks = kIq1BlockSize / 32;
constexpr float kDelta = 0.125f;

// Group l (of 4) of block ib: its grid point, delta's sign (-1 or 1) and 3-bit scale.
struct Group {
  uint64_t grid;
  int delta;
  int scale;
};

Group group_of(const BlockIq1S& b, int ib, int l) {
  const int h = b.qh[ib];
  return {kIq1Grid[b.qs[4 * ib + l] | (((h >> (3 * l)) & 7) << 8)], h & 0x8000 ? -1 : 1, (h >> 12) & 7};
}

Group group_of(const BlockIq1M& b, int ib, int l) {
  const int h = b.qh[2 * ib + l / 2] >> (4 * (l % 2));
  const int word = b.scales[2 * (ib / 2)] | (b.scales[2 * (ib / 2) + 1] << 8);
  return {kIq1Grid[b.qs[4 * ib + l] | ((h & 7) << 8)], h & 8 ? -1 : 1, (word >> (6 * (ib % 2) + 3 * (l / 2))) & 7};
}

float super_scale(const BlockIq1S& b) { return fp16_to_fp32(b.d); }
float super_scale(const BlockIq1M& b) { return fp16_to_fp32(iq1_m_scale(b.scales)); }

template <typename Block>
void to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kIq1BlockSize; ++i) {
    const auto b = load_unaligned<Block>(src, i);
    const float d = super_scale(b);
    float* y = dst + i * kIq1BlockSize;
    for (int ib = 0; ib < kBlocks; ++ib) {
      for (int l = 0; l < 4; ++l, y += 8) {
        const Group g = group_of(b, ib, l);
        const float dl = d * static_cast<float>(2 * g.scale + 1);
        const float delta = g.delta < 0 ? -kDelta : kDelta;
        for (int j = 0; j < 8; ++j) {
          y[j] = dl * (static_cast<float>(static_cast<int8_t>(grid_byte(g.grid, j))) + delta);
        }
      }
    }
  }
}

template <typename Block>
void vec_dot(int64_t n, float* out, const void* w, const void* x) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kIq1BlockSize; ++i) {
    const auto wb = load_unaligned<Block>(w, i);
    const auto xb = load_unaligned<BlockQ8_K>(x, i);
    int32_t isum = 0;
    for (int ib = 0; ib < kBlocks; ++ib) {
      for (int l = 0; l < 4; ++l) {
        const Group g = group_of(wb, ib, l);
        const int8_t* p = xb.qs + 32 * ib + 8 * l;
        int32_t gsum = 0;
        for (int j = 0; j < 8; ++j) {
          gsum += (8 * static_cast<int8_t>(grid_byte(g.grid, j)) + g.delta) * int32_t{p[j]};
        }
        isum += (2 * g.scale + 1) * gsum;
      }
    }
    sum = std::fma(static_cast<float>(isum), super_scale(wb) * xb.d, sum);
  }
  *out = 0.125f * sum;
}

}  // namespace

void iq1_s_to_float_ref(const void* src, float* dst, int64_t n) { to_float<BlockIq1S>(src, dst, n); }
void iq1_s_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) { vec_dot<BlockIq1S>(n, out, w, x); }
void iq1_m_to_float_ref(const void* src, float* dst, int64_t n) { to_float<BlockIq1M>(src, dst, n); }
void iq1_m_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) { vec_dot<BlockIq1M>(n, out, w, x); }

// Activations are Q8_K; the AVX-512 records (F/BW/VL/DQ) also serve CPUs with VNNI.
const QuantTraits* iq1_s_traits(Isa isa) {
  static constexpr auto kRef = iq_record<DType::IQ1_S, Isa::Scalar, iq1_s_vec_dot_ref>(iq1_s_to_float_ref);
#if defined(__x86_64__)
  static constexpr auto kAvx2 = iq_record<DType::IQ1_S, Isa::Avx2, iq1_s_vec_dot_avx2>(iq1_s_to_float_ref);
  static constexpr auto kAvx512 = iq_record<DType::IQ1_S, Isa::Avx512, iq1_s_vec_dot_avx512>(iq1_s_to_float_ref);
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512) return &kAvx512;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

const QuantTraits* iq1_m_traits(Isa isa) {
  static constexpr auto kRef = iq_record<DType::IQ1_M, Isa::Scalar, iq1_m_vec_dot_ref>(iq1_m_to_float_ref);
#if defined(__x86_64__)
  static constexpr auto kAvx2 = iq_record<DType::IQ1_M, Isa::Avx2, iq1_m_vec_dot_avx2>(iq1_m_to_float_ref);
  static constexpr auto kAvx512 = iq_record<DType::IQ1_M, Isa::Avx512, iq1_m_vec_dot_avx512>(iq1_m_to_float_ref);
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512) return &kAvx512;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
