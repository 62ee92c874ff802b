// PEFT LoRA adapters as GGUF adapters, with the rules of llama.cpp's convert_lora_to_gguf.py: names through the
// architecture record's HF → GGUF table, A and B kept as PEFT stores them (torch [rank, in] and [out, rank] are GGUF
// ne [in, rank] and [rank, out]), B's rows transformed as the base tensor's rows are.
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

#include "convert/hf_config.h"
#include "ternion/convert/hf_checkpoint.h"
#include "ternion/core/error.h"
#include "ternion/io/safetensors.h"
#include "ternion/model/block_tensors.h"

namespace ternion {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr std::string_view kPrefix = "base_model.model.";

bool empty_or_null(const Json& cfg, const char* key) {
  const auto it = cfg.find(key);
  return it == cfg.end() || it->is_null() || (it->is_object() && it->empty()) || (it->is_array() && it->empty());
}

// The adapter's alpha as llama.cpp applies it (alpha / rank), after refusing what a GGUF adapter cannot say.
double checked_alpha(const Json& cfg, const std::string& file) {
  const auto str = [&](const char* key) {
    return cfg.contains(key) && cfg[key].is_string() ? cfg[key].get<std::string>() : "";
  };
  const auto flag = [&](const char* key) { return cfg.contains(key) && cfg[key].is_boolean() && cfg[key].get<bool>(); };
  if (str("peft_type") != "LORA") throw Error(file + ": peft_type is '" + str("peft_type") + "', expected 'LORA'");
  if (flag("use_dora")) throw Error(file + ": DoRA adapters (use_dora) are not supported");
  if (flag("fan_in_fan_out")) throw Error(file + ": fan_in_fan_out adapters are not supported");
  if (!cfg.contains("bias") || str("bias") != "none") throw Error(file + ": adapters with biases are not supported");
  if (!empty_or_null(cfg, "alpha_pattern") || !empty_or_null(cfg, "rank_pattern")) {
    throw Error(file + ": per-module ranks or alphas (rank_pattern, alpha_pattern) are not supported");
  }
  if (!empty_or_null(cfg, "modules_to_save")) throw Error(file + ": modules_to_save is not supported");
  if (!cfg.contains("lora_alpha") || !cfg["lora_alpha"].is_number() || !cfg.contains("r") ||
      !cfg["r"].is_number_integer() || cfg["r"].get<int64_t>() <= 0) {
    throw Error(file + ": needs a numeric lora_alpha and a positive integer r");
  }
  const double alpha = cfg["lora_alpha"].get<double>();
  // rsLoRA scales by alpha / sqrt(r): the same as alpha · sqrt(r) / r.
  return flag("use_rslora") ? alpha * std::sqrt(cfg["r"].get<double>()) : alpha;
}

std::string base_folder(const Json& cfg, const std::string& dir, const std::string& base_dir) {
  if (!base_dir.empty()) return base_dir;
  std::error_code ec;
  if (cfg.contains("base_model_name_or_path") && cfg["base_model_name_or_path"].is_string()) {
    const std::string p = cfg["base_model_name_or_path"].get<std::string>();
    if (fs::is_regular_file(fs::path(p) / "config.json", ec)) return p;
  }
  throw Error(dir + ": base_model_name_or_path is not a model folder here; give the base model's folder with --base");
}

std::string shape_string(const std::vector<uint64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i > 0 ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// One lora_A / lora_B tensor under its GGUF name, its shape checked against the base's matrix.
SourceTensor map_lora_tensor(const SafetensorsTensor& t, const HfConfig& c, const HParams& hp,
                             const std::string& file) {
  const std::string where = file + ": tensor '" + t.name + "'";
  std::string_view name = t.name;
  const bool is_a = name.ends_with(".lora_A.weight");
  const bool is_b = name.ends_with(".lora_B.weight");
  if (name.find("lora_embedding") != std::string_view::npos)
    throw Error(where + ": embedding adapters are not supported");
  if (!name.starts_with(kPrefix) || (!is_a && !is_b)) throw Error(where + " is not a LoRA A or B matrix");
  const std::string hf = std::string(name.substr(kPrefix.size(), name.size() - kPrefix.size() - 14)) + ".weight";
  const HfMappedName m = find_hf_tensor(hf, *c.spec);
  if (m.entry == nullptr || m.layer >= c.n_layer) {
    throw Error(where + " adapts " + hf + ", which is not a matrix of this " + c.architecture + " base");
  }
  if (m.entry->transform == HfTransform::kQkvPerHead || m.entry->transform == HfTransform::kPlusOne) {
    throw Error(where + ": adapters of " + hf + " are not supported (its rows are reordered in GGUF)");
  }
  if (m.entry->gguf == "output.weight" && c.tie_word_embeddings) {
    throw Error(where + ": the base ties lm_head to the token embedding; adapters of lm_head are not supported");
  }
  const std::optional<DType> type = safetensors_dtype_to_gguf(t.dtype);
  if (!type || (*type != DType::F32 && *type != DType::F16 && *type != DType::BF16)) {
    throw Error(where + " has dtype " + t.dtype + " (supported: F32, F16, BF16)");
  }
  const FusedTensors fused{.gate_up = m.entry->hf.find("gate_up") != std::string_view::npos};
  const std::vector<uint64_t> base = tensor_shape(m.entry->gguf, *c.spec, hp, fused);  // [cols, rows]
  // torch [rank, cols] for A, [rows, rank] for B.
  const bool fits = t.shape.size() == 2 && base.size() == 2 && t.shape[is_a ? 1 : 0] == base[is_a ? 0 : 1];
  if (!fits) {
    throw Error(where + " has shape " + shape_string(t.shape) + ", which does not fit the base's " + hf + " " +
                shape_string({base.rbegin(), base.rend()}));
  }
  SourceTensor s;
  const std::string gguf = std::string(m.entry->gguf) + (is_a ? ".lora_a" : ".lora_b");
  s.name = m.layer >= 0 ? "blk." + std::to_string(m.layer) + "." + gguf : gguf;
  s.origin = t.name;
  s.shape = {t.shape[1], t.shape[0]};
  s.type = *type;
  s.data = t.data;
  s.n_bytes = t.n_bytes;
  const bool adjacent = c.spec->rope_kind == RopeKind::Adjacent;
  if (is_b && adjacent && m.entry->transform == HfTransform::kRopeQ) s.rope_permute_heads = c.n_head;
  if (is_b && adjacent && m.entry->transform == HfTransform::kRopeK) s.rope_permute_heads = c.n_head_kv;
  return s;
}

// Every A has its B, of the same rank.
void check_pairs(const std::vector<SourceTensor>& tensors, const std::string& file) {
  std::map<std::string, std::pair<const SourceTensor*, const SourceTensor*>> pairs;
  for (const SourceTensor& t : tensors) {
    auto& p = pairs[t.name.substr(0, t.name.size() - 7)];
    (t.name.ends_with(".lora_a") ? p.first : p.second) = &t;
  }
  for (const auto& [name, p] : pairs) {
    if (p.first == nullptr || p.second == nullptr) throw Error(file + ": " + name + " has only one of lora_A, lora_B");
    if (p.first->shape[1] != p.second->shape[0]) {
      throw Error(file + ": " + name + "'s lora_A and lora_B have different ranks");
    }
  }
}

}  // namespace

ModelSource load_peft_adapter(const std::string& dir, const std::string& base_dir) {
  const fs::path cfg_path = fs::path(dir) / "adapter_config.json";
  const std::optional<Json> cfg = read_hf_json(cfg_path);
  if (!cfg || !cfg->is_object()) throw Error(dir + ": not a PEFT adapter folder (no adapter_config.json)");
  const double alpha = checked_alpha(*cfg, cfg_path.string());
  const HfConfig c = read_hf_config(base_folder(*cfg, dir, base_dir));
  const HParams hp = hf_shape_hparams(c);
  const fs::path weights = fs::path(dir) / "adapter_model.safetensors";
  std::error_code ec;
  if (!fs::is_regular_file(weights, ec)) throw Error(dir + ": missing adapter_model.safetensors");
  auto file = std::make_shared<SafetensorsFile>(SafetensorsFile::open(weights.string()));

  ModelSource src;
  src.path = dir;
  src.inputs = {dir};
  src.keep_alive.push_back(file);
  for (const SafetensorsTensor& t : file->tensors()) src.tensors.push_back(map_lora_tensor(t, c, hp, file->path()));
  if (src.tensors.empty()) throw Error(file->path() + ": no tensors");
  check_pairs(src.tensors, file->path());
  GgufMetadata& m = src.metadata;
  m.set_string("general.architecture", c.arch);
  m.set_string("general.type", "adapter");
  m.set_string("adapter.type", "lora");
  m.set_f32("adapter.lora.alpha", static_cast<float>(alpha));
  return src;
}

}  // namespace ternion
