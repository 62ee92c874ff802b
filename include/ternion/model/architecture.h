// An architecture is a description: one ArchSpec record says everything that differs between model families — its
// names (GGUF and HuggingFace), how the HF checkpoint's tensors map to GGUF names, and the block structure as small
// enums and flags. The loader, the HF importer (and so `convert`), `info` and the forward pass (context.cpp) read
// the record; nothing else compares architecture names. Adding a family that reuses known parts is adding a record
// to architecture.cpp (and a test); a new part is one op and one field here (and its tensors in block_tensors.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ternion/backend/moe.h"
#include "ternion/backend/ops.h"

namespace ternion {

enum class NormKind : uint8_t {
  kRms,    // x / rms(x) · w
  kLayer,  // (x - mean) / std(x) · w + b
};

// Where a block's norms sit.
enum class NormPlacement : uint8_t {
  kPre,       // x + f(norm(x)): llama and most others
  kPost,      // x + norm(f(x)): OLMo 2 (attn_norm/ffn_norm absent; post_attention_norm/post_ffw_norm)
  kSandwich,  // x + norm(f(norm(x))): Gemma 2/3 (both)
};

enum class QkNorm : uint8_t {
  kNone,
  kPerHead,  // RMS norm of each head of Q and K, weight [head_dim] (Qwen3, Gemma 3)
  kWhole,    // RMS norm over the whole Q and K projections, weight [q_dim] / [kv_dim] (OLMo 2)
};

enum class PositionKind : uint8_t {
  kRope,
  kAlibi,  // no rotation; per-head linear biases on the scores (BLOOM)
};

// HF tensor names -> GGUF names: `hf` after the layer prefix ("model.layers.N.") for layer tensors, the whole name
// for global ones; `gguf` after "blk.N." or whole.
enum class HfTransform : uint8_t {
  kNone,
  kRopeQ,       // Q rows, rotate-half order in HF (permuted for an adjacent-pair GGUF layout)
  kRopeK,       // K rows, likewise
  kPlusOne,     // a norm HF applies as (1 + w): stored as 1 + w, as llama.cpp's converter does (Gemma)
  kQkvPerHead,  // a fused QKV whose rows are [head][q, k, v][head_dim]: reordered to [q; k; v]
  kQkvBiasPerHead,
};

struct HfTensorName {
  std::string_view hf;
  std::string_view gguf;
  HfTransform transform = HfTransform::kNone;
};

// An expert tensor of an HF checkpoint: `before` + expert index + `after` (after the layer prefix) -> a 3-D GGUF
// tensor (after "blk.N.") holding every expert's matrix, expert 0 first.
struct HfExpertName {
  std::string_view before;
  std::string_view after;
  std::string_view gguf;
};

struct ArchSpec {
  std::string_view name;                         // GGUF general.architecture (llama.cpp's name)
  std::span<const std::string_view> hf_classes;  // config.json "architectures" that run as this record
  RopeKind rope_kind;                            // how Q/K rows are paired in this architecture's GGUF files
  NormKind norm = NormKind::kRms;
  NormPlacement placement = NormPlacement::kPre;
  Activation activation = Activation::kSilu;
  bool gated_ffn = true;  // down(act(gate(x)) · up(x)); false: down(act(up(x)))
  QkNorm qk_norm = QkNorm::kNone;
  PositionKind positions = PositionKind::kRope;
  bool parallel_residual = false;  // x + attn(norm1(x)) + ffn(norm2(x)) (GPT-NeoX)
  bool embd_norm = false;          // a LayerNorm right after the embedding (BLOOM)
  bool embd_scale_sqrt = false;    // embeddings × √n_embd (Gemma family)
  bool qkv_bias = false;           // biases on Q, K, V
  bool out_bias = false;           // bias on the attention output
  bool ffn_bias = false;           // biases on the FFN matrices
  // BitNet b1.58: an RMS norm of the attention's output before its projection (attn_sub_norm) and of the gated
  // FFN's hidden state before the down projection (ffn_sub_norm).
  bool sub_norms = false;
  // Mixture of experts: a layer whose file has a router (ffn_gate_inp) runs the experts its router picks
  // (HParams::n_expert, n_expert_used) instead of one FFN; `llama` files with expert_count are Mixtral.
  bool moe_required = false;                           // every file of the family has experts (qwen2moe, olmoe)
  MoeGating moe_gating = MoeGating::kSoftmaxThenTopK;  // how router logits become the chosen experts' weights
  bool moe_norm_topk = false;                          // chosen weights renormalised to sum 1 (expert_weights_norm)
  bool moe_shared_expert = false;                      // a dense shared expert with a sigmoid gate (Qwen2-MoE)
  // Defaults for what GGUF files of the family do not say (llama.cpp hard-codes them per architecture).
  int swa_period = 0;            // with a sliding window, layer i slides unless i % period == period - 1; 0: all
  int no_rope_period = 0;        // > 0: layer i has no RoPE when (i + 1) % period == 0 (SmolLM3: 4)
  float rope_freq_base_swa = 0;  // RoPE base of sliding layers (Gemma 3: 10000); 0: the model's base
  float alibi_max_bias = 8.0f;   // ALiBi slopes (BLOOM)
  // What llama.cpp's loader insists on, so `convert` writes it as llama.cpp's converter does.
  bool gguf_output_required = false;  // output.weight even when tied: a copy of the embedding (BLOOM)
  bool gguf_window_key = false;       // attention.sliding_window always, 0 for none (Phi-3)
  // tokenizer_config.json's add_prefix_space becomes tokenizer.ggml.add_space_prefix (llama.cpp's llama converter).
  bool hf_add_prefix_space = false;
  // HF checkpoint layout.
  std::string_view hf_layer_prefix = "model.layers.";
  std::span<const HfTensorName> hf_globals = {};
  std::span<const HfTensorName> hf_layer = {};
  // Per-expert HF tensors ("mlp.experts.N.gate_proj.weight" after the layer prefix: `hf` holds the parts around
  // N), stacked into one 3-D GGUF tensor each.
  std::span<const HfExpertName> hf_experts = {};
};

// Which of n_layer layers slide when the model has a window and its file gives no per-layer pattern: the
// record's period (Gemma 2: every other layer), else every layer.
std::vector<bool> assumed_sliding_layers(const ArchSpec& arch, int64_t n_layer);

// The record for a GGUF architecture name, or Error listing the supported ones.
const ArchSpec& arch_spec(std::string_view name, const std::string& file);
// The record for a GGUF architecture name; nullptr when none.
const ArchSpec* find_arch_spec(std::string_view name);
// The record an HF class name ("Qwen3ForCausalLM") runs as; nullptr when none. Where records share a class
// (BitNet's), the one whose activation is `activation` (the config's hidden_act), else the first.
const ArchSpec* arch_spec_for_hf_class(std::string_view hf_class, std::optional<Activation> activation = {});
std::span<const ArchSpec> supported_architectures();
// "llama, qwen2, ..." and "LlamaForCausalLM, ...", for messages.
std::string supported_architecture_names();
// The record's block in words ("RMSNorm before each branch, SwiGLU FFN, RoPE (adjacent pairs)"), for `info`.
std::string describe_block(const ArchSpec& arch);
std::string supported_hf_classes();

}  // namespace ternion
