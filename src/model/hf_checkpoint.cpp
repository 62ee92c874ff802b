// A HuggingFace folder as a ModelSource: config.json -> hyper-parameter metadata, safetensors -> tensors under their
// GGUF names (shapes checked against the config), tokenizer files -> tokenizer metadata, all in the order llama.cpp's
// converter writes them so that a conversion can be byte-identical.
#include "ternion/model/hf_checkpoint.h"

#include <array>
#include <filesystem>
#include <memory>
#include <set>

#include "model/hf_config.h"
#include "model/hf_naming.h"
#include "model/hf_vocab.h"
#include "ternion/core/error.h"
#include "ternion/io/safetensors.h"
#include "ternion/model/model.h"

namespace ternion {

namespace {

namespace fs = std::filesystem;

// What a tensor's shape is made of, resolved against the config.
enum class Dim { Vocab, Embd, Ff, QDim, KvDim };

struct TensorRule {
  std::string_view hf;    // name after "model.layers.N." (layer tensors) or the whole name
  std::string_view gguf;  // after "blk.N." or the whole name
  std::array<Dim, 2> dims;
  int n_dims;
  bool required;  // every checkpoint of the architecture has it (biases: see qkv_bias)
  int rope;       // 1: Q rows, 2: K rows (rotate-half order in HF)
};

// The tensor-name map shared by llama, mistral and qwen2 checkpoints. Shapes in HF order: [out, in].
constexpr std::array<TensorRule, 3> kGlobalRules = {{
    {"model.embed_tokens.weight", "token_embd.weight", {Dim::Vocab, Dim::Embd}, 2, true, 0},
    {"model.norm.weight", "output_norm.weight", {Dim::Embd, Dim::Embd}, 1, true, 0},
    {"lm_head.weight", "output.weight", {Dim::Vocab, Dim::Embd}, 2, false, 0},
}};

constexpr std::array<TensorRule, 12> kLayerRules = {{
    {"input_layernorm.weight", "attn_norm.weight", {Dim::Embd, Dim::Embd}, 1, true, 0},
    {"self_attn.q_proj.weight", "attn_q.weight", {Dim::QDim, Dim::Embd}, 2, true, 1},
    {"self_attn.k_proj.weight", "attn_k.weight", {Dim::KvDim, Dim::Embd}, 2, true, 2},
    {"self_attn.v_proj.weight", "attn_v.weight", {Dim::KvDim, Dim::Embd}, 2, true, 0},
    {"self_attn.o_proj.weight", "attn_output.weight", {Dim::Embd, Dim::QDim}, 2, true, 0},
    {"self_attn.q_proj.bias", "attn_q.bias", {Dim::QDim, Dim::QDim}, 1, false, 1},
    {"self_attn.k_proj.bias", "attn_k.bias", {Dim::KvDim, Dim::KvDim}, 1, false, 2},
    {"self_attn.v_proj.bias", "attn_v.bias", {Dim::KvDim, Dim::KvDim}, 1, false, 0},
    {"post_attention_layernorm.weight", "ffn_norm.weight", {Dim::Embd, Dim::Embd}, 1, true, 0},
    {"mlp.gate_proj.weight", "ffn_gate.weight", {Dim::Ff, Dim::Embd}, 2, true, 0},
    {"mlp.up_proj.weight", "ffn_up.weight", {Dim::Ff, Dim::Embd}, 2, true, 0},
    {"mlp.down_proj.weight", "ffn_down.weight", {Dim::Embd, Dim::Ff}, 2, true, 0},
}};

constexpr std::string_view kLayerPrefix = "model.layers.";

bool ignored(std::string_view name) {
  return name.ends_with(".rotary_emb.inv_freq") || name.ends_with(".attention.masked_bias") ||
         name.ends_with(".attention.bias");
}

uint64_t dim_value(Dim d, const HfConfig& c) {
  switch (d) {
    case Dim::Vocab:
      return static_cast<uint64_t>(c.n_vocab);
    case Dim::Embd:
      return static_cast<uint64_t>(c.n_embd);
    case Dim::Ff:
      return static_cast<uint64_t>(c.n_ff);
    case Dim::QDim:
      return static_cast<uint64_t>(c.n_head * c.head_size());
    case Dim::KvDim:
      return static_cast<uint64_t>(c.n_head_kv * c.head_size());
  }
  return 0;
}

std::vector<uint64_t> expected_shape(const TensorRule& r, const HfConfig& c) {
  std::vector<uint64_t> shape;
  for (int i = 0; i < r.n_dims; ++i) shape.push_back(dim_value(r.dims[static_cast<size_t>(i)], c));
  return shape;
}

std::string shape_string(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The rule and layer of an HF tensor name; nullptr when the architecture has no such tensor.
const TensorRule* find_rule(std::string_view name, int64_t& layer) {
  layer = -1;
  for (const TensorRule& r : kGlobalRules) {
    if (r.hf == name) return &r;
  }
  if (!name.starts_with(kLayerPrefix)) return nullptr;
  std::string_view rest = name.substr(kLayerPrefix.size());
  size_t digits = 0;
  while (digits < rest.size() && digits < 6 && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
  if (digits == 0 || digits >= rest.size() || rest[digits] != '.') return nullptr;
  layer = std::stoll(std::string(rest.substr(0, digits)));
  rest = rest.substr(digits + 1);
  for (const TensorRule& r : kLayerRules) {
    if (r.hf == rest) return &r;
  }
  return nullptr;
}

// One safetensors tensor as a SourceTensor, its name, dtype and shape checked.
SourceTensor map_tensor(const SafetensorsCheckpoint::Entry& e, const HfConfig& c) {
  const SafetensorsTensor& t = *e.tensor;
  const std::string where = e.file->path() + ": tensor '" + t.name + "'";
  int64_t layer = -1;
  const TensorRule* rule = find_rule(t.name, layer);
  if (rule == nullptr) throw Error(where + " is not part of a " + c.architecture + " model");
  if (layer >= c.n_layer) {
    throw Error(where + " is beyond num_hidden_layers (" + std::to_string(c.n_layer) + ") in " + c.file);
  }
  const std::optional<DType> type = safetensors_dtype_to_gguf(t.dtype);
  if (!type || (*type != DType::F32 && *type != DType::F16 && *type != DType::BF16)) {
    throw Error(where + " has dtype " + t.dtype + ", which is not supported (supported: F32, F16, BF16)");
  }
  const std::vector<uint64_t> want = expected_shape(*rule, c);
  if (t.shape != want) {
    throw Error(where + " has shape " + shape_string(t.shape) + ", expected " + shape_string(want) + " (from " +
                c.file + ")");
  }
  SourceTensor s;
  s.name = layer >= 0 ? "blk." + std::to_string(layer) + "." + std::string(rule->gguf) : std::string(rule->gguf);
  s.origin = t.name;
  s.shape.assign(t.shape.rbegin(), t.shape.rend());
  s.type = *type;
  s.data = t.data;
  s.n_bytes = t.n_bytes;
  if (c.arch == "llama" && rule->rope != 0) s.rope_permute_heads = rule->rope == 1 ? c.n_head : c.n_head_kv;
  return s;
}

// Names of the tensors the architecture needs, HF name -> GGUF name.
std::vector<std::pair<std::string, std::string>> required_tensors(const HfConfig& c) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const TensorRule& r : kGlobalRules) {
    if (r.required || (r.gguf == "output.weight" && !c.tie_word_embeddings)) out.emplace_back(r.hf, r.gguf);
  }
  const bool qkv_bias = c.arch == "qwen2";
  for (int64_t l = 0; l < c.n_layer; ++l) {
    for (const TensorRule& r : kLayerRules) {
      if (r.required || (qkv_bias && r.gguf.ends_with(".bias"))) {
        out.emplace_back(std::string(kLayerPrefix) + std::to_string(l) + "." + std::string(r.hf),
                         "blk." + std::to_string(l) + "." + std::string(r.gguf));
      }
    }
  }
  return out;
}

// rope_freqs.weight for llama3 RoPE scaling, as the converter generates it.
SourceTensor llama3_rope_freqs(const HfConfig& c, ModelSource& src) {
  const int64_t dim = c.head_size();
  auto freqs = std::make_shared<std::vector<float>>(llama3_rope_freq_factors(
      dim, static_cast<float>(c.rope_theta.value_or(10000.0)), static_cast<float>(c.rope_scaling_factor),
      static_cast<float>(c.low_freq_factor), static_cast<float>(c.high_freq_factor), c.original_context));
  SourceTensor s;
  s.name = "rope_freqs.weight";
  s.origin = "rope_scaling in " + c.file;
  s.shape = {static_cast<uint64_t>(freqs->size())};
  s.type = DType::F32;
  s.data = reinterpret_cast<const uint8_t*>(freqs->data());
  s.n_bytes = freqs->size() * sizeof(float);
  src.keep_alive.push_back(freqs);
  return s;
}

// general.file_type as the converter would pick it for the checkpoint's own types.
uint32_t file_type_of(const std::vector<SourceTensor>& tensors) {
  for (const SourceTensor& t : tensors) {
    if (t.shape.size() == 2) return t.type == DType::F32 ? 0 : (t.type == DType::F16 ? 1 : 32);
  }
  return 0;
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
  if (c.arch == "llama") {
    m.set_u32(a + "vocab_size", u32(c.n_vocab));
    m.set_u32(a + "rope.dimension_count", u32(c.head_size()));
    if (c.rope_scaling_type == "linear") {
      m.set_string(a + "rope.scaling.type", "linear");
      m.set_f32(a + "rope.scaling.factor", static_cast<float>(c.rope_scaling_factor));
    }
  }
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
  auto weights = std::make_shared<SafetensorsCheckpoint>(SafetensorsCheckpoint::open(dir));
  src.keep_alive.push_back(weights);

  if (config.rope_scaling_type == "llama3") {
    if (config.arch != "llama") throw Error(config.file + ": rope_scaling 'llama3' is only supported for llama models");
    src.tensors.push_back(llama3_rope_freqs(config, src));
  }
  std::set<std::string> present;
  for (const SafetensorsCheckpoint::Entry& e : weights->tensors()) {
    if (ignored(e.tensor->name)) continue;
    src.tensors.push_back(map_tensor(e, config));
    present.insert(e.tensor->name);
  }
  for (const auto& [hf, gguf] : required_tensors(config)) {
    if (present.count(hf) == 0) throw Error(dir + ": missing tensor " + hf + " (" + gguf + ")");
  }

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
