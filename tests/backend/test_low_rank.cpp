// Backend::add_low_rank (LoRA terms) on the CPU against a scalar reference, on random inputs and odd sizes, and
// bit-identical for any thread count and batch split.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ternion/backend/cpu_backend.h"
#include "ternion/core/error.h"

namespace ternion {
namespace {

struct Case {
  int64_t rank, cols, rows, tokens;
};

WeightMatrix f32_matrix(const std::vector<float>& v, int64_t rows, int64_t cols) {
  return {DType::F32, rows, cols, reinterpret_cast<const uint8_t*>(v.data()), static_cast<size_t>(cols) * 4};
}

std::vector<float> random(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// y += s1 · B1 (A1 x) + s2 · B2 (A2 x) through the backend with `threads`; the batch split into runs of `split` rows.
std::vector<float> run(const Case& c, int threads, int64_t split, const std::vector<float>& x, std::vector<float> y,
                       const std::vector<float>& a1, const std::vector<float>& b1, const std::vector<float>& a2,
                       const std::vector<float>& b2) {
  ThreadPool pool(threads);
  CpuBackend be(pool);
  be.reserve_low_rank(c.rank + 2, c.rows, c.tokens);
  const WeightMatrix wa1 = f32_matrix(a1, c.rank, c.cols), wb1 = f32_matrix(b1, c.rows, c.rank);
  const WeightMatrix wa2 = f32_matrix(a2, c.rank + 2, c.cols), wb2 = f32_matrix(b2, c.rows, c.rank + 2);
  const LowRankTerm terms[] = {{&wa1, &wb1, 0.75f}, {&wa2, &wb2, -1.5f}};
  for (int64_t t0 = 0; t0 < c.tokens; t0 += split) {
    const int64_t n = std::min(split, c.tokens - t0);
    const Tensor xt{const_cast<float*>(x.data()) + t0 * c.cols, n, c.cols, c.cols};
    const Tensor yt{y.data() + t0 * c.rows, n, c.rows, c.rows};
    be.add_low_rank(terms, xt, yt);
  }
  return y;
}

TEST(LowRank, MatchesScalarReferenceAndIsDeterministic) {
  std::mt19937 rng(7);
  for (const Case c : {Case{1, 1, 1, 1}, Case{3, 37, 19, 5}, Case{8, 256, 128, 9}, Case{5, 70, 301, 33}}) {
    const auto x = random(static_cast<size_t>(c.tokens * c.cols), rng);
    const auto y0 = random(static_cast<size_t>(c.tokens * c.rows), rng);
    const auto a1 = random(static_cast<size_t>(c.rank * c.cols), rng);
    const auto b1 = random(static_cast<size_t>(c.rows * c.rank), rng);
    const auto a2 = random(static_cast<size_t>((c.rank + 2) * c.cols), rng);
    const auto b2 = random(static_cast<size_t>(c.rows * (c.rank + 2)), rng);
    const auto got = run(c, 1, c.tokens, x, y0, a1, b1, a2, b2);
    for (int64_t t = 0; t < c.tokens; ++t) {
      for (int64_t r = 0; r < c.rows; ++r) {
        double want = y0[static_cast<size_t>(t * c.rows + r)];
        const auto term = [&](const std::vector<float>& a, const std::vector<float>& b, int64_t rank, double s) {
          double acc = 0;
          for (int64_t k = 0; k < rank; ++k) {
            double ax = 0;
            for (int64_t i = 0; i < c.cols; ++i) ax += double(a[size_t(k * c.cols + i)]) * x[size_t(t * c.cols + i)];
            acc += double(b[size_t(r * rank + k)]) * ax;
          }
          return s * acc;
        };
        want += term(a1, b1, c.rank, 0.75) + term(a2, b2, c.rank + 2, -1.5);
        ASSERT_NEAR(got[static_cast<size_t>(t * c.rows + r)], want, 1e-4 * (1.0 + std::abs(want)))
            << c.rank << "x" << c.cols << "x" << c.rows << " t" << t << " r" << r;
      }
    }
    EXPECT_EQ(run(c, 4, c.tokens, x, y0, a1, b1, a2, b2), got);
    EXPECT_EQ(run(c, 3, 1, x, y0, a1, b1, a2, b2), got);
  }
}

TEST(LowRank, RefusesWhatItCannotCompute) {
  ThreadPool pool(1);
  CpuBackend be(pool);
  be.reserve_low_rank(2, 4, 1);
  std::vector<float> a(8, 1.0f), b(8, 1.0f), x(4, 1.0f), y(4, 0.0f), big(64, 1.0f);
  const WeightMatrix wa = f32_matrix(a, 2, 4), wb = f32_matrix(b, 4, 2);
  const Tensor xt{x.data(), 1, 4, 4}, yt{y.data(), 1, 4, 4};
  const LowRankTerm ok[] = {{&wa, &wb, 1.0f}};
  be.add_low_rank(ok, xt, yt);
  EXPECT_FLOAT_EQ(y[0], 8.0f);
  const WeightMatrix wrong_b = f32_matrix(b, 2, 4);  // B must be y.cols × rank
  const LowRankTerm bad[] = {{&wa, &wrong_b, 1.0f}};
  EXPECT_THROW(be.add_low_rank(bad, xt, yt), Error);
  const Tensor two_rows{big.data(), 2, 4, 4};  // more rows than reserved
  EXPECT_THROW(be.add_low_rank(ok, two_rows, Tensor{big.data() + 8, 2, 4, 4}), Error);
}

}  // namespace
}  // namespace ternion
