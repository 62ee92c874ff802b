#include "ternion/convert/model_summary.h"

#include <cstdio>
#include <filesystem>
#include <iterator>
#include <map>

#include "ternion/convert/hf_checkpoint.h"
#include "ternion/core/dtype.h"
#include "ternion/core/error.h"
#include "ternion/model/model_source.h"
#include "ternion/model/quantize.h"
#include "ternion/tokenizer/vocab.h"

namespace ternion {

namespace {

using Entries = std::vector<std::pair<std::string, GgufValue>>;

const GgufValue* find(const Entries& kv, const std::string& key) {
  for (const auto& [k, v] : kv) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string string_of(const Entries& kv, const std::string& key) {
  const GgufValue* v = find(kv, key);
  return v != nullptr && v->type == GgufValueType::STRING ? v->as_string() : std::string();
}

int64_t int_of(const Entries& kv, const std::string& key) {
  const GgufValue* v = find(kv, key);
  return v != nullptr && v->is_integer() ? v->as_int() : 0;
}

// The fields read from metadata, the same for a file and a folder.
void read_metadata(const Entries& kv, ModelSummary& s) {
  s.architecture = string_of(kv, "general.architecture");
  const std::string name = string_of(kv, "general.name");
  if (!name.empty()) s.name = name;
  const std::string a = s.architecture + ".";
  s.context_length = int_of(kv, a + "context_length");
  s.n_embd = int_of(kv, a + "embedding_length");
  s.n_layer = int_of(kv, a + "block_count");
  s.n_head = int_of(kv, a + "attention.head_count");
  s.n_head_kv = int_of(kv, a + "attention.head_count_kv");
  s.n_vocab = int_of(kv, a + "vocab_size");
  s.n_expert = int_of(kv, a + "expert_count");
  s.n_expert_used = int_of(kv, a + "expert_used_count");
  s.chat_template = string_of(kv, "tokenizer.chat_template");
  for (const auto& [k, v] : kv) {
    if (k.starts_with("general.license")) s.licence.emplace_back(k, v.to_display_string());
  }
  if (const GgufValue* ft = find(kv, "general.file_type"); ft != nullptr && ft->is_integer()) {
    for (const QuantFileType& t : quant_file_types()) {
      if (t.ftype == ft->as_uint()) s.quantization = std::string(t.name);
    }
  }
}

void read_tokens(const std::vector<std::string>& tokens, int32_t bos, int32_t eos, ModelSummary& s) {
  if (s.n_vocab == 0) s.n_vocab = static_cast<int64_t>(tokens.size());
  const auto text = [&](int32_t id) {
    return id >= 0 && static_cast<size_t>(id) < tokens.size() ? tokens[static_cast<size_t>(id)] : std::string();
  };
  s.bos_text = text(bos);
  s.eos_text = text(eos);
}

// Counts a tensor; `by_type` sums the bytes of matrices per type, to name the weights' type. Of a stack of experts
// (ffn_*_exps) a token reads n_expert_used of n_expert.
void add_tensor(ModelSummary& s, std::map<std::string, uint64_t>& by_type, const std::string& name, DType type,
                uint64_t n_elements, uint64_t n_bytes, size_t n_dims) {
  s.n_params += n_elements;
  const bool experts = name.ends_with("_exps.weight") && s.n_expert > 0 && s.n_expert_used <= s.n_expert;
  s.n_active_params +=
      experts ? n_elements / static_cast<uint64_t>(s.n_expert) * static_cast<uint64_t>(s.n_expert_used) : n_elements;
  s.n_bytes += n_bytes;
  if (n_dims >= 2) by_type[std::string(dtype_info(type).name)] += n_bytes;
}

void name_weight_type(ModelSummary& s, const std::map<std::string, uint64_t>& by_type) {
  if (!s.quantization.empty()) return;
  uint64_t most = 0;
  for (const auto& [type, bytes] : by_type) {
    if (bytes > most) {
      most = bytes;
      s.quantization = type;
    }
  }
}

}  // namespace

ModelSummary summarize_model(const std::string& path) {
  ModelSummary s;
  s.path = path;
  s.name = std::filesystem::path(path).filename().string();
  std::map<std::string, uint64_t> by_type;
  if (is_hf_checkpoint(path)) {
    s.folder = true;
    const ModelSource src = load_hf_checkpoint(path);
    read_metadata(src.metadata.entries(), s);
    for (const SourceTensor& t : src.tensors) {
      uint64_t n = 1;
      for (uint64_t d : t.shape) n *= d;
      add_tensor(s, by_type, t.name, t.type, n, t.n_bytes, t.shape.size());
    }
    const Vocab vocab = src.vocab ? *src.vocab : vocab_from_gguf(GgufFile::parse(src.metadata.to_gguf_bytes(), path));
    read_tokens(vocab.tokens, vocab.bos, vocab.eos, s);
  } else {
    const GgufFile f = GgufFile::open(path);
    read_metadata(f.metadata(), s);
    for (const GgufTensorInfo& t : f.tensors()) {
      add_tensor(s, by_type, t.name, t.type, t.n_elements, t.n_bytes, t.shape.size());
    }
    if (const GgufArray* tokens = f.get_array("tokenizer.ggml.tokens")) {
      read_tokens(tokens->strings, static_cast<int32_t>(f.get_int("tokenizer.ggml.bos_token_id").value_or(-1)),
                  static_cast<int32_t>(f.get_int("tokenizer.ggml.eos_token_id").value_or(-1)), s);
    }
  }
  name_weight_type(s, by_type);
  return s;
}

std::string format_param_count(uint64_t n) {
  const char* units[] = {"", "K", "M", "B", "T"};
  double v = static_cast<double>(n);
  size_t u = 0;
  while (v >= 1000 && u + 1 < std::size(units)) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.1f%s", v, units[u]);
  return buf;
}

}  // namespace ternion
