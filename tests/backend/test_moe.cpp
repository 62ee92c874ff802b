// The mixture-of-experts op: the routing rule, the FFN against a scalar reference built from per-row vec_dot (the
// bits matmul promises), against double precision, for any thread count and batch, reading only chosen experts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "quant/random_data.h"
#include "ternion/backend/cpu_backend.h"
#include "ternion/backend/moe.h"
#include "ternion/core/error.h"
#include "ternion/quant/quant.h"

namespace ternion {
namespace {

using test::bits_of;

size_t sz(int64_t n) { return static_cast<size_t>(n); }

TEST(MoeRouting, SoftmaxThenTopK) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
  int32_t ids[3];
  float w[3];
  select_experts(logits.data(), 5, {.n_used = 3}, ids, w);
  // Ties go to the lower id; the weights are the softmax over all five.
  EXPECT_EQ(ids[0], 1);
  EXPECT_EQ(ids[1], 3);
  EXPECT_EQ(ids[2], 4);
  double sum = 0;
  for (const float l : logits) sum += std::exp(static_cast<double>(l));
  EXPECT_NEAR(w[0], std::exp(2.0) / sum, 1e-7);
  EXPECT_NEAR(w[2], std::exp(1.0) / sum, 1e-7);
  select_experts(logits.data(), 5, {.n_used = 3, .normalize = true}, ids, w);
  EXPECT_NEAR(w[0] + w[1] + w[2], 1.0, 1e-6);
  EXPECT_NEAR(w[2], std::exp(1.0) / (2 * std::exp(2.0) + std::exp(1.0)), 1e-7);
}

TEST(MoeRouting, TopKThenSoftmax) {
  const std::vector<float> logits = {3.0f, -2.0f, 1.0f, 0.0f};
  int32_t ids[2];
  float w[2];
  select_experts(logits.data(), 4, {.n_used = 2, .gating = MoeGating::kTopKThenSoftmax}, ids, w);
  EXPECT_EQ(ids[0], 0);
  EXPECT_EQ(ids[1], 2);
  EXPECT_NEAR(w[0], 1.0 / (1.0 + std::exp(-2.0)), 1e-7);
  EXPECT_NEAR(w[0] + w[1], 1.0, 1e-7);
}

TEST(MoeRouting, RejectsBadCounts) {
  const std::vector<float> logits(4, 0.0f);
  int32_t ids[5];
  float w[5];
  EXPECT_THROW(select_experts(logits.data(), 4, {.n_used = 0}, ids, w), Error);
  EXPECT_THROW(select_experts(logits.data(), 4, {.n_used = 5}, ids, w), Error);
}

struct Expert {
  std::vector<uint8_t> data;
  std::vector<float> values;  // what the stored weights decode to
  WeightMatrix view{};
};

Expert make_expert(std::mt19937& rng, DType type, int64_t rows, int64_t cols) {
  Expert e;
  const size_t rb = row_bytes(dtype_info(type), static_cast<uint64_t>(cols));
  const auto x = test::normal_floats(rng, rows * cols, 0.3f);
  e.data.resize(rb * sz(rows));
  e.values.resize(x.size());
  const QuantTraits& tr = quant_traits(type);
  for (int64_t r = 0; r < rows; ++r) {
    tr.from_float(&x[sz(r * cols)], &e.data[sz(r) * rb], cols);
    tr.to_float(&e.data[sz(r) * rb], &e.values[sz(r * cols)], cols);
  }
  e.view = {type, rows, cols, e.data.data(), rb};
  return e;
}

// A layer of n experts of one type: gate, up (rows ff × cols d), down (rows d × cols ff).
struct Layer {
  std::vector<Expert> gate, up, down;
  std::vector<WeightMatrix> gv, uv, dv;
  MoeExperts experts(bool gated) const { return {gated ? std::span(gv) : std::span<const WeightMatrix>(), uv, dv}; }
};

Layer make_layer(std::mt19937& rng, DType type, int64_t n, int64_t d, int64_t ff) {
  Layer l;
  for (int64_t e = 0; e < n; ++e) {
    l.gate.push_back(make_expert(rng, type, ff, d));
    l.up.push_back(make_expert(rng, type, ff, d));
    l.down.push_back(make_expert(rng, type, d, ff));
    l.gv.push_back(l.gate.back().view);
    l.uv.push_back(l.up.back().view);
    l.dv.push_back(l.down.back().view);
  }
  return l;
}

// matmul's bits for one row: the input converted by the vec_dot type's quantizer, then one vec_dot.
float row_dot(const WeightMatrix& w, const float* x, int64_t r) {
  const QuantTraits& tr = quant_traits(w.type);
  std::vector<uint8_t> xq(row_bytes(dtype_info(tr.vec_dot_type), static_cast<uint64_t>(w.cols)));
  quant_traits(tr.vec_dot_type).from_float(x, xq.data(), w.cols);
  float out = 0;
  tr.vec_dot(w.cols, &out, w.data + sz(r) * w.row_bytes, xq.data());
  return out;
}

// The scalar reference: token by token, expert by expert, row by row.
std::vector<float> reference(const MoeExperts& e, const MoeRouting& r, const std::vector<float>& x,
                             const std::vector<float>& logits, int64_t n, int64_t d) {
  const int64_t ff = e.up[0].rows, k = r.n_used;
  std::vector<float> y(sz(n * d));
  std::vector<int32_t> ids(sz(k));
  std::vector<float> w(sz(k)), g(sz(ff)), u(sz(ff)), o(sz(d));
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = &x[sz(t * d)];
    select_experts(&logits[sz(t * e.n_expert())], e.n_expert(), r, ids.data(), w.data());
    for (int64_t c = 0; c < k; ++c) {
      const auto id = sz(ids[sz(c)]);
      for (int64_t i = 0; i < ff; ++i) {
        u[sz(i)] = row_dot(e.up[id], xt, i);
        g[sz(i)] = e.gate.empty() ? u[sz(i)] : row_dot(e.gate[id], xt, i);
      }
      if (e.gate.empty()) {
        activate_in_place(e.activation, g.data(), ff);
      } else {
        gated_activation(e.activation, g.data(), u.data(), g.data(), ff);
      }
      for (int64_t i = 0; i < d; ++i) o[sz(i)] = row_dot(e.down[id], g.data(), i);
      for (int64_t i = 0; i < d; ++i) {
        float& yt = y[sz(t * d + i)];
        yt = c == 0 ? w[sz(c)] * o[sz(i)] : yt + w[sz(c)] * o[sz(i)];
      }
    }
  }
  return y;
}

std::vector<float> run(const MoeExperts& e, const MoeRouting& r, const std::vector<float>& x,
                       const std::vector<float>& logits, int64_t n, int64_t d, ThreadPool& pool) {
  std::vector<float> y(sz(n * d), NAN);
  MoeScratch s;
  const DType type = e.up[0].type;
  std::vector<uint8_t> mm(
      std::max(2 * matmul_scratch_bytes(type, d, n), matmul_scratch_bytes(type, e.down[0].cols, n)));
  moe_ffn(e, r, x.data(), logits.data(), n, d, y.data(), s, mm, pool);
  return y;
}

TEST(MoeFfn, BitsOfTheScalarReference) {
  std::mt19937 rng(7);
  ThreadPool pool(3);
  const int64_t d = 64, ff = 96, n_expert = 6;
  for (const DType type : {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0}) {
    const Layer l = make_layer(rng, type, n_expert, d, ff);
    for (const bool gated : {true, false}) {
      for (const int64_t n : {1, 5, 17}) {
        for (const MoeRouting r : {MoeRouting{.n_used = 2}, MoeRouting{.n_used = 3, .normalize = true},
                                   MoeRouting{.n_used = 1, .gating = MoeGating::kTopKThenSoftmax}}) {
          const MoeExperts e = l.experts(gated);
          const auto x = test::normal_floats(rng, n * d);
          const auto logits = test::normal_floats(rng, n * n_expert);
          const auto want = reference(e, r, x, logits, n, d);
          const auto got = run(e, r, x, logits, n, d, pool);
          for (size_t i = 0; i < want.size(); ++i) {
            ASSERT_EQ(bits_of(got[i]), bits_of(want[i]))
                << dtype_info(type).name << " n=" << n << " k=" << r.n_used << " gated=" << gated << " at " << i;
          }
        }
      }
    }
  }
}

// F32 experts against double arithmetic: the grouping computes the right thing, not only the reference's bits.
TEST(MoeFfn, CloseToDoublePrecision) {
  std::mt19937 rng(11);
  ThreadPool pool(2);
  const int64_t d = 32, ff = 40, n_expert = 5, n = 9;
  const Layer l = make_layer(rng, DType::F32, n_expert, d, ff);
  const MoeRouting r{.n_used = 2, .normalize = true};
  const auto x = test::normal_floats(rng, n * d);
  const auto logits = test::normal_floats(rng, n * n_expert);
  const auto got = run(l.experts(true), r, x, logits, n, d, pool);
  int32_t ids[2];
  float w[2];
  for (int64_t t = 0; t < n; ++t) {
    select_experts(&logits[sz(t * n_expert)], n_expert, r, ids, w);
    std::vector<double> y(sz(d), 0.0);
    for (int c = 0; c < 2; ++c) {
      const auto id = sz(ids[c]);
      std::vector<double> h(sz(ff));
      for (int64_t i = 0; i < ff; ++i) {
        double g = 0, u = 0;
        for (int64_t j = 0; j < d; ++j) {
          g += static_cast<double>(l.gate[id].values[sz(i * d + j)]) * x[sz(t * d + j)];
          u += static_cast<double>(l.up[id].values[sz(i * d + j)]) * x[sz(t * d + j)];
        }
        h[sz(i)] = g / (1.0 + std::exp(-g)) * u;
      }
      for (int64_t i = 0; i < d; ++i) {
        double o = 0;
        for (int64_t j = 0; j < ff; ++j) o += static_cast<double>(l.down[id].values[sz(i * ff + j)]) * h[sz(j)];
        y[sz(i)] += w[c] * o;
      }
    }
    for (int64_t i = 0; i < d; ++i) EXPECT_NEAR(got[sz(t * d + i)], y[sz(i)], 1e-5 * (1 + std::abs(y[sz(i)])));
  }
}

// Any thread count, and each token alone or in any batch: the same bits.
TEST(MoeFfn, SameBitsForAnyThreadCountAndBatch) {
  std::mt19937 rng(3);
  const int64_t d = 64, ff = 64, n_expert = 8, n = 13;
  const Layer l = make_layer(rng, DType::Q8_0, n_expert, d, ff);
  const MoeRouting r{.n_used = 3};
  const MoeExperts e = l.experts(true);
  const auto x = test::normal_floats(rng, n * d);
  const auto logits = test::normal_floats(rng, n * n_expert);
  ThreadPool one(1);
  const auto base = run(e, r, x, logits, n, d, one);
  for (const int threads : {2, 3, 4}) {
    ThreadPool pool(threads);
    const auto got = run(e, r, x, logits, n, d, pool);
    for (size_t i = 0; i < base.size(); ++i) ASSERT_EQ(bits_of(got[i]), bits_of(base[i])) << threads << " threads";
  }
  for (int64_t t = 0; t < n; ++t) {
    const std::vector<float> xt(x.begin() + t * d, x.begin() + (t + 1) * d);
    const std::vector<float> lt(logits.begin() + t * n_expert, logits.begin() + (t + 1) * n_expert);
    const auto alone = run(e, r, xt, lt, 1, d, one);
    for (int64_t i = 0; i < d; ++i) ASSERT_EQ(bits_of(alone[sz(i)]), bits_of(base[sz(t * d + i)])) << "token " << t;
  }
}

TEST(MoeFfn, RejectsExpertsThatDoNotFit) {
  std::mt19937 rng(2);
  ThreadPool pool(1);
  const Layer l = make_layer(rng, DType::F32, 3, 32, 32);
  const auto x = test::normal_floats(rng, 32);
  const auto logits = test::normal_floats(rng, 3);
  MoeExperts e = l.experts(true);
  e.down = std::span(l.dv).first(2);  // an expert without its down matrix
  EXPECT_THROW(run(e, {.n_used = 1}, x, logits, 1, 32, pool), Error);
  std::vector<WeightMatrix> wide = l.uv;
  wide[1].cols = 64;  // one expert's up reads rows of another width
  e = {l.gv, wide, l.dv};
  EXPECT_THROW(run(e, {.n_used = 1}, x, logits, 1, 32, pool), Error);
  std::vector<float> many(2000, 0.0f);
  int32_t ids[1];
  float w[1];
  EXPECT_THROW(select_experts(many.data(), 2000, {.n_used = 1}, ids, w), Error);
}

// Experts no token chooses are never read: here they have no memory at all.
TEST(MoeFfn, ReadsOnlyChosenExperts) {
  std::mt19937 rng(5);
  ThreadPool pool(2);
  const int64_t d = 32, ff = 32, n_expert = 6, n = 4;
  Layer l = make_layer(rng, DType::Q4_0, n_expert, d, ff);
  auto logits = test::normal_floats(rng, n * n_expert);
  for (int64_t t = 0; t < n; ++t) {
    for (const int64_t unused : {1, 4}) logits[sz(t * n_expert + unused)] = -1e30f;
  }
  const MoeExperts full = l.experts(true);
  const auto x = test::normal_floats(rng, n * d);
  const auto want = reference(full, {.n_used = 2}, x, logits, n, d);
  for (const size_t unused : {size_t{1}, size_t{4}})
    l.gv[unused].data = l.uv[unused].data = l.dv[unused].data = nullptr;
  const auto got = run(l.experts(true), {.n_used = 2}, x, logits, n, d, pool);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(bits_of(got[i]), bits_of(want[i]));
}

// The backend's calls: moe_ffn over tensors after reserve_moe, and a shared expert's sigmoid gate.
TEST(MoeFfn, CpuBackendCalls) {
  std::mt19937 rng(9);
  ThreadPool pool(2);
  CpuBackend backend(pool);
  const int64_t d = 32, ff = 64, n_expert = 4, n = 6;
  const Layer l = make_layer(rng, DType::F16, n_expert, d, ff);
  const MoeExperts e = l.experts(true);
  const MoeRouting r{.n_used = 2};
  backend.reserve_moe(e, r.n_used, n);
  const auto x = test::normal_floats(rng, n * d);
  const auto logits = test::normal_floats(rng, n * n_expert);
  auto bx = backend.alloc(sz(n * d)), bl = backend.alloc(sz(n * n_expert)), by = backend.alloc(sz(n * d));
  backend.write(bx->tensor(n, d), x.data());
  backend.write(bl->tensor(n, n_expert), logits.data());
  backend.moe_ffn(e, r, bx->tensor(n, d), bl->tensor(n, n_expert), by->tensor(n, d));
  std::vector<float> got(sz(n * d));
  backend.read(by->tensor(n, d), got.data());
  const auto want = reference(e, r, x, logits, n, d);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(bits_of(got[i]), bits_of(want[i]));
  EXPECT_THROW(backend.moe_ffn(e, r, bx->tensor(n, d), bl->tensor(n, n_expert - 1), by->tensor(n, d)), Error);

  auto bg = backend.alloc(sz(n));
  const std::vector<float> g = {0.0f, 2.0f, -3.0f, 40.0f, -40.0f, 0.5f};
  backend.write(bg->tensor(n, 1), g.data());
  backend.sigmoid_gate(by->tensor(n, d), bg->tensor(n, 1));
  std::vector<float> gated(sz(n * d));
  backend.read(by->tensor(n, d), gated.data());
  for (int64_t t = 0; t < n; ++t) {
    const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(g[sz(t)])));
    EXPECT_NEAR(gated[sz(t * d)], got[sz(t * d)] * s, 1e-6 * (1 + std::abs(got[sz(t * d)])));
  }
}

}  // namespace
}  // namespace ternion
