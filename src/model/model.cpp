#include "ternion/model/model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <span>
#include <string>

#include "ternion/core/error.h"
#include "ternion/model/block_tensors.h"
#include "ternion/quant/interleave.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

std::string shape_string(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

struct BoundTensor {
  WeightMatrix matrix{};              // a 2-D tensor
  const float* vector = nullptr;      // a 1-D one
  std::vector<WeightMatrix> experts;  // a 3-D one: one matrix per expert (ne2)
};

// Looks up tensors by name and checks their shapes against what the hyper-parameters imply.
template <typename Table>
class Binder {
 public:
  Binder(const std::string& path, const Table& tensors, std::vector<std::vector<float>>& converted)
      : path_(path), tensors_(tensors), converted_(converted) {}

  const typename Table::mapped_type* find(const std::string& name) const {
    const auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
  }

  const typename Table::mapped_type& require(const std::string& name, const std::vector<uint64_t>& shape) const {
    const auto* t = find(name);
    if (t == nullptr) throw Error(path_ + ": missing tensor " + name);
    if (t->shape != shape) {
      throw Error(path_ + ": tensor " + name + " has shape " + shape_string(t->shape) + ", expected " +
                  shape_string(shape));
    }
    return *t;
  }

  // A 2-D weight used by matmul: ne0 = cols, ne1 = rows.
  WeightMatrix matrix(const std::string& name, int64_t cols, int64_t rows) const {
    return matrix_of(name, require(name, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)}), cols, rows);
  }

  WeightMatrix matrix_of(const std::string& name, const typename Table::mapped_type& t, int64_t cols,
                         int64_t rows) const {
    if (!has_quant_traits(t.type) || quant_traits(t.type).vec_dot == nullptr) {
      throw Error(path_ + ": tensor " + name + " has type " + std::string(dtype_info(t.type).name) +
                  ", which this build cannot compute yet");
    }
    const DTypeInfo& info = dtype_info(t.type);
    WeightMatrix m{t.type, rows, cols, t.data, row_bytes(info, static_cast<uint64_t>(cols))};
    if (info.tail_bytes > 0) m.scale = tail_scale(name, t, static_cast<uint64_t>(rows) * m.row_bytes);
    return m;
  }

  // The tensor's one scale after its rows (I2_S): a finite float.
  float tail_scale(const std::string& name, const typename Table::mapped_type& t, uint64_t rows_bytes) const {
    float s = 0;
    if (t.n_bytes < rows_bytes + sizeof(float)) throw Error(path_ + ": tensor " + name + " has no room for its scale");
    std::memcpy(&s, t.data + rows_bytes, sizeof(float));
    if (!std::isfinite(s)) throw Error(path_ + ": tensor " + name + " has a scale that is not finite");
    return s;
  }

  // A 3-D weight [cols, rows, n]: n matrices, views of consecutive slices (one per expert).
  std::vector<WeightMatrix> matrices(const std::string& name, const std::vector<uint64_t>& shape) const {
    const auto& t = require(name, shape);
    if (dtype_info(t.type).tail_bytes > 0) {
      throw Error(path_ + ": tensor " + name + ": experts in " + std::string(dtype_info(t.type).name) +
                  " (one scale for all of them) are not supported");
    }
    const WeightMatrix first = matrix_of(name, t, static_cast<int64_t>(shape[0]), static_cast<int64_t>(shape[1]));
    std::vector<WeightMatrix> out(static_cast<size_t>(shape[2]), first);
    for (size_t e = 0; e < out.size(); ++e) out[e].data += e * static_cast<size_t>(first.rows) * first.row_bytes;
    return out;
  }

  // A 1-D vector as float; converted once when stored in another type. A [n, 1] matrix is a vector too (a
  // one-output linear layer, as HF stores Qwen2-MoE's shared expert gate).
  const float* vector(const std::string& name, int64_t n, bool optional = false) const {
    if (optional && find(name) == nullptr) return nullptr;
    const auto* column = find(name);
    const auto n64 = static_cast<uint64_t>(n);
    const auto& t =
        column != nullptr && column->shape == std::vector<uint64_t>{n64, 1} ? *column : require(name, {n64});
    if (t.type == DType::F32) return reinterpret_cast<const float*>(t.data);
    if (!has_quant_traits(t.type) || n % dtype_info(t.type).block_size != 0) {
      throw Error(path_ + ": tensor " + name + " has unsupported type " + std::string(dtype_info(t.type).name));
    }
    auto& out = converted_.emplace_back(static_cast<size_t>(n));
    quant_traits(t.type).to_float(t.data, out.data(), n);
    return out.data();
  }

  // A tensor of an architecture's list (block_tensors.h): a matrix when 2-D, a vector when 1-D; empty when it is
  // optional and absent.
  BoundTensor slot(const std::string& name, const TensorSlot& s) const {
    if (s.shape.size() == 1) {
      return {.vector = vector(name, static_cast<int64_t>(s.shape[0]), !s.required), .experts = {}};
    }
    if (!s.required && find(name) == nullptr) return {};
    if (s.shape.size() == 3) return {.experts = matrices(name, s.shape)};
    WeightMatrix m = matrix(name, static_cast<int64_t>(s.shape[0]), static_cast<int64_t>(s.shape[1]));
    m.scale *= matrix_scale(name);
    return {.matrix = m, .experts = {}};
  }

  // A matrix's `<stem>.scale` ([1], as llama.cpp's bitnet files may have: the product is multiplied by it); 1
  // when there is none.
  float matrix_scale(const std::string& name) const {
    if (!name.ends_with(".weight")) return 1.0f;
    const std::string scale_name = name.substr(0, name.size() - 7) + ".scale";
    if (find(scale_name) == nullptr) return 1.0f;
    const float s = *vector(scale_name, 1);
    if (!std::isfinite(s)) throw Error(path_ + ": tensor " + scale_name + " is not finite");
    return s;
  }

 private:
  const std::string& path_;
  const Table& tensors_;
  std::vector<std::vector<float>>& converted_;
};

}  // namespace

Model::Model(GgufFile file) : file_(std::move(file)) {}

std::unique_ptr<Model> Model::from_gguf(const std::string& path, const LoadOptions& options,
                                        const LoadProgress& progress) {
  std::unique_ptr<Model> m(new Model(GgufFile::open(path)));
  for (const GgufTensorInfo& t : m->file_.tensors()) {
    m->tensors_.emplace(t.name, TensorView{t.shape, t.type, t.data, t.n_bytes, t.n_elements});
  }
  m->set_hparams(false);
  m->bind_weights();
  if (options.resident) m->make_resident(true, options.hugetlb, progress);
  return m;
}

std::unique_ptr<Model> Model::from_source(ModelSource source, const LoadOptions& options,
                                          const LoadProgress& progress) {
  auto bytes = std::make_shared<const std::vector<uint8_t>>(source.metadata.to_gguf_bytes());
  std::unique_ptr<Model> m(new Model(GgufFile::parse(*bytes, source.path)));
  m->metadata_bytes_ = std::move(bytes);
  for (const SourceTensor& t : source.tensors) {
    TensorView v{t.shape, t.type, t.data, t.n_bytes, 1};
    for (const uint64_t d : t.shape) v.n_elements *= d;
    // Kernels read whole elements: a tensor at an address that is not a multiple of its element size is copied.
    const size_t align = dtype_info(t.type).block_bytes;
    if (reinterpret_cast<uintptr_t>(t.data) % align != 0) {
      const auto& copy = m->copied_.emplace_back(t.data, t.data + t.n_bytes);
      v.data = copy.data();
    }
    if (!m->tensors_.emplace(t.name, v).second) throw Error(source.path + ": tensor " + t.name + " appears twice");
  }
  m->generation_ = source.generation;
  const bool rotate_half = source.qk_rotate_half;
  m->source_ = std::move(source);
  m->set_hparams(rotate_half);
  m->bind_weights();
  if (options.resident) m->make_resident(false, options.hugetlb, progress);
  return m;
}

void Model::make_resident(bool copy_all, bool hugetlb, const LoadProgress& progress) {
  std::vector<WeightMatrix*> matrices;
  for (LayerWeights& l : w_.layers) {
    for (WeightMatrix* m :
         {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down, &l.w_gate_shexp, &l.w_up_shexp, &l.w_down_shexp}) {
      if (m->data != nullptr) matrices.push_back(m);  // a plain FFN has no gate
    }
    // Each expert is a matrix of its own, copied (or packed) slice by slice: a token's matmuls read only its
    // experts' slices. The router stays where it is (F32 and small, like the norms).
    for (auto* list : {&l.gate_exps, &l.up_exps, &l.down_exps}) {
      for (WeightMatrix& m : *list) matrices.push_back(&m);
    }
  }
  if (!w_.tied_output) matrices.push_back(&w_.output);  // a tied output is also read row by row as the embedding
  matrices.push_back(&w_.token_embd);
  // One arena for all of them (ternion/core/page_memory.h: transparent huge pages, or reserved ones with
  // `hugetlb`): decode streams every byte of it once per token, and huge pages spare the page walks of 4 KiB pages.
  constexpr size_t kAlign = 64;
  std::vector<const InterleavedKernels*> kernels;
  std::vector<size_t> offsets;
  size_t total = 0;
  for (WeightMatrix* m : matrices) {
    const bool is_embd = m == &w_.token_embd;
    const InterleavedKernels* k = is_embd ? nullptr : interleaved_kernels(m->type);
    kernels.push_back(k);
    offsets.push_back(total);
    if (k == nullptr && !copy_all) continue;
    const size_t plain_bytes = static_cast<size_t>(m->rows) * m->row_bytes;
    total += ((k != nullptr ? interleaved_bytes(*k, m->rows, m->cols) : plain_bytes) + kAlign - 1) / kAlign * kAlign;
  }
  if (total == 0) return;
  PageMemory arena(total, hugetlb, file_.path() + ": the weights (" + std::to_string(total) + " bytes)");
  for (size_t i = 0; i < matrices.size(); ++i) {
    WeightMatrix* m = matrices[i];
    const InterleavedKernels* k = kernels[i];
    if (k == nullptr && !copy_all) continue;
    uint8_t* buf = arena.data() + offsets[i];
    const size_t plain_bytes = static_cast<size_t>(m->rows) * m->row_bytes;
    if (k != nullptr) {
      k->pack(m->data, m->row_bytes, m->rows, m->cols, buf);
      m->interleaved = buf;
      m->interleaved_ops = k;
    } else {
      std::memcpy(buf, m->data, plain_bytes);
    }
    file_.release(m->data, plain_bytes);
    if (k == nullptr) m->data = buf;
    if (progress) progress(offsets[i] + plain_bytes, total);
  }
  if (progress) progress(total, total);
  resident_.push_back(std::move(arena));
  if (w_.tied_output) w_.output = w_.token_embd;
}

void Model::set_hparams(bool rotate_half) {
  arch_ = &arch_spec(read_architecture_name(file_), file_.path());
  hp_ = read_hparams(file_, *arch_);
  // Q/K rows in rotate-half order (HF) pair dimension i with i + n_rot/2: NeoX RoPE, whatever the GGUF layout says.
  hp_.rope_kind = rotate_half ? RopeKind::NeoX : arch_->rope_kind;
}

Vocab Model::vocab() const {
  Vocab v = source_ && source_->vocab ? *source_->vocab : vocab_from_gguf(file_);
  const auto n = static_cast<int32_t>(v.tokens.size());
  for (const int32_t id : generation_.eos_ids) {
    if (id >= 0 && id < n) v.eog.push_back(id);
  }
  std::sort(v.eog.begin(), v.eog.end());
  v.eog.erase(std::unique(v.eog.begin(), v.eog.end()), v.eog.end());
  return v;
}

namespace {

// Rows [r0, r0 + n) of a matrix, as a matrix of their own (the projections of a fused tensor).
WeightMatrix row_view(const WeightMatrix& m, int64_t r0, int64_t n) {
  WeightMatrix v = m;
  v.rows = n;
  v.data = m.data + static_cast<size_t>(r0) * m.row_bytes;
  return v;
}

// Where the tensors of the lists (block_tensors.h) go; fused ones are split in place().
using FloatPtr = const float*;
template <typename Weights>
using VectorIn = std::pair<TensorRole, FloatPtr Weights::*>;
template <typename Weights>
using MatrixIn = std::pair<TensorRole, WeightMatrix Weights::*>;
constexpr VectorIn<ModelWeights> kGlobalVectors[] = {
    {TensorRole::kTokenEmbdNorm, &ModelWeights::token_embd_norm},
    {TensorRole::kTokenEmbdNormBias, &ModelWeights::token_embd_norm_b},
    {TensorRole::kOutputNorm, &ModelWeights::output_norm},
    {TensorRole::kOutputNormBias, &ModelWeights::output_norm_b},
};
constexpr MatrixIn<ModelWeights> kGlobalMatrices[] = {
    {TensorRole::kTokenEmbd, &ModelWeights::token_embd},
    {TensorRole::kOutput, &ModelWeights::output},
};
constexpr VectorIn<LayerWeights> kLayerVectors[] = {
    {TensorRole::kAttnNorm, &LayerWeights::attn_norm},
    {TensorRole::kAttnNormBias, &LayerWeights::attn_norm_b},
    {TensorRole::kQBias, &LayerWeights::bq},
    {TensorRole::kKBias, &LayerWeights::bk},
    {TensorRole::kVBias, &LayerWeights::bv},
    {TensorRole::kOutBias, &LayerWeights::bo},
    {TensorRole::kQNorm, &LayerWeights::q_norm},
    {TensorRole::kKNorm, &LayerWeights::k_norm},
    {TensorRole::kPostAttnNorm, &LayerWeights::post_attn_norm},
    {TensorRole::kFfnNorm, &LayerWeights::ffn_norm},
    {TensorRole::kFfnNormBias, &LayerWeights::ffn_norm_b},
    {TensorRole::kUpBias, &LayerWeights::b_up},
    {TensorRole::kDownBias, &LayerWeights::b_down},
    {TensorRole::kPostFfnNorm, &LayerWeights::post_ffn_norm},
    {TensorRole::kAttnSubNorm, &LayerWeights::attn_sub_norm},
    {TensorRole::kFfnSubNorm, &LayerWeights::ffn_sub_norm},
};
constexpr MatrixIn<LayerWeights> kLayerMatrices[] = {
    {TensorRole::kQ, &LayerWeights::wq},
    {TensorRole::kK, &LayerWeights::wk},
    {TensorRole::kV, &LayerWeights::wv},
    {TensorRole::kOut, &LayerWeights::wo},
    {TensorRole::kGate, &LayerWeights::w_gate},
    {TensorRole::kUp, &LayerWeights::w_up},
    {TensorRole::kDown, &LayerWeights::w_down},
    {TensorRole::kFfnGateInp, &LayerWeights::ffn_gate_inp},
    {TensorRole::kGateShexp, &LayerWeights::w_gate_shexp},
    {TensorRole::kUpShexp, &LayerWeights::w_up_shexp},
    {TensorRole::kDownShexp, &LayerWeights::w_down_shexp},
};

template <typename Weights>
void place_in(Weights& w, TensorRole role, const BoundTensor& t, std::span<const VectorIn<Weights>> vectors,
              std::span<const MatrixIn<Weights>> matrices) {
  for (const auto& [r, member] : vectors) {
    if (r == role) w.*member = t.vector;
  }
  for (const auto& [r, member] : matrices) {
    if (r == role) w.*member = t.matrix;
  }
}

// Puts a block's tensor in its place; a fused one as one view per projection (its bias as offsets into it).
void place(LayerWeights& l, TensorRole role, const BoundTensor& t, const HParams& hp) {
  place_in<LayerWeights>(l, role, t, kLayerVectors, kLayerMatrices);
  const int64_t qd = hp.q_dim(), kvd = hp.kv_dim();
  if (role == TensorRole::kQkv) {
    l.wq = row_view(t.matrix, 0, qd);
    l.wk = row_view(t.matrix, qd, kvd);
    l.wv = row_view(t.matrix, qd + kvd, kvd);
  } else if (role == TensorRole::kQkvBias && t.vector != nullptr) {
    l.bq = t.vector;
    l.bk = t.vector + qd;
    l.bv = t.vector + qd + kvd;
  } else if (role == TensorRole::kGateUp) {  // the gate's rows first (Phi-3)
    l.w_gate = row_view(t.matrix, 0, hp.n_ff);
    l.w_up = row_view(t.matrix, hp.n_ff, hp.n_ff);
  } else if (role == TensorRole::kGateExps) {
    l.gate_exps = t.experts;
  } else if (role == TensorRole::kUpExps) {
    l.up_exps = t.experts;
  } else if (role == TensorRole::kDownExps) {
    l.down_exps = t.experts;
  } else if (role == TensorRole::kGateInpShexp) {  // a one-row matrix, so the gate's logit is a matmul
    l.gate_inp_shexp = {DType::F32, 1, hp.n_embd, reinterpret_cast<const uint8_t*>(t.vector),
                        static_cast<size_t>(hp.n_embd) * sizeof(float)};
  }
}

// The RoPE tables' settings from the hyper-parameters and the factor tensors (llama-3's rope_freqs, LongRoPE's
// rope_factors_short/long, each [n_rot / 2]). A file holding LongRoPE factors is LongRoPE whatever its type key says,
// as in llama.cpp, whose Phi-3 converter writes no type; hp.rope_scaling is set to say so.
template <typename B>
RopeConfig bind_rope(const B& b, HParams& hp, const std::string& path) {
  const int64_t half = hp.n_rot / 2;
  const auto factors = [&](const std::string& name) {
    const float* f = b.vector(name, half, true);
    if (f == nullptr) return std::vector<float>{};
    for (int64_t i = 0; i < half; ++i) {
      if (!(f[i] > 0.0f) || !std::isfinite(f[i])) throw Error(path + ": " + name + " holds a non-positive value");
    }
    return std::vector<float>(f, f + half);
  };
  RopeConfig rope;
  rope.freq_factors = factors("rope_freqs.weight");
  std::vector<float> short_factors = factors("rope_factors_short.weight");
  std::vector<float> long_factors = factors("rope_factors_long.weight");
  if (!short_factors.empty() || !long_factors.empty() || hp.rope_scaling == RopeScaling::LongRope) {
    if (short_factors.empty() || long_factors.empty()) {
      throw Error(path + ": LongRoPE needs both rope_factors_short.weight and rope_factors_long.weight");
    }
    if (hp.rope_scaling == RopeScaling::Yarn || !rope.freq_factors.empty()) {
      throw Error(path + ": LongRoPE factor tensors together with YaRN or rope_freqs.weight");
    }
    hp.rope_scaling = RopeScaling::LongRope;
    hp.rope_scaling_factor = 1.0f;
    rope.freq_factors = std::move(short_factors);
    rope.freq_factors_long = std::move(long_factors);
  }
  rope.kind = hp.rope_kind;
  rope.n_rot = hp.n_rot;
  rope.freq_base = hp.rope_freq_base;
  rope.scaling = hp.rope_scaling;
  rope.freq_scale = hp.rope_scaling == RopeScaling::None ? 1.0f : 1.0f / hp.rope_scaling_factor;
  rope.n_ctx_orig = hp.rope_orig_ctx;
  rope.yarn_ext_factor = hp.yarn_ext_factor;
  rope.yarn_beta_fast = hp.yarn_beta_fast;
  rope.yarn_beta_slow = hp.yarn_beta_slow;
  rope.attn_factor = rope_attention_factor(hp);
  return rope;
}

}  // namespace

void Model::bind_weights() {
  const Binder b(file_.path(), tensors_, converted_);
  HParams& hp = hp_;
  const ArchSpec& arch = *arch_;
  const auto* embd = b.find("token_embd.weight");
  if (embd == nullptr) throw Error(file_.path() + ": missing tensor token_embd.weight");
  if (embd->shape.size() != 2 || embd->shape[0] != static_cast<uint64_t>(hp.n_embd)) {
    throw Error(file_.path() + ": tensor token_embd.weight has shape " + shape_string(embd->shape) + ", expected [" +
                std::to_string(hp.n_embd) + ", n_vocab]");
  }
  hp.n_vocab = static_cast<int64_t>(embd->shape[1]);
  if (dtype_info(embd->type).tail_bytes > 0) {  // rows are looked up one by one, without the tensor's scale
    throw Error(file_.path() + ": tensor token_embd.weight is " + std::string(dtype_info(embd->type).name) +
                ", which is only supported for projections (bitnet.cpp keeps embeddings in F16)");
  }
  for (const TensorSlot& s : global_tensors(arch, hp)) {
    place_in<ModelWeights>(w_, s.role, b.slot(std::string(s.name), s), kGlobalVectors, kGlobalMatrices);
  }
  w_.tied_output = w_.output.data == nullptr;
  if (w_.tied_output) w_.output = w_.token_embd;
  w_.layers.resize(static_cast<size_t>(hp.n_layer));
  for (int64_t i = 0; i < hp.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    const FusedTensors fused =
        fused_tensors(arch, [&](std::string_view name) { return b.find(p + std::string(name)) != nullptr; });
    if (fused.experts && hp.n_expert == 0) {
      throw Error(file_.path() + ": tensor " + p + "ffn_gate_inp.weight (a router) but no " + hp.arch +
                  ".expert_count");
    }
    for (const TensorSlot& s : block_tensors(arch, hp, fused)) {
      place(w_.layers[static_cast<size_t>(i)], s.role, b.slot(p + std::string(s.name), s), hp);
    }
  }

  rope_ = bind_rope(b, hp, file_.path());
}

size_t Model::weight_bytes() const {
  size_t n = 0;
  for (const auto& entry : tensors_) n += static_cast<size_t>(entry.second.n_bytes);
  return n;
}

uint64_t Model::n_params() const {
  uint64_t n = 0;
  for (const auto& entry : tensors_) n += entry.second.n_elements;
  return n;
}

uint64_t Model::n_active_params() const {
  uint64_t idle = 0;
  for (const LayerWeights& l : w_.layers) {
    if (!l.has_experts()) continue;
    uint64_t per_expert = 0;
    for (const auto* list : {&l.gate_exps, &l.up_exps, &l.down_exps}) {
      if (!list->empty()) per_expert += static_cast<uint64_t>(list->front().rows * list->front().cols);
    }
    idle += per_expert * static_cast<uint64_t>(hp_.n_expert - hp_.n_expert_used);
  }
  return n_params() - idle;
}

std::vector<float> llama3_rope_freq_factors(int64_t n_rot, float freq_base, float factor, float low_freq_factor,
                                            float high_freq_factor, int64_t original_context) {
  // Meta's Llama 3.1 recipe: long wavelengths are slowed by `factor`, short ones kept, and the band
  // between is blended smoothly.
  std::vector<float> out;
  const double low_wavelen = static_cast<double>(original_context) / low_freq_factor;
  const double high_wavelen = static_cast<double>(original_context) / high_freq_factor;
  for (int64_t i = 0; i < n_rot; i += 2) {
    const double freq =
        1.0 / std::pow(static_cast<double>(freq_base), static_cast<double>(i) / static_cast<double>(n_rot));
    const double wavelen = 2.0 * std::numbers::pi * (1.0 / freq);
    double f = 1.0;
    if (wavelen < high_wavelen) {
      f = 1.0;
    } else if (wavelen > low_wavelen) {
      f = factor;
    } else {
      const double smooth =
          (static_cast<double>(original_context) / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      f = 1.0 / ((1.0 - smooth) / factor + smooth);
    }
    out.push_back(static_cast<float>(f));
  }
  return out;
}

}  // namespace ternion
