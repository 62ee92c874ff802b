// Mixture-of-experts records and models: each family's gating rule, tiny synthetic models of every MoE record
// (OLMoE has no checkpoint fixture) loading and running with the same bits in any batch, and clear errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "support/test_support.h"
#include "ternion/core/error.h"
#include "ternion/model/architecture.h"
#include "ternion/model/context.h"
#include "ternion/model/quantize.h"
#include "ternion/model/synth.h"

namespace ternion {
namespace {

// What llama.cpp hard-codes per family (its build_moe_ffn calls): softmax over all experts then top-k; Mixtral
// and Qwen3-MoE renormalise the chosen weights, Qwen2-MoE and OLMoE do not; Qwen2-MoE has a shared expert.
TEST(MoeRecords, GatingRules) {
  for (const char* name : {"llama", "qwen2moe", "qwen3moe", "olmoe"}) {
    EXPECT_EQ(arch_spec(name, "test").moe_gating, MoeGating::kSoftmaxThenTopK) << name;
  }
  EXPECT_TRUE(arch_spec("llama", "test").moe_norm_topk);
  EXPECT_FALSE(arch_spec("llama", "test").moe_required);
  EXPECT_FALSE(arch_spec("qwen2moe", "test").moe_norm_topk);
  EXPECT_TRUE(arch_spec("qwen2moe", "test").moe_shared_expert);
  EXPECT_TRUE(arch_spec("qwen3moe", "test").moe_norm_topk);
  const ArchSpec& olmoe = arch_spec("olmoe", "test");
  EXPECT_TRUE(olmoe.moe_required);
  EXPECT_FALSE(olmoe.moe_norm_topk);
  EXPECT_FALSE(olmoe.moe_shared_expert);
  EXPECT_EQ(olmoe.qk_norm, QkNorm::kWhole);
  EXPECT_EQ(olmoe.rope_kind, RopeKind::NeoX);
}

// OLMoE's rule on its own sizes (64 experts choosing 8): the chosen weights are the softmax over all 64, not
// renormalised, so they sum to less than 1.
TEST(MoeRecords, OlmoeKeepsTheSoftmaxOfAllExperts) {
  std::vector<float> logits(64);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i) * 1.7f);
  const ArchSpec& olmoe = arch_spec("olmoe", "test");
  const MoeRouting r{.n_used = 8, .gating = olmoe.moe_gating, .normalize = olmoe.moe_norm_topk};
  int32_t ids[8];
  float w[8];
  select_experts(logits.data(), 64, r, ids, w);
  double total = 0;
  for (const float l : logits) total += std::exp(static_cast<double>(l));
  double sum = 0;
  for (int i = 0; i < 8; ++i) {
    EXPECT_NEAR(w[i], std::exp(static_cast<double>(logits[static_cast<size_t>(ids[i])])) / total, 1e-7);
    if (i > 0) {
      EXPECT_GE(w[i - 1], w[i]);
    }
    sum += w[i];
  }
  EXPECT_LT(sum, 0.99);
}

class TinyMoe : public ::testing::Test {
 protected:
  void SetUp() override {
    vocab_ = test::fixture("gguf/kjv-qwen2-F16.gguf");
    if (!std::filesystem::exists(vocab_)) GTEST_SKIP() << "fixture missing: " << vocab_;
  }
  void TearDown() override {
    for (const auto& f : files_) std::filesystem::remove(f);
  }
  // A tiny model of `arch` with experts in every layer.
  std::string write(std::string_view arch, int64_t n_ff_exp, int64_t n_ff_shexp, DType type = DType::Q8_0,
                    int64_t n_expert = 6, int64_t n_embd = 64) {
    SynthShape s{"tiny-moe", arch, n_embd, 2, 4, 2, 96, 10000.0f};
    s.fused.experts = true;
    s.n_expert = n_expert;
    s.n_expert_used = 2;
    s.n_ff_exp = n_ff_exp;
    s.n_ff_shexp = n_ff_shexp;
    SynthOptions o;
    o.custom = s;
    o.type = type;
    o.vocab_from = vocab_.string();
    o.output =
        (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_moe_" + std::string(arch) + ".gguf"))
            .string();
    o.n_ctx = 64;
    write_synthetic_model(o);
    files_.push_back(o.output);
    return o.output;
  }
  std::filesystem::path vocab_;
  std::vector<std::string> files_;
};

// Every MoE record runs; a prompt's last logits are the same bits decoded at once or token by token, and on 2 or
// 3 threads.
TEST_F(TinyMoe, EveryRecordRunsWithTheSameBitsInAnyBatch) {
  const std::vector<int32_t> prompt = {11, 200, 3000, 42, 7, 999, 5};
  for (const auto& [arch, ff_exp, ff_shexp] : {std::tuple<const char*, int64_t, int64_t>{"olmoe", 0, 0},
                                               {"llama", 0, 0},
                                               {"qwen3moe", 32, 0},
                                               {"qwen2moe", 32, 64}}) {
    const auto model = Model::from_gguf(write(arch, ff_exp, ff_shexp));
    const HParams& hp = model->hparams();
    EXPECT_EQ(hp.n_expert, 6) << arch;
    EXPECT_EQ(hp.n_expert_used, 2) << arch;
    EXPECT_EQ(hp.n_ff_exp, ff_exp > 0 ? ff_exp : 96) << arch;
    EXPECT_EQ(hp.expert_weights_norm, model->arch().moe_norm_topk) << arch;
    const LayerWeights& l = model->weights().layers[0];
    ASSERT_TRUE(l.has_experts()) << arch;
    EXPECT_EQ(l.up_exps.size(), 6u);
    EXPECT_EQ(l.down_exps[5].cols, hp.n_ff_exp);
    EXPECT_EQ(l.w_up_shexp.data != nullptr, ff_shexp > 0) << arch;
    // A token reads 2 of 6 experts: 4/6 of the expert parameters are idle.
    const uint64_t per_layer = static_cast<uint64_t>(3 * 64 * hp.n_ff_exp);
    EXPECT_EQ(model->n_params() - model->n_active_params(), 2 * 4 * per_layer) << arch;

    ThreadPool pool(2);
    ContextOptions c;
    c.n_ctx = 32;
    InferenceContext ctx(*model, c, pool);
    const auto all = ctx.decode(prompt);
    const std::vector<float> at_once(all.begin(), all.end());
    for (const float v : at_once) ASSERT_TRUE(std::isfinite(v)) << arch;
    ctx.clear();
    std::vector<float> one_by_one;
    for (const int32_t t : prompt) {
      const auto logits = ctx.decode(std::span<const int32_t>(&t, 1));
      one_by_one.assign(logits.begin(), logits.end());
    }
    ASSERT_EQ(one_by_one.size(), at_once.size());
    for (size_t i = 0; i < at_once.size(); ++i) ASSERT_EQ(one_by_one[i], at_once[i]) << arch << " logit " << i;
    ThreadPool three(3);
    InferenceContext ctx3(*model, c, three);
    const auto threaded = ctx3.decode(prompt);
    for (size_t i = 0; i < at_once.size(); ++i) ASSERT_EQ(threaded[i], at_once[i]) << arch << " 3 threads, logit " << i;
  }
}

// Experts' matrices are packed per expert at load where the type has an interleaved layout: same logits.
TEST_F(TinyMoe, ResidentPacksGiveTheMappedResults) {
  const std::string path = write("qwen2moe", 64, 64, DType::Q4_0);
  const auto packed = Model::from_gguf(path);
  const auto mapped = Model::from_gguf(path, {.resident = false});
  ThreadPool pool(2);
  ContextOptions c;
  c.n_ctx = 16;
  InferenceContext a(*packed, c, pool), b(*mapped, c, pool);
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5};
  const auto la = a.decode(prompt);
  const auto lb = b.decode(prompt);
  for (size_t i = 0; i < la.size(); ++i) ASSERT_EQ(la[i], lb[i]);
}

// llama-quantize's rules for experts: routers stay F32, stacks of experts take the file type, and with 8 experts
// (Mixtral) attn_v and attn_k get Q8_0 and attn_output Q5_K; ffn_down's layer comes from its name.
TEST_F(TinyMoe, QuantizeMixRulesForExperts) {
  const std::string path = write("llama", 0, 0, DType::F16, 8, 256);
  QuantizeOptions o;
  o.file_type = "Q4_K_M";
  std::map<std::string, DType> plan;
  for (const auto& [name, type] : plan_quantization(path, o)) plan[name] = type;
  EXPECT_EQ(plan.at("blk.0.ffn_gate_inp.weight"), DType::F32);
  EXPECT_EQ(plan.at("blk.0.ffn_gate_exps.weight"), DType::Q4_K);
  EXPECT_EQ(plan.at("blk.1.ffn_up_exps.weight"), DType::Q4_K);
  EXPECT_EQ(plan.at("blk.0.attn_v.weight"), DType::Q8_0);
  EXPECT_EQ(plan.at("blk.1.attn_k.weight"), DType::Q8_0);
  EXPECT_EQ(plan.at("blk.0.attn_output.weight"), DType::Q5_K);
  // Two layers: use_more_bits holds for both, so Q4_K_M gives each ffn_down stack Q6_K (row length 96 falls back).
  EXPECT_NE(plan.at("blk.1.ffn_down_exps.weight"), DType::Q4_K);
  const std::string out = path + ".q4_0.gguf";
  files_.push_back(out);
  o.file_type = "Q4_0";
  quantize_model(path, out, o);
  const auto model = Model::from_gguf(out);
  EXPECT_EQ(model->weights().layers[1].down_exps[7].type, DType::Q4_0);
  ThreadPool pool(1);
  ContextOptions c;
  c.n_ctx = 8;
  InferenceContext ctx(*model, c, pool);
  for (const float v : ctx.decode(std::vector<int32_t>{1, 2})) ASSERT_TRUE(std::isfinite(v));
}

TEST_F(TinyMoe, MissingExpertCountIsAnError) {
  SynthShape s{"tiny-dense", "olmoe", 64, 1, 4, 4, 64, 10000.0f};
  SynthOptions o;
  o.custom = s;
  o.vocab_from = vocab_.string();
  o.output = (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_olmoe_dense.gguf")).string();
  write_synthetic_model(o);
  files_.push_back(o.output);
  try {
    Model::from_gguf(o.output);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("olmoe.expert_count"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ternion
