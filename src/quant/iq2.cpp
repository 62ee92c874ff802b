// IQ2_XXS, IQ2_XS, IQ2_S: the scalar reference kernels (the specification, after GGUF's dequantize_row_iq2_*) and
// the trait records of every level.
#include "quant/iq2.h"

#include <cmath>

#include "quant/iq_common.h"
#include "quant/iq_grids.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

constexpr int kBlocks = kIq2BlockSize / 32;

// Group l (of 4) of block ib: its grid point, its 8 sign bits and its 4-bit scale s.
struct Group {
  uint64_t grid;
  uint8_t signs;
  int scale;
};

Group group_of(const BlockIq2Xxs& b, int ib, int l) {
  const uint32_t a0 = b.qs[4 * ib] | (uint32_t{b.qs[4 * ib + 1]} << 16);
  const uint32_t a1 = b.qs[4 * ib + 2] | (uint32_t{b.qs[4 * ib + 3]} << 16);
  return {kIq2XxsGrid[(a0 >> (8 * l)) & 0xff], kIqSigns[(a1 >> (7 * l)) & 127], static_cast<int>(a1 >> 28)};
}

Group group_of(const BlockIq2Xs& b, int ib, int l) {
  const uint16_t q = b.qs[4 * ib + l];
  return {kIq2XsGrid[q & 511], kIqSigns[q >> 9], (b.scales[ib] >> (4 * (l / 2))) & 0x0f};
}

Group group_of(const BlockIq2S& b, int ib, int l) {
  const int index = b.qs[4 * ib + l] | ((b.qh[ib] << (8 - 2 * l)) & 0x300);
  return {kIq2SGrid[index], b.qs[32 + 4 * ib + l], (b.scales[ib] >> (4 * (l / 2))) & 0x0f};
}

template <typename Block>
void to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kIq2BlockSize; ++i) {
    const auto b = load_unaligned<Block>(src, i);
    const float d = fp16_to_fp32(b.d);
    float* y = dst + i * kIq2BlockSize;
    for (int ib = 0; ib < kBlocks; ++ib) {
      for (int l = 0; l < 4; ++l, y += 8) {
        const Group g = group_of(b, ib, l);
        const float db = d * (0.5f + static_cast<float>(g.scale)) * 0.25f;
        for (int j = 0; j < 8; ++j) {
          const float v = db * static_cast<float>(grid_byte(g.grid, j));
          y[j] = (g.signs >> j) & 1 ? -v : v;
        }
      }
    }
  }
}

template <typename Block>
void vec_dot(int64_t n, float* out, const void* w, const void* x) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kIq2BlockSize; ++i) {
    const auto wb = load_unaligned<Block>(w, i);
    const auto xb = load_unaligned<BlockQ8_K>(x, i);
    int32_t isum = 0;
    for (int ib = 0; ib < kBlocks; ++ib) {
      for (int l = 0; l < 4; ++l) {
        const Group g = group_of(wb, ib, l);
        const int8_t* p = xb.qs + 32 * ib + 8 * l;
        int32_t gsum = 0;
        for (int j = 0; j < 8; ++j) {
          const int32_t v = grid_byte(g.grid, j) * int32_t{p[j]};
          gsum += (g.signs >> j) & 1 ? -v : v;
        }
        isum += (2 * g.scale + 1) * gsum;
      }
    }
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * xb.d, sum);
  }
  *out = 0.125f * sum;
}

}  // namespace

void iq2_xxs_to_float_ref(const void* src, float* dst, int64_t n) { to_float<BlockIq2Xxs>(src, dst, n); }
void iq2_xxs_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) { vec_dot<BlockIq2Xxs>(n, out, w, x); }
void iq2_xs_to_float_ref(const void* src, float* dst, int64_t n) { to_float<BlockIq2Xs>(src, dst, n); }
void iq2_xs_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) { vec_dot<BlockIq2Xs>(n, out, w, x); }
void iq2_s_to_float_ref(const void* src, float* dst, int64_t n) { to_float<BlockIq2S>(src, dst, n); }
void iq2_s_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) { vec_dot<BlockIq2S>(n, out, w, x); }

// Activations are Q8_K; the AVX-512 records (F/BW/VL/DQ) also serve CPUs with VNNI.
const QuantTraits* iq2_xxs_traits(Isa isa) {
  static constexpr auto kRef = iq_record<DType::IQ2_XXS, Isa::Scalar, iq2_xxs_vec_dot_ref>(iq2_xxs_to_float_ref);
#if defined(__x86_64__)
  static constexpr auto kAvx2 = iq_record<DType::IQ2_XXS, Isa::Avx2, iq2_xxs_vec_dot_avx2>(iq2_xxs_to_float_ref);
  static constexpr auto kAvx512 = iq_record<DType::IQ2_XXS, Isa::Avx512, iq2_xxs_vec_dot_avx512>(iq2_xxs_to_float_ref);
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512) return &kAvx512;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

const QuantTraits* iq2_xs_traits(Isa isa) {
  static constexpr auto kRef = iq_record<DType::IQ2_XS, Isa::Scalar, iq2_xs_vec_dot_ref>(iq2_xs_to_float_ref);
#if defined(__x86_64__)
  static constexpr auto kAvx2 = iq_record<DType::IQ2_XS, Isa::Avx2, iq2_xs_vec_dot_avx2>(iq2_xs_to_float_ref);
  static constexpr auto kAvx512 = iq_record<DType::IQ2_XS, Isa::Avx512, iq2_xs_vec_dot_avx512>(iq2_xs_to_float_ref);
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512) return &kAvx512;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

const QuantTraits* iq2_s_traits(Isa isa) {
  static constexpr auto kRef =
      iq_record<DType::IQ2_S, Isa::Scalar, iq2_s_vec_dot_ref>(iq2_s_to_float_ref, iq2_s_from_float_ref);
#if defined(__x86_64__)
  static constexpr auto kAvx2 =
      iq_record<DType::IQ2_S, Isa::Avx2, iq2_s_vec_dot_avx2>(iq2_s_to_float_ref, iq2_s_from_float_ref);
  static constexpr auto kAvx512 =
      iq_record<DType::IQ2_S, Isa::Avx512, iq2_s_vec_dot_avx512>(iq2_s_to_float_ref, iq2_s_from_float_ref);
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512) return &kAvx512;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
