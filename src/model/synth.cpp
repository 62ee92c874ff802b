#include "ternion/model/synth.h"

#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/model/architecture.h"
#include "ternion/model/block_tensors.h"
#include "ternion/model/hparams.h"
#include "ternion/model/quantize.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

// The published configs of each family's small models.
SynthShape gemma2_2b() {
  SynthShape s{"gemma2-2b", "gemma2", 2304, 26, 8, 4, 9216, 10000.0f};
  s.tied_output = true;
  s.head_dim = 256;
  s.sliding_window = 4096;
  s.attn_softcap = 50.0f;
  s.final_softcap = 30.0f;
  return s;
}

SynthShape gemma3_1b() {
  SynthShape s{"gemma3-1b", "gemma3", 1152, 26, 4, 1, 6912, 1000000.0f};
  s.tied_output = true;
  s.head_dim = 256;
  s.sliding_window = 512;
  return s;
}

SynthShape granite_3b() {
  SynthShape s{"granite-3b", "granite", 2048, 40, 32, 8, 8192, 10000.0f};
  s.embedding_scale = 12.0f;
  s.residual_scale = 0.22f;
  s.attention_scale = 0.015625f;
  s.logit_scale = 8.0f;
  return s;
}

// Mixture-of-experts shapes: every layer has experts, as llama.cpp's converter writes these families.
SynthShape with_experts(SynthShape s, int64_t n_expert, int64_t n_used, int64_t n_ff_exp = 0, int64_t n_ff_shexp = 0) {
  s.fused.experts = true;
  s.n_expert = n_expert;
  s.n_expert_used = n_used;
  s.n_ff_exp = n_ff_exp;
  s.n_ff_shexp = n_ff_shexp;
  return s;
}

SynthShape with_head_dim(SynthShape s, int64_t head_dim) {
  s.head_dim = head_dim;
  return s;
}

// BitNet b1.58 2B-4T (bitnet-b1.58-2B-4T): written as llama.cpp's `bitnet` (SwiGLU where the released model has
// ReLU², the same cost), which llama.cpp and bitnet.cpp both load; embeddings tied as released.
SynthShape bitnet_2b() {
  SynthShape s{"bitnet-b1.58-2b", "bitnet", 2560, 30, 20, 5, 6912, 500000.0f};
  s.tied_output = true;
  return s;
}

const std::array<SynthShape, 16> kShapes = {{
    {"llama-3.2-1b", "llama", 2048, 16, 32, 8, 8192, 500000.0f},
    {"tinyllama-1.1b", "llama", 2048, 22, 32, 4, 5632, 10000.0f},
    {"smollm-135m", "llama", 576, 30, 9, 3, 1536, 10000.0f},
    {"qwen2-0.5b", "qwen2", 896, 24, 14, 2, 4864, 1000000.0f},
    with_head_dim({"qwen3-0.6b", "qwen3", 1024, 28, 16, 8, 3072, 1000000.0f}, 128),
    gemma2_2b(),
    gemma3_1b(),
    {"phi3-mini", "phi3", 3072, 32, 32, 32, 8192, 10000.0f, 0, 0, 0, false, {.qkv = true, .gate_up = true}},
    {"olmo2-1b", "olmo2", 2048, 16, 16, 16, 8192, 500000.0f},
    {"starcoder2-3b", "starcoder2", 3072, 30, 24, 2, 12288, 999999.4f},
    granite_3b(),
    {"smollm3-3b", "smollm3", 2048, 36, 16, 4, 11008, 5000000.0f},
    // A quarter of each head rotates.
    {"pythia-1b", "gptneox", 2048, 16, 8, 8, 8192, 10000.0f, 0, 64, 0, false, {.qkv = true}},
    // OLMoE-1B-7B: 64 experts of 1024 choosing 8 (1.3B of 6.9B parameters active).
    with_experts({"olmoe-1b-7b", "olmoe", 2048, 16, 16, 16, 1024, 10000.0f}, 64, 8),
    // Qwen1.5-MoE-A2.7B: 60 experts of 1408 choosing 4, and a shared expert of 5632.
    with_experts({"qwen1.5-moe-a2.7b", "qwen2moe", 2048, 24, 16, 16, 5632, 1000000.0f}, 60, 4, 1408, 5632),
    bitnet_2b(),
}};

// splitmix64: a tiny generator whose stream is the same on every platform and compiler.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-a, a).
  float uniform(float a) { return a * (static_cast<float>(next() >> 40) * (2.0f / 16777216.0f) - 1.0f); }

 private:
  uint64_t state_;
};

class Builder {
 public:
  Builder(GgufWriter& w, uint64_t seed) : w_(w), rng_(seed) {}

  // A matrix of `rows` rows of `cols` values, uniform with standard deviation `std`; `shape` (GGUF order) when it
  // is a stack of matrices (experts).
  void matrix(const std::string& name, int64_t cols, int64_t rows, float std, DType type,
              std::vector<uint64_t> shape = {}) {
    // A row the type's blocks do not divide falls back as llama-quantize does (smollm's 576-wide rows in Q4_K).
    if (cols % dtype_info(type).block_size != 0) type = quantize_fallback_type(type, static_cast<uint64_t>(cols), name);
    const auto& info = dtype_info(type);
    const float a = std * std::sqrt(3.0f);
    std::vector<float> row(static_cast<size_t>(cols));
    const size_t rb = row_bytes(info, static_cast<uint64_t>(cols));
    std::vector<uint8_t> data(rb * static_cast<size_t>(rows));
    const auto& traits = quant_traits(type);
    // A type with one scale per tensor (I2_S) takes codes: -1, 0, +1 about equally often, scaled by `std`.
    const bool codes = info.tail_bytes > 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (auto& v : row) v = codes ? std::nearbyint(rng_.uniform(1.49f)) : rng_.uniform(a);
      traits.from_float(row.data(), data.data() + static_cast<size_t>(r) * rb, cols);
    }
    if (codes) {
      data.resize(data.size() + info.tail_bytes, 0);
      std::memcpy(data.data() + rb * static_cast<size_t>(rows), &std, sizeof(float));
    }
    if (shape.empty()) shape = {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)};
    w_.add_tensor(name, shape, type, data);
  }

  void vector(const std::string& name, int64_t n, float base, float spread) {
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = base + rng_.uniform(spread);
    w_.add_tensor(name, {static_cast<uint64_t>(n)}, DType::F32,
                  {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)});
  }

 private:
  GgufWriter& w_;
  Rng rng_;
};

// The tensors the record's block needs (and an untied output): matrices uniform with standard deviation 0.02,
// norms about 1, biases about 0.
void add_tensors(GgufWriter& w, const ArchSpec& arch, const SynthShape& s, const SynthOptions& o, int64_t n_vocab) {
  HParams hp;
  hp.n_embd = s.n_embd;
  hp.n_head = s.n_head;
  hp.n_head_kv = s.n_head_kv;
  hp.head_dim = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  hp.n_rot = hp.head_dim;
  hp.n_ff = s.n_ff;
  hp.n_vocab = n_vocab;
  hp.n_expert = s.n_expert;
  hp.n_expert_used = s.n_expert_used;
  hp.n_ff_exp = s.n_ff_exp > 0 ? s.n_ff_exp : s.n_ff;
  hp.n_ff_shexp = s.n_ff_shexp > 0 ? s.n_ff_shexp : s.n_ff;
  Builder b(w, o.seed);
  // Embedding and output stay Q8_0 when the weights are quantized more coarsely, as quantized releases keep them.
  // So does I2_S's: one scale per tensor suits projections only (bitnet.cpp keeps its embeddings in F16).
  const DType wide = (o.type == DType::Q4_0 || o.type == DType::I2_S) ? DType::Q8_0 : o.type;
  const auto write = [&](const std::string& name, const TensorSlot& t) {
    if (t.role == TensorRole::kFfnGateInp) {  // routers stay F32, as llama.cpp keeps them
      b.matrix(name, static_cast<int64_t>(t.shape[0]), static_cast<int64_t>(t.shape[1]), 0.02f, DType::F32);
    } else if (t.shape.size() == 3) {
      const auto rows = static_cast<int64_t>(t.shape[1] * t.shape[2]);
      b.matrix(name, static_cast<int64_t>(t.shape[0]), rows, 0.02f, o.type, t.shape);
    } else if (t.shape.size() == 2) {
      const bool outer = t.role == TensorRole::kTokenEmbd || t.role == TensorRole::kOutput;
      b.matrix(name, static_cast<int64_t>(t.shape[0]), static_cast<int64_t>(t.shape[1]), 0.02f, outer ? wide : o.type);
    } else if (name.ends_with(".bias") || t.role == TensorRole::kGateInpShexp) {
      b.vector(name, static_cast<int64_t>(t.shape[0]), 0.0f, 0.02f);
    } else {
      b.vector(name, static_cast<int64_t>(t.shape[0]), 1.0f, 0.05f);
    }
  };
  std::vector<std::pair<std::string, TensorSlot>> todo;
  for (const TensorSlot& t : global_tensors(arch, hp)) {
    if (t.required || (t.role == TensorRole::kOutput && !s.tied_output)) todo.emplace_back(std::string(t.name), t);
  }
  const std::vector<TensorSlot> block = block_tensors(arch, hp, s.fused);
  for (int64_t l = 0; l < s.n_layer; ++l) {
    for (const TensorSlot& t : block) {
      if (t.required) todo.emplace_back("blk." + std::to_string(l) + "." + std::string(t.name), t);
    }
  }
  for (size_t i = 0; i < todo.size(); ++i) {
    write(todo[i].first, todo[i].second);
    if (o.progress) o.progress(i + 1, todo.size());
  }
}

}  // namespace

std::span<const SynthShape> synth_shapes() { return kShapes; }

const SynthShape& synth_shape(std::string_view name) {
  for (const auto& s : kShapes) {
    if (s.name == name) return s;
  }
  std::string list;
  for (const auto& s : kShapes) list += (list.empty() ? "" : ", ") + std::string(s.name);
  throw Error("unknown shape '" + std::string(name) + "' (known: " + list + ")");
}

void write_synthetic_model(const SynthOptions& o) {
  const SynthShape& s = o.custom ? *o.custom : synth_shape(o.shape);
  if (!has_quant_traits(o.type))
    throw Error("synth: type " + std::string(dtype_info(o.type).name) + " is not supported");
  const GgufFile vocab = GgufFile::open(o.vocab_from);
  const GgufArray* tokens = vocab.get_array("tokenizer.ggml.tokens");
  if (tokens == nullptr) throw Error(o.vocab_from + ": has no tokenizer.ggml.tokens to copy");
  const auto n_vocab = static_cast<int64_t>(tokens->count);

  const ArchSpec& arch = arch_spec(s.arch, "synth");
  const int64_t hd = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  const bool layer_norm = arch.norm == NormKind::kLayer;

  GgufWriter w;
  const std::string a(s.arch);
  w.set_string("general.architecture", a);
  w.set_string("general.name", "synthetic " + std::string(s.name));
  w.set_u32(a + ".context_length", static_cast<uint32_t>(o.n_ctx));
  w.set_u32(a + ".embedding_length", static_cast<uint32_t>(s.n_embd));
  w.set_u32(a + ".block_count", static_cast<uint32_t>(s.n_layer));
  w.set_u32(a + ".feed_forward_length", static_cast<uint32_t>(s.n_ff));
  w.set_u32(a + ".attention.head_count", static_cast<uint32_t>(s.n_head));
  w.set_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.n_head_kv));
  if (s.head_dim > 0) {
    w.set_u32(a + ".attention.key_length", static_cast<uint32_t>(hd));
    w.set_u32(a + ".attention.value_length", static_cast<uint32_t>(hd));
  }
  w.set_f32(a + (layer_norm ? ".attention.layer_norm_epsilon" : ".attention.layer_norm_rms_epsilon"), 1e-5f);
  w.set_f32(a + ".rope.freq_base", s.rope_theta);
  if (s.n_rot > 0) w.set_u32(a + ".rope.dimension_count", static_cast<uint32_t>(s.n_rot));
  if (s.sliding_window > 0) w.set_u32(a + ".attention.sliding_window", static_cast<uint32_t>(s.sliding_window));
  const std::pair<const char*, float> extras[] = {
      {".attn_logit_softcapping", s.attn_softcap}, {".final_logit_softcapping", s.final_softcap},
      {".embedding_scale", s.embedding_scale},     {".residual_scale", s.residual_scale},
      {".attention.scale", s.attention_scale},     {".logit_scale", s.logit_scale}};
  for (const auto& [key, value] : extras) {
    if (value != 0.0f) w.set_f32(a + key, value);
  }
  if (s.n_expert > 0) {
    w.set_u32(a + ".expert_count", static_cast<uint32_t>(s.n_expert));
    w.set_u32(a + ".expert_used_count", static_cast<uint32_t>(s.n_expert_used));
    if (s.n_ff_exp > 0) w.set_u32(a + ".expert_feed_forward_length", static_cast<uint32_t>(s.n_ff_exp));
    if (s.n_ff_shexp > 0) w.set_u32(a + ".expert_shared_feed_forward_length", static_cast<uint32_t>(s.n_ff_shexp));
  }
  for (const auto& [key, value] : vocab.metadata()) {
    if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
  }

  add_tensors(w, arch, s, o, n_vocab);
  std::vector<std::string> inputs;
  if (!o.vocab_from.empty()) inputs.push_back(o.vocab_from);
  w.write(o.output, 32, inputs);
}

}  // namespace ternion
