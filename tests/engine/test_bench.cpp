// The measurement library behind `ternion bench`: statistics and the shape of what one test returns.
#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <vector>

#include "support/test_support.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/engine/bench.h"

namespace ternion {
namespace {

TEST(Bench, Statistics) {
  EXPECT_DOUBLE_EQ(mean_of({}), 0);
  EXPECT_DOUBLE_EQ(mean_of({1, 2, 3, 6}), 3);
  EXPECT_DOUBLE_EQ(stddev_of({5}), 0);
  EXPECT_NEAR(stddev_of({2, 4, 4, 4, 5, 5, 7, 9}), 2.138089935, 1e-9);  // sample (n - 1) deviation
  const std::vector<double> v{9, 1, 8, 2, 7, 3, 6, 4, 5, 10};
  EXPECT_DOUBLE_EQ(percentile_of(v, 50), 5);
  EXPECT_DOUBLE_EQ(percentile_of(v, 90), 9);
  EXPECT_DOUBLE_EQ(percentile_of(v, 99), 10);
  EXPECT_DOUBLE_EQ(percentile_of(v, 100), 10);
  EXPECT_DOUBLE_EQ(percentile_of(v, 1), 1);
  EXPECT_THROW(percentile_of({}, 50), Error);
  EXPECT_THROW(percentile_of(v, 0), Error);
  EXPECT_THROW(percentile_of(v, 101), Error);
}

TEST(Bench, PeakRssIsReported) { EXPECT_GT(peak_rss_bytes(), 1 << 20); }

class BenchModel : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto path = test::fixture("gguf/kjv-llama-Q8_0.gguf");
    TERNION_REQUIRE_FIXTURE(path);
    model_ = load_model(path.string());
  }
  std::unique_ptr<Model> model_;
};

TEST_F(BenchModel, PromptAndGenerationTest) {
  BenchTest t;
  t.n_prompt = 9;
  t.n_gen = 5;
  t.n_threads = 2;
  t.repetitions = 3;
  t.n_batch = 4;  // the prompt runs in three batches
  int reps_seen = 0;
  const BenchResult r = run_bench(*model_, t, [&](int rep) { EXPECT_EQ(rep, ++reps_seen); });
  EXPECT_EQ(reps_seen, 3);
  ASSERT_EQ(r.samples_ns.size(), 3u);
  ASSERT_EQ(r.samples_ts.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(r.samples_ts[i], 14 * 1e9 / r.samples_ns[i], 1e-6 * r.samples_ts[i]);
  EXPECT_EQ(r.token_latencies_ms.size(), 15u);
  EXPECT_NEAR(r.avg_ts, mean_of(r.samples_ts), 1e-9 * r.avg_ts);
  ASSERT_TRUE(r.latency_p50_ms && r.latency_p99_ms && r.jitter_ms);
  EXPECT_LE(*r.latency_p50_ms, *r.latency_p99_ms);
  EXPECT_GT(r.ttft_ms, 0);
  // The whole repetition includes the prompt and every decode step.
  double decode_ms = 0;
  for (double ms : r.token_latencies_ms) decode_ms += ms;
  EXPECT_LT(decode_ms, mean_of(r.samples_ns) * 3 / 1e6);
  EXPECT_GT(r.peak_rss_bytes, 0);
  // The bandwidth bound: the bytes of every layer matrix and the output matrix, and a positive read time.
  const ModelWeights& w = model_->weights();
  int64_t bytes = 0;
  for (const auto& s : decode_weight_spans(*model_)) bytes += static_cast<int64_t>(s.size());
  EXPECT_EQ(r.decode_bytes_per_token, bytes);
  EXPECT_EQ(decode_weight_spans(*model_).size(), w.layers.size() * 7 + 1);
  int64_t plain = static_cast<int64_t>(w.output.rows) * static_cast<int64_t>(w.output.row_bytes);
  for (const LayerWeights& l : w.layers) {
    for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      plain += m->rows * static_cast<int64_t>(m->row_bytes);
    }
  }
  // An interleaved layout holds the same values and scales: within a few percent of the file's bytes.
  EXPECT_GE(bytes, plain);
  EXPECT_LE(bytes, plain + plain / 10);
  ASSERT_TRUE(r.decode_bound_ms.has_value());
  EXPECT_GT(*r.decode_bound_ms, 0);
  ASSERT_TRUE(r.read_p99_ms.has_value());
  EXPECT_LE(*r.decode_bound_ms, *r.read_p99_ms);
  // One pass per step of a repetition (at least 3), kept in order; the bound and tail are their percentiles.
  ASSERT_EQ(r.read_pass_ms.size(), 5u);
  EXPECT_DOUBLE_EQ(*r.decode_bound_ms, percentile_of(r.read_pass_ms, 50));
  EXPECT_DOUBLE_EQ(*r.read_p99_ms, percentile_of(r.read_pass_ms, 99));
}

TEST(Bench, ReadTimeOfBuffers) {
  std::vector<uint8_t> buf(size_t{64} << 20, 1);
  ThreadPool pool(2);
  const std::vector<std::span<const uint8_t>> small{std::span<const uint8_t>(buf.data(), buf.size() / 64 + 3)};
  const std::vector<std::span<const uint8_t>> large{std::span<const uint8_t>(buf)};
  const auto shortest = [&](const std::vector<std::span<const uint8_t>>& spans) {
    const std::vector<double> times = read_times_ms(spans, pool, 2);
    return *std::min_element(times.begin(), times.end());
  };
  const double t_small = shortest(small);
  const double t_large = shortest(large);
  EXPECT_GT(t_small, 0);
  EXPECT_GT(t_large, 0);
  EXPECT_GE(shortest({}), 0);
  // One time per pass (at least one).
  const std::vector<double> times = read_times_ms(small, pool, 5);
  ASSERT_EQ(times.size(), 5u);
  for (double ms : times) EXPECT_GT(ms, 0);
  EXPECT_EQ(read_times_ms(small, pool, 0).size(), 1u);
}

TEST_F(BenchModel, PromptOnlyHasNoDecodeLatencies) {
  BenchTest t;
  t.n_prompt = 6;
  t.repetitions = 1;
  const BenchResult r = run_bench(*model_, t);
  EXPECT_TRUE(r.token_latencies_ms.empty());
  EXPECT_FALSE(r.latency_p50_ms.has_value());
  EXPECT_FALSE(r.jitter_ms.has_value());
  EXPECT_FALSE(r.decode_bound_ms.has_value());
  EXPECT_FALSE(r.read_p99_ms.has_value());
  EXPECT_TRUE(r.read_pass_ms.empty());
  EXPECT_EQ(r.decode_bytes_per_token, 0);
  EXPECT_GT(r.ttft_ms, 0);
}

TEST_F(BenchModel, BadTestsAreRejected) {
  BenchTest t;
  EXPECT_THROW(run_bench(*model_, t), Error);  // nothing to run
  t.n_gen = 4;
  t.repetitions = 0;
  EXPECT_THROW(run_bench(*model_, t), Error);
  t.repetitions = 1;
  t.n_threads = 0;
  EXPECT_THROW(run_bench(*model_, t), Error);
  t.n_threads = 1;
  t.n_prompt = -1;
  EXPECT_THROW(run_bench(*model_, t), Error);
  t.n_prompt = 0;
  t.n_batch = 0;
  EXPECT_THROW(run_bench(*model_, t), Error);
  t.n_batch = 512;
  t.n_gen = int64_t{1} << 21;
  EXPECT_THROW(run_bench(*model_, t), Error);
}

}  // namespace
}  // namespace ternion
