// Mixture-of-experts checkpoints: config.json's expert fields under llama.cpp's GGUF keys, per-expert HF tensors
// stacked into the 3-D GGUF ones, and each inconsistency one line naming the file and the field or tensor.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "convert/arch_folder.h"
#include "support/test_support.h"
#include "ternion/convert/hf_checkpoint.h"
#include "ternion/convert/load_model.h"
#include "ternion/convert/model_summary.h"
#include "ternion/io/gguf.h"
#include "ternion/model/model.h"

namespace ternion {
namespace {

using test::ArchFolder;

TEST_F(ArchFolder, Qwen2MoeKeysAndStackedExperts) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/qwen2-moe/model.safetensors"));
  copy("qwen2-moe");
  const ModelSource s = load_hf_checkpoint(dir_.string());
  EXPECT_EQ(s.metadata.find("qwen2moe.expert_count")->as_uint(), 4u);
  EXPECT_EQ(s.metadata.find("qwen2moe.expert_used_count")->as_uint(), 2u);
  EXPECT_EQ(s.metadata.find("qwen2moe.expert_feed_forward_length")->as_uint(), 96u);
  EXPECT_EQ(s.metadata.find("qwen2moe.expert_shared_feed_forward_length")->as_uint(), 192u);
  EXPECT_EQ(s.metadata.find("qwen2moe.expert_weights_norm"), nullptr);  // false: what llama.cpp assumes
  const SourceTensor* up = s.find("blk.1.ffn_up_exps.weight");
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(up->shape, (std::vector<uint64_t>{128, 96, 4}));
  EXPECT_EQ(up->n_bytes, 128u * 96 * 4 * 2);
  EXPECT_EQ(up->origin, "model.layers.1.mlp.experts.*.up_proj.weight");
  EXPECT_EQ(s.find("blk.0.ffn_down_exps.weight")->shape, (std::vector<uint64_t>{96, 128, 4}));
  EXPECT_EQ(s.find("blk.0.ffn_gate_inp.weight")->type, DType::F32);  // routers in F32, as llama.cpp keeps them
  EXPECT_EQ(s.find("blk.0.ffn_gate_inp_shexp.weight")->shape, (std::vector<uint64_t>{128}));

  // show's summary: a token reads 2 of 4 experts, so half of each layer's 3 × 128 × 96 × 4 expert weights idle.
  const ModelSummary summary = summarize_model(dir_.string());
  EXPECT_EQ(summary.n_expert, 4);
  EXPECT_EQ(summary.n_expert_used, 2);
  EXPECT_EQ(summary.n_params - summary.n_active_params, 4u * 3 * 128 * 96 * 2);

  auto j = config();
  j["norm_topk_prob"] = true;
  set_config(j);
  const auto model = load_model(dir_.string());
  EXPECT_TRUE(model->hparams().expert_weights_norm);
}

// Mixtral is written as llama.cpp writes it: a llama file with experts.
TEST_F(ArchFolder, MixtralIsLlamaWithExperts) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/mixtral/model.safetensors"));
  copy("mixtral");
  const ModelSource s = load_hf_checkpoint(dir_.string());
  EXPECT_EQ(s.metadata.find("general.architecture")->as_string(), "llama");
  EXPECT_EQ(s.metadata.find("llama.expert_count")->as_uint(), 4u);
  EXPECT_EQ(s.metadata.find("llama.expert_feed_forward_length"), nullptr);  // its experts are intermediate_size
  EXPECT_EQ(s.find("blk.3.ffn_gate_exps.weight")->origin, "model.layers.3.block_sparse_moe.experts.*.w1.weight");
  const auto model = load_model(dir_.string());
  EXPECT_TRUE(model->hparams().expert_weights_norm);
  EXPECT_EQ(model->hparams().n_ff_exp, 192);
}

TEST_F(ArchFolder, ExpertFieldsAndTensorsChecked) {
  TERNION_REQUIRE_FIXTURE(test::fixture("arch/qwen3-moe/model.safetensors"));
  copy("qwen3-moe");
  auto j = config();
  j.erase("num_local_experts");
  set_config(j);
  EXPECT_NE(error().find("config.json: num_experts: missing (a Qwen3MoeForCausalLM has experts)"), std::string::npos)
      << error();
  j = config();
  j["num_experts_per_tok"] = 5;
  set_config(j);
  EXPECT_NE(error().find("config.json: num_experts_per_tok: too large"), std::string::npos) << error();
  j = config();
  j["num_local_experts"] = 3;  // the checkpoint holds 4
  set_config(j);
  EXPECT_NE(error().find("mlp.experts.3.down_proj.weight' is beyond the 3 experts"), std::string::npos) << error();
  j = config();
  j["num_local_experts"] = 5;
  set_config(j);
  EXPECT_NE(error().find("'model.layers.0.mlp.gate.weight' has shape [4, 128], expected [5, 128]"), std::string::npos)
      << error();
  j = config();
  j["moe_intermediate_size"] = 64;
  set_config(j);
  EXPECT_NE(error().find("has shape [128, 96], expected [128, 64]"), std::string::npos) << error();
  // Dense layers (mlp_only_layers, decoder_sparse_step) need a dense MLP, which this checkpoint lacks.
  j = config();
  j["mlp_only_layers"] = {2};
  set_config(j);
  EXPECT_NE(error().find("missing tensor model.layers.2.mlp.gate_proj.weight"), std::string::npos) << error();
  j = config();
  j["decoder_sparse_step"] = 2;
  set_config(j);
  EXPECT_NE(error().find("missing tensor model.layers.0.mlp.gate_proj.weight"), std::string::npos) << error();
  j = config();
  j["mlp_only_layers"] = {4};
  set_config(j);
  EXPECT_NE(error().find("mlp_only_layers: expected layer indices in [0, 4)"), std::string::npos) << error();
  j = config();
  j["architectures"] = {"Qwen3ForCausalLM"};
  set_config(j);
  EXPECT_NE(error().find("num_experts: experts are not supported for Qwen3ForCausalLM"), std::string::npos) << error();
}

}  // namespace
}  // namespace ternion
