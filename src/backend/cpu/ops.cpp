#include "ternion/backend/ops.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "backend/cpu/exp_poly.h"
#include "backend/cpu/softmax_common.h"
#include "core/float_lanes.h"
#include "ternion/core/cpu_features.h"
#include "ternion/core/fp16.h"

namespace ternion {

namespace {

using exp_poly::exp_or_limit;

// The larger of a and b (b where unordered), chosen by a bit mask for the same reason.
inline float larger(float a, float b) {
  const uint32_t take_a = 0u - static_cast<uint32_t>(a > b);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(a) & take_a) | (std::bit_cast<uint32_t>(b) & ~take_a));
}

}  // namespace

void rms_norm_row(const float* x, const float* weight, float* y, int64_t n, float eps) {
  // The float squares summed in double in 8 lanes (element i in lane i % 8), which the compiler keeps in vector
  // registers: one serial chain of double adds was 2 us of latency per 2048-wide row, 33 rows a decode step. The
  // sum differs from a serial one by a few double ulps; the mean, rounded to float, almost never does.
  constexpr int kLanes = 8;
  double lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lanes[l] += static_cast<double>(x[i + l] * x[i + l]);
  }
  double sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  for (; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t j = 0; j < n; ++j) y[j] = (x[j] * scale) * weight[j];
}

void silu_mul(const float* gate, const float* up, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {  // y may be gate or up
    const float g = gate[i];
    y[i] = (g / (1.0f + exp_or_limit(-g))) * up[i];
  }
}

void add_in_place(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void softmax_in_place(float* x, int64_t n, float scale) {
#if defined(__x86_64__)
  static const auto impl = cpu_features().has_avx512_kernels() ? softmax_avx512 : softmax_portable;
#else
  constexpr auto impl = softmax_portable;
#endif
  impl(x, n, scale);
}

void softmax_portable(float* x, int64_t n, float scale) {
  if (n <= 0) return;
  float lanes[kFloatLanes];
  std::fill(lanes, lanes + kFloatLanes, -INFINITY);
  int64_t i = 0;
  for (; i + kFloatLanes <= n; i += kFloatLanes) {
    for (int l = 0; l < kFloatLanes; ++l) {
      x[i + l] *= scale;  // exact for scale 1 (and -inf stays -inf)
      lanes[l] = larger(lanes[l], x[i + l]);
    }
  }
  float max = 0;
  if (!softmax_finish_max(x, i, n, scale, lanes, &max)) return;
  for (i = 0; i < n; ++i) {
    const float d = x[i] - max;  // -inf (a masked value) and anything below kExpMin give 0
    x[i] = exp_or_limit(d);
  }
  std::fill(lanes, lanes + kFloatLanes, 0.0f);
  for (i = 0; i + kFloatLanes <= n; i += kFloatLanes) {
    for (int l = 0; l < kFloatLanes; ++l) lanes[l] += x[i + l];
  }
  for (int l = 0; i < n; ++i, ++l) lanes[l] += x[i];
  const float inv = 1.0f / reduce_lanes16(lanes);
  for (i = 0; i < n; ++i) x[i] *= inv;
}

namespace {

// The pair index at which a pair turns `rotations` times over the original context: YaRN's correction dimension
// (transformers' find_correction_dim, llama.cpp's ggml_rope_yarn_corr_dim).
double yarn_correction_dim(double n_rot, double n_ctx_orig, double rotations, double base) {
  return n_rot * std::log(n_ctx_orig / (rotations * 2.0 * std::numbers::pi)) / (2.0 * std::log(base));
}

// θ_i / pos for the scalings computed in double. YaRN: pairs that turn more than beta_fast times over the original
// context keep their frequency (extrapolation), pairs that turn less than beta_slow times are divided by the factor
// (interpolation), a linear ramp between, over the truncated range transformers and llama.cpp both use.
// Pair i's frequency without YaRN or LongRoPE: base^(-2i/n_rot) / factor_i · freq_scale.
std::vector<double> plain_inv_freq(const RopeConfig& c) {
  std::vector<double> inv(static_cast<size_t>(c.n_rot / 2));
  for (size_t i = 0; i < inv.size(); ++i) {
    double f = std::pow(static_cast<double>(c.freq_base), -2.0 * static_cast<double>(i) / static_cast<double>(c.n_rot));
    if (!c.freq_factors.empty()) f /= c.freq_factors[i];
    inv[i] = f * c.freq_scale;
  }
  return inv;
}

std::vector<double> scaled_inv_freq(const RopeConfig& c, int64_t n_positions) {
  const int64_t half = c.n_rot / 2;
  const double n_rot = static_cast<double>(c.n_rot);
  const bool long_factors = !c.freq_factors_long.empty() && n_positions > c.n_ctx_orig;
  const std::vector<float>& factors = long_factors ? c.freq_factors_long : c.freq_factors;
  const bool yarn = c.scaling == RopeScaling::Yarn;
  double low = 0.0, high = 1.0;
  if (yarn) {
    const auto orig = static_cast<double>(c.n_ctx_orig);
    low = std::max(0.0, std::floor(yarn_correction_dim(n_rot, orig, c.yarn_beta_fast, c.freq_base)));
    high = std::min(n_rot - 1.0, std::ceil(yarn_correction_dim(n_rot, orig, c.yarn_beta_slow, c.freq_base)));
    if (high == low) high += 0.001;  // as transformers' linear_ramp_factor
  }
  std::vector<double> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    double extrapolated = std::pow(static_cast<double>(c.freq_base), -2.0 * static_cast<double>(i) / n_rot);
    if (!factors.empty()) extrapolated /= factors[static_cast<size_t>(i)];
    const double interpolated = extrapolated * c.freq_scale;
    double f = interpolated;
    if (yarn) {
      const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
      const double mix = (1.0 - ramp) * c.yarn_ext_factor;  // the extrapolated share
      f = interpolated * (1.0 - mix) + extrapolated * mix;
    }
    inv[static_cast<size_t>(i)] = f;
  }
  return inv;
}

}  // namespace

RopeTable::RopeTable(const RopeConfig& config, int64_t n_positions) : config_(config), n_positions_(n_positions) {
  const int64_t half = config.n_rot / 2;
  cos_.resize(static_cast<size_t>(n_positions * half));
  sin_.resize(cos_.size());
  if (config.bf16_frequencies) {
    // The reference's arithmetic: frequency in float, rounded to bf16; angle = position · frequency in float.
    const std::vector<double> inv = config.scaling == RopeScaling::Yarn || config.scaling == RopeScaling::LongRope
                                        ? scaled_inv_freq(config, n_positions)
                                        : plain_inv_freq(config);
    for (int64_t i = 0; i < half; ++i) {
      const float f = bf16_to_fp32(fp32_to_bf16(static_cast<float>(inv[static_cast<size_t>(i)])));
      for (int64_t p = 0; p < n_positions; ++p) {
        const float t = static_cast<float>(p) * f;
        cos_[static_cast<size_t>(p * half + i)] = std::cos(t) * config.attn_factor;
        sin_[static_cast<size_t>(p * half + i)] = std::sin(t) * config.attn_factor;
      }
    }
    return;
  }
  if (config.scaling == RopeScaling::Yarn || config.scaling == RopeScaling::LongRope) {
    const std::vector<double> inv = scaled_inv_freq(config, n_positions);
    const double m = config.attn_factor;
    for (int64_t p = 0; p < n_positions; ++p) {
      for (int64_t i = 0; i < half; ++i) {
        const double t = static_cast<double>(p) * inv[static_cast<size_t>(i)];
        cos_[static_cast<size_t>(p * half + i)] = static_cast<float>(std::cos(t) * m);
        sin_[static_cast<size_t>(p * half + i)] = static_cast<float>(std::sin(t) * m);
      }
    }
    return;
  }
  // θ for pair i is pos · base^(-2i/n_rot), built by repeated multiplication in float as the reference does,
  // so angles agree to the last bit with the engine our goldens come from.
  const float theta_scale = std::pow(config.freq_base, -2.0f / static_cast<float>(config.n_rot));
  for (int64_t p = 0; p < n_positions; ++p) {
    float theta = static_cast<float>(p);
    for (int64_t i = 0; i < half; ++i) {
      float t = theta;
      if (!config.freq_factors.empty()) t /= config.freq_factors[static_cast<size_t>(i)];
      t *= config.freq_scale;
      // attn_factor is 1 but where rope.scaling.attn_factor says otherwise; × 1 changes no bit.
      cos_[static_cast<size_t>(p * half + i)] = std::cos(t) * config.attn_factor;
      sin_[static_cast<size_t>(p * half + i)] = std::sin(t) * config.attn_factor;
      theta *= theta_scale;
    }
  }
}

void RopeTable::apply(float* heads, int64_t n_heads, int64_t head_dim, int64_t pos) const {
  const int64_t half = config_.n_rot / 2;
  const float* c = cos_.data() + pos * half;
  const float* s = sin_.data() + pos * half;
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = heads + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t a = config_.kind == RopeKind::Adjacent ? 2 * i : i;
      const int64_t b = config_.kind == RopeKind::Adjacent ? 2 * i + 1 : i + half;
      const float x0 = v[a];
      const float x1 = v[b];
      v[a] = x0 * c[i] - x1 * s[i];
      v[b] = x0 * s[i] + x1 * c[i];
    }
  }
}

}  // namespace ternion
