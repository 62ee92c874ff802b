#include "ternion/model/hparams.h"

#include <cmath>
#include <string>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/model/architecture.h"

namespace ternion {

namespace {

class Reader {
 public:
  Reader(const GgufFile& file, std::string prefix) : file_(file), prefix_(std::move(prefix)) {}

  int64_t required_int(const std::string& key, int64_t min, int64_t max) const {
    const auto v = file_.get_int(prefix_ + key);
    if (!v) throw Error(file_.path() + ": missing metadata key " + prefix_ + key);
    return checked(key, *v, min, max);
  }
  int64_t optional_int(const std::string& key, int64_t fallback, int64_t min, int64_t max) const {
    const auto v = file_.get_int(prefix_ + key);
    return v ? checked(key, *v, min, max) : fallback;
  }
  float optional_float(const std::string& key, float fallback) const {
    const auto v = file_.get_float(prefix_ + key);
    if (!v) return fallback;
    if (!(*v > 0.0 && *v < 1e30)) throw Error(file_.path() + ": metadata key " + prefix_ + key + " must be positive");
    return static_cast<float>(*v);
  }
  const std::string& path() const { return file_.path(); }
  std::string optional_string(const std::string& key) const { return file_.get_string(prefix_ + key).value_or(""); }
  // A float that may be any finite value (multipliers, caps).
  float optional_finite(const std::string& key, float fallback) const {
    const auto v = file_.get_float(prefix_ + key);
    if (!v) return fallback;
    if (!std::isfinite(*v)) throw Error(file_.path() + ": metadata key " + prefix_ + key + " must be finite");
    return static_cast<float>(*v);
  }
  bool optional_bool(const std::string& key, bool fallback) const {
    const auto v = file_.get_bool(prefix_ + key);
    return v.value_or(fallback);
  }
  // A per-layer flag array; empty when absent. Error when it has another length.
  std::vector<bool> optional_layer_flags(const std::string& key, int64_t n_layer) const {
    const GgufArray* a = file_.get_array(prefix_ + key);
    if (a == nullptr) return {};
    if (a->count != static_cast<uint64_t>(n_layer)) {
      throw Error(file_.path() + ": metadata key " + prefix_ + key + " holds " + std::to_string(a->count) +
                  " values, expected one per layer (" + std::to_string(n_layer) + ")");
    }
    std::vector<bool> out;
    for (uint64_t i = 0; i < a->count; ++i) out.push_back(a->number_at(i) != 0.0);
    return out;
  }

 private:
  int64_t checked(const std::string& key, int64_t v, int64_t min, int64_t max) const {
    if (v < min || v > max) {
      throw Error(file_.path() + ": metadata key " + prefix_ + key + " = " + std::to_string(v) + " is outside [" +
                  std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return v;
  }
  const GgufFile& file_;
  std::string prefix_;
};

void read_block_options(const Reader& r, const ArchSpec& arch, HParams& hp) {
  hp.norm_eps = arch.norm == NormKind::kLayer ? r.optional_float("attention.layer_norm_epsilon", 1e-5f) : hp.rms_eps;
  hp.sliding_window = r.optional_int("attention.sliding_window", 0, 0, int64_t{1} << 26);
  const auto n = static_cast<size_t>(hp.n_layer);
  hp.swa_layers = r.optional_layer_flags("attention.sliding_window_pattern", hp.n_layer);
  if (hp.swa_layers.empty()) {
    hp.swa_layers = hp.sliding_window > 0 ? assumed_sliding_layers(arch, hp.n_layer) : std::vector<bool>(n, false);
  }
  hp.rope_layers.assign(n, arch.positions == PositionKind::kRope);
  const auto no_rope = static_cast<size_t>(arch.no_rope_period);
  for (size_t i = 0; no_rope > 0 && i < n; ++i) {
    if ((i + 1) % no_rope == 0) hp.rope_layers[i] = false;
  }
  hp.rope_freq_base_swa = r.optional_float("rope.freq_base_swa", arch.rope_freq_base_swa);
  hp.attn_softcap = r.optional_finite("attn_logit_softcapping", 0.0f);
  hp.final_softcap = r.optional_finite("final_logit_softcapping", 0.0f);
  hp.attn_scale = r.optional_finite("attention.scale", 0.0f);
  hp.embd_scale = r.optional_finite("embedding_scale", 1.0f);
  hp.residual_scale = r.optional_finite("residual_scale", 1.0f);
  hp.logit_scale = r.optional_finite("logit_scale", 1.0f);
  if (hp.logit_scale == 0.0f) throw Error(r.path() + ": metadata key logit_scale must not be 0");
  hp.parallel_residual = r.optional_bool("use_parallel_residual", arch.parallel_residual);
}

void read_experts(const Reader& r, const ArchSpec& arch, HParams& hp) {
  hp.n_expert = r.optional_int("expert_count", 0, 0, 1024);
  if (hp.n_expert == 0 && arch.moe_required) {
    throw Error(r.path() + ": missing metadata key " + hp.arch + ".expert_count (a " + hp.arch + " model has experts)");
  }
  if (hp.n_expert == 0) return;
  hp.n_expert_used = r.required_int("expert_used_count", 1, hp.n_expert);
  hp.n_ff_exp = r.optional_int("expert_feed_forward_length", hp.n_ff, 1, int64_t{1} << 24);
  hp.n_ff_shexp = r.optional_int("expert_shared_feed_forward_length", hp.n_ff, 1, int64_t{1} << 24);
  hp.expert_weights_norm = r.optional_bool("expert_weights_norm", arch.moe_norm_topk);
}

// rope.scaling.*, with llama.cpp's defaults: a factor without a type is linear scaling, the original context is the
// training context, YaRN's ramp runs from beta_fast = 32 to beta_slow = 1 rotations.
void read_rope_scaling(const Reader& r, HParams& hp) {
  const std::string type = r.optional_string("rope.scaling.type");
  if (type == "none") {
    hp.rope_scaling = RopeScaling::None;
  } else if (type.empty() || type == "linear") {
    hp.rope_scaling = RopeScaling::Linear;
  } else if (type == "yarn") {
    hp.rope_scaling = RopeScaling::Yarn;
  } else if (type == "longrope") {
    hp.rope_scaling = RopeScaling::LongRope;
  } else {
    throw Error(r.path() + ": unknown rope.scaling.type '" + type + "' (known: none, linear, yarn, longrope)");
  }
  // rope.scale_linear: the key's older name, which llama.cpp still reads.
  hp.rope_scaling_factor = r.optional_float("rope.scaling.factor", r.optional_float("rope.scale_linear", 1.0f));
  // LongRoPE's frequencies come from its factor tensors alone.
  if (hp.rope_scaling == RopeScaling::None || hp.rope_scaling == RopeScaling::LongRope) hp.rope_scaling_factor = 1.0f;
  if (hp.rope_scaling == RopeScaling::Linear && hp.rope_scaling_factor == 1.0f) hp.rope_scaling = RopeScaling::None;
  hp.rope_orig_ctx = r.optional_int("rope.scaling.original_context_length", hp.n_ctx_train, 1, int64_t{1} << 26);
  hp.rope_attn_factor = r.optional_float("rope.scaling.attn_factor", 0.0f);
  hp.yarn_ext_factor = r.optional_finite("rope.scaling.yarn_ext_factor", 1.0f);
  if (hp.yarn_ext_factor < 0.0f) throw Error(r.path() + ": metadata key rope.scaling.yarn_ext_factor is negative");
  hp.yarn_attn_factor = r.optional_float("rope.scaling.yarn_attn_factor", 0.0f);
  hp.yarn_beta_fast = r.optional_float("rope.scaling.yarn_beta_fast", 32.0f);
  hp.yarn_beta_slow = r.optional_float("rope.scaling.yarn_beta_slow", 1.0f);
}

}  // namespace

float rope_attention_factor(const HParams& hp) {
  double attn = hp.rope_attn_factor > 0.0f ? hp.rope_attn_factor : 1.0;
  if (hp.rope_scaling == RopeScaling::LongRope && hp.rope_attn_factor == 0.0f && hp.rope_orig_ctx > 1) {
    const double orig = static_cast<double>(hp.rope_orig_ctx);
    const double s = static_cast<double>(hp.n_ctx_train) / orig;
    if (s > 1.0) attn = std::sqrt(1.0 + std::log(s) / std::log(orig));
  }
  if (hp.rope_scaling == RopeScaling::Yarn) {
    // llama.cpp applies 1 + 0.1 ln(factor) only while the ramp is on (ext_factor != 0). A yarn_attn_factor given
    // (transformers' attention_factor, as llama.cpp's converter writes it) replaces it, as in transformers; llama.cpp's
    // context overrides the key while the ramp is on.
    const double factor = hp.rope_scaling_factor;
    const bool ramp = hp.yarn_ext_factor != 0.0f && factor > 1.0;
    attn *= hp.yarn_attn_factor > 0.0f ? hp.yarn_attn_factor : (ramp ? 1.0 + 0.1 * std::log(factor) : 1.0);
  }
  return static_cast<float>(attn);
}

std::string read_architecture_name(const GgufFile& file) {
  const auto arch = file.get_string("general.architecture");
  if (!arch) throw Error(file.path() + ": missing metadata key general.architecture");
  return *arch;
}

HParams read_hparams(const GgufFile& file, const ArchSpec& arch) {
  HParams hp;
  hp.arch = read_architecture_name(file);
  hp.name = file.get_string("general.name").value_or("");
  const Reader r(file, hp.arch + ".");
  constexpr int64_t kBig = int64_t{1} << 24;
  hp.n_ctx_train = r.required_int("context_length", 1, int64_t{1} << 26);
  hp.n_embd = r.required_int("embedding_length", 1, kBig);
  hp.n_layer = r.required_int("block_count", 1, 4096);
  hp.n_ff = r.required_int("feed_forward_length", 1, kBig);
  hp.n_head = r.required_int("attention.head_count", 1, 4096);
  hp.n_head_kv = r.optional_int("attention.head_count_kv", hp.n_head, 1, hp.n_head);
  if (hp.n_head % hp.n_head_kv != 0) {
    throw Error(file.path() + ": attention.head_count (" + std::to_string(hp.n_head) +
                ") is not a multiple of attention.head_count_kv (" + std::to_string(hp.n_head_kv) + ")");
  }
  if (hp.n_embd % hp.n_head != 0 && !file.get_int(hp.arch + ".attention.key_length")) {
    throw Error(file.path() + ": embedding_length is not a multiple of attention.head_count");
  }
  hp.head_dim = r.optional_int("attention.key_length", hp.n_embd / hp.n_head, 2, 4096);
  const int64_t value_length = r.optional_int("attention.value_length", hp.head_dim, 1, 4096);
  if (value_length != hp.head_dim)
    throw Error(file.path() + ": attention.value_length differing from key_length is not supported");
  hp.n_rot = r.optional_int("rope.dimension_count", hp.head_dim, 2, hp.head_dim);
  if (hp.n_rot % 2 != 0) throw Error(file.path() + ": rope.dimension_count must be even");
  hp.rms_eps = r.optional_float("attention.layer_norm_rms_epsilon", 1e-5f);
  hp.rope_freq_base = r.optional_float("rope.freq_base", 10000.0f);
  read_rope_scaling(r, hp);
  read_block_options(r, arch, hp);
  read_experts(r, arch, hp);
  return hp;
}

}  // namespace ternion
