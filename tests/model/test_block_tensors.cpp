// The one list of an architecture's tensors (block_tensors.h): what the binder, the HF importer and synth read.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "ternion/model/architecture.h"
#include "ternion/model/block_tensors.h"
#include "ternion/model/hparams.h"

namespace ternion {
namespace {

HParams small_hparams() {
  HParams hp;
  hp.n_embd = 64;
  hp.n_head = 4;
  hp.n_head_kv = 2;
  hp.head_dim = 16;
  hp.n_rot = 16;
  hp.n_ff = 96;
  hp.n_vocab = 100;
  return hp;
}

TEST(BlockTensors, EveryRecordListsEachNameOnceWithTheShapeItsNameHas) {
  const HParams hp = small_hparams();
  for (const ArchSpec& arch : supported_architectures()) {
    for (const FusedTensors fused : {FusedTensors{}, FusedTensors{.qkv = true, .gate_up = arch.gated_ffn}}) {
      std::set<std::string_view> names;
      std::vector<TensorSlot> all = global_tensors(arch, hp);
      for (TensorSlot& s : block_tensors(arch, hp, fused)) all.push_back(std::move(s));
      for (const TensorSlot& s : all) {
        EXPECT_TRUE(names.insert(s.name).second) << arch.name << ": " << s.name << " twice";
        EXPECT_EQ(tensor_shape(s.name, arch, hp, fused), s.shape) << arch.name << ": " << s.name;
      }
    }
  }
}

TEST(BlockTensors, FusedLayoutsAndWhatABlockNeeds) {
  const HParams hp = small_hparams();
  const auto find = [](const std::vector<TensorSlot>& list, TensorRole role) -> const TensorSlot* {
    for (const TensorSlot& s : list) {
      if (s.role == role) return &s;
    }
    return nullptr;
  };
  const ArchSpec& phi3 = arch_spec("phi3", "test");
  const std::vector<TensorSlot> fused = block_tensors(phi3, hp, {.qkv = true, .gate_up = true});
  ASSERT_NE(find(fused, TensorRole::kQkv), nullptr);
  EXPECT_EQ(find(fused, TensorRole::kQkv)->shape, (std::vector<uint64_t>{64, 64 + 2 * 32}));
  EXPECT_EQ(find(fused, TensorRole::kGateUp)->shape, (std::vector<uint64_t>{64, 2 * 96}));
  EXPECT_EQ(find(fused, TensorRole::kQ), nullptr);
  EXPECT_EQ(find(fused, TensorRole::kGate), nullptr);
  // A file without ffn_gate holds gate and up fused; one without attn_qkv has Q, K and V apart.
  const FusedTensors from_file = fused_tensors(phi3, [](std::string_view name) { return name == "attn_qkv.weight"; });
  EXPECT_TRUE(from_file.qkv);
  EXPECT_TRUE(from_file.gate_up);

  // Biases a record does not have are optional (bound when a file has them); LayerNorm's are required.
  const std::vector<TensorSlot> llama = block_tensors(arch_spec("llama", "test"), hp);
  EXPECT_FALSE(find(llama, TensorRole::kQBias)->required);
  EXPECT_FALSE(find(llama, TensorRole::kAttnNormBias)->required);
  EXPECT_TRUE(find(block_tensors(arch_spec("starcoder2", "test"), hp), TensorRole::kAttnNormBias)->required);
  // OLMo 2 normalises after each branch: no attn_norm, a post-attention norm.
  const std::vector<TensorSlot> olmo2 = block_tensors(arch_spec("olmo2", "test"), hp);
  EXPECT_EQ(find(olmo2, TensorRole::kAttnNorm), nullptr);
  EXPECT_NE(find(olmo2, TensorRole::kPostAttnNorm), nullptr);
  EXPECT_EQ(find(olmo2, TensorRole::kQNorm)->shape, (std::vector<uint64_t>{64}));  // over the whole projection
  EXPECT_EQ(find(block_tensors(arch_spec("qwen3", "test"), hp), TensorRole::kQNorm)->shape,
            (std::vector<uint64_t>{16}));  // per head
  // The output projection may be absent (tied to the embedding).
  EXPECT_FALSE(find(global_tensors(arch_spec("llama", "test"), hp), TensorRole::kOutput)->required);
}

}  // namespace
}  // namespace ternion
