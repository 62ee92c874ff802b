#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "support/test_support.h"
#include "ternion/core/error.h"
#include "ternion/model/context.h"
#include "ternion/model/synth.h"

namespace ternion {
namespace {

TEST(Synth, UnknownShapeListsTheKnownOnes) {
  try {
    synth_shape("gpt-5");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama-3.2-1b"), std::string::npos);
  }
  EXPECT_GE(synth_shapes().size(), 13u);
}

TEST(Synth, WritesALoadableDeterministicModel) {
  const auto vocab = test::fixture("gguf/kjv-qwen2-F16.gguf");
  TERNION_REQUIRE_FIXTURE(vocab);
  SynthOptions o;
  o.shape = "smollm-135m";
  o.type = DType::Q4_0;
  o.vocab_from = vocab.string();
  o.output = (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_synth_a.gguf")).string();
  o.n_ctx = 64;
  write_synthetic_model(o);
  const std::string again =
      (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_synth_b.gguf")).string();
  SynthOptions o2 = o;
  o2.output = again;
  write_synthetic_model(o2);
  EXPECT_EQ(std::filesystem::file_size(o.output), std::filesystem::file_size(again));

  const auto model = Model::from_gguf(o.output);
  EXPECT_EQ(model->hparams().n_layer, 30);
  EXPECT_EQ(model->hparams().n_head_kv, 3);
  EXPECT_EQ(model->hparams().n_vocab, 4096);
  EXPECT_EQ(model->gguf().get_string("tokenizer.ggml.model"), "gpt2");
  ThreadPool pool(2);
  ContextOptions c;
  c.n_ctx = 8;
  InferenceContext ctx(*model, c, pool);
  const auto logits = ctx.decode(std::vector<int32_t>{1, 2, 3});
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
  std::filesystem::remove(o.output);
  std::filesystem::remove(again);
}

// smollm's 576-wide rows do not hold Q4_K's 256-value blocks: those matrices fall back to Q5_0 as llama-quantize's
// do, the 1536-wide down projection stays Q4_K.
TEST(Synth, RowsAKQuantDoesNotFitFallBack) {
  const auto vocab = test::fixture("gguf/kjv-qwen2-F16.gguf");
  TERNION_REQUIRE_FIXTURE(vocab);
  SynthOptions o;
  o.shape = "smollm-135m";
  o.type = DType::Q4_K;
  o.vocab_from = vocab.string();
  o.output = (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_synth_k.gguf")).string();
  o.n_ctx = 64;
  write_synthetic_model(o);
  {
    const auto model = Model::from_gguf(o.output);
    const GgufFile& f = model->gguf();
    ASSERT_NE(f.find_tensor("blk.0.attn_q.weight"), nullptr);
    EXPECT_EQ(f.find_tensor("blk.0.attn_q.weight")->type, DType::Q5_0);
    EXPECT_EQ(f.find_tensor("blk.0.ffn_down.weight")->type, DType::Q4_K);
  }
  std::filesystem::remove(o.output);
}

// The BitNet b1.58 2B shape, and a tiny model of its family in I2_S: codes with one scale per tensor (bound as the
// matrix's scale), sub-norms in every block, the embedding tied and Q8_0.
TEST(Synth, BitnetShapeAndI2SWeights) {
  const SynthShape& b = synth_shape("bitnet-b1.58-2b");
  EXPECT_EQ(b.n_embd, 2560);
  EXPECT_EQ(b.n_layer, 30);
  EXPECT_EQ(b.n_head, 20);
  EXPECT_EQ(b.n_head_kv, 5);
  EXPECT_EQ(b.n_ff, 6912);
  EXPECT_TRUE(b.tied_output);
  const auto vocab = test::fixture("gguf/kjv-qwen2-F16.gguf");
  TERNION_REQUIRE_FIXTURE(vocab);
  SynthOptions o;
  o.custom = SynthShape{"tiny-bitnet", "bitnet", 256, 2, 4, 2, 512, 500000.0f};
  o.custom->tied_output = true;
  o.type = DType::I2_S;
  o.vocab_from = vocab.string();
  o.output = (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_synth_i2s.gguf")).string();
  o.n_ctx = 64;
  write_synthetic_model(o);
  {
    const auto model = Model::from_gguf(o.output);
    const LayerWeights& l = model->weights().layers[1];
    EXPECT_EQ(l.wq.type, DType::I2_S);
    EXPECT_EQ(l.wq.scale, 0.02f);
    EXPECT_NE(l.attn_sub_norm, nullptr);
    EXPECT_NE(l.ffn_sub_norm, nullptr);
    EXPECT_EQ(model->weights().token_embd.type, DType::Q8_0);
    ThreadPool pool(2);
    ContextOptions c;
    c.n_ctx = 8;
    InferenceContext ctx(*model, c, pool);
    const auto logits = ctx.decode(std::vector<int32_t>{1, 2, 3});
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
  }
  std::filesystem::remove(o.output);
}

}  // namespace
}  // namespace ternion
