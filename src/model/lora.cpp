#include "ternion/model/lora.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <utility>

#include "ternion/core/error.h"
#include "ternion/io/gguf.h"
#include "ternion/model/hparams.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

size_t sz(int64_t n) { return static_cast<size_t>(n); }

// A matrix the base tensor is bound as, and the tensor's row it starts at (a fused tensor is several).
struct Target {
  const WeightMatrix* w;
  int64_t row0;
};

// The layer of "blk.N.rest" and rest; -1 for a name outside the blocks.
std::pair<int64_t, std::string_view> split_layer(std::string_view name) {
  if (!name.starts_with("blk.")) return {-1, name};
  const size_t dot = name.find('.', 4);
  int64_t layer = -1;
  if (dot == std::string_view::npos) return {-2, name};
  const auto [end, ec] = std::from_chars(name.data() + 4, name.data() + dot, layer);
  if (ec != std::errc() || end != name.data() + dot || layer < 0) return {-2, name};
  return {layer, name.substr(dot + 1)};
}

// The matrices of `model` the base tensor `name` holds, given the adapter's output rows (B's): a fused tensor
// (attn_qkv; Phi-3's ffn_up holding the gate's rows then up's) is the projections it is bound as. Empty: none.
std::vector<Target> targets_of(const Model& model, std::string_view name, int64_t rows) {
  const ModelWeights& w = model.weights();
  if (name == "output.weight") return {{&w.output, 0}};
  const auto [layer, rest] = split_layer(name);
  if (layer < 0 || layer >= static_cast<int64_t>(w.layers.size())) return {};
  const LayerWeights& l = w.layers[sz(layer)];
  std::vector<Target> t;
  const auto add = [&t](const WeightMatrix& m, int64_t row0) { t.push_back({&m, row0}); };
  if (rest == "attn_q.weight") add(l.wq, 0);
  if (rest == "attn_k.weight") add(l.wk, 0);
  if (rest == "attn_v.weight") add(l.wv, 0);
  if (rest == "attn_output.weight") add(l.wo, 0);
  if (rest == "ffn_gate.weight") add(l.w_gate, 0);
  if (rest == "ffn_down.weight") add(l.w_down, 0);
  if (rest == "attn_qkv.weight") {
    add(l.wq, 0);
    add(l.wk, l.wq.rows);
    add(l.wv, l.wq.rows + l.wk.rows);
  }
  if (rest == "ffn_up.weight") {
    if (l.w_gate.data != nullptr && rows == l.w_gate.rows + l.w_up.rows) add(l.w_gate, 0);
    add(l.w_up, t.empty() ? 0 : l.w_gate.rows);
  }
  for (const Target& x : t) {
    if (x.w->data == nullptr) return {};  // a projection this block does not have
  }
  return t;
}

std::string shape_string(const std::vector<uint64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i > 0 ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::vector<float> to_floats(const GgufTensorInfo& t, const std::string& path) {
  if (!has_quant_traits(t.type) || t.shape[0] % dtype_info(t.type).block_size != 0) {
    throw Error(path + ": tensor " + t.name + " has type " + std::string(dtype_info(t.type).name) +
                ", which adapters cannot use");
  }
  std::vector<float> out(t.n_elements);
  quant_traits(t.type).to_float(t.data, out.data(), static_cast<int64_t>(t.n_elements));
  return out;
}

void check_metadata(const GgufFile& f, const Model& model) {
  const std::string& path = f.path();
  const std::string type = f.get_string("general.type").value_or("");
  if (type != "adapter") {
    throw Error(path + ": not a LoRA adapter (general.type is '" + gguf_escape(type) + "', expected 'adapter')");
  }
  const std::string adapter_type = f.get_string("adapter.type").value_or("");
  if (adapter_type != "lora") {
    throw Error(path + ": adapter.type is '" + gguf_escape(adapter_type) + "', only 'lora' is supported");
  }
  const std::string arch = f.get_string("general.architecture").value_or("");
  if (arch != model.arch().name) {
    throw Error(path + ": an adapter for architecture '" + gguf_escape(arch) + "', but the model is '" +
                std::string(model.arch().name) + "'");
  }
}

// A GGUF adapter's B rows of Q and K are in the file's adjacent-pair order (row 2i of a head from i, 2i + 1 from
// i + head_rows/2, as convert permutes them). A model run from an HF folder keeps HF's rotate-half rows (NeoX RoPE),
// so B's rows go back to that order.
void unpermute_qk_rows(LoraMatrix& m, const Model& model) {
  const HParams& hp = model.hparams();
  if (model.arch().rope_kind != RopeKind::Adjacent || hp.rope_kind != RopeKind::NeoX) return;
  const std::string_view rest = split_layer(m.name).second;
  const int64_t heads = rest == "attn_q.weight" ? hp.n_head : rest == "attn_k.weight" ? hp.n_head_kv : 0;
  if (heads == 0) return;
  const int64_t head_rows = m.rows / heads;
  std::vector<float> hf(m.b.size());
  for (int64_t r = 0; r < m.rows; ++r) {
    const int64_t head = r / head_rows, within = r % head_rows;
    const int64_t from = head * head_rows + (within % 2) * (head_rows / 2) + within / 2;
    std::copy_n(m.b.data() + r * m.rank, m.rank, hf.data() + from * m.rank);
  }
  m.b = std::move(hf);
}

// One A/B pair checked against the matrices it adapts.
LoraMatrix make_matrix(const std::string& name, const GgufTensorInfo* a, const GgufTensorInfo* b, const Model& model,
                       const std::string& path) {
  if (a == nullptr || b == nullptr) {
    throw Error(path + ": tensor " + name + " has " + (a == nullptr ? "lora_b but no lora_a" : "lora_a but no lora_b"));
  }
  if (name == "token_embd.weight") throw Error(path + ": adapters of the token embedding are not supported");
  if (name == "output.weight" && model.weights().tied_output) {
    throw Error(path + ": adapts output.weight, but the model's output is tied to its token embedding");
  }
  if (a->shape.size() != 2 || b->shape.size() != 2 || a->shape[1] != b->shape[0] || a->shape[1] == 0) {
    throw Error(path + ": " + name + ".lora_a " + shape_string(a->shape) + " and .lora_b " + shape_string(b->shape) +
                " are not [cols, rank] and [rank, rows]");
  }
  LoraMatrix m;
  m.name = name;
  m.cols = static_cast<int64_t>(a->shape[0]);
  m.rank = static_cast<int64_t>(a->shape[1]);
  m.rows = static_cast<int64_t>(b->shape[1]);
  const std::vector<Target> targets = targets_of(model, name, m.rows);
  if (targets.empty()) {
    throw Error(path + ": tensor " + name + " is not a matrix of this " + std::string(model.arch().name) + " model");
  }
  int64_t rows = 0;
  for (const Target& t : targets) rows += t.w->rows;
  if (targets[0].w->cols != m.cols || rows != m.rows) {
    throw Error(path + ": tensor " + name + " adapts a [" + std::to_string(m.cols) + ", " + std::to_string(m.rows) +
                "] matrix, the model's is [" + std::to_string(targets[0].w->cols) + ", " + std::to_string(rows) +
                "] (an adapter for another model?)");
  }
  if (m.rank > m.cols) throw Error(path + ": tensor " + name + " has rank " + std::to_string(m.rank) + " > its cols");
  m.a = to_floats(*a, path);
  m.b = to_floats(*b, path);
  unpermute_qk_rows(m, model);
  return m;
}

}  // namespace

std::shared_ptr<const LoraAdapter> LoraAdapter::load(const std::string& path, const Model& model) {
  const GgufFile f = GgufFile::open(path);
  check_metadata(f, model);
  auto adapter = std::make_shared<LoraAdapter>();
  adapter->path_ = path;
  adapter->alpha_ = static_cast<float>(f.get_float("adapter.lora.alpha").value_or(0.0));
  // Pairs by base name, in name order so the terms' order never depends on the file's.
  std::map<std::string, std::pair<const GgufTensorInfo*, const GgufTensorInfo*>> pairs;
  for (const GgufTensorInfo& t : f.tensors()) {
    const std::string_view n = t.name;
    if (n.ends_with(".lora_a")) {
      pairs[std::string(n.substr(0, n.size() - 7))].first = &t;
    } else if (n.ends_with(".lora_b")) {
      pairs[std::string(n.substr(0, n.size() - 7))].second = &t;
    } else {
      throw Error(path + ": tensor " + gguf_escape(t.name) + " is not a .lora_a or .lora_b tensor");
    }
  }
  if (pairs.empty()) throw Error(path + ": the adapter has no tensors");
  for (const auto& [name, ab] : pairs) {
    adapter->matrices_.push_back(make_matrix(name, ab.first, ab.second, model, path));
  }
  return adapter;
}

std::vector<LoraUse> load_lora_adapters(std::span<const std::pair<std::string, float>> files, const Model& model) {
  std::vector<LoraUse> uses;
  for (const auto& [path, scale] : files) uses.push_back({LoraAdapter::load(path, model), scale});
  return uses;
}

LoraBinding::LoraBinding(const Model& model, std::span<const LoraUse> uses) : uses_(uses.begin(), uses.end()) {
  for (size_t iu = 0; iu < uses_.size(); ++iu) {
    const LoraUse& u = uses_[iu];
    for (const LoraMatrix& m : u.adapter->matrices()) {
      const float s = u.adapter->effective_scale(m, u.scale);
      const WeightMatrix* a = views_
                                  .emplace_back(std::make_unique<WeightMatrix>(WeightMatrix{
                                      DType::F32, m.rank, m.cols, reinterpret_cast<const uint8_t*>(m.a.data()),
                                      sz(m.cols) * sizeof(float)}))
                                  .get();
      for (const Target& t : targets_of(model, m.name, m.rows)) {
        const float* b_rows = m.b.data() + t.row0 * m.rank;
        const WeightMatrix* b = views_
                                    .emplace_back(std::make_unique<WeightMatrix>(WeightMatrix{
                                        DType::F32, t.w->rows, m.rank, reinterpret_cast<const uint8_t*>(b_rows),
                                        sz(m.rank) * sizeof(float)}))
                                    .get();
        terms_[t.w].push_back({a, b, s});
        sources_[t.w].push_back({static_cast<int32_t>(iu), u.adapter->effective_scale(m, 1.0f)});
        max_rows_ = std::max(max_rows_, t.w->rows);
      }
      max_rank_ = std::max(max_rank_, m.rank);
    }
  }
}

bool merge_lora(std::string_view name, std::span<const LoraUse> uses, float* w, int64_t rows, int64_t cols) {
  bool any = false;
  std::vector<float> delta(sz(cols));
  for (const LoraUse& u : uses) {
    for (const LoraMatrix& m : u.adapter->matrices()) {
      if (m.name != name) continue;
      if (m.rows != rows || m.cols != cols) {
        throw Error(u.adapter->path() + ": tensor " + m.name + " does not fit the base tensor's shape");
      }
      const float s = u.adapter->effective_scale(m, u.scale);
      for (int64_t r = 0; r < rows; ++r) {
        std::fill(delta.begin(), delta.end(), 0.0f);
        for (int64_t k = 0; k < m.rank; ++k) {
          const float bk = m.b[sz(r * m.rank + k)];
          const float* ak = m.a.data() + k * cols;
          for (int64_t c = 0; c < cols; ++c) delta[sz(c)] += bk * ak[c];
        }
        float* wr = w + r * cols;
        for (int64_t c = 0; c < cols; ++c) wr[c] += s * delta[sz(c)];
      }
      any = true;
    }
  }
  return any;
}

}  // namespace ternion
