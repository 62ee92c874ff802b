// Quantizing to IQ2_XXS with an importance matrix: GGUF's reference algorithm (llama.cpp's quantize_iq2_xxs), so
// that the blocks are byte for byte what llama-quantize writes given the same imatrix.
//
// Per block of 32: the signs are taken out (an odd count of minus signs flips the least important value, since
// only even sign patterns are stored), the magnitudes are fitted to levels 1, 3, 5 under 13 trial scales around a
// weighted least-squares start, each group of 8 snapped to the grid (directly, or to the best of the nearest grid
// points when its levels are off the grid), and the scale of least weighted error kept; the 8 block scales are
// then stored as 4 bits relative to the largest. Every float operation is rounded on its own (no fused
// multiply-add), as in the reference.
#if defined(__clang__)
#pragma clang fp contract(off)
#else
#pragma GCC optimize("fp-contract=off")
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "quant/iq2.h"
#include "quant/iq_grids.h"
#include "quant/iq_quant_grid.h"
#include "quant/k_quant_math.h"
#include "ternion/core/error.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

constexpr float kGroupMaxEps = 1e-15f;
// The neighbour of least weighted error for xval at this scale; its levels go to L.
int best_neighbour(const QuantGrid8& g, const uint16_t* neighbours, const float* xval, const float* weight, float scale,
                   int8_t* L) {
  float best_d2 = 3.402823466e+38f;
  int grid_index = neighbours[1];
  for (int j = 1; j <= neighbours[0]; ++j) {
    const uint64_t p = g.points[neighbours[j]];
    float d2 = 0;
    for (int i = 0; i < 8; ++i) {
      const float q = grid_byte(p, i);
      const float diff = scale * q - xval[i];
      d2 += weight[i] * diff * diff;
    }
    if (d2 < best_d2) {
      best_d2 = d2;
      grid_index = neighbours[j];
    }
  }
  const uint64_t p = g.points[static_cast<size_t>(grid_index)];
  for (int i = 0; i < 8; ++i) L[i] = static_cast<int8_t>((grid_byte(p, i) - 1) / 2);
  return grid_index;
}

// The grid index of group levels L[0..7] (each 0 .. 2), snapping them to the best neighbour when off the grid.
int snap_group(const QuantGrid8& g, const float* xval, const float* waux, float scale, int8_t* L) {
  int u = 0;
  for (int i = 0; i < 8; ++i) u |= L[i] << (2 * i);
  const int index = g.map[static_cast<size_t>(u)];
  if (index >= 0) return index;
  return best_neighbour(g, g.neighbours.data() - index - 1, xval, waux, scale, L);
}

// Levels of n values xval at inverse scale id, clamped to [0, 2].
void levels_at(float id, const float* xval, int8_t* L, int n = 32) {
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(std::clamp(nearest_int(0.5f * (id * xval[i] - 1)), 0, 2));
}

// Signs out of a block of n_groups groups of 8: xval = |x| but for the least important value of a group with an
// odd count of minus signs, which keeps its sign; signs[k] = the 7 stored sign bits of group k.
void take_signs(const float* xb, const float* weight, float* xval, uint8_t* signs, int n_groups = 4) {
  for (int k = 0; k < n_groups; ++k) {
    int nflip = 0;
    uint8_t s = 0;
    for (int i = 0; i < 8; ++i) {
      const float v = xb[8 * k + i];
      if (v >= 0) {
        xval[8 * k + i] = v;
      } else {
        xval[8 * k + i] = -v;
        ++nflip;
        s = static_cast<uint8_t>(s | (1 << i));
      }
    }
    if (nflip % 2) {
      int imin = 0;
      float min = weight[8 * k] * xb[8 * k] * xb[8 * k];
      for (int i = 1; i < 8; ++i) {
        const float ax = weight[8 * k + i] * xb[8 * k + i] * xb[8 * k + i];
        if (ax < min) {
          min = ax;
          imin = i;
        }
      }
      xval[8 * k + imin] = -xval[8 * k + imin];
      s = static_cast<uint8_t>(s ^ (1 << imin));
    }
    signs[k] = s & 127;
  }
}

// The weighted least-squares fit of n values xval by levels L: sum w x q and sum w q^2 with q = 2L + 1.
void fit(const float* weight, const float* xval, const int8_t* L, float& sumqx, float& sumq2, int n = 32) {
  sumqx = 0;
  sumq2 = 0;
  for (int i = 0; i < n; ++i) {
    const float q = static_cast<float>(2 * L[i] + 1);
    sumqx += weight[i] * xval[i] * q;
    sumq2 += weight[i] * q * q;
  }
}

// One block of 32: the block scale (>= 0) and the group grid indices; L is scratch.
float quantize_block(const QuantGrid8& g, const float* xval, const float* weight, const float* waux, int (&index)[4],
                     int8_t* L) {
  constexpr int kMaxQ = 3;
  uint8_t Lqp[32];
  // k_quant_math's make_qp_quants (GGUF's): its levels are bytes, so a negative value (xval may hold one, see
  // take_signs) wraps to 255, which the refinement then reads as such.
  float scale = make_qp_quants(32, kMaxQ + 1, xval, Lqp, weight);
  std::memcpy(L, Lqp, 32);
  const float eff_max = scale * kMaxQ;
  float best = 0;
  int8_t Laux[32];
  for (int is = -6; is <= 6; ++is) {
    const float id = (2 * kMaxQ - 1 + static_cast<float>(is) * 0.1f) / eff_max;
    const float this_scale = 1 / id;
    levels_at(id, xval, Laux);
    for (int k = 0; k < 4; ++k) snap_group(g, xval + 8 * k, waux + 8 * k, this_scale, Laux + 8 * k);
    float sumqx = 0;
    float sumq2 = 0;
    fit(weight, xval, Laux, sumqx, sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      scale = sumqx / sumq2;
      best = scale * sumqx;
      std::memcpy(L, Laux, 32);
    }
  }
  if (scale > 0) {
    levels_at(1 / scale, xval, L);
    for (int k = 0; k < 4; ++k) {
      const int gi = snap_group(g, xval + 8 * k, waux + 8 * k, scale, L + 8 * k);
      for (int i = 0; i < 8; ++i) L[8 * k + i] = static_cast<int8_t>((grid_byte(g.points[gi], i) - 1) / 2);
    }
    float sumqx = 0;
    float sumq2 = 0;
    fit(weight, xval, L, sumqx, sumq2);
    if (sumq2 > 0) scale = sumqx / sumq2;
  }
  for (int k = 0; k < 4; ++k) {
    int u = 0;
    for (int i = 0; i < 8; ++i) u |= L[8 * k + i] << (2 * i);
    index[k] = u < kIqMapSize ? g.map[static_cast<size_t>(u)] : -1;
    // Only a degenerate fit (zero importance: a NaN scale) leaves levels off the grid; GGUF's quantizer aborts.
    if (index[k] < 0) throw Error("quantizing to IQ2_XXS: no grid point fits (are the importance weights zero?)");
  }
  return scale;
}

void quantize_iq2_xxs_superblock(const QuantGrid8& g, const float* xbl, const float* qw, BlockIq2Xxs& y) {
  uint32_t q2[16] = {};
  float scales[8];
  float max_scale = 0;
  float sumx2 = 0;
  for (int i = 0; i < kIq2BlockSize; ++i) sumx2 += xbl[i] * xbl[i];
  const float sigma2 = sumx2 / kIq2BlockSize;
  for (int ib = 0; ib < 8; ++ib) {
    const float* xb = xbl + 32 * ib;
    float weight[32];
    float waux[32];
    float xval[32];
    uint8_t signs[4];
    for (int i = 0; i < 32; ++i) weight[i] = qw[32 * ib + i] * std::sqrt(sigma2 + xb[i] * xb[i]);
    for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
    take_signs(xb, weight, xval, signs);
    float max = xval[0];
    for (int i = 1; i < 32; ++i) max = std::max(max, xval[i]);
    if (max < kGroupMaxEps) {
      scales[ib] = 0;
      continue;
    }
    int8_t L[32];
    int index[4];
    float scale = quantize_block(g, xval, weight, waux, index, L);
    if (scale < 0) {  // not expected; the scale is stored unsigned, so flip the signs instead
      scale = -scale;
      for (auto& s : signs) s = static_cast<uint8_t>(~s & 127);
    }
    for (int k = 0; k < 4; ++k) {
      q2[2 * ib] |= static_cast<uint32_t>(index[k]) << (8 * k);
      q2[2 * ib + 1] |= static_cast<uint32_t>(signs[k]) << (7 * k);
    }
    scales[ib] = scale;
    max_scale = std::max(max_scale, scale);
  }
  y = BlockIq2Xxs{};
  if (max_scale == 0) return;
  const float d = max_scale / 31;
  y.d = fp32_to_fp16(d);
  const float id = 1 / d;
  for (int ib = 0; ib < 8; ++ib) {
    const int l = std::clamp(nearest_int(0.5f * (id * scales[ib] - 1)), 0, 15);
    q2[2 * ib + 1] |= static_cast<uint32_t>(l) << 28;
  }
  std::memcpy(y.qs, q2, sizeof(q2));
}

// One IQ2_XS half block of 16: 19 trial scales around max / 5, each group snapped to the grid; groups that were
// off the grid at the best scale are snapped again at the fitted scale. L carries over from the previous half
// block when no trial fits (zero importance), as in the reference. Returns the scale; index gets the groups'.
float quantize_half_block(const QuantGrid8& g, const float* xval, const float* weight, const float* waux, float max,
                          int8_t* L, int (&index)[2], const char* type = "IQ2_XS") {
  constexpr int kMaxQ = 3;
  float best = 0;
  float scale = max / (2 * kMaxQ - 1);
  bool on_grid[2] = {true, true};
  for (int is = -9; is <= 9; ++is) {
    const float id = (2 * kMaxQ - 1 + static_cast<float>(is) * 0.1f) / max;
    const float this_scale = 1 / id;
    int8_t Laux[16];
    bool on_grid_aux[2];
    levels_at(id, xval, Laux, 16);
    for (int k = 0; k < 2; ++k) {
      int u = 0;
      for (int i = 0; i < 8; ++i) u |= Laux[8 * k + i] << (2 * i);
      on_grid_aux[k] = g.map[static_cast<size_t>(u)] >= 0;
      snap_group(g, xval + 8 * k, waux + 8 * k, this_scale, Laux + 8 * k);
    }
    float sumqx = 0;
    float sumq2 = 0;
    fit(weight, xval, Laux, sumqx, sumq2, 16);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      scale = sumqx / sumq2;
      best = scale * sumqx;
      std::memcpy(L, Laux, 16);
      on_grid[0] = on_grid_aux[0];
      on_grid[1] = on_grid_aux[1];
    }
  }
  if ((!on_grid[0] || !on_grid[1]) && scale > 0) {
    const float id = 1 / scale;
    for (int k = 0; k < 2; ++k) {
      if (on_grid[k]) continue;
      levels_at(id, xval + 8 * k, L + 8 * k, 8);
      snap_group(g, xval + 8 * k, waux + 8 * k, scale, L + 8 * k);
    }
    float sumqx = 0;
    float sumq2 = 0;
    fit(weight, xval, L, sumqx, sumq2, 16);
    if (sumq2 > 0) scale = sumqx / sumq2;
  }
  for (int k = 0; k < 2; ++k) {
    int u = 0;
    for (int i = 0; i < 8; ++i) u |= L[8 * k + i] << (2 * i);
    index[k] = u < kIqMapSize ? g.map[static_cast<size_t>(u)] : -1;
    if (index[k] < 0) {
      throw Error(std::string("quantizing to ") + type + ": no grid point fits (are the importance weights zero?)");
    }
  }
  return scale;
}

void quantize_iq2_xs_superblock(const QuantGrid8& g, const float* xbl, const float* qw, int8_t* L, BlockIq2Xs& y) {
  uint16_t q2[32] = {};
  float scales[16];
  float max_scale = 0;
  float sumx2 = 0;
  for (int i = 0; i < kIq2BlockSize; ++i) sumx2 += xbl[i] * xbl[i];
  const float sigma2 = sumx2 / kIq2BlockSize;
  for (int ib = 0; ib < 16; ++ib) {
    const float* xb = xbl + 16 * ib;
    float weight[16];
    float waux[16];
    float xval[16];
    uint8_t signs[2];
    for (int i = 0; i < 16; ++i) weight[i] = qw[16 * ib + i] * std::sqrt(sigma2 + xb[i] * xb[i]);
    for (int i = 0; i < 16; ++i) waux[i] = std::sqrt(weight[i]);
    take_signs(xb, weight, xval, signs, 2);
    float max = xval[0];
    for (int i = 1; i < 16; ++i) max = std::max(max, xval[i]);
    if (max < kGroupMaxEps) {
      scales[ib] = 0;
      std::memset(L, 0, 16);
      continue;
    }
    int index[2];
    float scale = quantize_half_block(g, xval, weight, waux, max, L, index);
    if (scale < 0) {  // not expected; the scale is stored unsigned, so flip the signs instead
      scale = -scale;
      for (auto& s : signs) s = static_cast<uint8_t>(~s & 127);
    }
    for (int k = 0; k < 2; ++k) q2[2 * ib + k] = static_cast<uint16_t>(index[k] | (signs[k] << 9));
    scales[ib] = scale;
    max_scale = std::max(max_scale, scale);
  }
  y = BlockIq2Xs{};
  if (max_scale == 0) return;
  const float d = max_scale / 31;
  y.d = fp32_to_fp16(d);
  const float id = 1 / d;
  for (int ib = 0; ib < 16; ++ib) {
    const int l = std::clamp(nearest_int(0.5f * (id * scales[ib] - 1)), 0, 15);
    y.scales[ib / 2] = static_cast<uint8_t>(y.scales[ib / 2] | (l << (4 * (ib % 2))));
  }
  std::memcpy(y.qs, q2, sizeof(q2));
}

// IQ2_S: IQ2_XS's search per half block, with plain signs (no parity rule), weights x^2 + sigma^2 / 4 without an
// importance matrix, and the stored d scaled by 0.9875 as in the reference.
void quantize_iq2_s_superblock(const QuantGrid8& g, const float* xbl, const float* qw, int8_t* L, BlockIq2S& y) {
  y = BlockIq2S{};
  float scales[16];
  float max_scale = 0;
  float sumx2 = 0;
  for (int i = 0; i < kIq2BlockSize; ++i) sumx2 += xbl[i] * xbl[i];
  const float sigma2 = 2 * sumx2 / kIq2BlockSize;
  for (int ib = 0; ib < 16; ++ib) {
    const float* xb = xbl + 16 * ib;
    float weight[16];
    float waux[16];
    float xval[16];
    uint8_t signs[2] = {};
    for (int i = 0; i < 16; ++i) {
      weight[i] = qw != nullptr ? qw[16 * ib + i] * std::sqrt(sigma2 + xb[i] * xb[i]) : 0.25f * sigma2 + xb[i] * xb[i];
    }
    for (int i = 0; i < 16; ++i) waux[i] = std::sqrt(weight[i]);
    for (int i = 0; i < 16; ++i) {
      if (xb[i] >= 0) {
        xval[i] = xb[i];
      } else {
        xval[i] = -xb[i];
        signs[i / 8] = static_cast<uint8_t>(signs[i / 8] | (1 << (i % 8)));
      }
    }
    float max = xval[0];
    for (int i = 1; i < 16; ++i) max = std::max(max, xval[i]);
    if (max < 1e-8f) {
      scales[ib] = 0;
      continue;
    }
    int index[2];
    float scale = quantize_half_block(g, xval, weight, waux, max, L, index, "IQ2_S");
    if (scale < 0) {  // not expected; the scale is stored unsigned, so flip the signs instead
      scale = -scale;
      for (auto& s : signs) s = static_cast<uint8_t>(~s);
    }
    for (int k = 0; k < 2; ++k) {
      const int i8 = 2 * ib + k;
      y.qs[i8] = static_cast<uint8_t>(index[k] & 255);
      y.qh[i8 / 4] = static_cast<uint8_t>(y.qh[i8 / 4] | ((index[k] >> 8) << (2 * (i8 % 4))));
      y.qs[32 + i8] = signs[k];
    }
    scales[ib] = scale;
    max_scale = std::max(max_scale, scale);
  }
  if (max_scale == 0) return;
  const float d = max_scale / 31;
  y.d = fp32_to_fp16(d * 0.9875f);
  const float id = 1 / d;
  for (int ib = 0; ib < 16; ++ib) {
    const int l = std::clamp(nearest_int(0.5f * (id * scales[ib] - 1)), 0, 15);
    y.scales[ib / 2] = static_cast<uint8_t>(y.scales[ib / 2] | (l << (4 * (ib % 2))));
  }
}

void check_rows(const char* type, int64_t n_per_row, const float* importance) {
  if (importance == nullptr)
    throw Error(std::string("quantizing to ") + type + " needs an importance matrix (--imatrix)");
  if (n_per_row % kIq2BlockSize != 0) {
    throw Error(std::string("quantizing to ") + type + ": rows of " + std::to_string(n_per_row) +
                " values are not whole blocks of 256");
  }
}

}  // namespace

void iq2_xs_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
  check_rows("IQ2_XS", n_per_row, importance);
  const QuantGrid8& g = quant_grid_iq2_xs();
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t nb = n_per_row / kIq2BlockSize;
  for (int64_t r = 0; r < n_rows; ++r) {
    int8_t L[16] = {};  // the reference keeps the last levels across a row's blocks
    for (int64_t i = 0; i < nb; ++i) {
      BlockIq2Xs y;
      quantize_iq2_xs_superblock(g, src + r * n_per_row + i * kIq2BlockSize, importance + i * kIq2BlockSize, L, y);
      std::memcpy(out + static_cast<size_t>(r * nb + i) * sizeof(BlockIq2Xs), &y, sizeof(y));
    }
  }
}

void iq2_xxs_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
  check_rows("IQ2_XXS", n_per_row, importance);
  const QuantGrid8& g = quant_grid_iq2_xxs();
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t nb = n_per_row / kIq2BlockSize;
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t i = 0; i < nb; ++i) {
      BlockIq2Xxs y;
      quantize_iq2_xxs_superblock(g, src + r * n_per_row + i * kIq2BlockSize, importance + i * kIq2BlockSize, y);
      std::memcpy(out + static_cast<size_t>(r * nb + i) * sizeof(BlockIq2Xxs), &y, sizeof(y));
    }
  }
}

void iq2_s_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
  if (n_per_row % kIq2BlockSize != 0) {
    throw Error("quantizing to IQ2_S: rows of " + std::to_string(n_per_row) + " values are not whole blocks of 256");
  }
  const QuantGrid8& g = quant_grid_iq2_s();
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t nb = n_per_row / kIq2BlockSize;
  for (int64_t r = 0; r < n_rows; ++r) {
    int8_t L[16] = {};  // the reference keeps the last levels across a row's blocks
    for (int64_t i = 0; i < nb; ++i) {
      BlockIq2S y;
      const float* qw = importance != nullptr ? importance + i * kIq2BlockSize : nullptr;
      quantize_iq2_s_superblock(g, src + r * n_per_row + i * kIq2BlockSize, qw, L, y);
      std::memcpy(out + static_cast<size_t>(r * nb + i) * sizeof(BlockIq2S), &y, sizeof(y));
    }
  }
}

void iq2_s_from_float_ref(const float* src, void* dst, int64_t n) { iq2_s_quantize(src, dst, 1, n, nullptr); }

}  // namespace ternion::quant
