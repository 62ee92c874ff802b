// config.json fields of the newer families: each read into the GGUF key llama.cpp uses, and each one a record
// cannot run refused with one line naming the file and the field.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "convert/arch_folder.h"
#include "support/test_support.h"
#include "ternion/convert/convert.h"
#include "ternion/convert/hf_checkpoint.h"
#include "ternion/convert/load_model.h"
#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/model/model.h"

namespace ternion {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using test::ArchFolder;

TEST_F(ArchFolder, Gemma2KeysUnderLlamaCppNames) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/gemma2/model.safetensors"));
  copy("gemma2");
  const ModelSource s = load_hf_checkpoint(dir_.string());
  EXPECT_EQ(s.metadata.find("general.architecture")->as_string(), "gemma2");
  EXPECT_EQ(s.metadata.find("gemma2.attention.sliding_window")->as_uint(), 8u);
  EXPECT_FLOAT_EQ(static_cast<float>(s.metadata.find("gemma2.attn_logit_softcapping")->as_double()), 5.0f);
  EXPECT_FLOAT_EQ(static_cast<float>(s.metadata.find("gemma2.final_logit_softcapping")->as_double()), 3.0f);
  // Every other layer slides, as llama.cpp assumes for gemma2: no pattern key is needed.
  EXPECT_EQ(s.metadata.find("gemma2.attention.sliding_window_pattern"), nullptr);
  // (1 + w) norms are stored as 1 + w, in F32.
  EXPECT_EQ(s.find("blk.0.attn_norm.weight")->type, DType::F32);
  const auto model = load_model(dir_.string());
  EXPECT_EQ(model->hparams().swa_layers, (std::vector<bool>{true, false, true, false}));
}

TEST_F(ArchFolder, Gemma3PatternAndLocalRopeBase) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/gemma3/model.safetensors"));
  copy("gemma3");
  const ModelSource s = load_hf_checkpoint(dir_.string());
  // The fixture alternates, which is not gemma3's every-sixth pattern: the key says so.
  ASSERT_NE(s.metadata.find("gemma3.attention.sliding_window_pattern"), nullptr);
  EXPECT_EQ(s.metadata.find("gemma3.rope.freq_base_swa"), nullptr);  // 10000, the record's default
  const auto model = load_model(dir_.string());
  EXPECT_EQ(model->hparams().swa_layers, (std::vector<bool>{true, false, true, false}));
  EXPECT_FLOAT_EQ(model->hparams().rope_freq_base_swa, 10000.0f);
  EXPECT_FLOAT_EQ(model->hparams().rope_freq_base, 1000000.0f);
}

TEST_F(ArchFolder, NeoxPartialRotaryAndParallelResidual) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/gpt-neox/model.safetensors"));
  copy("gpt-neox");
  const auto model = load_model(dir_.string());
  EXPECT_EQ(model->hparams().n_rot, 8);
  EXPECT_TRUE(model->hparams().parallel_residual);
  auto j = config();
  j["use_parallel_residual"] = false;
  set_config(j);
  EXPECT_NE(error().find("use_parallel_residual: differs from what a GPTNeoXForCausalLM block does"), std::string::npos)
      << error();
  j = config();
  j["rope_parameters"]["partial_rotary_factor"] = 1.5;
  j["use_parallel_residual"] = true;
  set_config(j);
  EXPECT_NE(error().find("partial_rotary_factor: must be in (0, 1]"), std::string::npos) << error();
}

TEST_F(ArchFolder, FieldsARecordCannotRun) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/smollm3/model.safetensors"));
  copy("smollm3");
  auto j = config();
  j["no_rope_layers"] = {1, 0, 1, 1};
  set_config(j);
  EXPECT_NE(error().find("config.json: no_rope_layers: a pattern other than every 4th layer"), std::string::npos)
      << error();
  j["no_rope_layers"] = {1, 1, 1};
  set_config(j);
  EXPECT_NE(error().find("no_rope_layers: expected one entry per layer"), std::string::npos) << error();
  j["no_rope_layers"] = {1, 1, 1, 0};
  j["hidden_act"] = "gelu";
  set_config(j);
  EXPECT_NE(error().find("hidden_act: 'gelu' is not supported for SmolLM3ForCausalLM"), std::string::npos) << error();
}

TEST_F(ArchFolder, MissingRecordTensorNamedByItsHfName) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/gemma2/model.safetensors"));
  copy("gemma2");
  auto j = config();
  j["architectures"] = {"Gemma3ForCausalLM"};  // Gemma 3's block also needs per-head Q/K norms
  set_config(j);
  EXPECT_NE(error().find("missing tensor model.layers.0.self_attn.q_norm.weight (blk.0.attn_q_norm.weight)"),
            std::string::npos)
      << error();
  j = config();
  j["layer_types"] = {"sliding_attention", "full_attention"};
  set_config(j);
  EXPECT_NE(error().find("layer_types: expected one entry per layer"), std::string::npos) << error();
  j = config();
  j["architectures"] = {"Qwen3ForCausalLM"};
  j.erase("hidden_activation");
  set_config(j);
  EXPECT_NE(error().find("tensor 'model.layers.0.post_feedforward_layernorm.weight' is not part of a "
                         "Qwen3ForCausalLM model"),
            std::string::npos)
      << error();
}

// What llama.cpp's loader insists on, written as its converter writes it: BLOOM's tied output as a copy of the
// embedding, Phi-3's sliding_window key with 0 for none. Neither changes what our loader reads.
TEST(ConvertForLlamaCpp, BloomOutputCopyAndPhi3WindowKey) {
  for (const std::string name : {"bloom-alibi", "phi3"}) {
    const fs::path dir = test::fixture("arch/" + name);
    TERNION_REQUIRE_FIXTURE(dir / "model.safetensors");
    const fs::path out = fs::temp_directory_path() / ("ternion_llamacpp_keys_" + std::to_string(::getpid()) + ".gguf");
    convert_to_gguf(load_hf_checkpoint(dir.string()), out.string(), ConvertOptions{}, {});
    const GgufFile f = GgufFile::open(out.string());
    if (name == "bloom-alibi") {
      const GgufTensorInfo* embd = f.find_tensor("token_embd.weight");
      const GgufTensorInfo* output = f.find_tensor("output.weight");
      ASSERT_NE(embd, nullptr);
      ASSERT_NE(output, nullptr) << "BLOOM's tied output is not written";
      EXPECT_EQ(output->shape, embd->shape);
      ASSERT_EQ(output->n_bytes, embd->n_bytes);
      EXPECT_EQ(std::memcmp(output->data, embd->data, embd->n_bytes), 0);
    } else {
      ASSERT_TRUE(f.get_int("phi3.attention.sliding_window").has_value());
      EXPECT_EQ(*f.get_int("phi3.attention.sliding_window"), 0);
      EXPECT_EQ(load_model(out.string())->hparams().sliding_window, 0);
    }
    fs::remove(out);
  }
}

}  // namespace
}  // namespace ternion
