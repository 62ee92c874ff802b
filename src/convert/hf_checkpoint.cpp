// A HuggingFace folder as a ModelSource: config.json -> hyper-parameter metadata, safetensors -> tensors under their
// GGUF names (shapes checked against the config), tokenizer files -> tokenizer metadata, all in the order llama.cpp's
// converter writes them so that a conversion can be byte-identical.
#include "ternion/convert/hf_checkpoint.h"

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "convert/hf_config.h"
#include "convert/hf_naming.h"
#include "convert/hf_ternary.h"
#include "convert/hf_vocab.h"
#include "ternion/core/error.h"
#include "ternion/io/safetensors.h"
#include "ternion/model/block_tensors.h"
#include "ternion/model/hparams.h"
#include "ternion/model/model.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

namespace fs = std::filesystem;

bool ignored(std::string_view name) {
  return name.ends_with(".rotary_emb.inv_freq") || name.ends_with(".attention.masked_bias") ||
         name.ends_with(".attention.bias");
}

// A leading decimal index ("12.rest" -> 12, "rest"); -1 when there is none.
int64_t take_index(std::string_view& s) {
  size_t digits = 0;
  while (digits < s.size() && digits < 6 && s[digits] >= '0' && s[digits] <= '9') ++digits;
  if (digits == 0 || digits >= s.size() || s[digits] != '.') return -1;
  const int64_t index = std::stoll(std::string(s.substr(0, digits)));
  s = s.substr(digits + 1);
  return index;
}

}  // namespace

HfMappedName find_hf_tensor(std::string_view name, const ArchSpec& arch) {
  for (const HfTensorName& e : arch.hf_globals) {
    if (e.hf == name) return {&e, -1};
  }
  if (!name.starts_with(arch.hf_layer_prefix)) return {};
  std::string_view rest = name.substr(arch.hf_layer_prefix.size());
  const int64_t layer = take_index(rest);
  if (layer < 0) return {};
  for (const HfTensorName& e : arch.hf_layer) {
    if (e.hf == rest) return {&e, layer};
  }
  return {};
}

namespace {

// One expert's matrix of an HF checkpoint ("model.layers.3.mlp.experts.5.up_proj.weight").
struct ExpertPart {
  const HfExpertName* entry = nullptr;
  int64_t layer = -1;
  int64_t expert = -1;
};

ExpertPart find_expert(std::string_view name, const ArchSpec& arch) {
  if (!name.starts_with(arch.hf_layer_prefix)) return {};
  std::string_view rest = name.substr(arch.hf_layer_prefix.size());
  const int64_t layer = take_index(rest);
  for (const HfExpertName& e : arch.hf_experts) {
    if (layer < 0 || !rest.starts_with(e.before)) continue;
    std::string_view tail = rest.substr(e.before.size());
    const int64_t expert = take_index(tail);
    if (expert >= 0 && "." + std::string(tail) == e.after) return {&e, layer, expert};
  }
  return {};
}

}  // namespace

HParams hf_shape_hparams(const HfConfig& c) {
  HParams hp;
  hp.n_embd = c.n_embd;
  hp.n_layer = c.n_layer;
  hp.n_head = c.n_head;
  hp.n_head_kv = c.n_head_kv;
  hp.head_dim = c.head_size();
  hp.n_rot = c.n_rot;
  hp.n_ff = c.n_ff;
  hp.n_vocab = c.n_vocab;
  hp.n_expert = c.n_expert;
  hp.n_expert_used = c.n_expert_used;
  hp.n_ff_exp = c.n_ff_exp.value_or(c.n_ff);
  hp.n_ff_shexp = c.n_ff_shexp.value_or(c.n_ff);
  return hp;
}

namespace {

std::string shape_string(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// A tensor as F32 values, plus `offset` (Gemma's (1 + w) norms, which llama.cpp's converter stores as 1 + w; MoE
// routers, which it keeps in F32 so that close expert choices fall as in the reference).
void to_f32(SourceTensor& s, ModelSource& src, float offset) {
  auto values = std::make_shared<std::vector<float>>(static_cast<size_t>(s.n_bytes / dtype_info(s.type).block_bytes));
  quant_traits(s.type).to_float(s.data, values->data(), static_cast<int64_t>(values->size()));
  for (float& v : *values) v += offset;
  s.type = DType::F32;
  s.data = reinterpret_cast<const uint8_t*>(values->data());
  s.n_bytes = values->size() * sizeof(float);
  src.keep_alive.push_back(values);
}

// A fused QKV whose rows (or bias values) go head by head, [head][q, k, v][head_dim], reordered to [q; k; v] as
// llama.cpp's converter writes it for GPT-NeoX and BLOOM.
void unshuffle_qkv(SourceTensor& s, const HfConfig& c, ModelSource& src) {
  const auto heads = static_cast<size_t>(c.n_head);
  const auto hd = static_cast<size_t>(c.head_size());
  const size_t rows = 3 * heads * hd;
  const size_t row_bytes = static_cast<size_t>(s.n_bytes) / rows;
  auto out = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(s.n_bytes));
  for (size_t part = 0; part < 3; ++part) {
    for (size_t h = 0; h < heads; ++h) {
      const size_t from = (h * 3 + part) * hd, to = (part * heads + h) * hd;
      std::memcpy(out->data() + to * row_bytes, s.data + from * row_bytes, hd * row_bytes);
    }
  }
  s.data = out->data();
  src.keep_alive.push_back(out);
}

// One safetensors tensor as a SourceTensor, its name, dtype and shape checked, the record's transform applied.
SourceTensor map_tensor(const SafetensorsCheckpoint::Entry& e, const HfConfig& c, const HParams& hp, ModelSource& src) {
  const SafetensorsTensor& t = *e.tensor;
  const std::string where = e.file->path() + ": tensor '" + t.name + "'";
  const HfMappedName m = find_hf_tensor(t.name, *c.spec);
  if (m.entry == nullptr) throw Error(where + " is not part of a " + c.architecture + " model");
  if (m.layer >= c.n_layer) {
    throw Error(where + " is beyond num_hidden_layers (" + std::to_string(c.n_layer) + ") in " + c.file);
  }
  const std::optional<DType> type = safetensors_dtype_to_gguf(t.dtype);
  if (!type || (*type != DType::F32 && *type != DType::F16 && *type != DType::BF16)) {
    throw Error(where + " has dtype " + t.dtype + ", which is not supported (supported: F32, F16, BF16)");
  }
  // What the forward pass will bind it as; an HF gate_up_proj is Phi-3's fused gate and up.
  const FusedTensors fused{.gate_up = m.entry->hf.find("gate_up") != std::string_view::npos};
  const std::vector<uint64_t> gguf_shape = tensor_shape(m.entry->gguf, *c.spec, hp, fused);
  const std::vector<uint64_t> want(gguf_shape.rbegin(), gguf_shape.rend());
  // A one-output linear layer ([1, n]) is a vector in GGUF (Qwen2-MoE's shared expert gate).
  const bool column = t.shape.size() == 2 && t.shape[0] == 1 && want.size() == 1 && t.shape[1] == want[0];
  if (t.shape != want && !column) {
    throw Error(where + " has shape " + shape_string(t.shape) + ", expected " + shape_string(want) + " (from " +
                c.file + ")");
  }
  SourceTensor s;
  s.name =
      m.layer >= 0 ? "blk." + std::to_string(m.layer) + "." + std::string(m.entry->gguf) : std::string(m.entry->gguf);
  s.origin = t.name;
  s.shape = gguf_shape;
  s.type = *type;
  s.data = t.data;
  s.n_bytes = t.n_bytes;
  const bool adjacent = c.spec->rope_kind == RopeKind::Adjacent;
  switch (m.entry->transform) {
    case HfTransform::kRopeQ:
      if (adjacent) s.rope_permute_heads = c.n_head;
      break;
    case HfTransform::kRopeK:
      if (adjacent) s.rope_permute_heads = c.n_head_kv;
      break;
    case HfTransform::kPlusOne:
      to_f32(s, src, 1.0f);
      break;
    case HfTransform::kQkvPerHead:
    case HfTransform::kQkvBiasPerHead:
      unshuffle_qkv(s, c, src);
      break;
    case HfTransform::kNone:
      if (m.entry->gguf == "ffn_gate_inp.weight" && s.type != DType::F32) to_f32(s, src, 0.0f);
      break;
  }
  return s;
}

// Every expert's matrix of one layer's projection, stacked into the 3-D GGUF tensor (expert 0 first), as
// llama.cpp's converter writes ffn_{gate,up,down}_exps.
struct ExpertGroup {
  size_t index = 0;  // its place in the source's tensors
  const HfExpertName* entry = nullptr;
  int64_t layer = 0;
  std::vector<const SafetensorsCheckpoint::Entry*> parts;  // [n_expert]
};

void stack_experts(const ExpertGroup& g, const HfConfig& c, const HParams& hp, ModelSource& src) {
  const std::vector<uint64_t> shape = tensor_shape(g.entry->gguf, *c.spec, hp, {.experts = true});
  const std::vector<uint64_t> want = {shape[1], shape[0]};  // one expert's [rows, cols]
  const std::string layer = std::string(c.spec->hf_layer_prefix) + std::to_string(g.layer) + ".";
  std::optional<DType> type;
  for (size_t e = 0; e < g.parts.size(); ++e) {
    const std::string name = layer + std::string(g.entry->before) + std::to_string(e) + std::string(g.entry->after);
    if (g.parts[e] == nullptr) throw Error(src.path + ": missing tensor " + name);
    const SafetensorsTensor& t = *g.parts[e]->tensor;
    const std::string where = g.parts[e]->file->path() + ": tensor '" + t.name + "'";
    const std::optional<DType> ty = safetensors_dtype_to_gguf(t.dtype);
    if (!ty || (*ty != DType::F32 && *ty != DType::F16 && *ty != DType::BF16) || (type && *ty != *type)) {
      throw Error(where + " has dtype " + t.dtype + " (expected F32, F16 or BF16, the same for every expert)");
    }
    type = ty;
    if (t.shape != want) {
      throw Error(where + " has shape " + shape_string(t.shape) + ", expected " + shape_string(want) + " (from " +
                  c.file + ")");
    }
  }
  const uint64_t part_bytes = g.parts[0]->tensor->n_bytes;
  auto data = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(part_bytes * g.parts.size()));
  for (size_t e = 0; e < g.parts.size(); ++e) {
    std::memcpy(data->data() + e * part_bytes, g.parts[e]->tensor->data, static_cast<size_t>(part_bytes));
  }
  SourceTensor& s = src.tensors[g.index];
  s.name = "blk." + std::to_string(g.layer) + "." + std::string(g.entry->gguf);
  s.origin = layer + std::string(g.entry->before) + "*" + std::string(g.entry->after);
  s.shape = shape;
  s.type = *type;
  s.data = data->data();
  s.n_bytes = data->size();
  src.keep_alive.push_back(data);
}

// Adds one expert's matrix to its group; the group's tensor takes the place of its first part.
void collect_expert(const SafetensorsCheckpoint::Entry& e, const ExpertPart& x, const HfConfig& c,
                    std::map<std::string, ExpertGroup>& groups, ModelSource& src) {
  const std::string where = e.file->path() + ": tensor '" + e.tensor->name + "'";
  if (x.layer >= c.n_layer) throw Error(where + " is beyond num_hidden_layers in " + c.file);
  if (x.expert >= c.n_expert) throw Error(where + " is beyond the " + std::to_string(c.n_expert) + " experts");
  ExpertGroup& g = groups["blk." + std::to_string(x.layer) + "." + std::string(x.entry->gguf)];
  if (g.entry == nullptr) {
    g = {src.tensors.size(), x.entry, x.layer, std::vector<const SafetensorsCheckpoint::Entry*>(c.n_expert)};
    src.tensors.emplace_back();
  }
  if (g.parts[static_cast<size_t>(x.expert)] != nullptr) throw Error(where + " appears twice");
  g.parts[static_cast<size_t>(x.expert)] = &e;
}

// The HF name the record maps to a GGUF name, for messages.
std::string hf_name_of(const std::string& gguf, const ArchSpec& a) {
  if (!gguf.starts_with("blk.")) {
    for (const HfTensorName& e : a.hf_globals) {
      if (e.gguf == gguf) return std::string(e.hf);
    }
    return gguf;
  }
  const size_t dot = gguf.find('.', 4);
  const std::string layer = gguf.substr(4, dot - 4);
  for (const HfTensorName& e : a.hf_layer) {
    if (e.gguf == std::string_view(gguf).substr(dot + 1))
      return std::string(a.hf_layer_prefix) + layer + "." + std::string(e.hf);
  }
  for (const HfExpertName& e : a.hf_experts) {
    if (e.gguf == std::string_view(gguf).substr(dot + 1))
      return std::string(a.hf_layer_prefix) + layer + "." + std::string(e.before) + "N" + std::string(e.after);
  }
  return gguf;
}

// Every tensor the record's block needs (block_tensors.h) is there; the output too unless tied to the embedding.
void check_required(const HfConfig& c, const HParams& hp, const ModelSource& src, const std::string& dir) {
  std::set<std::string, std::less<>> present;
  for (const SourceTensor& t : src.tensors) present.insert(t.name);
  const auto require = [&](const std::string& name) {
    if (!present.contains(name)) throw Error(dir + ": missing tensor " + hf_name_of(name, *c.spec) + " (" + name + ")");
  };
  for (const TensorSlot& s : global_tensors(*c.spec, hp)) {
    if (s.required || (s.role == TensorRole::kOutput && !c.tie_word_embeddings)) require(std::string(s.name));
  }
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    FusedTensors fused =
        fused_tensors(*c.spec, [&](std::string_view name) { return present.contains(p + std::string(name)); });
    // The config says which layers have experts (mlp_only_layers, decoder_sparse_step).
    fused.experts = c.n_expert > 0 && c.sparse_layers[static_cast<size_t>(l)];
    for (const TensorSlot& s : block_tensors(*c.spec, hp, fused)) {
      if (s.required) require(p + std::string(s.name));
    }
  }
}

// A per-pair RoPE factor tensor the converter generates from rope_scaling (F32, [n_rot / 2]).
SourceTensor rope_factor_tensor(const std::string& name, std::vector<float> values, const HfConfig& c,
                                ModelSource& src) {
  auto data = std::make_shared<std::vector<float>>(std::move(values));
  SourceTensor s;
  s.name = name;
  s.origin = "rope_scaling in " + c.file;
  s.shape = {static_cast<uint64_t>(data->size())};
  s.type = DType::F32;
  s.data = reinterpret_cast<const uint8_t*>(data->data());
  s.n_bytes = data->size() * sizeof(float);
  src.keep_alive.push_back(data);
  return s;
}

// rope_freqs.weight for llama3 RoPE scaling, as the converter generates it.
SourceTensor llama3_rope_freqs(const HfConfig& c, ModelSource& src) {
  return rope_factor_tensor(
      "rope_freqs.weight",
      llama3_rope_freq_factors(c.head_size(), static_cast<float>(c.rope_theta.value_or(10000.0)),
                               static_cast<float>(c.rope_scaling_factor), static_cast<float>(c.low_freq_factor),
                               static_cast<float>(c.high_freq_factor), c.original_context),
      c, src);
}

// RoPE scaling under llama.cpp's keys; llama3's and LongRoPE's per-pair factors are tensors (above).
void set_rope_scaling_metadata(const HfConfig& c, GgufMetadata& m) {
  const std::string a = c.arch + ".rope.scaling.";
  const std::string& type = c.rope_scaling_type;
  if (type != "linear" && type != "yarn" && type != "longrope") return;
  m.set_string(a + "type", type);
  if (type != "longrope") m.set_f32(a + "factor", static_cast<float>(c.rope_scaling_factor));
  if (type == "linear") return;
  m.set_u32(a + "original_context_length", static_cast<uint32_t>(c.original_context));
  if (type == "longrope") {
    m.set_f32(a + "attn_factor", static_cast<float>(*c.rope_attn_factor));
    return;
  }
  if (c.rope_attn_factor) m.set_f32(a + "yarn_attn_factor", static_cast<float>(*c.rope_attn_factor));
  if (c.yarn_beta_fast > 0.0) m.set_f32(a + "yarn_beta_fast", static_cast<float>(c.yarn_beta_fast));
  if (c.yarn_beta_slow > 0.0) m.set_f32(a + "yarn_beta_slow", static_cast<float>(c.yarn_beta_slow));
}

// general.file_type as the converter would pick it for the checkpoint's own types.
uint32_t file_type_of(const std::vector<SourceTensor>& tensors) {
  for (const SourceTensor& t : tensors) {
    if (t.shape.size() == 2) return t.type == DType::F32 ? 0 : (t.type == DType::F16 ? 1 : 32);
  }
  return 0;
}

// Experts under llama.cpp's keys, as its converters write them; expert_weights_norm only where the config's
// norm_topk_prob differs from what llama.cpp assumes for the family.
void set_expert_metadata(const HfConfig& c, GgufMetadata& m) {
  if (c.n_expert == 0) return;
  const std::string a = c.arch + ".";
  m.set_u32(a + "expert_count", static_cast<uint32_t>(c.n_expert));
  m.set_u32(a + "expert_used_count", static_cast<uint32_t>(c.n_expert_used));
  if (c.n_ff_exp) m.set_u32(a + "expert_feed_forward_length", static_cast<uint32_t>(*c.n_ff_exp));
  if (c.n_ff_shexp) m.set_u32(a + "expert_shared_feed_forward_length", static_cast<uint32_t>(*c.n_ff_shexp));
  if (c.norm_topk_prob && *c.norm_topk_prob != c.spec->moe_norm_topk) {
    m.set_bool(a + "expert_weights_norm", *c.norm_topk_prob);
  }
}

// The options of the newer block kinds, under llama.cpp's key names; each only where it differs from what a
// reader assumes without it, so llama and qwen2 conversions keep exactly the converter's keys.
void set_block_metadata(const HfConfig& c, GgufMetadata& m) {
  const std::string a = c.arch + ".";
  const ArchSpec& spec = *c.spec;
  if (spec.norm == NormKind::kLayer && c.norm_eps) {
    m.set_f32(a + "attention.layer_norm_epsilon", static_cast<float>(*c.norm_eps));
  }
  if (c.n_rot != c.head_size() && spec.positions == PositionKind::kRope) {
    m.set_u32(a + "rope.dimension_count", static_cast<uint32_t>(c.n_rot));
  }
  if (c.sliding_window == 0 && spec.gguf_window_key) m.set_u32(a + "attention.sliding_window", 0);
  if (c.sliding_window > 0) {
    m.set_u32(a + "attention.sliding_window", static_cast<uint32_t>(c.sliding_window));
    // The per-layer pattern, unless it is the one the record assumes.
    if (!c.swa_layers.empty() && c.swa_layers != assumed_sliding_layers(spec, c.n_layer)) {
      GgufArray pattern;
      pattern.elem_type = GgufValueType::BOOL;
      pattern.count = c.swa_layers.size();
      for (const bool b : c.swa_layers) pattern.raw.push_back(b ? 1 : 0);
      m.set(a + "attention.sliding_window_pattern", GgufValue::make_array(std::move(pattern)));
    }
  }
  if (c.rope_theta_swa && static_cast<float>(*c.rope_theta_swa) != spec.rope_freq_base_swa) {
    m.set_f32(a + "rope.freq_base_swa", static_cast<float>(*c.rope_theta_swa));
  }
  if (c.attn_softcap > 0.0) m.set_f32(a + "attn_logit_softcapping", static_cast<float>(c.attn_softcap));
  if (c.final_softcap > 0.0) m.set_f32(a + "final_logit_softcapping", static_cast<float>(c.final_softcap));
  if (c.attn_scale &&
      static_cast<float>(*c.attn_scale) != static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_size())))) {
    m.set_f32(a + "attention.scale", static_cast<float>(*c.attn_scale));
  }
  if (c.embd_scale != 1.0) m.set_f32(a + "embedding_scale", static_cast<float>(c.embd_scale));
  if (c.residual_scale != 1.0) m.set_f32(a + "residual_scale", static_cast<float>(c.residual_scale));
  if (c.logit_scale != 1.0) m.set_f32(a + "logit_scale", static_cast<float>(c.logit_scale));
  if (spec.parallel_residual) m.set_bool(a + "use_parallel_residual", true);
  set_expert_metadata(c, m);
}

void set_hparams_metadata(const HfConfig& c, uint32_t file_type, GgufMetadata& m) {
  const std::string a = c.arch + ".";
  const auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  m.set_u32(a + "block_count", u32(c.n_layer));
  if (c.n_ctx) m.set_u32(a + "context_length", u32(*c.n_ctx));
  m.set_u32(a + "embedding_length", u32(c.n_embd));
  m.set_u32(a + "feed_forward_length", u32(c.n_ff));
  m.set_u32(a + "attention.head_count", u32(c.n_head));
  if (c.has_n_head_kv) m.set_u32(a + "attention.head_count_kv", u32(c.n_head_kv));
  if (c.rope_theta) m.set_f32(a + "rope.freq_base", static_cast<float>(*c.rope_theta));
  if (c.rms_eps) m.set_f32(a + "attention.layer_norm_rms_epsilon", static_cast<float>(*c.rms_eps));
  if (c.head_dim) {
    m.set_u32(a + "attention.key_length", u32(*c.head_dim));
    m.set_u32(a + "attention.value_length", u32(*c.head_dim));
  }
  m.set_u32("general.file_type", file_type);
  // llama.cpp's llama converter (and those derived from it: the adjacent-pair RoPE families) also writes these.
  if (c.spec->rope_kind == RopeKind::Adjacent) {
    m.set_u32(a + "vocab_size", u32(c.n_vocab));
    m.set_u32(a + "rope.dimension_count", u32(c.n_rot));
  }
  set_rope_scaling_metadata(c, m);
  set_block_metadata(c, m);
}

}  // namespace

bool is_hf_checkpoint(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) && fs::is_regular_file(fs::path(path) / "config.json", ec);
}

ModelSource load_hf_checkpoint(const std::string& dir) {
  ModelSource src;
  src.path = dir;
  src.inputs = {dir};
  src.qk_rotate_half = true;
  const HfConfig config = read_hf_config(dir);
  const HParams hp = hf_shape_hparams(config);
  auto weights = std::make_shared<SafetensorsCheckpoint>(SafetensorsCheckpoint::open(dir));
  src.keep_alive.push_back(weights);

  if (config.rope_scaling_type == "llama3") {
    if (config.spec->rope_kind != RopeKind::Adjacent || config.spec->qk_norm != QkNorm::kNone) {
      throw Error(config.file + ": rope_scaling 'llama3' is only supported for llama-style models");
    }
    src.tensors.push_back(llama3_rope_freqs(config, src));
  }
  if (config.rope_scaling_type == "longrope") {  // as llama.cpp's Phi-3 converter: long first
    src.tensors.push_back(rope_factor_tensor("rope_factors_long.weight", config.longrope_long, config, src));
    src.tensors.push_back(rope_factor_tensor("rope_factors_short.weight", config.longrope_short, config, src));
  }
  std::map<std::string, ExpertGroup> experts;
  for (const SafetensorsCheckpoint::Entry& e : weights->tensors()) {
    if (ignored(e.tensor->name)) continue;
    if (config.ternary == HfConfig::Ternary::kOffline && e.tensor->name.ends_with(".weight_scale")) continue;
    if (is_ternary_projection(config, e.tensor->name)) {
      add_ternary_projection(*weights, e, config, hp, src);
      continue;
    }
    if (const ExpertPart x = find_expert(e.tensor->name, *config.spec); x.entry != nullptr && config.n_expert > 0) {
      collect_expert(e, x, config, experts, src);
      continue;
    }
    src.tensors.push_back(map_tensor(e, config, hp, src));
  }
  for (const auto& [name, group] : experts) stack_experts(group, config, hp, src);
  check_required(config, hp, src, dir);

  uint64_t total_params = 0;
  for (const SourceTensor& t : src.tensors) {
    uint64_t n = 1;
    for (const uint64_t d : t.shape) n *= d;
    total_params += n;
  }
  GgufMetadata& m = src.metadata;
  m.set_string("general.architecture", config.arch);
  m.set_string("general.type", "model");
  set_naming_metadata(hf_naming(dir, config.name_or_path, total_params), m);
  set_hparams_metadata(config, file_type_of(src.tensors), m);
  src.vocab = add_hf_tokenizer_metadata(dir, config, m, src.convert_blocker);
  m.set_u32("general.quantization_version", 2);
  src.generation = read_generation_config(dir);
  return src;
}

}  // namespace ternion
