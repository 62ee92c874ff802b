#include "ternion/backend/ops.h"

#include <algorithm>
#include <cmath>

namespace ternion {

void rms_norm_row(const float* x, const float* weight, float* y, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / static_cast<double>(n));
  const float scale = 1.0f / std::sqrt(mean + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * weight[i];
}

void silu_mul(const float* gate, const float* up, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    y[i] = (g / (1.0f + std::exp(-g))) * up[i];
  }
}

void add_in_place(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void softmax_in_place(float* x, int64_t n) {
  if (n <= 0) return;
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::max(max, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float e = (x[i] == -INFINITY) ? 0.0f : std::exp(x[i] - max);
    x[i] = e;
    sum += static_cast<double>(e);
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

RopeTable::RopeTable(const RopeConfig& config, int64_t n_positions) : config_(config), n_positions_(n_positions) {
  const int64_t half = config.n_rot / 2;
  cos_.resize(static_cast<size_t>(n_positions * half));
  sin_.resize(cos_.size());
  // θ for pair i is pos · base^(-2i/n_rot), built by repeated multiplication in float as the reference does,
  // so angles agree to the last bit with the engine our goldens come from.
  const float theta_scale = std::pow(config.freq_base, -2.0f / static_cast<float>(config.n_rot));
  for (int64_t p = 0; p < n_positions; ++p) {
    float theta = static_cast<float>(p);
    for (int64_t i = 0; i < half; ++i) {
      float t = theta;
      if (!config.freq_factors.empty()) t /= config.freq_factors[static_cast<size_t>(i)];
      t *= config.freq_scale;
      cos_[static_cast<size_t>(p * half + i)] = std::cos(t);
      sin_[static_cast<size_t>(p * half + i)] = std::sin(t);
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
