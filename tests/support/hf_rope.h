// transformers' RoPE initialisation functions (modeling_rope_utils.py: _compute_linear_scaling_rope_parameters,
// _compute_yarn_parameters, _compute_longrope_parameters) written out in double, line for line, as the independent
// reference for our RoPE tables: an inverse frequency per rotated pair, and the factor cos and sin are multiplied by.
// Also a probe that reads a table's cos and sin back through RopeTable::apply.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <optional>
#include <string>
#include <vector>

#include "ternion/backend/ops.h"

namespace ternion::test {

struct HfRope {
  std::vector<double> inv_freq;  // [dim / 2]
  double attention_factor = 1.0;
};

// _compute_default_rope_parameters: 1 / base^(i / dim) for i = 0, 2, ..., dim - 2.
inline std::vector<double> hf_default_inv_freq(double base, int64_t dim) {
  std::vector<double> inv;
  for (int64_t i = 0; i < dim; i += 2)
    inv.push_back(1.0 / std::pow(base, static_cast<double>(i) / static_cast<double>(dim)));
  return inv;
}

// _compute_linear_scaling_rope_parameters.
inline HfRope hf_linear(double base, int64_t dim, double factor) {
  HfRope r{hf_default_inv_freq(base, dim), 1.0};
  for (double& f : r.inv_freq) f /= factor;
  return r;
}

// rope_parameters of type "yarn"; unset optionals are absent from the config.
struct HfYarn {
  double base = 10000.0;
  int64_t dim = 0;  // head_dim × partial_rotary_factor
  std::optional<double> factor;
  int64_t max_position_embeddings = 0;
  int64_t original_max_position_embeddings = 0;
  std::optional<double> attention_factor, beta_fast, beta_slow, mscale, mscale_all_dim;
};

inline HfYarn hf_yarn_params(double base, int64_t dim, std::optional<double> factor, int64_t max_position_embeddings,
                             int64_t original_max_position_embeddings) {
  HfYarn p;
  p.base = base;
  p.dim = dim;
  p.factor = factor;
  p.max_position_embeddings = max_position_embeddings;
  p.original_max_position_embeddings = original_max_position_embeddings;
  return p;
}

inline double hf_get_mscale(double scale, double mscale = 1.0) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

// _compute_yarn_parameters (truncate = True).
inline HfRope hf_yarn(const HfYarn& p) {
  const double base = p.base;
  const auto dim = static_cast<double>(p.dim);
  const double factor = p.factor.value_or(static_cast<double>(p.max_position_embeddings) /
                                          static_cast<double>(p.original_max_position_embeddings));
  double attention_factor = 0.0;
  if (p.attention_factor) {
    attention_factor = *p.attention_factor;
  } else if (p.mscale.value_or(0.0) != 0.0 && p.mscale_all_dim.value_or(0.0) != 0.0) {
    attention_factor = hf_get_mscale(factor, *p.mscale) / hf_get_mscale(factor, *p.mscale_all_dim);
  } else {
    attention_factor = hf_get_mscale(factor);
  }
  const double beta_fast = p.beta_fast.value_or(0.0) != 0.0 ? *p.beta_fast : 32.0;
  const double beta_slow = p.beta_slow.value_or(0.0) != 0.0 ? *p.beta_slow : 1.0;
  const auto find_correction_dim = [&](double num_rotations) {
    const auto orig = static_cast<double>(p.original_max_position_embeddings);
    return (dim * std::log(orig / (num_rotations * 2 * std::numbers::pi))) / (2 * std::log(base));
  };
  const double low = std::max(std::floor(find_correction_dim(beta_fast)), 0.0);
  double high = std::min(std::ceil(find_correction_dim(beta_slow)), dim - 1);
  if (low == high) high += 0.001;
  HfRope r;
  r.attention_factor = attention_factor;
  for (int64_t i = 0; i < p.dim / 2; ++i) {
    const double pos_freq = std::pow(base, static_cast<double>(2 * i) / dim);
    const double inv_freq_extrapolation = 1.0 / pos_freq;
    const double inv_freq_interpolation = 1.0 / (factor * pos_freq);
    const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
    const double inv_freq_extrapolation_factor = 1.0 - ramp;
    r.inv_freq.push_back(inv_freq_interpolation * (1 - inv_freq_extrapolation_factor) +
                         inv_freq_extrapolation * inv_freq_extrapolation_factor);
  }
  return r;
}

// rope_parameters of type "longrope".
struct HfLongRope {
  double base = 10000.0;
  int64_t dim = 0;
  std::vector<double> short_factor, long_factor;
  std::optional<double> factor, attention_factor;
  int64_t max_position_embeddings = 0;
  int64_t original_max_position_embeddings = 0;
};

// _compute_longrope_parameters for a sequence of seq_len positions.
inline HfRope hf_longrope(const HfLongRope& p, int64_t seq_len) {
  const auto orig = static_cast<double>(p.original_max_position_embeddings);
  const double factor = p.factor.value_or(static_cast<double>(p.max_position_embeddings) / orig);
  HfRope r;
  if (p.attention_factor) {
    r.attention_factor = *p.attention_factor;
  } else {
    r.attention_factor = factor <= 1.0 ? 1.0 : std::sqrt(1 + std::log(factor) / std::log(orig));
  }
  const std::vector<double>& ext_factors =
      seq_len > p.original_max_position_embeddings ? p.long_factor : p.short_factor;
  for (int64_t i = 0; i < p.dim / 2; ++i) {
    const double inv_freq_shape = static_cast<double>(2 * i) / static_cast<double>(p.dim);
    r.inv_freq.push_back(1.0 / (ext_factors[static_cast<size_t>(i)] * std::pow(p.base, inv_freq_shape)));
  }
  return r;
}

// Checks a table against the reference at `positions`: each pair's (cos, sin) of pos · inv_freq, times the
// attention factor, to `tol` × the attention factor; dimensions beyond n_rot stay untouched. The table's values are
// read back through apply() on a head whose pairs are (1, 0).
inline void expect_table_matches(const RopeTable& table, const RopeConfig& c, int64_t head_dim, const HfRope& ref,
                                 const std::vector<int64_t>& positions, double tol, const std::string& what) {
  const int64_t half = c.n_rot / 2;
  ASSERT_EQ(static_cast<int64_t>(ref.inv_freq.size()), half) << what;
  for (const int64_t pos : positions) {
    std::vector<float> v(static_cast<size_t>(head_dim), 0.5f);
    for (int64_t i = 0; i < half; ++i) {
      v[static_cast<size_t>(c.kind == RopeKind::Adjacent ? 2 * i : i)] = 1.0f;
      v[static_cast<size_t>(c.kind == RopeKind::Adjacent ? 2 * i + 1 : i + half)] = 0.0f;
    }
    table.apply(v.data(), 1, head_dim, pos);
    for (int64_t i = 0; i < half; ++i) {
      const double theta = static_cast<double>(pos) * ref.inv_freq[static_cast<size_t>(i)];
      const float got_cos = v[static_cast<size_t>(c.kind == RopeKind::Adjacent ? 2 * i : i)];
      const float got_sin = v[static_cast<size_t>(c.kind == RopeKind::Adjacent ? 2 * i + 1 : i + half)];
      EXPECT_NEAR(got_cos, std::cos(theta) * ref.attention_factor, tol * ref.attention_factor)
          << what << ": pos " << pos << " pair " << i;
      EXPECT_NEAR(got_sin, std::sin(theta) * ref.attention_factor, tol * ref.attention_factor)
          << what << ": pos " << pos << " pair " << i;
    }
    for (int64_t i = c.n_rot; i < head_dim; ++i) EXPECT_EQ(v[static_cast<size_t>(i)], 0.5f) << what;
  }
}

}  // namespace ternion::test
