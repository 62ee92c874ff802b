// `compute_imatrix`: which matrices an importance matrix has (fused projections under their file's name), what it
// counts, and that its sums are the squares of exactly the inputs the matmuls saw.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/test_support.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/engine/imatrix_collector.h"

namespace ternion {
namespace {

std::string calibration_text() {
  std::ifstream in(test::fixture("text/calibration.txt"), std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

ContextOptions eval_options(int64_t n_ctx) {
  ContextOptions c;
  c.n_ctx = n_ctx;
  c.n_batch = n_ctx;
  c.logits_all = true;
  return c;
}

TEST(ImatrixCollect, EveryBlockMatrixCountedPerChunk) {
  const auto path = test::fixture("gguf/kjv-llama-F16.gguf");
  TERNION_REQUIRE_FIXTURE(path);
  const auto model = load_model(path.string());
  Generator gen(*model, eval_options(64), 2);
  ImatrixOptions o;
  o.n_ctx = 64;
  o.max_chunks = 3;
  o.dataset = "calibration.txt";
  const ImatrixResult r = compute_imatrix(gen, *model, calibration_text(), o);
  const Imatrix& im = r.imatrix;
  EXPECT_EQ(im.entries.size(), 6u * 7u);  // six layers of q, k, v, output, gate, up, down; not the output projection
  EXPECT_EQ(im.find("output.weight"), nullptr);
  EXPECT_EQ(im.chunk_count, 3);
  EXPECT_EQ(im.chunk_size, 64);
  EXPECT_EQ(im.datasets, std::vector<std::string>{"calibration.txt"});
  EXPECT_GT(r.perplexity.ppl, 1.0);
  for (const auto& [name, e] : im.entries) {
    EXPECT_EQ(e.counts, std::vector<float>{3 * 64.0f}) << name;
    EXPECT_EQ(e.calls, 3) << name;
    for (float v : e.sums) EXPECT_GT(v, 0.0f) << name;
  }
  EXPECT_EQ(im.find("blk.2.attn_q.weight")->cols(), 256);
  EXPECT_EQ(im.find("blk.2.ffn_down.weight")->cols(), 768);
  // Q, K and V read one input, gate and up another: their sums are the same numbers.
  for (int l = 0; l < 6; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    EXPECT_EQ(im.find(p + "attn_k.weight")->sums, im.find(p + "attn_q.weight")->sums);
    EXPECT_EQ(im.find(p + "attn_v.weight")->sums, im.find(p + "attn_q.weight")->sums);
    EXPECT_EQ(im.find(p + "ffn_up.weight")->sums, im.find(p + "ffn_gate.weight")->sums);
    EXPECT_NE(im.find(p + "attn_output.weight")->sums, im.find(p + "attn_q.weight")->sums);
  }
}

// Sees every matmul input first (in double), then hands it to the collector.
class Recorder : public MatmulObserver {
 public:
  Recorder(const WeightMatrix& target, MatmulObserver& next) : target_(target), next_(next) {}
  void observe(const WeightMatrix& w, Tensor x) override {
    if (&w == &target_) {
      if (sums.empty()) sums.assign(static_cast<size_t>(x.cols), 0.0);
      for (int64_t t = 0; t < x.rows; ++t) {
        for (int64_t j = 0; j < x.cols; ++j)
          sums[static_cast<size_t>(j)] += double{x.data[t * x.stride + j]} * x.data[t * x.stride + j];
      }
    }
    next_.observe(w, x);
  }
  std::vector<double> sums;

 private:
  const WeightMatrix& target_;
  MatmulObserver& next_;
};

TEST(ImatrixCollect, SumsAreTheSquaresOfTheInputs) {
  const auto path = test::fixture("gguf/kjv-llama-Q8_0.gguf");
  TERNION_REQUIRE_FIXTURE(path);
  const auto model = load_model(path.string());
  Generator gen(*model, eval_options(32), 1);
  ImatrixCollector collector(*model, gen.context().backend(), true);
  Recorder rec(model->weights().layers[3].w_down, collector);
  gen.context().backend().set_matmul_observer(&rec);
  perplexity(gen, calibration_text(), 32, 2);
  gen.context().backend().set_matmul_observer(nullptr);
  const ImatrixEntry* e = collector.imatrix().find("blk.3.ffn_down.weight");
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(rec.sums.size(), e->sums.size());
  for (size_t j = 0; j < rec.sums.size(); ++j) EXPECT_NEAR(e->sums[j], rec.sums[j], 1e-4 * rec.sums[j] + 1e-6) << j;
  // The output projection with process_output, over every token of the chunks.
  ASSERT_NE(collector.imatrix().find("output.weight"), nullptr);
  EXPECT_EQ(collector.imatrix().find("output.weight")->counts, std::vector<float>{64.0f});
}

// Phi-3 stores Q, K and V in one attn_qkv and gate and up in one ffn_up: one entry each, as llama-imatrix names them.
TEST(ImatrixCollect, FusedProjectionsAreOneEntry) {
  const auto dir = test::fixture("arch/phi3");
  TERNION_REQUIRE_FIXTURE(dir);
  const auto model = load_model(dir.string());
  Generator gen(*model, eval_options(32), 2);
  ImatrixOptions o;
  o.n_ctx = 32;
  o.max_chunks = 2;
  const Imatrix im = compute_imatrix(gen, *model, calibration_text(), o).imatrix;
  ASSERT_NE(im.find("blk.0.attn_qkv.weight"), nullptr);
  EXPECT_EQ(im.find("blk.0.attn_qkv.weight")->counts, std::vector<float>{64.0f});
  EXPECT_EQ(im.find("blk.0.attn_q.weight"), nullptr);
  ASSERT_NE(im.find("blk.0.ffn_up.weight"), nullptr);
  EXPECT_EQ(im.find("blk.0.ffn_gate.weight"), nullptr);
  EXPECT_EQ(im.entries.size(), 4u * 4u);  // qkv, output, gate+up, down in each of four layers
}

TEST(ImatrixCollect, TextShorterThanAChunkIsAnError) {
  const auto path = test::fixture("gguf/kjv-llama-Q8_0.gguf");
  TERNION_REQUIRE_FIXTURE(path);
  const auto model = load_model(path.string());
  Generator gen(*model, eval_options(64), 1);
  ImatrixOptions o;
  o.n_ctx = 64;
  EXPECT_THROW(compute_imatrix(gen, *model, "In the beginning", o), Error);
  EXPECT_EQ(gen.context().backend().name().empty(), false);
}

}  // namespace
}  // namespace ternion
