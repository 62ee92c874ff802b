// Quantizing to IQ3_XXS: GGUF's reference algorithm (llama.cpp's quantize_iq3_xxs), so that the blocks are byte for
// byte what llama-quantize writes, with an importance matrix or without one (weights x^2 then).
//
// Per block of 32: the signs are taken out per group of 8 (an odd count of minus signs flips the least important
// value), the magnitudes fitted to levels 1, 3, .., 15 under 31 trial scales, each group of 4 snapped to the grid
// (directly, or to the best of the nearest grid points when off the grid), the scale of least weighted error
// kept, and groups that were off the grid snapped again at that scale; the 8 block scales are then stored as 4
// bits relative to the largest. Every float operation is rounded on its own (no fused multiply-add).
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

#include "quant/iq3.h"
#include "quant/iq_grids.h"
#include "quant/k_quant_math.h"
#include "ternion/core/error.h"
#include "ternion/core/fp16.h"

namespace ternion::quant {

namespace {

constexpr float kGroupMaxEps = 1e-8f;
constexpr int kMapSize = 4096;  // 3 bits per coordinate
constexpr int kMaxQ = 8;

// The grid as the quantizer searches it (see iq2_quantize.cpp): points as positions 2l + 1 per coordinate, the
// map from levels (3 bits per coordinate) to a grid index or -(1 + offset) of a neighbour list (count, indices).
struct QuantGrid3 {
  std::vector<uint32_t> points;
  std::vector<int> map;
  std::vector<uint16_t> neighbours;
};

int level_of(uint8_t v, const uint8_t (&values)[8]) {
  return static_cast<int>(std::find(values, values + 8, v) - values);
}

// Neighbours of one off-grid point: the grid points at the nwant smallest distinct squared distances, by distance
// and then by index (GGUF's sort of (distance, index) pairs).
void nearest_points(const QuantGrid3& g, const int (&pos)[4], int nwant, std::vector<int>& d2,
                    std::vector<uint16_t>& out) {
  constexpr int kMaxD2 = 4 * 15 * 15;
  bool present[kMaxD2 + 1] = {};
  for (size_t j = 0; j < g.points.size(); ++j) {
    int d = 0;
    for (int k = 0; k < 4; ++k) {
      const int diff = grid_byte(g.points[j], k) - pos[k];
      d += diff * diff;
    }
    d2[j] = d;
    present[d] = true;
  }
  int have = 0;
  for (int d = 0; d <= kMaxD2 && have < nwant; ++d) {
    if (!present[d]) continue;
    ++have;
    for (size_t j = 0; j < g.points.size(); ++j) {
      if (d2[j] == d) out.push_back(static_cast<uint16_t>(j));
    }
  }
}

QuantGrid3 build_grid(const uint32_t* entries, int n, const uint8_t (&values)[8], int nwant) {
  QuantGrid3 g;
  g.map.assign(kMapSize, -1);
  for (int i = 0; i < n; ++i) {
    uint32_t p = 0;
    int index = 0;
    for (int k = 0; k < 4; ++k) {
      const int l = level_of(grid_byte(entries[i], k), values);
      p |= static_cast<uint32_t>(2 * l + 1) << (8 * k);
      index |= l << (3 * k);
    }
    g.points.push_back(p);
    g.map[static_cast<size_t>(index)] = i;
  }
  std::vector<int> d2(static_cast<size_t>(n));
  for (int i = 0; i < kMapSize; ++i) {
    if (g.map[static_cast<size_t>(i)] >= 0) continue;
    int pos[4];
    for (int k = 0; k < 4; ++k) pos[k] = 2 * ((i >> (3 * k)) & 7) + 1;
    g.map[static_cast<size_t>(i)] = -(static_cast<int>(g.neighbours.size()) + 1);
    const size_t start = g.neighbours.size();
    g.neighbours.push_back(0);
    nearest_points(g, pos, nwant, d2, g.neighbours);
    g.neighbours[start] = static_cast<uint16_t>(g.neighbours.size() - start - 1);
  }
  return g;
}

const QuantGrid3& iq3_xxs_grid() {  // built once, on first use; read-only after
  static const QuantGrid3 g = build_grid(kIq3XxsGrid, 256, {4, 12, 20, 28, 36, 44, 52, 62}, 2);
  return g;
}

const QuantGrid3& iq3_s_grid() {
  static const QuantGrid3 g = build_grid(kIq3SGrid, 512, {1, 3, 5, 7, 9, 11, 13, 15}, 3);
  return g;
}

int level_index(const int8_t* L) {
  int u = 0;
  for (int i = 0; i < 4; ++i) u |= L[i] << (3 * i);
  return u;
}

// Snaps group levels L[0..3] to the grid (the neighbour of least weighted error when off it); returns the index.
int snap_group(const QuantGrid3& g, const float* xval, const float* waux, float scale, int8_t* L) {
  const int index = g.map[static_cast<size_t>(level_index(L))];
  if (index >= 0) return index;
  const uint16_t* nb = g.neighbours.data() - index - 1;
  float best_d2 = 3.402823466e+38f;
  int grid_index = nb[1];
  for (int j = 1; j <= nb[0]; ++j) {
    float d2 = 0;
    for (int i = 0; i < 4; ++i) {
      const float q = grid_byte(g.points[nb[j]], i);
      const float diff = scale * q - xval[i];
      d2 += waux[i] * diff * diff;
    }
    if (d2 < best_d2) {
      best_d2 = d2;
      grid_index = nb[j];
    }
  }
  for (int i = 0; i < 4; ++i)
    L[i] = static_cast<int8_t>((grid_byte(g.points[static_cast<size_t>(grid_index)], i) - 1) / 2);
  return grid_index;
}

void levels_at(float id, const float* xval, int8_t* L, int n) {
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<int8_t>(std::clamp(nearest_int(0.5f * (id * xval[i] - 1)), 0, kMaxQ - 1));
  }
}

void fit(const float* weight, const float* xval, const int8_t* L, float& sumqx, float& sumq2) {
  sumqx = 0;
  sumq2 = 0;
  for (int i = 0; i < 32; ++i) {
    const float q = static_cast<float>(2 * L[i] + 1);
    sumqx += weight[i] * xval[i] * q;
    sumq2 += weight[i] * q * q;
  }
}

// Signs out of a block of 4 groups of 8 (as in iq2_quantize.cpp); signs[k] = the 7 stored bits of group k.
void take_signs(const float* xb, const float* weight, float* xval, uint8_t* signs) {
  for (int k = 0; k < 4; ++k) {
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

// What carries from block to block of a row in the reference when no trial scale fits (zero weights).
struct RowState {
  int8_t L[32] = {};
  bool on_grid[8] = {true, true, true, true, true, true, true, true};
};

// One block of 32: returns the scale; index gets the 8 groups' grid indices.
float quantize_block(const QuantGrid3& g, const float* xval, const float* weight, const float* waux, float max,
                     RowState& st, int (&index)[8]) {
  float best = 0;
  float scale = max / (2 * kMaxQ - 1);
  for (int is = -15; is <= 15; ++is) {
    const float id = (2 * kMaxQ - 1 + static_cast<float>(is) * 0.2f) / max;
    const float this_scale = 1 / id;
    int8_t Laux[32];
    bool on_grid_aux[8];
    levels_at(id, xval, Laux, 32);
    for (int k = 0; k < 8; ++k) {
      on_grid_aux[k] = g.map[static_cast<size_t>(level_index(Laux + 4 * k))] >= 0;
      snap_group(g, xval + 4 * k, waux + 4 * k, this_scale, Laux + 4 * k);
    }
    float sumqx = 0;
    float sumq2 = 0;
    fit(weight, xval, Laux, sumqx, sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      scale = sumqx / sumq2;
      best = scale * sumqx;
      std::memcpy(st.L, Laux, 32);
      std::copy(on_grid_aux, on_grid_aux + 8, st.on_grid);
    }
  }
  const bool all_on_grid = std::all_of(st.on_grid, st.on_grid + 8, [](bool b) { return b; });
  if (!all_on_grid && scale > 0) {
    const float id = 1 / scale;
    for (int k = 0; k < 8; ++k) {
      if (st.on_grid[k]) continue;
      int8_t* Lk = st.L + 4 * k;
      int8_t l[4];
      levels_at(id, xval + 4 * k, l, 4);
      std::memcpy(Lk, l, 4);
      const int gi = snap_group(g, xval + 4 * k, waux + 4 * k, scale, Lk);
      for (int i = 0; i < 4; ++i)
        Lk[i] = static_cast<int8_t>((grid_byte(g.points[static_cast<size_t>(gi)], i) - 1) / 2);
    }
    float sumqx = 0;
    float sumq2 = 0;
    fit(weight, xval, st.L, sumqx, sumq2);
    if (sumq2 > 0) scale = sumqx / sumq2;
  }
  for (int k = 0; k < 8; ++k) {
    index[k] = g.map[static_cast<size_t>(level_index(st.L + 4 * k))];
    if (index[k] < 0) throw Error("quantizing to IQ3_XXS: no grid point fits (are the importance weights zero?)");
  }
  return scale;
}

void quantize_superblock(const QuantGrid3& g, const float* xbl, const float* qw, RowState& st, BlockIq3Xxs& y) {
  uint8_t q3[96] = {};
  float scales[8];
  float max_scale = 0;
  float sumx2 = 0;
  for (int i = 0; i < kIq3BlockSize; ++i) sumx2 += xbl[i] * xbl[i];
  const float sigma2 = 2 * sumx2 / kIq3BlockSize;
  for (int ib = 0; ib < 8; ++ib) {
    const float* xb = xbl + 32 * ib;
    float weight[32];
    float waux[32];
    float xval[32];
    uint8_t signs[4];
    for (int i = 0; i < 32; ++i) {
      weight[i] = qw != nullptr ? qw[32 * ib + i] * std::sqrt(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
    }
    for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
    take_signs(xb, weight, xval, signs);
    float max = xval[0];
    for (int i = 1; i < 32; ++i) max = std::max(max, xval[i]);
    if (max < kGroupMaxEps) {
      scales[ib] = 0;
      std::memset(st.L, 0, 32);
      continue;
    }
    int index[8];
    float scale = quantize_block(g, xval, weight, waux, max, st, index);
    if (scale < 0) {  // not expected; the scale is stored unsigned, so flip the signs instead
      scale = -scale;
      for (auto& s : signs) s = static_cast<uint8_t>(~s & 127);
    }
    for (int k = 0; k < 8; ++k) q3[8 * ib + k] = static_cast<uint8_t>(index[k]);
    const uint32_t ss = signs[0] | (signs[1] << 7) | (signs[2] << 14) | (static_cast<uint32_t>(signs[3]) << 21);
    std::memcpy(q3 + 64 + 4 * ib, &ss, 4);
    scales[ib] = scale;
    max_scale = std::max(max_scale, scale);
  }
  y = BlockIq3Xxs{};
  if (max_scale == 0) return;
  const float d = max_scale / 31;
  y.d = fp32_to_fp16(d * 1.0125f);  // the reference's fudge factor
  const float id = 1 / d;
  for (int ib = 0; ib < 8; ++ib) {
    const int l = std::clamp(nearest_int(0.5f * (id * scales[ib] - 1)), 0, 15);
    uint32_t ss;
    std::memcpy(&ss, q3 + 64 + 4 * ib, 4);
    ss |= static_cast<uint32_t>(l) << 28;
    std::memcpy(q3 + 64 + 4 * ib, &ss, 4);
  }
  std::memcpy(y.qs, q3, sizeof(q3));
}

// One IQ3_S block of 32 (plain signs, so xval = |x|): 19 trial scales around max / 15; if any group was off the
// grid at the best one, every group is snapped again at the fitted scale. Returns the scale; index gets the
// groups' grid indices.
float quantize_s_block(const QuantGrid3& g, const float* xval, const float* weight, const float* waux, float max,
                       int8_t* L, int (&index)[8]) {
  float best = 0;
  float scale = max / (2 * kMaxQ - 1);
  bool on_grid[8] = {};
  for (int is = -9; is <= 9; ++is) {
    const float id = (2 * kMaxQ - 1 + static_cast<float>(is) * 0.2f) / max;
    const float this_scale = 1 / id;
    int8_t Laux[32];
    bool on_grid_aux[8];
    levels_at(id, xval, Laux, 32);
    for (int k = 0; k < 8; ++k) {
      on_grid_aux[k] = g.map[static_cast<size_t>(level_index(Laux + 4 * k))] >= 0;
      snap_group(g, xval + 4 * k, waux + 4 * k, this_scale, Laux + 4 * k);
    }
    float sumqx = 0;
    float sumq2 = 0;
    fit(weight, xval, Laux, sumqx, sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      scale = sumqx / sumq2;
      best = scale * sumqx;
      std::memcpy(L, Laux, 32);
      std::copy(on_grid_aux, on_grid_aux + 8, on_grid);
    }
  }
  const bool all_on_grid = std::all_of(on_grid, on_grid + 8, [](bool b) { return b; });
  if (!all_on_grid && scale > 0) {
    levels_at(1 / scale, xval, L, 32);
    for (int k = 0; k < 8; ++k) {
      const int gi = snap_group(g, xval + 4 * k, waux + 4 * k, scale, L + 4 * k);
      for (int i = 0; i < 4; ++i) {
        L[4 * k + i] = static_cast<int8_t>((grid_byte(g.points[static_cast<size_t>(gi)], i) - 1) / 2);
      }
    }
    float sumqx = 0;
    float sumq2 = 0;
    fit(weight, xval, L, sumqx, sumq2);
    if (sumq2 > 0) scale = sumqx / sumq2;
  }
  for (int k = 0; k < 8; ++k) {
    index[k] = g.map[static_cast<size_t>(level_index(L + 4 * k))];
    if (index[k] < 0) throw Error("quantizing to IQ3_S: no grid point fits (are the importance weights zero?)");
  }
  return scale;
}

void quantize_s_superblock(const QuantGrid3& g, const float* xbl, const float* qw, int8_t* L, BlockIq3S& y) {
  y = BlockIq3S{};
  float scales[8];
  float max_scale = 0;
  float sumx2 = 0;
  for (int i = 0; i < kIq3BlockSize; ++i) sumx2 += xbl[i] * xbl[i];
  const float sigma2 = 2 * sumx2 / kIq3BlockSize;
  int stored = 0;  // the reference skips an all-zero block without moving its qs and signs cursors: later blocks
                   // land 8 and 4 bytes earlier (the decoder then reads them at the wrong place; kept for identity)
  for (int ib = 0; ib < 8; ++ib) {
    const float* xb = xbl + 32 * ib;
    float weight[32];
    float waux[32];
    float xval[32];
    uint8_t signs[4] = {};
    for (int i = 0; i < 32; ++i) {
      weight[i] = qw != nullptr ? qw[32 * ib + i] * std::sqrt(sigma2 + xb[i] * xb[i]) : xb[i] * xb[i];
    }
    for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
    for (int i = 0; i < 32; ++i) {
      if (xb[i] >= 0) {
        xval[i] = xb[i];
      } else {
        xval[i] = -xb[i];
        signs[i / 8] = static_cast<uint8_t>(signs[i / 8] | (1 << (i % 8)));
      }
    }
    float max = xval[0];
    for (int i = 1; i < 32; ++i) max = std::max(max, xval[i]);
    if (max == 0) {
      scales[ib] = 0;
      continue;
    }
    int index[8];
    float scale = quantize_s_block(g, xval, weight, waux, max, L, index);
    if (scale < 0) {  // not expected; the scale is stored unsigned, so flip the signs instead
      scale = -scale;
      for (auto& s : signs) s = static_cast<uint8_t>(~s);
    }
    for (int k = 0; k < 8; ++k) {
      y.qs[8 * stored + k] = static_cast<uint8_t>(index[k] & 255);
      y.qh[ib] = static_cast<uint8_t>(y.qh[ib] | ((index[k] >> 8) << k));
    }
    std::memcpy(y.signs + 4 * stored, signs, 4);
    ++stored;
    scales[ib] = scale;
    max_scale = std::max(max_scale, scale);
  }
  if (max_scale == 0) return;
  const float d = max_scale / 31;
  y.d = fp32_to_fp16(d * 1.033f);  // the reference's fudge factor
  const float id = 1 / d;
  for (int ib = 0; ib < 8; ib += 2) {
    const int l1 = std::clamp(nearest_int(0.5f * (id * scales[ib] - 1)), 0, 15);
    const int l2 = std::clamp(nearest_int(0.5f * (id * scales[ib + 1] - 1)), 0, 15);
    y.scales[ib / 2] = static_cast<uint8_t>(l1 | (l2 << 4));
  }
}

}  // namespace

void iq3_xxs_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
  if (n_per_row % kIq3BlockSize != 0) {
    throw Error("quantizing to IQ3_XXS: rows of " + std::to_string(n_per_row) + " values are not whole blocks of 256");
  }
  const QuantGrid3& g = iq3_xxs_grid();
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t nb = n_per_row / kIq3BlockSize;
  for (int64_t r = 0; r < n_rows; ++r) {
    RowState st;
    for (int64_t i = 0; i < nb; ++i) {
      BlockIq3Xxs y;
      const float* qw = importance != nullptr ? importance + i * kIq3BlockSize : nullptr;
      quantize_superblock(g, src + r * n_per_row + i * kIq3BlockSize, qw, st, y);
      std::memcpy(out + static_cast<size_t>(r * nb + i) * sizeof(BlockIq3Xxs), &y, sizeof(y));
    }
  }
}

void iq3_xxs_from_float_ref(const float* src, void* dst, int64_t n) { iq3_xxs_quantize(src, dst, 1, n, nullptr); }

void iq3_s_quantize(const float* src, void* dst, int64_t n_rows, int64_t n_per_row, const float* importance) {
  if (n_per_row % kIq3BlockSize != 0) {
    throw Error("quantizing to IQ3_S: rows of " + std::to_string(n_per_row) + " values are not whole blocks of 256");
  }
  const QuantGrid3& g = iq3_s_grid();
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t nb = n_per_row / kIq3BlockSize;
  int8_t L[32] = {};
  for (int64_t r = 0; r < n_rows; ++r) {
    for (int64_t i = 0; i < nb; ++i) {
      BlockIq3S y;
      const float* qw = importance != nullptr ? importance + i * kIq3BlockSize : nullptr;
      quantize_s_superblock(g, src + r * n_per_row + i * kIq3BlockSize, qw, L, y);
      std::memcpy(out + static_cast<size_t>(r * nb + i) * sizeof(BlockIq3S), &y, sizeof(y));
    }
  }
}

void iq3_s_from_float_ref(const float* src, void* dst, int64_t n) { iq3_s_quantize(src, dst, 1, n, nullptr); }

}  // namespace ternion::quant
