// Quantizing to IQ1_S with an importance matrix: GGUF's reference algorithm (llama.cpp's quantize_iq1_s), so that
// the blocks are byte for byte what llama-quantize writes given the same imatrix.
//
// Per block of 32: the values sorted, every split into three runs (levels -1, 0, 1, shifted by +1/8 or -1/8)
// scored by its weighted least-squares fit, the best kept; groups of 8 whose levels are off the grid take the
// neighbour of least weighted error, and the scale is refitted. The 8 block scales are stored as 3 bits
// relative to the largest. Every float operation is rounded on its own (no fused multiply-add).
#if defined(__clang__)
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "quant/iq1.h"
#include "quant/iq_grids.h"
#include "quant/iq_quant_grid.h"
#include "quant/k_quant_math.h"
#include "ternion/core/error.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

constexpr int kBlock = 32;
constexpr float kDelta = 0.125f;
constexpr float kXPlus[3] = {-1 + kDelta, kDelta, 1 + kDelta};
constexpr float kXMinus[3] = {-1 - kDelta, -kDelta, 1 - kDelta};

// The neighbour of least weighted error at this scale (levels xg); its levels go to L.
int best_neighbour(const QuantGrid8& g, const uint16_t* nb, const float* xval, const float* weight, float scale,
                   const float* xg, int8_t* L) {
  float best = 3.402823466e+38f;
  int grid_index = -1;
  for (int j = 1; j <= nb[0]; ++j) {
    float d2 = 0;
    for (int i = 0; i < 8; ++i) {
      const float q = xg[(grid_byte(g.points[nb[j]], i) - 1) / 2];
      const float diff = scale * q - xval[i];
      d2 += weight[i] * diff * diff;
    }
    if (d2 < best) {
      best = d2;
      grid_index = nb[j];
    }
  }
  if (grid_index < 0) throw Error("quantizing to IQ1: no grid point fits (is the input finite?)");
  for (int i = 0; i < 8; ++i)
    L[i] = static_cast<int8_t>((grid_byte(g.points[static_cast<size_t>(grid_index)], i) - 1) / 2);
  return grid_index;
}

// The best split of the sorted values into levels 0, 1, 2 (runs [0, i1), [i1, i2), [i2, 32)) and shift: L per
// value, the shift (+1 or -1) and the scale.
float best_split(const float* xb, const float* weight, int8_t* L, int& shift) {
  std::pair<float, int> pairs[kBlock];
  for (int j = 0; j < kBlock; ++j) pairs[j] = {xb[j], j};
  // GGUF sorts with the C library's qsort on the value only; glibc's is a stable merge sort for these sizes
  std::stable_sort(pairs, pairs + kBlock, [](const auto& a, const auto& b) { return a.first < b.first; });
  float sumx[kBlock + 1] = {};
  float sumw[kBlock + 1] = {};
  for (int j = 0; j < kBlock; ++j) {
    const int i = pairs[j].second;
    sumx[j + 1] = sumx[j] + weight[i] * xb[i];
    sumw[j + 1] = sumw[j] + weight[i];
  }
  float best_score = -1.175494351e-38f;  // -FLT_MIN, as the reference starts
  float scale = 0;
  int besti1 = -1;
  int besti2 = -1;
  shift = 0;
  for (int i1 = 0; i1 <= kBlock; ++i1) {
    for (int i2 = i1; i2 <= kBlock; ++i2) {
      for (int s : {1, -1}) {
        const float* x = s == 1 ? kXPlus : kXMinus;
        const float sumqx =
            (sumx[i1] - sumx[0]) * x[0] + (sumx[i2] - sumx[i1]) * x[1] + (sumx[kBlock] - sumx[i2]) * x[2];
        const float sumq2 = (sumw[i1] - sumw[0]) * x[0] * x[0] + (sumw[i2] - sumw[i1]) * x[1] * x[1] +
                            (sumw[kBlock] - sumw[i2]) * x[2] * x[2];
        if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
          scale = sumqx / sumq2;
          best_score = scale * sumqx;
          besti1 = i1;
          besti2 = i2;
          shift = s;
        }
      }
    }
  }
  if (besti1 < 0) throw Error("quantizing to IQ1_S: no scale fits (are the importance weights zero?)");
  for (int j = 0; j < kBlock; ++j) L[pairs[j].second] = static_cast<int8_t>(j < besti1 ? 0 : j < besti2 ? 1 : 2);
  return scale;
}

// One block: the scale (>= 0), shift and 4 group grid indices.
float quantize_block(const QuantGrid8& g, const float* xb, const float* weight, int& shift, int (&index)[4]) {
  int8_t L[kBlock];
  float scale = best_split(xb, weight, L, shift);
  if (scale < 0) {
    for (auto& l : L) l = static_cast<int8_t>(2 - l);
    scale = -scale;
    shift = -shift;
  }
  const float* xx = shift == 1 ? kXPlus : kXMinus;
  bool all_on_grid = true;
  for (int k = 0; k < 4; ++k) {
    int u = 0;
    for (int j = 0; j < 8; ++j) u |= L[8 * k + j] << (2 * j);
    index[k] = g.map[static_cast<size_t>(u)];
    if (index[k] < 0) {
      all_on_grid = false;
      index[k] =
          best_neighbour(g, g.neighbours.data() - index[k] - 1, xb + 8 * k, weight + 8 * k, scale, xx, L + 8 * k);
    }
  }
  if (!all_on_grid) {
    float sumqx = 0;
    float sumq2 = 0;
    for (int k = 0; k < 4; ++k) {
      for (int j = 0; j < 8; ++j) {
        const float w = weight[8 * k + j];
        const float q = xx[(grid_byte(g.points[static_cast<size_t>(index[k])], j) - 1) / 2];
        sumqx += w * q * xb[8 * k + j];
        sumq2 += w * q * q;
      }
    }
    if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
  }
  return scale;
}

// shifts carries over from super-block to super-block (and row to row): the reference reads a zero block's stale
// shift when it stores the scale.
void quantize_superblock(const QuantGrid8& g, const float* xbl, const float* qw, int (&shifts)[8], BlockIq1S& y) {
  y = BlockIq1S{};
  float scales[8];
  float max_scale = 0;
  float sumx2 = 0;
  for (int i = 0; i < kIq1BlockSize; ++i) sumx2 += xbl[i] * xbl[i];
  const float sigma2 = 2 * sumx2 / kIq1BlockSize;
  for (int ib = 0; ib < 8; ++ib) {
    const float* xb = xbl + kBlock * ib;
    float weight[kBlock];
    for (int i = 0; i < kBlock; ++i) weight[i] = qw[kBlock * ib + i] * std::sqrt(sigma2 + xb[i] * xb[i]);
    float max = std::fabs(xb[0]);
    for (int i = 1; i < kBlock; ++i) max = std::max(max, std::fabs(xb[i]));
    if (max < 1e-12f) {
      scales[ib] = 0;
      continue;
    }
    int index[4];
    const float scale = quantize_block(g, xb, weight, shifts[ib], index);
    int h = 0;
    for (int k = 0; k < 4; ++k) {
      y.qs[4 * ib + k] = static_cast<uint8_t>(index[k] & 255);
      h |= (index[k] >> 8) << (3 * k);
    }
    y.qh[ib] = static_cast<uint16_t>(h);
    scales[ib] = scale;
    max_scale = std::max(max_scale, scale);
  }
  if (max_scale == 0) return;
  const float d = max_scale / 15;
  y.d = fp32_to_fp16(d * 1.125f);  // the reference's fudge factor
  const float id = 1 / d;
  for (int ib = 0; ib < 8; ++ib) {
    int l = std::clamp(nearest_int(0.5f * (id * scales[ib] - 1)), 0, 7);
    if (shifts[ib] == -1) l |= 8;
    y.qh[ib] = static_cast<uint16_t>(y.qh[ib] | (l << 12));
  }
}

// ---- IQ1_M: half blocks of 16, each group of 8 with its own shift; shift code k: group 0 shifted by -1/8 when
// k >= 2, group 1 when k is odd (qh mask kShiftMasks[k]).
constexpr int kHalf = 16;
constexpr uint8_t kShiftMasks[4] = {0x00, 0x80, 0x08, 0x88};

const float* shift_levels(int k, int group) {
  const bool plus = group == 0 ? k < 2 : k % 2 == 0;
  return plus ? kXPlus : kXMinus;
}

// The best split of a half block's sorted values into levels 0, 1, 2 and shift code: L per value, the code, the
// scale. Each candidate's sums are accumulated value by value in sorted order, as in the reference.
float best_split_m(const float* xb, const float* weight, int8_t* L, int& best_k) {
  std::pair<float, int> pairs[kHalf];
  for (int j = 0; j < kHalf; ++j) pairs[j] = {xb[j], j};
  std::stable_sort(pairs, pairs + kHalf, [](const auto& a, const auto& b) { return a.first < b.first; });
  float best_score = -1.175494351e-38f;
  float scale = 0;
  int besti1 = -1;
  int besti2 = -1;
  best_k = -1;
  for (int i1 = 0; i1 <= kHalf; ++i1) {
    for (int i2 = i1; i2 <= kHalf; ++i2) {
      float sumqx[4] = {};
      float sumq2[4] = {};
      for (int j = 0; j < kHalf; ++j) {
        const int i = pairs[j].second;
        const int level = j < i1 ? 0 : j < i2 ? 1 : 2;
        for (int k = 0; k < 4; ++k) {
          const float q = shift_levels(k, i / 8)[level];
          sumqx[k] += weight[i] * q * xb[i];
          sumq2[k] += weight[i] * q * q;
        }
      }
      for (int k = 0; k < 4; ++k) {
        if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best_score * sumq2[k]) {
          scale = sumqx[k] / sumq2[k];
          best_score = scale * sumqx[k];
          besti1 = i1;
          besti2 = i2;
          best_k = k;
        }
      }
    }
  }
  if (besti1 < 0) throw Error("quantizing to IQ1_M: no scale fits (are the importance weights zero?)");
  for (int j = 0; j < kHalf; ++j) L[pairs[j].second] = static_cast<int8_t>(j < besti1 ? 0 : j < besti2 ? 1 : 2);
  return scale;
}

// One half block: the scale (>= 0), shift code and 2 group grid indices.
float quantize_half_m(const QuantGrid8& g, const float* xb, const float* weight, int& best_k, int (&index)[2]) {
  int8_t L[kHalf];
  float scale = best_split_m(xb, weight, L, best_k);
  if (scale < 0) {
    for (auto& l : L) l = static_cast<int8_t>(2 - l);
    scale = -scale;
    best_k = 3 - best_k;
  }
  bool all_on_grid = true;
  for (int k = 0; k < 2; ++k) {
    int u = 0;
    for (int j = 0; j < 8; ++j) u |= L[8 * k + j] << (2 * j);
    index[k] = g.map[static_cast<size_t>(u)];
    if (index[k] < 0) {
      all_on_grid = false;
      index[k] = best_neighbour(g, g.neighbours.data() - index[k] - 1, xb + 8 * k, weight + 8 * k, scale,
                                shift_levels(best_k, k), L + 8 * k);
    }
  }
  if (!all_on_grid) {
    float sumqx = 0;
    float sumq2 = 0;
    for (int k = 0; k < 2; ++k) {
      const float* xx = shift_levels(best_k, k);
      for (int j = 0; j < 8; ++j) {
        const float w = weight[8 * k + j];
        const float q = xx[(grid_byte(g.points[static_cast<size_t>(index[k])], j) - 1) / 2];
        sumqx += w * q * xb[8 * k + j];
        sumq2 += w * q * q;
      }
    }
    if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
  }
  return scale;
}

void half_weights(const float* xb, const float* qw, float sigma2, float* weight) {
  for (int i = 0; i < kHalf; ++i) weight[i] = qw != nullptr ? qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
}

// The stored scales and the refitted super-block scale d (least squares over every value with its stored
// level, shift and half-block scale), as the reference computes them.
void store_scales_m(const QuantGrid8& g, const float* xbl, const float* qw, float sigma2, const float* scales,
                    const int (&shifts)[16], float max_scale, BlockIq1M& y) {
  uint16_t sc[4] = {};
  float d = max_scale / 15;
  const float id = 1 / d;
  float sumqx = 0;
  float sumq2 = 0;
  for (int ib = 0; ib < 16; ++ib) {
    const int l = std::clamp(nearest_int(0.5f * (id * scales[ib] - 1)), 0, 7);
    sc[ib / 4] = static_cast<uint16_t>(sc[ib / 4] | (l << (3 * (ib % 4))));
    y.qh[ib] = static_cast<uint8_t>(y.qh[ib] | kShiftMasks[shifts[ib]]);
    const float* xb = xbl + kHalf * ib;
    float weight[kHalf];
    half_weights(xb, qw != nullptr ? qw + kHalf * ib : nullptr, sigma2, weight);
    for (int k = 0; k < 2; ++k) {
      const float* xx = shift_levels(shifts[ib], k);
      const int index = y.qs[2 * ib + k] + ((y.qh[ib] << (8 - 4 * k)) & 0x700);
      for (int j = 0; j < 8; ++j) {
        const float w = weight[8 * k + j];
        const float q =
            xx[(grid_byte(g.points[static_cast<size_t>(index)], j) - 1) / 2] * static_cast<float>(2 * l + 1);
        sumqx += w * q * xb[8 * k + j];
        sumq2 += w * q * q;
      }
    }
  }
  if (sumq2 > 0) d = sumqx / sumq2;
  const uint16_t h = fp32_to_fp16(d * 1.1125f);  // the reference's fudge factor
  sc[0] = static_cast<uint16_t>(sc[0] | ((h & 0x000f) << 12));
  sc[1] = static_cast<uint16_t>(sc[1] | ((h & 0x00f0) << 8));
  sc[2] = static_cast<uint16_t>(sc[2] | ((h & 0x0f00) << 4));
  sc[3] = static_cast<uint16_t>(sc[3] | (h & 0xf000));
  std::memcpy(y.scales, sc, sizeof(sc));
}

// shifts carries over between super-blocks and rows: a zero half block keeps (and stores) its stale shift.
void quantize_m_superblock(const QuantGrid8& g, const float* xbl, const float* qw, int (&shifts)[16], BlockIq1M& y) {
  y = BlockIq1M{};
  float scales[16];
  float max_scale = 0;
  float sumx2 = 0;
  for (int i = 0; i < kIq1BlockSize; ++i) sumx2 += xbl[i] * xbl[i];
  const float sigma2 = 2 * sumx2 / kIq1BlockSize;
  for (int ib = 0; ib < 16; ++ib) {
    const float* xb = xbl + kHalf * ib;
    float weight[kHalf];
    half_weights(xb, qw != nullptr ? qw + kHalf * ib : nullptr, sigma2, weight);
    float max = std::fabs(xb[0]);
    for (int i = 1; i < kHalf; ++i) max = std::max(max, std::fabs(xb[i]));
    if (max < 1e-7f) {
      scales[ib] = 0;
      continue;
    }
    int index[2];
    const float scale = quantize_half_m(g, xb, weight, shifts[ib], index);
    y.qs[2 * ib] = static_cast<uint8_t>(index[0] & 255);
    y.qs[2 * ib + 1] = static_cast<uint8_t>(index[1] & 255);
    y.qh[ib] = static_cast<uint8_t>((index[0] >> 8) | ((index[1] >> 8) << 4));
    scales[ib] = scale;
    max_scale = std::max(max_scale, scale);
  }
  if (max_scale == 0) return;
  store_scales_m(g, xbl, qw, sigma2, scales, shifts, max_scale, y);
}

}  // namespace

void iq1_s_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
  if (importance == nullptr) throw Error("quantizing to IQ1_S needs an importance matrix (--imatrix)");
  if (n_per_row % kIq1BlockSize != 0) {
    throw Error("quantizing to IQ1_S: rows of " + std::to_string(n_per_row) + " values are not whole blocks of 256");
  }
  const QuantGrid8& g = quant_grid_iq1();
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t nb = n_per_row / kIq1BlockSize;
  int shifts[8] = {};
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t i = 0; i < nb; ++i) {
      BlockIq1S y;
      quantize_superblock(g, src + r * n_per_row + i * kIq1BlockSize, importance + i * kIq1BlockSize, shifts, y);
      std::memcpy(out + static_cast<size_t>(r * nb + i) * sizeof(BlockIq1S), &y, sizeof(y));
    }
  }
}

void iq1_m_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
  if (n_per_row % kIq1BlockSize != 0) {
    throw Error("quantizing to IQ1_M: rows of " + std::to_string(n_per_row) + " values are not whole blocks of 256");
  }
  const QuantGrid8& g = quant_grid_iq1();
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t nb = n_per_row / kIq1BlockSize;
  int shifts[16] = {};
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t i = 0; i < nb; ++i) {
      BlockIq1M y;
      const float* qw = importance != nullptr ? importance + i * kIq1BlockSize : nullptr;
      quantize_m_superblock(g, src + r * n_per_row + i * kIq1BlockSize, qw, shifts, y);
      std::memcpy(out + static_cast<size_t>(r * nb + i) * sizeof(BlockIq1M), &y, sizeof(y));
    }
  }
}

}  // namespace ternion::quant
