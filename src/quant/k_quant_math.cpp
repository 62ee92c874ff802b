// The scale searches of the K-quant reference quantizers. Each float operation is rounded on its own, as in
// GGUF's reference quantizers: contraction into fused multiply-adds is switched off for this file, since a
// single fused rounding changes which candidate scale wins and so the bytes written.
#include "quant/k_quant_math.h"

#include <algorithm>
#include <cmath>

#include "ternion/core/fp16.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace ternion::quant {

namespace {

constexpr float kGroupMaxEps = 1e-15f;  // groups whose largest magnitude is below this count as all zero

// The value of largest magnitude, with its sign (the first one on ties); *amax receives its magnitude.
float signed_absmax(int n, const float* x, float* amax) {
  float max = 0.0f;
  float a = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > a) {
      a = ax;
      max = x[i];
    }
  }
  *amax = a;
  return max;
}

}  // namespace

void dequantize_affine(const uint8_t* q, int group_size, const float* dl, const float* ml, float* y) {
  for (int i = 0; i < kQK_K; ++i) y[i] = dl[i / group_size] * static_cast<float>(q[i]) - ml[i / group_size];
}

float make_qx_quants(int n, int nmax, const float* x, int8_t* L, const float* weights) {
  float amax = 0.0f;
  const float max = signed_absmax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const auto fnmax = static_cast<float>(nmax);
  // The level of x[i] for inverse scale iscale.
  auto level = [&](float iscale, int i) { return std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1); };
  float iscale = -fnmax / max;
  float sumlx = 0.0f;
  float suml2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = level(iscale, i);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = weights != nullptr ? weights[i] : x[i] * x[i];
    const auto fl = static_cast<float>(l);
    sumlx += w * x[i] * fl;
    suml2 += w * fl * fl;
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(fnmax + 0.1f * static_cast<float>(is)) / max;
    sumlx = 0.0f;
    suml2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const auto fl = static_cast<float>(level(iscale, i));
      const float w = weights != nullptr ? weights[i] : x[i] * x[i];
      sumlx += w * x[i] * fl;
      suml2 += w * fl * fl;
    }
    if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + level(iscale, i));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
  float amax = 0.0f;
  const float max = signed_absmax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const float iscale = -static_cast<float>(nmax) / max;
  float sumlx = 0.0f;
  float suml2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    const auto fl = static_cast<float>(l);
    sumlx += w * x[i] * fl;
    suml2 += w * fl * fl;
  }
  // Coordinate descent: move one level to where the current least-squares scale puts it, if that helps.
  for (int pass = 0; pass < 5; ++pass) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const auto li = static_cast<float>(L[i]);
      float slx = sumlx - w * x[i] * li;
      if (slx > 0.0f) {
        float sl2 = suml2 - w * li * li;
        const int new_l = std::clamp(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (new_l != L[i]) {
          const auto fl = static_cast<float>(new_l);
          slx += w * x[i] * fl;
          sl2 += w * fl * fl;
          if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (n_changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return sumlx / suml2;
}

float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0.0f) min = 0.0f;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    *the_min = -min;
    return 0.0f;
  }
  const auto fnmax = static_cast<float>(nmax);
  auto error = [use_mad](float diff) { return use_mad ? std::fabs(diff) : diff * diff; };
  float iscale = fnmax / (max - min);
  float scale = 1.0f / iscale;
  float best_mad = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::clamp(l, 0, nmax));
    const float diff = scale * static_cast<float>(L[i]) + min - x[i];
    best_mad += weights[i] * error(diff);
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + fnmax) / (max - min);
    float sum_l = 0.0f;
    float sum_l2 = 0.0f;
    float sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      const auto fl = static_cast<float>(l);
      sum_l += w * fl;
      sum_l2 += w * fl * fl;
      sum_xl += w * fl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0.0f) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0.0f) {
        this_min = 0.0f;
        this_scale = sum_xl / sum_l2;
      }
      float mad = 0.0f;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * static_cast<float>(Laux[i]) + this_min - x[i];
        mad += weights[i] * error(diff);
      }
      if (mad < best_mad) {
        std::copy(Laux, Laux + n, L);
        best_mad = mad;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep, bool use_mad) {
  auto weight = [&](int i) { return weights != nullptr ? weights[i] : x[i] * x[i]; };
  auto error = [use_mad](float diff) { return use_mad ? std::fabs(diff) : diff * diff; };
  float min = x[0];
  float max = x[0];
  float sum_w = weight(0);
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weight(i);
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0.0f) min = 0.0f;
  if (max <= min) {
    std::fill(L, L + n, uint8_t{0});
    *the_min = -min;
    return 0.0f;
  }
  const auto fnmax = static_cast<float>(nmax);
  float iscale = fnmax / (max - min);
  float scale = 1.0f / iscale;
  float best_mad = 0.0f;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
    const float diff = scale * static_cast<float>(L[i]) + min - x[i];
    best_mad += weight(i) * error(diff);
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + fnmax) / (max - min);
    float sum_l = 0.0f;
    float sum_l2 = 0.0f;
    float sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weight(i);
      const auto fl = static_cast<float>(l);
      sum_l += w * fl;
      sum_l2 += w * fl * fl;
      sum_xl += w * fl * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0.0f) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0.0f) {
        this_min = 0.0f;
        this_scale = sum_xl / sum_l2;
      }
      float mad = 0.0f;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * static_cast<float>(Laux[i]) + this_min - x[i];
        mad += weight(i) * error(diff);
      }
      if (mad < best_mad) {
        std::copy(Laux, Laux + n, L);
        best_mad = mad;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* weights) {
  float max = 0.0f;
  for (int i = 0; i < n; ++i) max = std::max(max, x[i]);
  if (max == 0.0f) {
    std::fill(L, L + n, uint8_t{0});
    return 0.0f;
  }
  const auto fnmax = static_cast<float>(nmax);
  float iscale = fnmax / max;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nearest_int(iscale * x[i]));
  // Weighted squared error of the levels of inverse scale `is` (levels capped at nmax).
  auto mse_of = [&](float is, bool first) {
    const float sc = 1.0f / is;
    float mse = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = first ? L[i] : std::min(nmax, nearest_int(is * x[i]));
      const float diff = x[i] - sc * static_cast<float>(l);
      mse += weights[i] * diff * diff;
    }
    return mse;
  };
  float best_mse = mse_of(iscale, true);
  for (int is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    const float iscale_is = (0.1f * static_cast<float>(is) + fnmax) / max;
    const float mse = mse_of(iscale_is, false);
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  float sumlx = 0.0f;
  float suml2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int l = std::min(nmax, nearest_int(iscale * x[i]));
    L[i] = static_cast<uint8_t>(l);
    const float w = weights[i];
    const auto fl = static_cast<float>(l);
    sumlx += w * x[i] * fl;
    suml2 += w * fl * fl;
  }
  // Coordinate descent: move one level to where the current least-squares scale puts it, if that helps.
  for (int pass = 0; pass < 5; ++pass) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = weights[i];
      const auto li = static_cast<float>(L[i]);
      float slx = sumlx - w * x[i] * li;
      float sl2 = suml2 - w * li * li;
      if (slx > 0.0f && sl2 > 0.0f) {
        const int new_l = std::min(nmax, nearest_int(x[i] * sl2 / slx));
        if (new_l != L[i]) {
          const auto fl = static_cast<float>(new_l);
          slx += w * x[i] * fl;
          sl2 += w * fl * fl;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<uint8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (n_changed == 0) break;
  }
  return sumlx / suml2;
}

namespace {

// Packs 8 six-bit scales and mins as unpack_scale_min_k4 reads them.
void pack_scale_min_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* out) {
  std::fill(out, out + 12, uint8_t{0});
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      out[j] = ls[j];
      out[j + 4] = lm[j];
    } else {
      out[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      out[j - 4] = static_cast<uint8_t>(out[j - 4] | ((ls[j] >> 4) << 6));
      out[j] = static_cast<uint8_t>(out[j] | ((lm[j] >> 4) << 6));
    }
  }
}

// Re-quantizes every value against the scales and mins as stored (groups whose scale is 0 keep their levels).
void requantize_k4(const float* x, int nmax, const ScaleMinK4& s, uint8_t* L) {
  constexpr int kGroup = 32;
  for (int j = 0; j < kQK_K / kGroup; ++j) {
    uint8_t sc = 0;
    uint8_t m = 0;
    unpack_scale_min_k4(j, s.scales, &sc, &m);
    const float d = fp16_to_fp32(s.d) * static_cast<float>(sc);
    if (d == 0.0f) continue;
    const float dm = fp16_to_fp32(s.dmin) * static_cast<float>(m);
    for (int i = 0; i < kGroup; ++i) {
      L[kGroup * j + i] = static_cast<uint8_t>(std::clamp(nearest_int((x[kGroup * j + i] + dm) / d), 0, nmax));
    }
  }
}

}  // namespace

ScaleMinK4 quantize_scale_min_k4(const float* x, int nmax, float rmin, int nstep, uint8_t* L) {
  constexpr int kGroup = 32;
  constexpr int kGroups = kQK_K / kGroup;
  float scales[kGroups];
  float mins[kGroups];
  float weights[kGroup];
  uint8_t Laux[kGroup];
  float max_scale = 0.0f;  // scales are positive once the min is taken out
  float max_min = 0.0f;
  for (int j = 0; j < kGroups; ++j) {
    const float* xg = x + kGroup * j;
    float sum_x2 = 0.0f;
    for (int l = 0; l < kGroup; ++l) sum_x2 += xg[l] * xg[l];
    const float av_x = std::sqrt(sum_x2 / kGroup);
    for (int l = 0; l < kGroup; ++l) weights[l] = av_x + std::fabs(xg[l]);
    scales[j] = make_qkx2_quants(kGroup, nmax, xg, weights, L + kGroup * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }

  ScaleMinK4 out{};
  const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  uint8_t ls[kGroups];
  uint8_t lm[kGroups];
  for (int j = 0; j < kGroups; ++j) {
    // The 8-bit wrap of an out-of-range level is what the reference does too; then at most 63.
    ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
  }
  pack_scale_min_k4(ls, lm, out.scales);
  out.d = fp32_to_fp16(max_scale / 63.0f);
  out.dmin = fp32_to_fp16(max_min / 63.0f);
  requantize_k4(x, nmax, out, L);
  return out;
}

ScaleMinK4 quantize_scale_min_k4_weighted(const float* x, int nmax, const float* qw, uint8_t* L) {
  constexpr int kGroup = 32;
  constexpr int kGroups = kQK_K / kGroup;
  float scales[kGroups];
  float mins[kGroups];
  float sw[kGroups];
  float weights[kGroup];
  uint8_t Laux[kGroup];
  float sum_x2 = 0.0f;
  for (int l = 0; l < kQK_K; ++l) sum_x2 += x[l] * x[l];
  const float sigma2 = 2 * sum_x2 / kQK_K;
  for (int j = 0; j < kGroups; ++j) {
    const float* xg = x + kGroup * j;
    for (int l = 0; l < kGroup; ++l) weights[l] = qw[kGroup * j + l] * std::sqrt(sigma2 + xg[l] * xg[l]);
    float sumw = 0.0f;
    for (int l = 0; l < kGroup; ++l) sumw += weights[l];
    sw[j] = sumw;
    scales[j] = make_qkx3_quants(kGroup, nmax, xg, weights, L + kGroup * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
  }
  uint8_t ls[kGroups];
  uint8_t lm[kGroups];
  const float d_block = make_qp_quants(kGroups, 63, scales, ls, sw);
  const float m_block = make_qp_quants(kGroups, 63, mins, lm, sw);
  for (int j = 0; j < kGroups; ++j) {
    ls[j] = std::min<uint8_t>(63, ls[j]);
    lm[j] = std::min<uint8_t>(63, lm[j]);
  }
  ScaleMinK4 out{};
  pack_scale_min_k4(ls, lm, out.scales);
  out.d = fp32_to_fp16(d_block);
  out.dmin = fp32_to_fp16(m_block);
  requantize_k4(x, nmax, out, L);
  return out;
}

}  // namespace ternion::quant
