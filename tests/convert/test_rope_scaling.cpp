// config.json's RoPE scaling (linear, YaRN, LongRoPE; both rope_scaling / rope_parameters and type / rope_type
// spellings) read into llama.cpp's GGUF keys and tensors, and the model's RoPE table checked against transformers'
// formulas (support/hf_rope.h); types we do not know refused in one line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "convert/arch_folder.h"
#include "support/hf_rope.h"
#include "support/test_support.h"
#include "ternion/convert/convert.h"
#include "ternion/convert/hf_checkpoint.h"
#include "ternion/convert/load_model.h"
#include "ternion/model/model.h"

namespace ternion {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using RopeFolder = test::ArchFolder;

// The F32 values of a 1-D source tensor.
std::vector<float> values(const ModelSource& s, const std::string& name) {
  const SourceTensor* t = s.find(name);
  if (t == nullptr || t->type != DType::F32 || t->shape.size() != 1) return {};
  std::vector<float> out(t->shape[0]);
  std::memcpy(out.data(), t->data, out.size() * sizeof(float));
  return out;
}

// A metadata value; NaN, 0 or "" when the key is absent.
float f32_key(const ModelSource& s, const std::string& key) {
  const GgufValue* v = s.metadata.find(key);
  return v == nullptr ? NAN : static_cast<float>(v->as_double());
}
uint64_t u32_key(const ModelSource& s, const std::string& key) {
  const GgufValue* v = s.metadata.find(key);
  return v == nullptr ? 0 : v->as_uint();
}
std::string str_key(const ModelSource& s, const std::string& key) {
  const GgufValue* v = s.metadata.find(key);
  return v == nullptr ? "" : v->as_string();
}

// Per-pair factors a LongRoPE config lists (short: near 1; long: up to the stretch), as F32 would store them.
std::vector<double> factors(size_t n, double top) {
  std::vector<double> f;
  for (size_t i = 0; i < n; ++i) {
    const double x = static_cast<double>(i) / static_cast<double>(n - 1);
    f.push_back(static_cast<float>(1.0 + (top - 1.0) * x * x));
  }
  return f;
}

TEST_F(RopeFolder, LongRopeFactorsAttentionFactorAndTable) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/phi3/model.safetensors"));
  copy("phi3");
  // Phi-3 128k's form, smaller: 4096 positions (original_max_position_embeddings, beside rope_parameters) stretched
  // to 16384; head 32, so 16 pairs.
  test::HfLongRope p;
  p.dim = 32;
  p.short_factor = factors(16, 1.3);
  p.long_factor = factors(16, 6.0);
  p.max_position_embeddings = 16384;
  p.original_max_position_embeddings = 4096;
  auto j = config();
  j["max_position_embeddings"] = 16384;
  j["rope_parameters"]["rope_type"] = "longrope";
  j["rope_parameters"]["short_factor"] = p.short_factor;
  j["rope_parameters"]["long_factor"] = p.long_factor;
  set_config(j);

  ModelSource s = load_hf_checkpoint(dir_.string());
  EXPECT_EQ(str_key(s, "phi3.rope.scaling.type"), "longrope");
  EXPECT_EQ(u32_key(s, "phi3.rope.scaling.original_context_length"), 4096u);
  const double attn = std::sqrt(1.0 + std::log(4.0) / std::log(4096.0));  // not given: transformers' default
  EXPECT_FLOAT_EQ(f32_key(s, "phi3.rope.scaling.attn_factor"), static_cast<float>(attn));
  EXPECT_EQ(values(s, "rope_factors_long.weight"), std::vector<float>(p.long_factor.begin(), p.long_factor.end()));
  EXPECT_EQ(values(s, "rope_factors_short.weight"), std::vector<float>(p.short_factor.begin(), p.short_factor.end()));

  const auto model = load_model(dir_.string());
  EXPECT_EQ(model->hparams().rope_scaling, RopeScaling::LongRope);
  for (const int64_t n : {int64_t{4096}, int64_t{8192}}) {  // short factors, then long ones
    test::expect_table_matches(RopeTable(model->rope(), n), model->rope(), 32, test::hf_longrope(p, n),
                               {0, 1, 333, 4095, n - 1}, 1e-5, "phi3 longrope, " + std::to_string(n) + " positions");
  }

  // Converted, the file holds the same: the factor tensors in F32 and the keys.
  const fs::path out = fs::temp_directory_path() / ("ternion_rope_phi3_" + std::to_string(::getpid()) + ".gguf");
  convert_to_gguf(s, out.string(), ConvertOptions{});
  const auto converted = load_model(out.string());
  EXPECT_EQ(converted->rope().freq_factors_long, model->rope().freq_factors_long);
  EXPECT_EQ(converted->rope().freq_factors, model->rope().freq_factors);
  EXPECT_EQ(converted->rope().attn_factor, model->rope().attn_factor);
  EXPECT_EQ(converted->rope().n_ctx_orig, 4096);
  fs::remove(out);

  // llama.cpp's Phi-3 converter writes no type key: the factor tensors alone say LongRoPE, and without
  // rope.scaling.attn_factor the factor is derived from context_length / original_context_length.
  ModelSource bare = load_hf_checkpoint(dir_.string());
  GgufMetadata m;
  for (const auto& [key, value] : bare.metadata.entries()) {
    if (key != "phi3.rope.scaling.type" && key != "phi3.rope.scaling.attn_factor") m.set(key, value);
  }
  bare.metadata = m;
  const auto from_llama_cpp = Model::from_source(std::move(bare));
  EXPECT_EQ(from_llama_cpp->hparams().rope_scaling, RopeScaling::LongRope);
  EXPECT_FLOAT_EQ(from_llama_cpp->rope().attn_factor, static_cast<float>(attn));
}

TEST_F(RopeFolder, LongRopePartialRotaryWithItsAttentionFactor) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/phi3/model.safetensors"));
  copy("phi3");
  test::HfLongRope p;
  p.base = 250000;
  p.dim = 16;  // partial_rotary_factor 0.5 of 32, as Phi-4-mini rotates part of each head
  p.short_factor = factors(8, 1.1);
  p.long_factor = factors(8, 20.0);
  p.attention_factor = 1.25;
  p.max_position_embeddings = 131072;
  p.original_max_position_embeddings = 4096;
  auto j = config();
  j["max_position_embeddings"] = 131072;
  j.erase("rope_parameters");
  j["rope_theta"] = 250000;
  j["partial_rotary_factor"] = 0.5;
  j["rope_scaling"] = {{"type", "su"},  // early Phi-3 configs name LongRoPE "su"
                       {"short_factor", p.short_factor},
                       {"long_factor", p.long_factor},
                       {"attention_factor", 1.25}};
  set_config(j);
  const auto model = load_model(dir_.string());
  EXPECT_EQ(model->hparams().n_rot, 16);
  test::expect_table_matches(RopeTable(model->rope(), 6000), model->rope(), 32, test::hf_longrope(p, 6000),
                             {0, 5, 4096, 5999}, 1e-5, "partial longrope");

  j["rope_scaling"]["long_factor"] = factors(16, 20.0);  // one per rotated pair: 8
  set_config(j);
  EXPECT_NE(error().find("config.json: long_factor and short_factor need 8 values each (one per rotated pair), got "
                         "16 and 8"),
            std::string::npos)
      << error();
}

TEST_F(RopeFolder, YarnKeysAndTable) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/qwen3/model.safetensors"));
  copy("qwen3");
  test::HfYarn p = test::hf_yarn_params(1e6, 32, 4.0, 512, 128);
  p.beta_fast = 16.0;
  p.beta_slow = 2.0;
  auto j = config();
  j["rope_parameters"] = {{"rope_theta", 1e6}, {"rope_type", "yarn"},
                          {"factor", 4.0},     {"original_max_position_embeddings", 128},
                          {"beta_fast", 16.0}, {"beta_slow", 2.0}};
  set_config(j);
  const ModelSource s = load_hf_checkpoint(dir_.string());
  EXPECT_EQ(str_key(s, "qwen3.rope.scaling.type"), "yarn");
  EXPECT_EQ(f32_key(s, "qwen3.rope.scaling.factor"), 4.0f);
  EXPECT_EQ(u32_key(s, "qwen3.rope.scaling.original_context_length"), 128u);
  EXPECT_EQ(f32_key(s, "qwen3.rope.scaling.yarn_beta_fast"), 16.0f);
  EXPECT_EQ(f32_key(s, "qwen3.rope.scaling.yarn_beta_slow"), 2.0f);
  EXPECT_EQ(s.metadata.find("qwen3.rope.scaling.yarn_attn_factor"), nullptr);  // not given: 1 + 0.1 ln(factor)
  const auto model = load_model(dir_.string());
  EXPECT_EQ(model->hparams().rope_scaling, RopeScaling::Yarn);
  test::expect_table_matches(RopeTable(model->rope(), 1024), model->rope(), 32, test::hf_yarn(p),
                             {0, 1, 127, 500, 1023}, 1e-5, "qwen3 yarn");
}

TEST_F(RopeFolder, YarnOlderSpellingDerivedFactorGivenAttentionFactor) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/qwen3/model.safetensors"));
  copy("qwen3");
  test::HfYarn p = test::hf_yarn_params(1e6, 16, std::nullopt, 512, 64);  // no factor: 512 / 64 = 8
  p.attention_factor = 0.9;
  auto j = config();
  j.erase("rope_parameters");
  j["rope_theta"] = 1e6;
  j["partial_rotary_factor"] = 0.5;
  j["rope_scaling"] = {{"type", "yarn"}, {"original_max_position_embeddings", 64}, {"attention_factor", 0.9}};
  set_config(j);
  const ModelSource s = load_hf_checkpoint(dir_.string());
  EXPECT_EQ(f32_key(s, "qwen3.rope.scaling.factor"), 8.0f);
  EXPECT_FLOAT_EQ(f32_key(s, "qwen3.rope.scaling.yarn_attn_factor"), 0.9f);
  const auto model = load_model(dir_.string());
  test::expect_table_matches(RopeTable(model->rope(), 2048), model->rope(), 32, test::hf_yarn(p), {0, 3, 63, 2047},
                             1e-5, "qwen3 yarn, older spelling");
}

TEST_F(RopeFolder, LinearOnANeoxFamily) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/qwen3/model.safetensors"));
  copy("qwen3");
  auto j = config();
  j["rope_parameters"] = {{"rope_theta", 1e6}, {"rope_type", "linear"}, {"factor", 2.0}};
  set_config(j);
  const ModelSource s = load_hf_checkpoint(dir_.string());
  EXPECT_EQ(str_key(s, "qwen3.rope.scaling.type"), "linear");
  EXPECT_EQ(f32_key(s, "qwen3.rope.scaling.factor"), 2.0f);
  const auto model = load_model(dir_.string());
  test::expect_table_matches(RopeTable(model->rope(), 256), model->rope(), 32, test::hf_linear(1e6, 32, 2.0),
                             {0, 1, 100, 255}, 1e-5, "qwen3 linear");
}

TEST_F(RopeFolder, UnknownTypesAndVariantsRefusedInOneLine) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/qwen3/model.safetensors"));
  copy("qwen3");
  auto j = config();
  j["rope_parameters"] = {{"rope_theta", 1e6}, {"rope_type", "dynamic"}, {"factor", 2.0}};
  set_config(j);
  std::string e = error();
  EXPECT_NE(e.find("config.json: rope_parameters: rope_type: 'dynamic' scaling is not supported (known: default, "
                   "linear, llama3, yarn, longrope)"),
            std::string::npos)
      << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  j.erase("rope_parameters");
  j["rope_scaling"] = {{"type", "ntk"}, {"factor", 2.0}};
  set_config(j);
  EXPECT_NE(error().find("config.json: rope_scaling: type: 'ntk' scaling is not supported"), std::string::npos)
      << error();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 32.0}, {"truncate", false}};
  set_config(j);
  EXPECT_NE(error().find("rope_scaling: truncate: false (an untruncated correction range) has no GGUF key"),
            std::string::npos)
      << error();
  j["rope_scaling"] = {{"rope_type", "longrope"}, {"short_factor", {1.0, 1.0}}};
  set_config(j);
  EXPECT_NE(error().find("rope_scaling: long_factor: missing or not a list of numbers"), std::string::npos) << error();
}

}  // namespace
}  // namespace ternion
