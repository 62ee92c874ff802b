// Hyper-parameters of a model, read from GGUF metadata under the architecture's prefix
// ("llama.embedding_length", "qwen2.attention.head_count", ...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ternion/backend/ops.h"

namespace ternion {

class GgufFile;

struct HParams {
  std::string arch;  // general.architecture
  std::string name;  // general.name, if any
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;          // context_length
  int64_t n_embd = 0;               // embedding_length
  int64_t n_layer = 0;              // block_count
  int64_t n_ff = 0;                 // feed_forward_length
  int64_t n_head = 0;               // attention.head_count
  int64_t n_head_kv = 0;            // attention.head_count_kv (defaults to n_head)
  int64_t head_dim = 0;             // attention.key_length (defaults to n_embd / n_head)
  int64_t n_rot = 0;                // rope.dimension_count (defaults to head_dim)
  float rms_eps = 1e-5f;            // attention.layer_norm_rms_epsilon
  float rope_freq_base = 10000.0f;  // rope.freq_base
  // RoPE scaling, under llama.cpp's keys (rope.scaling.*). LongRoPE's per-pair factors are tensors
  // (rope_factors_long/short.weight), llama-3's rope_freqs.weight: Model reads those, and a file with LongRoPE
  // factors but no type key (llama.cpp's Phi-3 converter writes none) is LongRoPE.
  RopeScaling rope_scaling = RopeScaling::None;  // rope.scaling.type: none, linear, yarn, longrope
  float rope_scaling_factor = 1.0f;              // rope.scaling.factor (linear, YaRN)
  int64_t rope_orig_ctx = 0;                     // rope.scaling.original_context_length (defaults to n_ctx_train)
  float rope_attn_factor = 0.0f;                 // rope.scaling.attn_factor; 0: not given (see rope_attention_factor)
  float yarn_ext_factor = 1.0f;                  // rope.scaling.yarn_ext_factor
  float yarn_attn_factor = 0.0f;                 // rope.scaling.yarn_attn_factor; 0: 1 + 0.1 ln(factor)
  float yarn_beta_fast = 32.0f;                  // rope.scaling.yarn_beta_fast
  float yarn_beta_slow = 1.0f;                   // rope.scaling.yarn_beta_slow
  RopeKind rope_kind = RopeKind::Adjacent;

  // Block options of the newer families; the defaults are llama's.
  float norm_eps = 1e-5f;           // attention.layer_norm_epsilon (LayerNorm families), else rms_eps
  int64_t sliding_window = 0;       // attention.sliding_window: > 0 on the layers swa_layers marks
  std::vector<bool> swa_layers;     // [n_layer] attention.sliding_window_pattern, or the record's period
  std::vector<bool> rope_layers;    // [n_layer] false: the layer has no RoPE (SmolLM3)
  float rope_freq_base_swa = 0.0f;  // rope.freq_base_swa: sliding layers' base (Gemma 3); 0: rope_freq_base
  float attn_softcap = 0.0f;        // attn_logit_softcapping (Gemma 2)
  float final_softcap = 0.0f;       // final_logit_softcapping
  float attn_scale = 0.0f;          // attention.scale; 0: 1/sqrt(head_dim)
  float embd_scale = 1.0f;          // embedding_scale (Granite)
  float residual_scale = 1.0f;      // residual_scale (Granite)
  float logit_scale = 1.0f;         // logit_scale (Granite): the logits are divided by it
  bool parallel_residual = false;   // use_parallel_residual (GPT-NeoX)

  // Mixture of experts (0 experts: every layer is dense). A layer is sparse when its file has a router
  // (ffn_gate_inp); the others (HF mlp_only_layers, decoder_sparse_step) keep a dense FFN of n_ff.
  int64_t n_expert = 0;              // expert_count
  int64_t n_expert_used = 0;         // expert_used_count
  int64_t n_ff_exp = 0;              // expert_feed_forward_length (defaults to n_ff, as Mixtral's files)
  int64_t n_ff_shexp = 0;            // expert_shared_feed_forward_length (defaults to n_ff)
  bool expert_weights_norm = false;  // expert_weights_norm: renormalise the chosen weights (else the record's)

  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }
};

struct ArchSpec;

// What cos/sin are multiplied by: rope.scaling.attn_factor (LongRoPE without it: sqrt(1 + ln(s) / ln(orig)) with
// s = n_ctx_train / orig, as transformers and llama.cpp's Phi-3 converter compute it), times for YaRN
// rope.scaling.yarn_attn_factor (without it: 1 + 0.1 ln(factor), transformers' default and llama.cpp's mscale).
float rope_attention_factor(const HParams& hp);

// Reads and checks the hyper-parameters; rope_kind is left for the architecture to set. The record supplies the
// defaults GGUF files of its family leave out (sliding and RoPE-less layer patterns).
// Throws Error naming the file and key when one is missing, of the wrong type or out of range.
HParams read_hparams(const GgufFile& file, const ArchSpec& arch);
// general.architecture, or Error.
std::string read_architecture_name(const GgufFile& file);

}  // namespace ternion
