#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>

#include "model/tiny_model.h"
#include "ternion/core/error.h"
#include "ternion/model/context.h"
#include "ternion/model/model.h"

namespace ternion {
namespace {

using test::TinyModel;
using test::TinySpec;

void expect_matches_reference(const TinySpec& spec, const std::string& file) {
  const TinyModel tm(spec);
  const auto path = tm.write(file);
  const auto model = Model::from_gguf(path.string());
  EXPECT_EQ(model->hparams().n_vocab, spec.n_vocab);
  EXPECT_EQ(model->weights().tied_output, spec.tied);
  ThreadPool pool(2);
  ContextOptions c;
  c.n_ctx = 32;
  InferenceContext ctx(*model, c, pool);
  std::vector<int32_t> tokens = {3, 17, 5, 40, 11, 0, 47, 22, 9};
  const auto logits = ctx.decode(tokens);
  const auto ref = tm.reference_logits(tokens);
  ASSERT_EQ(logits.size(), ref.size());
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(logits[i] - ref[i]));
    max_ref = std::max(max_ref, std::abs(ref[i]));
  }
  // The engine keeps K/V in fp16 and rounds activations to fp16 for the attention dots: 1e-2 relative.
  EXPECT_LT(max_diff, 1e-2 * max_ref) << file << ": max diff " << max_diff << " of " << max_ref;
  // One more token after the prompt, through the cache.
  tokens.push_back(30);
  const auto next = ctx.decode(std::vector<int32_t>{30});
  const auto ref2 = tm.reference_logits(tokens);
  for (size_t i = 0; i < ref2.size(); ++i) EXPECT_NEAR(next[i], ref2[i], 1e-2 * max_ref) << i;
  std::filesystem::remove(path);
}

TEST(Model, LlamaWithGqaMatchesReference) { expect_matches_reference(TinySpec{}, "tiny_llama.gguf"); }

TEST(Model, LlamaWithMqaMatchesReference) {
  TinySpec s;
  s.n_head_kv = 1;
  expect_matches_reference(s, "tiny_llama_mqa.gguf");
}

TEST(Model, Qwen2WithBiasesNeoxAndTiedOutputMatchesReference) {
  TinySpec s;
  s.arch = "qwen2";
  s.biases = true;
  s.neox = true;
  s.tied = true;
  s.rms_eps = 1e-6f;
  expect_matches_reference(s, "tiny_qwen2.gguf");
}

TEST(Model, LinearRopeScalingMatchesReference) {
  TinySpec s;
  s.linear_scale = 4.0f;
  s.rope_base = 500000.0f;
  expect_matches_reference(s, "tiny_linear.gguf");
}

TEST(Model, Llama3RopeFrequencyFactorsMatchReference) {
  TinySpec s;
  s.rope_freqs = llama3_rope_freq_factors(s.head_dim(), s.rope_base, 8.0f, 1.0f, 4.0f, 16);
  expect_matches_reference(s, "tiny_llama3.gguf");
}

TEST(Model, Llama3FrequencyFactorsFollowTheRecipe) {
  // Llama 3.1: factor 8, low 1, high 4, original context 8192, head dim 128, base 500000.
  const auto f = llama3_rope_freq_factors(128, 500000.0f, 8.0f, 1.0f, 4.0f, 8192);
  ASSERT_EQ(f.size(), 64u);
  EXPECT_FLOAT_EQ(f[0], 1.0f);                                      // short wavelengths untouched
  EXPECT_FLOAT_EQ(f[63], 8.0f);                                     // long wavelengths slowed by the factor
  for (size_t i = 1; i < f.size(); ++i) EXPECT_GE(f[i], f[i - 1]);  // smooth, monotonic blend
  bool blended = false;
  for (float v : f) blended |= v > 1.0f && v < 8.0f;
  EXPECT_TRUE(blended);
}

std::string load_error(const TinyModel& tm, const std::string& skip = "",
                       const std::map<std::string, std::string>& meta = {}) {
  const auto path = tm.write("tiny_bad.gguf", skip, meta);
  try {
    Model::from_gguf(path.string());
  } catch (const Error& e) {
    std::filesystem::remove(path);
    return e.what();
  }
  std::filesystem::remove(path);
  return "(loaded)";
}

TEST(Model, MissingTensorIsNamed) {
  const TinyModel tm(TinySpec{});
  EXPECT_NE(load_error(tm, "blk.1.ffn_up.weight").find("missing tensor blk.1.ffn_up.weight"), std::string::npos);
  EXPECT_NE(load_error(tm, "output_norm.weight").find("output_norm.weight"), std::string::npos);
  EXPECT_NE(load_error(tm, "token_embd.weight").find("token_embd.weight"), std::string::npos);
}

TEST(Model, MissingBiasForQwen2IsNamed) {
  TinySpec s;
  s.arch = "qwen2";
  s.biases = true;
  const TinyModel tm(s);
  EXPECT_NE(load_error(tm, "blk.0.attn_k.bias").find("attn_k.bias"), std::string::npos);
}

TEST(Model, WrongShapeSaysExpectedAndFound) {
  TinySpec s;
  s.n_ff = 40;
  TinyModel tm(s);
  // Declaring a different feed-forward size makes every ffn tensor's shape wrong.
  const auto path = tm.write("tiny_shape.gguf");
  GgufFile f = GgufFile::open(path.string());
  std::string err;
  {
    GgufWriter w;
    for (const auto& [k, v] : f.metadata()) w.set(k, v);
    w.set_u32("llama.feed_forward_length", 48);
    for (const auto& t : f.tensors()) w.add_tensor(t.name, t.shape, t.type, {t.data, t.n_bytes});
    w.write(path.string() + ".2");
    try {
      Model::from_gguf(path.string() + ".2");
    } catch (const Error& e) {
      err = e.what();
    }
  }
  EXPECT_NE(err.find("blk.0.ffn_gate.weight has shape [32, 40], expected [32, 48]"), std::string::npos) << err;
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + ".2");
}

TEST(Model, UnknownArchitectureListsSupported) {
  TinySpec s;
  s.arch = "mamba";
  const std::string e = load_error(TinyModel(s));
  EXPECT_NE(e.find("unsupported architecture 'mamba'"), std::string::npos) << e;
  EXPECT_NE(e.find("llama, qwen2"), std::string::npos) << e;
}

TEST(Model, BadHyperParameters) {
  TinySpec s;
  s.n_head = 4;
  s.n_head_kv = 3;
  EXPECT_NE(load_error(TinyModel(s)).find("head_count_kv"), std::string::npos);
  EXPECT_NE(load_error(TinyModel(TinySpec{}), "", {{"llama.rope.scaling.type", "weird"}})
                .find("unknown rope.scaling.type 'weird' (known: none, linear, yarn, longrope)"),
            std::string::npos);
  EXPECT_NE(load_error(TinyModel(TinySpec{}), "", {{"llama.rope.scaling.type", "longrope"}})
                .find("LongRoPE needs both rope_factors_short.weight and rope_factors_long.weight"),
            std::string::npos);
  // A key with the wrong type.
  EXPECT_NE(load_error(TinyModel(TinySpec{}), "", {{"llama.block_count", "six"}}).find("block_count"),
            std::string::npos);
}

TEST(Model, MissingArchitectureKey) {
  GgufWriter w;
  w.set_u32("llama.block_count", 1);
  const auto path = std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_tiny_noarch.gguf");
  w.write(path.string());
  try {
    Model::from_gguf(path.string());
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("general.architecture"), std::string::npos);
  }
  std::filesystem::remove(path);
}

TEST(Model, ContextOptionsAreChecked) {
  const TinyModel tm(TinySpec{});
  const auto path = tm.write("tiny_ctx.gguf");
  const auto model = Model::from_gguf(path.string());
  ThreadPool pool(1);
  ContextOptions c;
  c.n_ctx = -5;
  EXPECT_THROW(InferenceContext(*model, c, pool), Error);
  c.n_ctx = 0;  // the model's own context length
  InferenceContext ctx(*model, c, pool);
  EXPECT_EQ(ctx.n_ctx(), 64);
  EXPECT_GT(ctx.kv_cache_bytes(), 0u);
  EXPECT_GT(model->weight_bytes(), 0u);
  c.n_batch = 0;
  EXPECT_THROW(InferenceContext(*model, c, pool), Error);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ternion
