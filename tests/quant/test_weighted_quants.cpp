// The importance-weighted quantizers (quantize_weights with importance): they reduce to the plain searches where
// GGUF's do (Q6_K and IQ4 with importance x^2, make_qx_quants / make_qkx3_quants with weights x^2), they lower
// the importance-weighted error against the plain quantizer on random rows, they ignore importance for the
// types that take none, and every type keeps its decoded values finite on rows of every magnitude. Byte
// identity with llama-quantize is checked on whole models in tests/model/test_quantize_imatrix.cpp.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "quant/iq1.h"
#include "quant/iq2.h"
#include "quant/iq3.h"
#include "quant/k_quant_math.h"
#include "quant/random_data.h"
#include "quant/weighted_quant.h"
#include "ternion/core/dtype.h"
#include "ternion/core/error.h"
#include "ternion/quant/quant.h"

namespace ternion {
namespace {

constexpr DType kWeighted[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1,   DType::Q2_K,  DType::Q3_K,
                               DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::IQ4_NL, DType::IQ4_XS};

std::vector<uint8_t> quantize(DType type, const std::vector<float>& x, const float* importance) {
  std::vector<uint8_t> out(row_bytes(dtype_info(type), x.size()));
  quantize_weights(type, x.data(), out.data(), static_cast<int64_t>(x.size()), importance);
  return out;
}

std::vector<float> decode(DType type, const std::vector<uint8_t>& q, size_t n) {
  std::vector<float> y(n);
  dequantize_row(type, q.data(), y.data(), static_cast<int64_t>(n));
  return y;
}

double weighted_error(const std::vector<float>& x, const std::vector<float>& y, const std::vector<float>& w) {
  double e = 0.0;
  for (size_t i = 0; i < x.size(); ++i) e += static_cast<double>(w[i]) * (x[i] - y[i]) * (x[i] - y[i]);
  return e;
}

// Importance spread over three orders of magnitude, as real activations are (a few columns dominate).
std::vector<float> random_importance(std::mt19937& rng, size_t n) {
  std::lognormal_distribution<float> d(0.0f, 1.5f);
  std::vector<float> w(n);
  for (float& v : w) v = d(rng);
  return w;
}

TEST(WeightedQuants, TypesThatTakeImportance) {
  for (DType t : kWeighted) EXPECT_TRUE(quantize_takes_importance(t)) << dtype_info(t).name;
  for (DType t : {DType::Q8_0, DType::TQ1_0, DType::TQ2_0, DType::F16, DType::F32, DType::BF16}) {
    EXPECT_FALSE(quantize_takes_importance(t)) << dtype_info(t).name;
  }
}

// Q8_0 and the ternary types quantize the same with or without importance (as GGUF's do).
TEST(WeightedQuants, ImportanceIgnoredWhereNotTaken) {
  std::mt19937 rng(7);
  const auto x = test::normal_floats(rng, 512);
  const auto w = random_importance(rng, 512);
  for (DType t : {DType::Q8_0, DType::TQ1_0, DType::TQ2_0, DType::F16}) {
    EXPECT_EQ(quantize(t, x, w.data()), quantize(t, x, nullptr)) << dtype_info(t).name;
  }
  for (DType t : kWeighted) EXPECT_EQ(quantize(t, x, nullptr), quantize(t, x, nullptr)) << dtype_info(t).name;
}

// Q6_K uses the importance as the search's weights directly, and IQ4 replaces its x^2 weights with them; with
// importance x^2 they are the plain quantizers.
TEST(WeightedQuants, SquaredValuesAsImportanceGivePlainResult) {
  std::mt19937 rng(11);
  for (int rep = 0; rep < 20; ++rep) {
    const auto x = test::random_floats(rng, 512, rep % 2 == 1);
    std::vector<float> x2(x.size());
    for (size_t i = 0; i < x.size(); ++i) x2[i] = x[i] * x[i];
    EXPECT_EQ(quantize(DType::Q6_K, x, x2.data()), quantize(DType::Q6_K, x, nullptr)) << rep;
  }
}

TEST(WeightedQuants, SearchesWithSquaredWeightsEqualPlainSearches) {
  std::mt19937 rng(3);
  for (int rep = 0; rep < 200; ++rep) {
    const int n = rep % 2 == 0 ? 16 : 32;
    const auto x = test::random_floats(rng, n, rep % 3 == 0);
    std::vector<float> x2(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) x2[static_cast<size_t>(i)] = x[static_cast<size_t>(i)] * x[static_cast<size_t>(i)];
    int8_t a[32], b[32];
    const float sa = quant::make_qx_quants(n, 16, x.data(), a);
    const float sb = quant::make_qx_quants(n, 16, x.data(), b, x2.data());
    EXPECT_EQ(std::bit_cast<uint32_t>(sa), std::bit_cast<uint32_t>(sb));  // bits: NaN for 1e30 values too
    EXPECT_TRUE(std::equal(a, a + n, b));
    uint8_t la[32], lb[32], aux[32];
    float ma = 0.0f, mb = 0.0f;
    const float ka = quant::make_qkx3_quants(n, 15, x.data(), nullptr, la, &ma, aux, -0.9f, 0.05f, 36, false);
    const float kb = quant::make_qkx3_quants(n, 15, x.data(), x2.data(), lb, &mb, aux, -0.9f, 0.05f, 36, false);
    EXPECT_EQ(std::bit_cast<uint32_t>(ka), std::bit_cast<uint32_t>(kb));
    EXPECT_EQ(std::bit_cast<uint32_t>(ma), std::bit_cast<uint32_t>(mb));
    EXPECT_TRUE(std::equal(la, la + n, lb));
  }
}

// make_qp_quants: levels within [0, nmax], and the fit never worse than the plain rounding of x / (max / nmax).
TEST(WeightedQuants, QpQuantsFitsAtLeastAsWellAsRounding) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.0f, 2.0f);
  for (int rep = 0; rep < 500; ++rep) {
    float x[16], w[16];
    for (int i = 0; i < 16; ++i) {
      x[i] = rep % 7 == 0 && i % 3 == 0 ? 0.0f : u(rng);
      w[i] = 0.1f + u(rng);
    }
    uint8_t L[16];
    const float d = quant::make_qp_quants(16, 63, x, L, w);
    float max = 0.0f;
    for (float v : x) max = std::max(max, v);
    double e_fit = 0.0, e_round = 0.0;
    for (int i = 0; i < 16; ++i) {
      ASSERT_LE(L[i], 63);
      const float r = std::round(x[i] * 63.0f / max) * (max / 63.0f);
      e_fit += w[i] * (x[i] - d * L[i]) * (x[i] - d * L[i]);
      e_round += w[i] * (x[i] - r) * (x[i] - r);
    }
    EXPECT_LE(e_fit, e_round * (1 + 1e-5) + 1e-12) << rep;
  }
  uint8_t L[4];
  const float zeros[4] = {0, 0, 0, 0}, ones[4] = {1, 1, 1, 1};
  EXPECT_EQ(quant::make_qp_quants(4, 15, zeros, L, ones), 0.0f);
}

// Over many random rows, the weighted quantizer's importance-weighted error is below the plain quantizer's for
// every type (not a per-row guarantee: the searches are heuristics, so the test sums 64 rows).
TEST(WeightedQuants, LowerWeightedErrorThanPlain) {
  std::mt19937 rng(42);
  constexpr size_t kN = 512;
  for (DType t : kWeighted) {
    double plain = 0.0, weighted = 0.0;
    for (int row = 0; row < 64; ++row) {
      const auto x = test::normal_floats(rng, kN);
      const auto w = random_importance(rng, kN);
      plain += weighted_error(x, decode(t, quantize(t, x, nullptr), kN), w);
      weighted += weighted_error(x, decode(t, quantize(t, x, w.data()), kN), w);
    }
    EXPECT_LT(weighted, plain) << dtype_info(t).name;
    std::printf("%-7s weighted error with importance / without: %.3f\n", std::string(dtype_info(t).name).c_str(),
                weighted / plain);
  }
}

// Rows of many magnitudes (with zero blocks) and importance with zero columns give finite values. (Magnitudes
// beyond fp16's range overflow the scales, with or without importance, as in GGUF.)
TEST(WeightedQuants, RowsOfManyMagnitudesStayFinite) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const float scales[] = {0.0f, 1e-6f, 1e-3f, 1.0f, 100.0f};
  for (DType t : kWeighted) {
    for (int rep = 0; rep < 8; ++rep) {
      std::vector<float> x(512);
      for (size_t i = 0; i < x.size(); ++i) x[i] = normal(rng) * scales[(i / 32 + rep) % 5];
      auto w = random_importance(rng, 512);
      for (size_t i = 0; i < w.size(); i += 3) w[i] = 0.0f;
      const auto y = decode(t, quantize(t, x, w.data()), 512);
      for (size_t i = 0; i < y.size(); ++i) ASSERT_TRUE(std::isfinite(y[i])) << dtype_info(t).name << " " << i;
    }
  }
}

// The i-quants take importance through quantize_weights: each row is their own quantizer's (one row of it).
TEST(WeightedQuants, IQuantsGoThroughTheirQuantizers) {
  using Fn = void (*)(const float*, void*, int64_t, int64_t, const float*);
  const struct {
    DType type;
    Fn fn;
  } cases[] = {{DType::IQ1_S, quant::iq1_s_quantize},     {DType::IQ1_M, quant::iq1_m_quantize},
               {DType::IQ2_XXS, quant::iq2_xxs_quantize}, {DType::IQ2_XS, quant::iq2_xs_quantize},
               {DType::IQ2_S, quant::iq2_s_quantize},     {DType::IQ3_XXS, quant::iq3_xxs_quantize},
               {DType::IQ3_S, quant::iq3_s_quantize}};
  std::mt19937 rng(11);
  const std::vector<float> x = test::random_floats(rng, 512, false);
  const std::vector<float> w = random_importance(rng, 512);
  for (const auto& c : cases) {
    EXPECT_TRUE(quantize_takes_importance(c.type)) << dtype_info(c.type).name;
    std::vector<uint8_t> want(row_bytes(dtype_info(c.type), 512));
    c.fn(x.data(), want.data(), 1, 512, w.data());
    EXPECT_EQ(quantize(c.type, x, w.data()), want) << dtype_info(c.type).name;
  }
}

// quantize_weights_rows is one call of the type's quantizer over the rows: for IQ1_S and IQ1_M an all-zero block
// stores the previous row's shift, so rows quantized one at a time differ there; other types go row by row.
TEST(WeightedQuants, RowsKeepTheReferenceGrouping) {
  std::mt19937 rng(12);
  constexpr int64_t kN = 256, kRows = 3;
  std::vector<float> x = test::random_floats(rng, kN * kRows, false);
  std::fill(x.begin() + kN, x.begin() + kN + 32, 0.0f);  // row 1's first block: all zero
  const std::vector<float> w = random_importance(rng, kN);
  for (DType t : {DType::IQ1_S, DType::IQ1_M, DType::Q4_K, DType::IQ2_XS}) {
    const size_t rb = row_bytes(dtype_info(t), kN);
    std::vector<uint8_t> rows(rb * kRows), single(rb * kRows), want(rb * kRows);
    quantize_weights_rows(t, x.data(), rows.data(), kRows, kN, w.data());
    for (int64_t r = 0; r < kRows; ++r) quantize_weights(t, x.data() + r * kN, single.data() + r * rb, kN, w.data());
    if (t == DType::IQ1_S || t == DType::IQ1_M) {
      (t == DType::IQ1_S ? quant::iq1_s_quantize : quant::iq1_m_quantize)(x.data(), want.data(), kRows, kN, w.data());
      EXPECT_EQ(rows, want) << dtype_info(t).name;
    } else {
      EXPECT_EQ(rows, single) << dtype_info(t).name;
    }
  }
}

TEST(WeightedQuants, BadSizesAndTypesAreErrors) {
  std::vector<float> x(100, 1.0f), w(100, 1.0f);
  std::vector<uint8_t> out(1024);
  EXPECT_THROW(quantize_weights(DType::Q4_K, x.data(), out.data(), 100, w.data()), Error);
  EXPECT_THROW(quant::quantize_row_weighted(DType::Q8_0, x.data(), out.data(), 64, w.data()), Error);
}

}  // namespace
}  // namespace ternion
