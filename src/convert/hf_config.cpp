#include "convert/hf_config.h"

#include <array>
#include <cmath>
#include <fstream>
#include <limits>
#include <string_view>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"

namespace ternion {

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr uintmax_t kMaxJsonBytes = uintmax_t{64} << 20;

std::string type_name(const Json& v) { return v.type_name(); }

// Type-checked fields of one JSON object; errors are "<file>: <key>: <problem>".
class Fields {
 public:
  Fields(const Json& object, std::string file) : j_(object), file_(std::move(file)) {}

  [[noreturn]] void fail(std::string_view key, const std::string& problem) const {
    throw Error(file_ + ": " + std::string(key) + ": " + problem);
  }

  // nullptr when absent or null.
  const Json* find(std::string_view key) const {
    const auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }

  std::optional<int64_t> opt_int(std::string_view key, int64_t min, int64_t max) const {
    const Json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_integer()) fail(key, "expected an integer, got " + type_name(*v));
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(max)) fail(key, "too large");
    const auto x = v->get<int64_t>();
    if (x < min || x > max) {
      fail(key, std::to_string(x) + " is outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return x;
  }
  int64_t req_int(std::string_view key, int64_t min, int64_t max) const {
    const auto v = opt_int(key, min, max);
    if (!v) fail(key, "missing");
    return *v;
  }
  std::optional<double> opt_number(std::string_view key) const {
    const Json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number()) fail(key, "expected a number, got " + type_name(*v));
    return v->get<double>();
  }
  std::optional<bool> opt_bool(std::string_view key) const {
    const Json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) fail(key, "expected true or false, got " + type_name(*v));
    return v->get<bool>();
  }
  std::optional<std::string> opt_string(std::string_view key) const {
    const Json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) fail(key, "expected a string, got " + type_name(*v));
    return v->get<std::string>();
  }

 private:
  const Json& j_;
  std::string file_;
};

// HF activation names and the op they are.
std::optional<Activation> activation_named(std::string_view name) {
  if (name == "silu" || name == "swish") return Activation::kSilu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast") return Activation::kGeluTanh;
  if (name == "gelu") return Activation::kGeluErf;
  if (name == "relu2") return Activation::kReluSquared;
  return std::nullopt;
}

// BitNet's quantization_config (transformers' BitNetQuantConfig); any other method is refused.
void read_ternary_config(const Fields& f, const Json& q, HfConfig& c) {
  const auto fail = [&] {
    f.fail("quantization_config", "quantized checkpoints (GPTQ, AWQ, bitsandbytes, ...) are not supported");
  };
  if (!q.is_object() || !c.spec->sub_norms) fail();
  const Fields qf(q, c.file + ": quantization_config");
  if (qf.opt_string("quant_method").value_or("") != "bitnet") fail();
  const std::string mode = qf.opt_string("quantization_mode").value_or("offline");
  const std::string linear = qf.opt_string("linear_class").value_or("bitlinear");
  if (mode != "offline" && mode != "online") qf.fail("quantization_mode", "expected offline or online");
  if (linear != "bitlinear" && linear != "autobitlinear")
    qf.fail("linear_class", "expected bitlinear or autobitlinear");
  if (mode == "online" && linear != "autobitlinear") qf.fail("quantization_mode", "online needs autobitlinear");
  if (qf.opt_bool("use_rms_norm").value_or(false))
    qf.fail("use_rms_norm", "a norm inside each linear layer is not supported");
  c.ternary = mode == "online" ? HfConfig::Ternary::kOnline : HfConfig::Ternary::kOffline;
  c.ternary_scale_multiplies = linear == "autobitlinear";
}

void read_architecture(const Fields& f, const Json& root, HfConfig& c) {
  const Json* archs = f.find("architectures");
  if (archs == nullptr || !archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
    f.fail("architectures", "missing or not a list of class names (expected e.g. [\"LlamaForCausalLM\"])");
  }
  c.architecture = (*archs)[0].get<std::string>();
  c.spec = arch_spec_for_hf_class(c.architecture);
  if (c.spec == nullptr) {
    throw Error(c.file + ": unsupported architecture '" + gguf_escape(c.architecture) +
                "' (supported: " + hf_supported_architectures() + ")");
  }
  for (const char* key : {"hidden_activation", "hidden_act"}) {
    const auto act = f.opt_string(key);
    if (!act) continue;
    c.spec = arch_spec_for_hf_class(c.architecture, activation_named(*act));
    if (activation_named(*act) != c.spec->activation) {
      f.fail(key,
             "'" + gguf_escape(*act) + "' is not supported for " + c.architecture + " (its MLP's activation is fixed)");
    }
    break;
  }
  if (f.opt_bool("mlp_bias").value_or(false) && !c.spec->ffn_bias) {
    f.fail("mlp_bias", "biases in the MLP are not supported for " + c.architecture);
  }
  c.arch = std::string(c.spec->name);
  if (root.contains("quantization_config")) read_ternary_config(f, root["quantization_config"], c);
}

// The block options of the newer families: sliding windows, soft-caps, multipliers, partial rotary, RoPE-less
// layers.
void read_block_options(const Fields& f, const Json& root, HfConfig& c) {
  const double partial = f.opt_number("partial_rotary_factor")
                             .value_or(f.opt_number("rotary_pct").value_or(c.partial_rotary.value_or(1.0)));
  if (!(partial > 0.0 && partial <= 1.0)) f.fail("partial_rotary_factor", "must be in (0, 1]");
  c.n_rot = static_cast<int64_t>(static_cast<double>(c.head_size()) * partial);
  if (c.n_rot % 2 != 0) f.fail("partial_rotary_factor", "leaves an odd number of rotated dimensions");
  const bool uses_window = f.opt_bool("use_sliding_window").value_or(true);
  if (const auto w = f.opt_int("sliding_window", 0, int64_t{1} << 26); w && uses_window) c.sliding_window = *w;
  if (const Json* types = f.find("layer_types"); types != nullptr && c.sliding_window > 0) {
    if (!types->is_array() || types->size() != static_cast<size_t>(c.n_layer)) {
      f.fail("layer_types", "expected one entry per layer");
    }
    for (const Json& t : *types) {
      if (!t.is_string()) f.fail("layer_types", "expected strings");
      c.swa_layers.push_back(t.get<std::string>() == "sliding_attention");
    }
  }
  c.attn_softcap = f.opt_number("attn_logit_softcapping").value_or(0.0);
  c.final_softcap = f.opt_number("final_logit_softcapping").value_or(0.0);
  if (const auto s = f.opt_number("query_pre_attn_scalar")) {
    if (!(*s > 0.0)) f.fail("query_pre_attn_scalar", "must be positive");
    c.attn_scale = 1.0 / std::sqrt(*s);
  }
  if (const auto m = f.opt_number("attention_multiplier")) c.attn_scale = *m;
  c.embd_scale = f.opt_number("embedding_multiplier").value_or(1.0);
  c.residual_scale = f.opt_number("residual_multiplier").value_or(1.0);
  c.logit_scale = f.opt_number("logits_scaling").value_or(1.0);
  if (c.logit_scale == 0.0) f.fail("logits_scaling", "must not be 0");
  c.parallel_residual = f.opt_bool("use_parallel_residual").value_or(c.spec->parallel_residual);
  if (c.parallel_residual != c.spec->parallel_residual) {
    f.fail("use_parallel_residual", "differs from what a " + c.architecture + " block does");
  }
  // SmolLM3 lists which layers rotate; the record knows the period llama.cpp assumes.
  if (const Json* rope_layers = f.find("no_rope_layers")) {
    if (!rope_layers->is_array() || rope_layers->size() != static_cast<size_t>(c.n_layer)) {
      f.fail("no_rope_layers", "expected one entry per layer");
    }
    const int period = c.spec->no_rope_period;
    for (size_t i = 0; i < rope_layers->size(); ++i) {
      const bool rotates = (*rope_layers)[i].is_number() && (*rope_layers)[i].get<double>() != 0.0;
      const bool expected = period == 0 || (i + 1) % static_cast<size_t>(period) != 0;
      if (rotates != expected)
        f.fail("no_rope_layers",
               "a pattern other than every " + std::to_string(period) + "th layer without RoPE is not supported");
    }
  }
  (void)root;
}

// The experts of a mixture-of-experts config, and which layers have them.
void read_experts(const Fields& f, HfConfig& c) {
  constexpr int64_t kBig = int64_t{1} << 24;
  c.n_expert = f.opt_int("num_local_experts", 0, 1024).value_or(f.opt_int("num_experts", 0, 1024).value_or(0));
  if (c.n_expert == 0) {
    if (c.spec->moe_required) f.fail("num_experts", "missing (a " + c.architecture + " has experts)");
    return;
  }
  if (c.spec->hf_experts.empty()) f.fail("num_experts", "experts are not supported for " + c.architecture);
  c.n_expert_used = f.req_int("num_experts_per_tok", 1, c.n_expert);
  c.n_ff_exp = f.opt_int("moe_intermediate_size", 1, kBig);
  c.n_ff_shexp = f.opt_int("shared_expert_intermediate_size", 1, kBig);
  if (c.spec->moe_shared_expert && !c.n_ff_shexp) f.fail("shared_expert_intermediate_size", "missing");
  c.norm_topk_prob = f.opt_bool("norm_topk_prob");
  const int64_t step = f.opt_int("decoder_sparse_step", 1, 4096).value_or(1);
  c.sparse_layers.assign(static_cast<size_t>(c.n_layer), false);
  for (int64_t i = 0; i < c.n_layer; ++i) c.sparse_layers[static_cast<size_t>(i)] = (i + 1) % step == 0;
  if (const Json* dense = f.find("mlp_only_layers")) {
    if (!dense->is_array()) f.fail("mlp_only_layers", "expected a list of layer indices");
    for (const Json& i : *dense) {
      if (!i.is_number_integer() || i.get<int64_t>() < 0 || i.get<int64_t>() >= c.n_layer) {
        f.fail("mlp_only_layers", "expected layer indices in [0, " + std::to_string(c.n_layer) + ")");
      }
      c.sparse_layers[i.get<size_t>()] = false;
    }
  }
}

// original_max_position_embeddings: in rope_scaling, else beside it (Phi-3), else max_position_embeddings.
int64_t original_context(const Fields& s, const Fields& f, const HfConfig& c) {
  constexpr int64_t kMax = int64_t{1} << 26;
  return s.opt_int("original_max_position_embeddings", 2, kMax)
      .value_or(f.opt_int("original_max_position_embeddings", 2, kMax).value_or(*c.n_ctx));
}

// A list of positive numbers (LongRoPE's short_factor and long_factor).
std::vector<float> positive_numbers(const Fields& s, std::string_view key) {
  const Json* v = s.find(key);
  if (v == nullptr || !v->is_array() || v->empty()) s.fail(key, "missing or not a list of numbers");
  std::vector<float> out;
  for (const Json& x : *v) {
    if (!x.is_number() || !(x.get<double>() > 0.0)) s.fail(key, "expected positive numbers");
    out.push_back(static_cast<float>(x.get<double>()));
  }
  return out;
}

// YaRN as transformers' _compute_yarn_parameters reads it; the factor defaults to the context's growth.
void read_yarn(const Fields& s, const Fields& f, HfConfig& c) {
  c.original_context = original_context(s, f, c);
  if (!s.opt_number("factor")) {
    c.rope_scaling_factor = static_cast<double>(*c.n_ctx) / static_cast<double>(c.original_context);
  }
  if (!s.opt_bool("truncate").value_or(true)) {
    s.fail("truncate", "false (an untruncated correction range) has no GGUF key and is not supported");
  }
  c.rope_attn_factor = s.opt_number("attention_factor");
  const double mscale = s.opt_number("mscale").value_or(0.0);
  const double mscale_all_dim = s.opt_number("mscale_all_dim").value_or(0.0);
  if (!c.rope_attn_factor && mscale != 0.0 && mscale_all_dim != 0.0) {  // DeepSeek's form
    const auto get_mscale = [&](double m) {
      return c.rope_scaling_factor <= 1.0 ? 1.0 : 0.1 * m * std::log(c.rope_scaling_factor) + 1.0;
    };
    c.rope_attn_factor = get_mscale(mscale) / get_mscale(mscale_all_dim);
  }
  // 0 or absent: the defaults (transformers' `or 32`, `or 1`).
  c.yarn_beta_fast = s.opt_number("beta_fast").value_or(0.0);
  c.yarn_beta_slow = s.opt_number("beta_slow").value_or(0.0);
  if (c.yarn_beta_fast < 0.0 || c.yarn_beta_slow < 0.0) s.fail("beta_fast", "beta_fast and beta_slow must be positive");
}

// LongRoPE (Phi-3, Phi-4-mini) as transformers' _compute_longrope_parameters reads it.
void read_longrope(const Fields& s, const Fields& f, HfConfig& c) {
  c.original_context = original_context(s, f, c);
  c.longrope_short = positive_numbers(s, "short_factor");
  c.longrope_long = positive_numbers(s, "long_factor");
  const double factor =
      s.opt_number("factor").value_or(static_cast<double>(*c.n_ctx) / static_cast<double>(c.original_context));
  c.rope_attn_factor = s.opt_number("attention_factor");
  if (!c.rope_attn_factor) {
    const double orig = static_cast<double>(c.original_context);
    c.rope_attn_factor = factor <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(factor) / std::log(orig));
  }
}

// rope_scaling (or, in newer configs, rope_parameters): default, linear, llama3, yarn or longrope.
void read_rope_scaling(const Fields& f, HfConfig& c) {
  const char* key = "rope_scaling";
  const Json* scaling = f.find(key);
  if (scaling == nullptr) {
    key = "rope_parameters";
    scaling = f.find(key);
  }
  if (scaling == nullptr) return;
  if (!scaling->is_object()) f.fail(key, "expected an object");
  // Gemma 3: one set per layer type; the full layers' is the model's, the sliding layers' their own base.
  if (const Json* full = Fields(*scaling, c.file).find("full_attention"); full != nullptr && full->is_object()) {
    if (const Json* swa = Fields(*scaling, c.file).find("sliding_attention"); swa != nullptr && swa->is_object()) {
      c.rope_theta_swa = Fields(*swa, c.file + ": " + key + ".sliding_attention").opt_number("rope_theta");
    }
    scaling = full;
  }
  const Fields s(*scaling, c.file + ": " + key);
  if (!c.rope_theta) c.rope_theta = s.opt_number("rope_theta");
  if (const auto partial = s.opt_number("partial_rotary_factor")) c.partial_rotary = partial;
  const char* type_key = s.find("rope_type") != nullptr ? "rope_type" : "type";  // both spellings occur
  std::string type = s.opt_string(type_key).value_or("default");
  if (type == "su") type = "longrope";  // early Phi-3 configs
  if (type == "default") return;
  if (type != "linear" && type != "llama3" && type != "yarn" && type != "longrope") {
    s.fail(type_key,
           "'" + gguf_escape(type) + "' scaling is not supported (known: default, linear, llama3, yarn, longrope)");
  }
  c.rope_scaling_type = type;
  const auto factor = s.opt_number("factor");
  if (factor && !(*factor > 0.0)) s.fail("factor", "must be positive");
  if (!factor && (type == "linear" || type == "llama3")) s.fail("factor", "missing");
  c.rope_scaling_factor = factor.value_or(1.0);
  if (type == "yarn") read_yarn(s, f, c);
  if (type == "longrope") read_longrope(s, f, c);
  if (type != "llama3") return;
  c.low_freq_factor = s.opt_number("low_freq_factor").value_or(1.0);
  c.high_freq_factor = s.opt_number("high_freq_factor").value_or(4.0);
  c.original_context = s.opt_int("original_max_position_embeddings", 1, int64_t{1} << 26).value_or(8192);
  if (!(c.low_freq_factor > 0.0) || !(c.high_freq_factor > c.low_freq_factor)) {
    s.fail("high_freq_factor", "must be larger than a positive low_freq_factor");
  }
}

}  // namespace

std::string hf_supported_architectures() { return supported_hf_classes(); }

std::optional<nlohmann::json> read_hf_json(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  const std::string where = path.string();
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) throw Error(where + ": cannot read: " + ec.message());
  if (size > kMaxJsonBytes) throw Error(where + ": " + std::to_string(size) + " bytes, more than the 64 MB accepted");
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<size_t>(size), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(size))) throw Error(where + ": cannot read the file");
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    throw Error(where + ": not valid JSON: " + gguf_escape(e.what(), 200));
  }
}

HfConfig read_hf_config(const std::string& dir) {
  HfConfig c;
  const fs::path path = fs::path(dir) / "config.json";
  c.file = path.string();
  const std::optional<Json> root = read_hf_json(path);
  if (!root) throw Error(c.file + ": missing (a HuggingFace model folder needs config.json)");
  if (!root->is_object()) throw Error(c.file + ": expected a JSON object");
  const Fields f(*root, c.file);
  read_architecture(f, *root, c);
  c.name_or_path = f.opt_string("_name_or_path");

  constexpr int64_t kBig = int64_t{1} << 24;
  c.n_embd = f.opt_int("hidden_size", 1, kBig).value_or(f.opt_int("n_embed", 1, kBig).value_or(0));
  if (c.n_embd == 0) f.fail("hidden_size", "missing");
  c.n_layer = f.opt_int("n_layer", 1, 4096).value_or(0);
  if (c.n_layer == 0) c.n_layer = f.req_int("num_hidden_layers", 1, 4096);
  // BLOOM's MLP is 4 × hidden_size and has no field for it.
  c.n_ff = f.find("intermediate_size") == nullptr && c.spec->embd_norm ? 4 * c.n_embd
                                                                       : f.req_int("intermediate_size", 1, kBig);
  c.n_head = f.opt_int("n_head", 1, 4096).value_or(0);
  if (c.n_head == 0) c.n_head = f.req_int("num_attention_heads", 1, 4096);
  const auto n_head_kv = f.opt_int("num_key_value_heads", 1, c.n_head);
  c.has_n_head_kv = n_head_kv.has_value();
  c.n_head_kv = n_head_kv.value_or(c.n_head);
  if (c.n_head % c.n_head_kv != 0) {
    f.fail("num_key_value_heads",
           std::to_string(c.n_head_kv) + " does not divide num_attention_heads (" + std::to_string(c.n_head) + ")");
  }
  c.n_vocab = f.req_int("vocab_size", 1, int64_t{1} << 22);
  c.n_ctx = f.opt_int("max_position_embeddings", 1, int64_t{1} << 26);
  if (!c.n_ctx && c.spec->positions == PositionKind::kAlibi)
    c.n_ctx = f.opt_int("seq_length", 1, 1 << 26).value_or(2048);
  if (!c.n_ctx) f.fail("max_position_embeddings", "missing");
  c.head_dim = f.opt_int("head_dim", 2, 4096);
  if (!c.head_dim && c.n_embd % c.n_head != 0) {
    f.fail("hidden_size",
           std::to_string(c.n_embd) + " is not a multiple of num_attention_heads and no head_dim is given");
  }
  if (c.head_size() % 2 != 0) f.fail("head_dim", "must be even for RoPE");
  c.rope_theta = f.opt_number("rope_theta");
  c.rms_eps = f.opt_number("rms_norm_eps");
  if (c.rms_eps && !(*c.rms_eps > 0.0 && *c.rms_eps < 1.0)) f.fail("rms_norm_eps", "must be in (0, 1)");
  for (const char* key : {"layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"}) {
    if (!c.norm_eps) c.norm_eps = f.opt_number(key);
  }
  if (c.norm_eps && !(*c.norm_eps > 0.0 && *c.norm_eps < 1.0)) f.fail("layer_norm_eps", "must be in (0, 1)");
  // BLOOM ties its output to the embedding unless told otherwise.
  c.tie_word_embeddings = f.opt_bool("tie_word_embeddings").value_or(c.spec->embd_norm);
  read_rope_scaling(f, c);
  read_block_options(f, *root, c);
  read_experts(f, c);
  if (!c.longrope_long.empty() && (c.longrope_long.size() != c.longrope_short.size() ||
                                   static_cast<int64_t>(c.longrope_long.size()) * 2 != c.n_rot)) {
    throw Error(c.file + ": long_factor and short_factor need " + std::to_string(c.n_rot / 2) +
                " values each (one per rotated pair), got " + std::to_string(c.longrope_long.size()) + " and " +
                std::to_string(c.longrope_short.size()));
  }
  if (c.rope_theta && !(*c.rope_theta > 0.0 && *c.rope_theta < 1e30)) f.fail("rope_theta", "must be positive");

  for (const char* type : {"bos", "eos", "unk", "sep", "pad", "cls", "mask"}) {
    const auto it = root->find(std::string(type) + "_token_id");
    if (it != root->end() && it->is_number_integer() && it->get<int64_t>() >= 0)
      c.special_ids[type] = it->get<int64_t>();
  }
  return c;
}

GenerationDefaults read_generation_config(const std::string& dir) {
  GenerationDefaults g;
  const fs::path path = fs::path(dir) / "generation_config.json";
  const std::optional<Json> root = read_hf_json(path);
  if (!root) return g;
  if (!root->is_object()) throw Error(path.string() + ": expected a JSON object");
  const Fields f(*root, path.string());
  g.do_sample = f.opt_bool("do_sample");
  const auto as_float = [](std::optional<double> v) {
    return v ? std::optional<float>(static_cast<float>(*v)) : std::nullopt;
  };
  g.temperature = as_float(f.opt_number("temperature"));
  g.top_p = as_float(f.opt_number("top_p"));
  g.min_p = as_float(f.opt_number("min_p"));
  g.repetition_penalty = as_float(f.opt_number("repetition_penalty"));
  if (const auto k = f.opt_int("top_k", 0, std::numeric_limits<int32_t>::max())) g.top_k = static_cast<int32_t>(*k);
  if (const Json* eos = f.find("eos_token_id")) {
    const Json list = eos->is_array() ? *eos : Json::array({*eos});
    for (const Json& id : list) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
        f.fail("eos_token_id", "expected a token id or a list of them");
      }
      g.eos_ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  }
  return g;
}

}  // namespace ternion
