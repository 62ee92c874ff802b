// IQ3_XXS and IQ3_S: the scalar reference kernels (the specification, after GGUF's dequantize_row_iq3_*) and the
// trait records of every level.
#include "quant/iq3.h"

#include <cmath>

#include "quant/iq_common.h"
#include "quant/iq_grids.h"
#include "quant/kernel_common.h"
#include "quant/q8_k.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

constexpr int kBlocks = kIq3BlockSize / 32;

// Group l (of 4) of block ib: its two grid points (values 0 .. 3, then 4 .. 7), 8 sign bits, 4-bit scale.
struct Group {
  uint32_t grid[2];
  uint8_t signs;
  int scale;
};

Group group_of(const BlockIq3Xxs& b, int ib, int l) {
  const uint32_t a = load_unaligned<uint32_t>(b.qs + 64 + 4 * ib, 0);
  const uint8_t* q = b.qs + 8 * ib + 2 * l;
  return {{kIq3XxsGrid[q[0]], kIq3XxsGrid[q[1]]}, kIqSigns[(a >> (7 * l)) & 127], static_cast<int>(a >> 28)};
}

Group group_of(const BlockIq3S& b, int ib, int l) {
  const uint8_t* q = b.qs + 8 * ib + 2 * l;
  const int h = b.qh[ib];
  return {{kIq3SGrid[q[0] | (((h >> (2 * l)) & 1) << 8)], kIq3SGrid[q[1] | (((h >> (2 * l + 1)) & 1) << 8)]},
          b.signs[4 * ib + l],
          (b.scales[ib / 2] >> (4 * (ib % 2))) & 0x0f};
}

// The block's float scale, as GGUF's dequantizer computes it.
float block_scale(const BlockIq3Xxs&, float d, int s) { return d * (0.5f + static_cast<float>(s)) * 0.5f; }
float block_scale(const BlockIq3S&, float d, int s) { return d * static_cast<float>(1 + 2 * s); }

template <typename Block>
void to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kIq3BlockSize; ++i) {
    const auto b = load_unaligned<Block>(src, i);
    const float d = fp16_to_fp32(b.d);
    float* y = dst + i * kIq3BlockSize;
    for (int ib = 0; ib < kBlocks; ++ib) {
      for (int l = 0; l < 4; ++l, y += 8) {
        const Group g = group_of(b, ib, l);
        const float db = block_scale(b, d, g.scale);
        for (int j = 0; j < 8; ++j) {
          const float v = db * static_cast<float>(grid_byte(g.grid[j / 4], j % 4));
          y[j] = (g.signs >> j) & 1 ? -v : v;
        }
      }
    }
  }
}

template <typename Block>
void vec_dot(int64_t n, float* out, const void* w, const void* x, float factor) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kIq3BlockSize; ++i) {
    const auto wb = load_unaligned<Block>(w, i);
    const auto xb = load_unaligned<BlockQ8_K>(x, i);
    int32_t isum = 0;
    for (int ib = 0; ib < kBlocks; ++ib) {
      for (int l = 0; l < 4; ++l) {
        const Group g = group_of(wb, ib, l);
        const int8_t* p = xb.qs + 32 * ib + 8 * l;
        int32_t gsum = 0;
        for (int j = 0; j < 8; ++j) {
          const int32_t v = grid_byte(g.grid[j / 4], j % 4) * int32_t{p[j]};
          gsum += (g.signs >> j) & 1 ? -v : v;
        }
        isum += (2 * g.scale + 1) * gsum;
      }
    }
    sum = std::fma(static_cast<float>(isum), fp16_to_fp32(wb.d) * xb.d, sum);
  }
  *out = factor * sum;
}

}  // namespace

void iq3_xxs_to_float_ref(const void* src, float* dst, int64_t n) { to_float<BlockIq3Xxs>(src, dst, n); }
void iq3_xxs_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) {
  vec_dot<BlockIq3Xxs>(n, out, w, x, 0.25f);
}
void iq3_s_to_float_ref(const void* src, float* dst, int64_t n) { to_float<BlockIq3S>(src, dst, n); }
void iq3_s_vec_dot_ref(int64_t n, float* out, const void* w, const void* x) { vec_dot<BlockIq3S>(n, out, w, x, 1.0f); }

// Activations are Q8_K; the AVX-512 records (F/BW/VL/DQ) also serve CPUs with VNNI.
const QuantTraits* iq3_xxs_traits(Isa isa) {
  static constexpr auto kRef =
      iq_record<DType::IQ3_XXS, Isa::Scalar, iq3_xxs_vec_dot_ref>(iq3_xxs_to_float_ref, iq3_xxs_from_float_ref);
#if defined(__x86_64__)
  static constexpr auto kAvx2 =
      iq_record<DType::IQ3_XXS, Isa::Avx2, iq3_xxs_vec_dot_avx2>(iq3_xxs_to_float_ref, iq3_xxs_from_float_ref);
  static constexpr auto kAvx512 =
      iq_record<DType::IQ3_XXS, Isa::Avx512, iq3_xxs_vec_dot_avx512>(iq3_xxs_to_float_ref, iq3_xxs_from_float_ref);
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512) return &kAvx512;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

const QuantTraits* iq3_s_traits(Isa isa) {
  static constexpr auto kRef =
      iq_record<DType::IQ3_S, Isa::Scalar, iq3_s_vec_dot_ref>(iq3_s_to_float_ref, iq3_s_from_float_ref);
#if defined(__x86_64__)
  static constexpr auto kAvx2 =
      iq_record<DType::IQ3_S, Isa::Avx2, iq3_s_vec_dot_avx2>(iq3_s_to_float_ref, iq3_s_from_float_ref);
  static constexpr auto kAvx512 =
      iq_record<DType::IQ3_S, Isa::Avx512, iq3_s_vec_dot_avx512>(iq3_s_to_float_ref, iq3_s_from_float_ref);
  if (isa == Isa::Avx2) return &kAvx2;
  if (isa == Isa::Avx512) return &kAvx512;
#endif
  return isa == Isa::Scalar ? &kRef : nullptr;
}

}  // namespace ternion::quant
