// HuggingFace config.json -> the hyper-parameters of a supported architecture, every field type-checked; and
// generation_config.json -> sampling defaults. Errors name the file and the field.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ternion/model/architecture.h"
#include "ternion/model/hparams.h"
#include "ternion/model/model_source.h"

namespace ternion {

struct HfConfig {
  std::string file;                // path of config.json, for messages
  std::string architecture;        // "LlamaForCausalLM"
  std::string arch;                // GGUF architecture: "llama", "qwen3", ...
  const ArchSpec* spec = nullptr;  // its record
  std::optional<std::string> name_or_path;

  int64_t n_embd = 0;     // hidden_size
  int64_t n_layer = 0;    // num_hidden_layers
  int64_t n_ff = 0;       // intermediate_size
  int64_t n_head = 0;     // num_attention_heads
  int64_t n_head_kv = 0;  // num_key_value_heads (n_head when absent)
  bool has_n_head_kv = false;
  int64_t n_vocab = 0;               // vocab_size
  std::optional<int64_t> n_ctx;      // max_position_embeddings
  std::optional<int64_t> head_dim;   // head_dim, when given
  std::optional<double> rope_theta;  // rope_theta (or rope_parameters.rope_theta)
  std::optional<double> rms_eps;     // rms_norm_eps
  std::optional<double> norm_eps;    // layer_norm_eps / layer_norm_epsilon / norm_epsilon (LayerNorm families)
  bool tie_word_embeddings = false;
  int64_t n_rot = 0;                           // head_size × partial_rotary_factor (rotary_pct)
  std::optional<double> partial_rotary;        // rope_parameters.partial_rotary_factor
  int64_t sliding_window = 0;                  // sliding_window, where the model uses one
  std::vector<bool> swa_layers;                // layer_types: true for "sliding_attention"; empty: every layer
  double attn_softcap = 0, final_softcap = 0;  // attn_logit_softcapping, final_logit_softcapping
  std::optional<double> attn_scale;            // query_pre_attn_scalar^-0.5, attention_multiplier
  double embd_scale = 1, residual_scale = 1, logit_scale = 1;  // Granite's multipliers
  std::optional<double> rope_theta_swa;                        // rope_parameters.sliding_attention.rope_theta (Gemma 3)
  bool parallel_residual = false;                              // use_parallel_residual

  // rope_scaling (or rope_parameters): its type, empty for none: "linear" (factor), "llama3" (factor,
  // low/high_freq_factor, original_max_position_embeddings), "yarn" (factor, original_max_position_embeddings,
  // attention_factor, beta_fast, beta_slow) or "longrope" (short_factor, long_factor, attention_factor).
  std::string rope_scaling_type;
  double rope_scaling_factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  int64_t original_context = 8192;
  std::optional<double> rope_attn_factor;            // YaRN's attention_factor if given; LongRoPE's, given or computed
  double yarn_beta_fast = 0, yarn_beta_slow = 0;     // 0: not given (32 and 1)
  std::vector<float> longrope_short, longrope_long;  // [n_rot / 2] each

  // Mixture of experts (0 experts: a dense model).
  int64_t n_expert = 0;                // num_local_experts (Mixtral) or num_experts (Qwen-MoE, OLMoE)
  int64_t n_expert_used = 0;           // num_experts_per_tok
  std::optional<int64_t> n_ff_exp;     // moe_intermediate_size (Mixtral's experts are intermediate_size wide)
  std::optional<int64_t> n_ff_shexp;   // shared_expert_intermediate_size
  std::optional<bool> norm_topk_prob;  // the chosen experts' weights renormalised
  std::vector<bool> sparse_layers;     // [n_layer] true: the layer has experts (mlp_only_layers, decoder_sparse_step)

  // BitNet's quantization_config (quant_method "bitnet"), as transformers applies it to every projection:
  // kOnline: float masters ternarized when run (absmean per matrix); kOffline: 2-bit codes packed four to a byte
  // along the rows (`weight`, uint8 [rows / 4, cols]) and one `weight_scale` each, by which the product is divided
  // (linear_class bitlinear) or multiplied (autobitlinear). kNone: the projections run as stored.
  enum class Ternary : uint8_t { kNone, kOnline, kOffline };
  Ternary ternary = Ternary::kNone;
  bool ternary_scale_multiplies = false;

  // bos/eos/unk/sep/pad/cls/mask_token_id, where an integer.
  std::map<std::string, int64_t> special_ids;

  int64_t head_size() const { return head_dim.value_or(n_embd / n_head); }
};

// The architectures a checkpoint may declare (config.json "architectures"), for messages and tests.
std::string hf_supported_architectures();

// An HF tensor name looked up in the record's table: its entry (null when none) and layer (-1 for a global one).
struct HfMappedName {
  const HfTensorName* entry = nullptr;
  int64_t layer = -1;
};
HfMappedName find_hf_tensor(std::string_view name, const ArchSpec& arch);

// The hyper-parameters the config gives the tensors' shapes (block_tensors.h).
HParams hf_shape_hparams(const HfConfig& c);

// Reads `dir`/config.json. Throws Error for a missing file, an unsupported architecture (named, with the supported
// list), or a field missing, of the wrong type or out of range.
HfConfig read_hf_config(const std::string& dir);

// A JSON file of a checkpoint folder (at most 64 MB); nullopt when it does not exist. Error when unreadable or not
// valid JSON.
std::optional<nlohmann::json> read_hf_json(const std::filesystem::path& path);

// Reads `dir`/generation_config.json when present (no file: no defaults).
GenerationDefaults read_generation_config(const std::string& dir);

}  // namespace ternion
