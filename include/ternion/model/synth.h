// Models with deterministic random weights in the shapes of real ones, for benchmarks: nothing large can be
// downloaded everywhere, but speed must be measured at realistic sizes. The vocabulary (tokenizer.* metadata)
// is copied from a real GGUF so the result runs end to end, in Ternion and in other engines.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ternion/core/dtype.h"
#include "ternion/model/block_tensors.h"

namespace ternion {

// A real model's shape; its block (norms, biases, activations) comes from the architecture record.
struct SynthShape {
  std::string_view name;
  std::string_view arch;  // an architecture record's name ("llama", "gemma2", ...)
  int64_t n_embd, n_layer, n_head, n_head_kv, n_ff;
  float rope_theta;
  int64_t head_dim = 0;        // 0: n_embd / n_head
  int64_t n_rot = 0;           // RoPE dimensions per head, written as rope.dimension_count when set; 0: all
  int64_t sliding_window = 0;  // written as attention.sliding_window when set
  bool tied_output = false;    // no output.weight: the embedding projects (Gemma), as the released models
  FusedTensors fused{};        // fused QKV / gate+up, as llama.cpp's converter writes the family (Phi-3, GPT-NeoX)
  // Written under llama.cpp's keys when not 0.
  float attn_softcap = 0, final_softcap = 0;
  float embedding_scale = 0, residual_scale = 0, attention_scale = 0, logit_scale = 0;
  // Mixture of experts (fused.experts): every layer routes n_expert_used of n_expert experts.
  int64_t n_expert = 0, n_expert_used = 0;
  int64_t n_ff_exp = 0;    // expert_feed_forward_length when set; 0: n_ff (as Mixtral and OLMoE files say)
  int64_t n_ff_shexp = 0;  // expert_shared_feed_forward_length (Qwen2-MoE's shared expert)
};

std::span<const SynthShape> synth_shapes();
const SynthShape& synth_shape(std::string_view name);  // Error listing the known names

struct SynthOptions {
  std::string shape = "llama-3.2-1b";
  std::optional<SynthShape> custom;  // a shape of its own instead of a named one (tests: a tiny model of a family)
  DType type = DType::Q8_0;          // type of the 2-D weights; norms stay F32
  std::string vocab_from;            // GGUF whose tokenizer.* metadata is copied
  std::string output;
  uint64_t seed = 1;
  int64_t n_ctx = 4096;
  std::function<void(size_t done, size_t total)> progress;  // tensors made, of all (a progress bar)
};

// Writes the model; throws Error for an unknown shape or type, an unreadable vocabulary file, or I/O failure.
void write_synthetic_model(const SynthOptions& options);

}  // namespace ternion
