#include "ternion/model/architecture.h"

#include <algorithm>
#include <array>

#include "ternion/core/error.h"

namespace ternion {

namespace {

using T = HfTransform;

// ---- HF tensor names, shared by families that share a checkpoint layout ----

constexpr std::array<HfTensorName, 3> kLlamaGlobals = {{
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
}};

// Llama, Mistral, Qwen2/3, Granite, SmolLM3, OLMo 2, Phi-3: the union of their layer tensors (a checkpoint has a
// subset; the loader checks that the record's block finds what it needs).
// Mixtral, Qwen2/3-MoE and OLMoE add a router and Qwen2-MoE a shared expert; their experts are kExperts.
constexpr std::array<HfTensorName, 22> kLlamaLayer = {{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight", T::kRopeQ},
    {"self_attn.k_proj.weight", "attn_k.weight", T::kRopeK},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias", T::kRopeQ},
    {"self_attn.k_proj.bias", "attn_k.bias", T::kRopeK},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"self_attn.qkv_proj.weight", "attn_qkv.weight"},  // Phi-3: Q, K, V rows stacked
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.gate_up_proj.weight", "ffn_up.weight"},  // Phi-3: gate rows, then up rows (llama.cpp keeps them fused)
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"block_sparse_moe.gate.weight", "ffn_gate_inp.weight"},  // Mixtral
    {"mlp.gate.weight", "ffn_gate_inp.weight"},
    {"mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight"},  // [1, n_embd] in HF
    {"mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight"},
    {"mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight"},
    {"mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight"},
}};

// Per-expert HF tensors, stacked into the 3-D GGUF ones: Mixtral's w1/w3/w2, and the mlp.experts.N layout of
// Qwen2/3-MoE and OLMoE.
constexpr std::array<HfExpertName, 6> kExperts = {{
    {"block_sparse_moe.experts.", ".w1.weight", "ffn_gate_exps.weight"},
    {"block_sparse_moe.experts.", ".w3.weight", "ffn_up_exps.weight"},
    {"block_sparse_moe.experts.", ".w2.weight", "ffn_down_exps.weight"},
    {"mlp.experts.", ".gate_proj.weight", "ffn_gate_exps.weight"},
    {"mlp.experts.", ".up_proj.weight", "ffn_up_exps.weight"},
    {"mlp.experts.", ".down_proj.weight", "ffn_down_exps.weight"},
}};

// OLMo 2: norms after the attention and the MLP, Q/K norms over the whole projections.
constexpr std::array<HfTensorName, 11> kOlmo2Layer = {{
    {"self_attn.q_proj.weight", "attn_q.weight", T::kRopeQ},
    {"self_attn.k_proj.weight", "attn_k.weight", T::kRopeK},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "post_attention_norm.weight"},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
}};

// Gemma: every norm is applied as (1 + w).
constexpr std::array<HfTensorName, 3> kGemmaGlobals = {{
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight", T::kPlusOne},
    {"lm_head.weight", "output.weight"},
}};

constexpr std::array<HfTensorName, 9> kGemmaLayer = {{
    {"input_layernorm.weight", "attn_norm.weight", T::kPlusOne},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight", T::kPlusOne},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
}};

// Gemma 2/3: a norm before and after each of attention and MLP; Gemma 3 adds per-head Q/K norms.
constexpr std::array<HfTensorName, 13> kGemma2Layer = {{
    {"input_layernorm.weight", "attn_norm.weight", T::kPlusOne},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight", T::kPlusOne},
    {"self_attn.k_norm.weight", "attn_k_norm.weight", T::kPlusOne},
    {"post_attention_layernorm.weight", "post_attention_norm.weight", T::kPlusOne},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight", T::kPlusOne},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight", T::kPlusOne},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
}};

constexpr std::array<HfTensorName, 4> kStarcoder2Globals = {{
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"model.norm.bias", "output_norm.bias"},
    {"lm_head.weight", "output.weight"},
}};

constexpr std::array<HfTensorName, 16> kStarcoder2Layer = {{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"input_layernorm.bias", "attn_norm.bias"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"post_attention_layernorm.bias", "ffn_norm.bias"},
    {"mlp.c_fc.weight", "ffn_up.weight"},
    {"mlp.c_fc.bias", "ffn_up.bias"},
    {"mlp.c_proj.weight", "ffn_down.weight"},
    {"mlp.c_proj.bias", "ffn_down.bias"},
}};

constexpr std::array<HfTensorName, 4> kNeoxGlobals = {{
    {"gpt_neox.embed_in.weight", "token_embd.weight"},
    {"gpt_neox.final_layer_norm.weight", "output_norm.weight"},
    {"gpt_neox.final_layer_norm.bias", "output_norm.bias"},
    {"embed_out.weight", "output.weight"},
}};

// GPT-NeoX and BLOOM name their blocks differently but lay them out alike: LayerNorms with biases, a fused QKV
// whose rows go head by head (q, k, v of head 0, then head 1, ...), biases everywhere.
constexpr std::array<HfTensorName, 12> kNeoxLayer = {{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"input_layernorm.bias", "attn_norm.bias"},
    {"attention.query_key_value.weight", "attn_qkv.weight", T::kQkvPerHead},
    {"attention.query_key_value.bias", "attn_qkv.bias", T::kQkvBiasPerHead},
    {"attention.dense.weight", "attn_output.weight"},
    {"attention.dense.bias", "attn_output.bias"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"post_attention_layernorm.bias", "ffn_norm.bias"},
    {"mlp.dense_h_to_4h.weight", "ffn_up.weight"},
    {"mlp.dense_h_to_4h.bias", "ffn_up.bias"},
    {"mlp.dense_4h_to_h.weight", "ffn_down.weight"},
    {"mlp.dense_4h_to_h.bias", "ffn_down.bias"},
}};

constexpr std::array<HfTensorName, 6> kBloomGlobals = {{
    {"transformer.word_embeddings.weight", "token_embd.weight"},
    {"transformer.word_embeddings_layernorm.weight", "token_embd_norm.weight"},
    {"transformer.word_embeddings_layernorm.bias", "token_embd_norm.bias"},
    {"transformer.ln_f.weight", "output_norm.weight"},
    {"transformer.ln_f.bias", "output_norm.bias"},
    {"lm_head.weight", "output.weight"},
}};

constexpr std::array<HfTensorName, 12> kBloomLayer = {{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"input_layernorm.bias", "attn_norm.bias"},
    {"self_attention.query_key_value.weight", "attn_qkv.weight", T::kQkvPerHead},
    {"self_attention.query_key_value.bias", "attn_qkv.bias", T::kQkvBiasPerHead},
    {"self_attention.dense.weight", "attn_output.weight"},
    {"self_attention.dense.bias", "attn_output.bias"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"post_attention_layernorm.bias", "ffn_norm.bias"},
    {"mlp.dense_h_to_4h.weight", "ffn_up.weight"},
    {"mlp.dense_h_to_4h.bias", "ffn_up.bias"},
    {"mlp.dense_4h_to_h.weight", "ffn_down.weight"},
    {"mlp.dense_4h_to_h.bias", "ffn_down.bias"},
}};

// BitNet b1.58 (transformers' BitNet): llama's names, sub-norms inside both branches, no Q/K permutation (llama.cpp
// and bitnet.cpp run it with NeoX RoPE). Packed checkpoints add `<proj>.weight_scale` (hf_bitnet.cpp).
constexpr std::array<HfTensorName, 11> kBitnetLayer = {{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.attn_sub_norm.weight", "attn_sub_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"mlp.ffn_sub_norm.weight", "ffn_sub_norm.weight"},
}};

// ---- HF class names ----
// Mixtral is llama with experts, as llama.cpp writes it (general.architecture llama, expert_count > 0).
constexpr std::array<std::string_view, 4> kLlamaClasses = {"LlamaForCausalLM", "LLaMAForCausalLM", "MistralForCausalLM",
                                                           "MixtralForCausalLM"};
constexpr std::array<std::string_view, 1> kQwen2Classes = {"Qwen2ForCausalLM"};
constexpr std::array<std::string_view, 1> kQwen3Classes = {"Qwen3ForCausalLM"};
constexpr std::array<std::string_view, 1> kQwen2MoeClasses = {"Qwen2MoeForCausalLM"};
constexpr std::array<std::string_view, 1> kQwen3MoeClasses = {"Qwen3MoeForCausalLM"};
constexpr std::array<std::string_view, 1> kOlmoeClasses = {"OlmoeForCausalLM"};
constexpr std::array<std::string_view, 1> kGemmaClasses = {"GemmaForCausalLM"};
constexpr std::array<std::string_view, 1> kGemma2Classes = {"Gemma2ForCausalLM"};
constexpr std::array<std::string_view, 1> kGemma3Classes = {"Gemma3ForCausalLM"};
constexpr std::array<std::string_view, 1> kOlmo2Classes = {"Olmo2ForCausalLM"};
constexpr std::array<std::string_view, 1> kGraniteClasses = {"GraniteForCausalLM"};
constexpr std::array<std::string_view, 1> kSmolLm3Classes = {"SmolLM3ForCausalLM"};
constexpr std::array<std::string_view, 1> kPhi3Classes = {"Phi3ForCausalLM"};
constexpr std::array<std::string_view, 1> kStarcoder2Classes = {"Starcoder2ForCausalLM"};
constexpr std::array<std::string_view, 1> kNeoxClasses = {"GPTNeoXForCausalLM"};
constexpr std::array<std::string_view, 1> kBloomClasses = {"BloomForCausalLM"};
// One class, two records: the config's hidden_act picks (hf_config.cpp).
constexpr std::array<std::string_view, 1> kBitnetClasses = {"BitNetForCausalLM"};

ArchSpec llama_like(std::string_view name, std::span<const std::string_view> classes, RopeKind rope) {
  ArchSpec a{.name = name, .hf_classes = classes, .rope_kind = rope};
  a.hf_globals = kLlamaGlobals;
  a.hf_layer = kLlamaLayer;
  return a;
}

// A family whose files always have experts: softmax over every expert, then the top k; `norm`: the chosen
// weights renormalised (llama.cpp hard-codes it per family; expert_weights_norm overrides).
ArchSpec with_experts(ArchSpec a, bool norm, bool shared_expert = false) {
  a.moe_required = true;
  a.moe_norm_topk = norm;
  a.moe_shared_expert = shared_expert;
  a.hf_experts = kExperts;
  return a;
}

// Mixtral (a llama file with expert_count) renormalises its top-k weights.
ArchSpec with_mixtral_experts(ArchSpec a) {
  a.moe_norm_topk = true;
  a.hf_experts = kExperts;
  return a;
}

ArchSpec with_qk_norm(ArchSpec a, QkNorm n) {
  a.qk_norm = n;
  return a;
}

ArchSpec with_qkv_bias(ArchSpec a) {
  a.qkv_bias = true;
  return a;
}

ArchSpec gemma(std::string_view name, std::span<const std::string_view> classes, bool sandwich, QkNorm qk) {
  ArchSpec a{.name = name, .hf_classes = classes, .rope_kind = RopeKind::NeoX};
  a.placement = sandwich ? NormPlacement::kSandwich : NormPlacement::kPre;
  a.activation = Activation::kGeluTanh;
  a.embd_scale_sqrt = true;
  a.qk_norm = qk;
  a.hf_globals = kGemmaGlobals;
  a.hf_layer = sandwich ? std::span<const HfTensorName>(kGemma2Layer) : std::span<const HfTensorName>(kGemmaLayer);
  return a;
}

ArchSpec gemma_sliding(ArchSpec a, int period, float rope_base_swa) {
  a.swa_period = period;
  a.rope_freq_base_swa = rope_base_swa;
  return a;
}

ArchSpec no_rope_every(ArchSpec a, int period) {
  a.no_rope_period = period;
  return a;
}

ArchSpec olmo2() {
  ArchSpec a{.name = "olmo2", .hf_classes = kOlmo2Classes, .rope_kind = RopeKind::NeoX};
  a.placement = NormPlacement::kPost;
  a.qk_norm = QkNorm::kWhole;
  a.hf_globals = kLlamaGlobals;
  a.hf_layer = kOlmo2Layer;
  return a;
}

ArchSpec starcoder2() {
  ArchSpec a{.name = "starcoder2", .hf_classes = kStarcoder2Classes, .rope_kind = RopeKind::NeoX};
  a.norm = NormKind::kLayer;
  a.activation = Activation::kGeluTanh;
  a.gated_ffn = false;
  a.qkv_bias = a.out_bias = a.ffn_bias = true;
  a.hf_globals = kStarcoder2Globals;
  a.hf_layer = kStarcoder2Layer;
  return a;
}

ArchSpec gptneox() {
  ArchSpec a{.name = "gptneox", .hf_classes = kNeoxClasses, .rope_kind = RopeKind::NeoX};
  a.norm = NormKind::kLayer;
  a.activation = Activation::kGeluErf;
  a.gated_ffn = false;
  a.parallel_residual = true;
  a.qkv_bias = a.out_bias = a.ffn_bias = true;
  a.hf_layer_prefix = "gpt_neox.layers.";
  a.hf_globals = kNeoxGlobals;
  a.hf_layer = kNeoxLayer;
  return a;
}

ArchSpec with_prefix_space_key(ArchSpec a) {
  a.hf_add_prefix_space = true;
  return a;
}

ArchSpec with_window_key(ArchSpec a) {
  a.gguf_window_key = true;
  return a;
}

ArchSpec bloom() {
  ArchSpec a{.name = "bloom", .hf_classes = kBloomClasses, .rope_kind = RopeKind::NeoX};
  a.norm = NormKind::kLayer;
  a.activation = Activation::kGeluTanh;
  a.gated_ffn = false;
  a.positions = PositionKind::kAlibi;
  a.embd_norm = true;
  a.qkv_bias = a.out_bias = a.ffn_bias = true;
  a.hf_layer_prefix = "transformer.h.";
  a.hf_globals = kBloomGlobals;
  a.hf_layer = kBloomLayer;
  a.gguf_output_required = true;
  return a;
}

// BitNet b1.58: `bitnet` is llama.cpp's (SwiGLU, as the 1bitLLM models), `bitnet-b1.58` bitnet.cpp's (ReLU²-gated,
// as bitnet-b1.58-2B-4T). Matrices may carry a per-matrix scale (`<name>.scale`, bound by the loader).
ArchSpec bitnet(std::string_view name, Activation act) {
  ArchSpec a{.name = name, .hf_classes = kBitnetClasses, .rope_kind = RopeKind::NeoX};
  a.activation = act;
  a.sub_norms = true;
  a.hf_globals = kLlamaGlobals;
  a.hf_layer = kBitnetLayer;
  return a;
}

const std::array<ArchSpec, 18> kArchitectures = {{
    // Llama 2/3/3.x, TinyLlama, SmolLM, Mistral (with or without a sliding window), Mixtral (with experts): GGUF
    // Q/K rows are permuted for adjacent-pair RoPE.
    with_prefix_space_key(with_mixtral_experts(llama_like("llama", kLlamaClasses, RopeKind::Adjacent))),
    // Qwen2 / Qwen2.5: biases on Q/K/V, NeoX RoPE.
    with_qkv_bias(llama_like("qwen2", kQwen2Classes, RopeKind::NeoX)),
    // Qwen3: per-head RMS norms of Q and K, no biases.
    with_qk_norm(llama_like("qwen3", kQwen3Classes, RopeKind::NeoX), QkNorm::kPerHead),
    gemma("gemma", kGemmaClasses, false, QkNorm::kNone),
    // Gemma 2: sandwich norms, soft-capped attention and logits, sliding-window layers.
    gemma_sliding(gemma("gemma2", kGemma2Classes, true, QkNorm::kNone), 2, 0.0f),
    // Gemma 3 (text): Gemma 2's block with per-head Q/K norms; sliding layers use their own RoPE base.
    gemma_sliding(gemma("gemma3", kGemma3Classes, true, QkNorm::kPerHead), 6, 10000.0f),
    olmo2(),
    // Granite: llama's block with embedding, attention, residual and logit multipliers.
    llama_like("granite", kGraniteClasses, RopeKind::Adjacent),
    // SmolLM3: llama's block, every n-th layer without RoPE.
    no_rope_every(llama_like("smollm3", kSmolLm3Classes, RopeKind::Adjacent), 4),
    // Phi-3/3.5/4-mini: fused QKV and gate+up matrices, partial rotary in Phi-4-mini; the long-context ones scale
    // RoPE by LongRoPE (the model's rope_factors_long/short tensors, not the record).
    with_window_key(llama_like("phi3", kPhi3Classes, RopeKind::NeoX)),
    starcoder2(),
    gptneox(),
    bloom(),
    // Qwen1.5/2-MoE: Qwen2's block, experts without renormalisation and a shared expert behind a sigmoid gate.
    with_experts(with_qkv_bias(llama_like("qwen2moe", kQwen2MoeClasses, RopeKind::NeoX)), false, true),
    // Qwen3-MoE: Qwen3's block, renormalised top-k experts.
    with_experts(with_qk_norm(llama_like("qwen3moe", kQwen3MoeClasses, RopeKind::NeoX), QkNorm::kPerHead), true),
    // OLMoE: Q/K norms over the whole projections (as OLMo 2, but norms before each branch), 64 experts choosing 8
    // without renormalisation.
    with_experts(with_qk_norm(llama_like("olmoe", kOlmoeClasses, RopeKind::NeoX), QkNorm::kWhole), false),
    bitnet("bitnet", Activation::kSilu),
    bitnet("bitnet-b1.58", Activation::kReluSquared),
}};

}  // namespace

std::span<const ArchSpec> supported_architectures() { return kArchitectures; }

std::string supported_architecture_names() {
  std::string list;
  for (const auto& a : kArchitectures) list += (list.empty() ? "" : ", ") + std::string(a.name);
  return list;
}

std::string supported_hf_classes() {
  std::string list;
  std::vector<std::string_view> seen;  // a class two records share is listed once
  for (const auto& a : kArchitectures) {
    for (const std::string_view c : a.hf_classes) {
      if (c == "LLaMAForCausalLM" || std::find(seen.begin(), seen.end(), c) != seen.end()) continue;
      seen.push_back(c);
      list += (list.empty() ? "" : ", ") + std::string(c);
    }
  }
  return list;
}

std::vector<bool> assumed_sliding_layers(const ArchSpec& arch, int64_t n_layer) {
  const auto period = static_cast<size_t>(arch.swa_period);
  std::vector<bool> out(static_cast<size_t>(n_layer), true);
  for (size_t i = 0; period > 0 && i < out.size(); ++i) out[i] = i % period != period - 1;
  return out;
}

std::string describe_block(const ArchSpec& a) {
  std::string s = a.norm == NormKind::kLayer ? "LayerNorm" : "RMSNorm";
  s += a.placement == NormPlacement::kPre    ? " before each branch"
       : a.placement == NormPlacement::kPost ? " after each branch"
                                             : " before and after each branch";
  static constexpr const char* kActivation[] = {"SiLU", "GELU (tanh)", "GELU", "ReLU²"};
  const std::string act = kActivation[static_cast<int>(a.activation)];
  std::string ffn = act;
  if (a.gated_ffn) {
    ffn = a.activation == Activation::kSilu       ? "SwiGLU"
          : a.activation == Activation::kGeluTanh ? "GeGLU"
                                                  : act + "-gated";
  }
  s += ", " + ffn + " FFN";
  if (a.qk_norm != QkNorm::kNone) s += a.qk_norm == QkNorm::kPerHead ? ", Q/K norm per head" : ", Q/K norm";
  if (a.positions == PositionKind::kAlibi) {
    s += ", ALiBi";
  } else {
    s += a.rope_kind == RopeKind::Adjacent ? ", RoPE (adjacent pairs)" : ", RoPE (NeoX halves)";
  }
  if (a.parallel_residual) s += ", parallel residual";
  if (a.qkv_bias || a.out_bias || a.ffn_bias) s += ", biases";
  if (a.embd_scale_sqrt) s += ", embeddings × √d";
  if (a.embd_norm) s += ", embedding norm";
  if (a.sub_norms) s += ", sub-norms before the output and down projections";
  return s;
}

const ArchSpec* find_arch_spec(std::string_view name) {
  for (const auto& a : kArchitectures) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

const ArchSpec& arch_spec(std::string_view name, const std::string& file) {
  if (const ArchSpec* a = find_arch_spec(name); a != nullptr) return *a;
  throw Error(file + ": unsupported architecture '" + std::string(name) +
              "' (supported: " + supported_architecture_names() + ")");
}

const ArchSpec* arch_spec_for_hf_class(std::string_view hf_class, std::optional<Activation> activation) {
  const ArchSpec* first = nullptr;
  for (const auto& a : kArchitectures) {
    for (const std::string_view c : a.hf_classes) {
      if (c != hf_class) continue;
      if (!activation || a.activation == *activation) return &a;
      if (first == nullptr) first = &a;
    }
  }
  return first;
}

}  // namespace ternion
