// The per-element and per-row ops the architecture records select (norm kinds, activations, soft-capping, scales),
// in plain loops (tanh and e^x from exp_poly.h, so they vectorize): a small share of a token's work next to the
// matmuls.
#include <cmath>
#include <numbers>

#include "backend/cpu/exp_poly.h"
#include "ternion/backend/ops.h"

namespace ternion {

void layer_norm_row(const float* x, const float* weight, const float* bias, float* y, int64_t n, float eps) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]);
  const auto mean = static_cast<float>(sum / static_cast<double>(n));
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - mean;
    sq += static_cast<double>(d) * static_cast<double>(d);
  }
  const auto inv = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(n) + static_cast<double>(eps)));
  for (int64_t i = 0; i < n; ++i) {
    float v = (x[i] - mean) * inv;
    if (weight != nullptr) v *= weight[i];
    if (bias != nullptr) v += bias[i];
    y[i] = v;
  }
}

float gelu_tanh(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + exp_poly::tanh_approx(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

float gelu_erf(float x) { return 0.5f * x * (1.0f + std::erf(x * static_cast<float>(std::numbers::sqrt2 / 2.0))); }

void activate_in_place(Activation act, float* x, int64_t n) {
  switch (act) {
    case Activation::kSilu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + exp_poly::exp_or_limit(-x[i]));
      return;
    case Activation::kGeluTanh:
      for (int64_t i = 0; i < n; ++i) x[i] = gelu_tanh(x[i]);
      return;
    case Activation::kGeluErf:
      for (int64_t i = 0; i < n; ++i) x[i] = gelu_erf(x[i]);
      return;
    case Activation::kReluSquared:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] * x[i] : 0.0f;
      return;
  }
}

void gated_activation(Activation act, const float* gate, const float* up, float* y, int64_t n) {
  if (act == Activation::kSilu) {
    silu_mul(gate, up, y, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) y[i] = gate[i];
  activate_in_place(act, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] *= up[i];
}

void softcap_in_place(float* x, int64_t n, float cap) {
  for (int64_t i = 0; i < n; ++i) x[i] = cap * exp_poly::tanh_approx(x[i] / cap);
}

void scale_in_place(float* x, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

std::vector<float> alibi_slopes(int64_t n_head, float max_bias) {
  // Press et al.: a geometric sequence from the nearest power of two of heads, the rest interleaved from the next.
  const auto n_floor = static_cast<int64_t>(std::exp2(std::floor(std::log2(static_cast<double>(n_head)))));
  const float m0 = std::exp2(-max_bias / static_cast<float>(n_floor));
  const float m1 = std::exp2(-max_bias / 2.0f / static_cast<float>(n_floor));
  std::vector<float> slopes(static_cast<size_t>(n_head));
  for (int64_t h = 0; h < n_head; ++h) {
    slopes[static_cast<size_t>(h)] =
        h < n_floor ? std::pow(m0, static_cast<float>(h + 1)) : std::pow(m1, static_cast<float>(2 * (h - n_floor) + 1));
  }
  return slopes;
}

}  // namespace ternion
