#include "ternion/backend/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "ternion/backend/attention.h"
#include "ternion/core/error.h"
#include "ternion/core/page_memory.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

size_t sz(int64_t n) { return static_cast<size_t>(n); }

class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(size_t n) : data_(n) {}
  float* data() override { return data_.data(); }
  size_t bytes() const override { return data_.size() * sizeof(float); }

 private:
  std::vector<float> data_;
};

// Per slot and layer: K as [n_head_kv][capacity][head_dim], V transposed [n_head_kv][head_dim][capacity], so a
// head's keys are contiguous rows and each output value is one contiguous dot over positions. A sliding layer
// keeps positions [start, start + capacity): when a run would pass its end, the positions the run still reads
// (window - 1 before its first) move to the front, window - 1 rows every n_batch tokens or so.
class CpuKvCache final : public KvCache {
 public:
  explicit CpuKvCache(const KvCacheSpec& spec) : KvCache(spec) {
    if (spec.type != DType::F16 && spec.type != DType::F32) {
      throw Error("the KV cache type must be f16 or f32, got " + std::string(dtype_info(spec.type).name));
    }
    es_ = spec.type == DType::F32 ? 4 : 2;
    const auto n_layer = static_cast<int64_t>(spec.layer_window.size());
    const size_t kv_dim = sz(spec.n_head_kv * spec.head_dim);
    size_t per_slot = 0;
    for (int64_t il = 0; il < n_layer; ++il) {
      layer_offset_.push_back(per_slot);
      per_slot += sz(capacity(il)) * kv_dim;
    }
    slot_elems_ = per_slot;
    elems_ = sz(spec.n_seq) * per_slot;
    memory_ = PageMemory(2 * elems_ * es_, spec.hugetlb, "the KV cache");
    start_.assign(sz(spec.n_seq * n_layer), 0);
  }

  size_t bytes() const override { return 2 * elems_ * es_; }
  bool hugetlb() const override { return memory_.hugetlb(); }
  int64_t start(int32_t slot, int64_t layer) const override { return start_[index(slot, layer)]; }
  void clear(int32_t slot) override {
    const size_t n_layer = layer_offset_.size();
    std::fill_n(start_.begin() + static_cast<std::ptrdiff_t>(sz(slot) * n_layer), n_layer, int64_t{0});
  }

  uint8_t* k(int32_t slot, int64_t layer) { return memory_.data() + offset(slot, layer) * es_; }
  uint8_t* v(int32_t slot, int64_t layer) { return memory_.data() + (elems_ + offset(slot, layer)) * es_; }
  size_t element_bytes() const { return es_; }
  int64_t& start_ref(int32_t slot, int64_t layer) { return start_[index(slot, layer)]; }

 private:
  size_t index(int32_t slot, int64_t layer) const { return sz(slot) * layer_offset_.size() + sz(layer); }
  size_t offset(int32_t slot, int64_t layer) const { return sz(slot) * slot_elems_ + layer_offset_[sz(layer)]; }

  size_t es_ = 2;
  size_t slot_elems_ = 0;  // of each of K and V
  size_t elems_ = 0;
  std::vector<size_t> layer_offset_;
  std::vector<int64_t> start_;  // per slot and layer: the position cache row 0 holds
  PageMemory memory_;           // K then V
};

CpuKvCache& cpu_cache(KvCache& cache) {
  auto* c = dynamic_cast<CpuKvCache*>(&cache);
  if (c == nullptr) throw Error("the CPU backend was given another backend's KV cache");
  return *c;
}

// One token's values of a head down its column of the transposed V cache (rows `capacity` apart).
template <typename T>
void store_column(const T* v, T* column, int64_t head_dim, int64_t capacity) {
  for (int64_t d = 0; d < head_dim; ++d) column[d * capacity] = v[d];
}

// Moves cache rows [from, from + n) of every head of one layer to [0, n): keys are rows of head_dim, values
// columns of the transposed V.
void shift_rows(uint8_t* k, uint8_t* v, int64_t n_head_kv, int64_t head_dim, int64_t capacity, size_t es, int64_t from,
                int64_t n) {
  for (int64_t h = 0; h < n_head_kv; ++h) {
    uint8_t* kh = k + sz(h * capacity * head_dim) * es;
    std::memmove(kh, kh + sz(from * head_dim) * es, sz(n * head_dim) * es);
    for (int64_t d = 0; d < head_dim; ++d) {
      uint8_t* vrow = v + sz((h * head_dim + d) * capacity) * es;
      std::memmove(vrow, vrow + sz(from) * es, sz(n) * es);
    }
  }
}

template <typename F>
void for_rows(Tensor t, F&& f) {
  if (t.stride == t.cols) {
    f(t.data, t.size());
    return;
  }
  for (int64_t r = 0; r < t.rows; ++r) f(t.data + r * t.stride, t.cols);
}

void check_rows(Tensor x, int64_t cols, const char* what) {
  if (x.cols != cols || x.stride != cols) {
    throw Error(std::string(what) + ": the input must be contiguous rows of " + std::to_string(cols) + " values");
  }
}

}  // namespace

std::unique_ptr<Buffer> CpuBackend::alloc(size_t n_floats) { return std::make_unique<HostBuffer>(n_floats); }

std::unique_ptr<KvCache> CpuBackend::make_kv_cache(const KvCacheSpec& spec) {
  v_row_.resize(std::max(v_row_.size(), sz(spec.n_head_kv * spec.head_dim) * 4));
  rel_positions_.resize(std::max(rel_positions_.size(), sz(spec.n_batch)));
  return std::make_unique<CpuKvCache>(spec);
}

void CpuBackend::reserve_matmul(std::span<const WeightMatrix* const> ws, int64_t n_tokens) {
  const size_t bytes = matmul_many_scratch_bytes(ws, n_tokens);
  if (bytes > mm_scratch_.size()) mm_scratch_.resize(bytes);
}

void CpuBackend::reserve_attention(int64_t n_head, int64_t max_capacity, int64_t head_dim, DType kv_type) {
  const size_t bytes = attention_scratch_bytes(n_head, max_capacity, head_dim, kv_type);
  if (bytes > att_scratch_.size()) att_scratch_.resize(bytes);
}

void CpuBackend::reserve_moe(const MoeExperts& experts, int64_t n_used, int64_t n_tokens) {
  if (experts.n_expert() == 0) return;
  std::vector<const WeightMatrix*> ws;
  for (const auto* list : {&experts.gate, &experts.up, &experts.down}) {
    for (const WeightMatrix& w : *list) ws.push_back(&w);
  }
  // An expert sees each token at most once: n_tokens rows per matmul.
  for (const WeightMatrix* w : ws) reserve_matmul(std::span<const WeightMatrix* const>(&w, 1), n_tokens);
  if (!experts.gate.empty()) {
    const WeightMatrix* pair[] = {&experts.gate[0], &experts.up[0]};
    reserve_matmul(pair, n_tokens);
  }
  moe_.reserve(n_tokens * n_used, experts.n_expert(), experts.down[0].rows, experts.up[0].rows);
}

void CpuBackend::read(Tensor t, float* host) {
  for (int64_t r = 0; r < t.rows; ++r) std::memcpy(host + r * t.cols, t.data + r * t.stride, sz(t.cols) * 4);
}

void CpuBackend::write(Tensor t, const float* host) {
  for (int64_t r = 0; r < t.rows; ++r) std::memcpy(t.data + r * t.stride, host + r * t.cols, sz(t.cols) * 4);
}

void CpuBackend::get_rows(const WeightMatrix& table, std::span<const int32_t> ids, Tensor out) {
  const QuantTraits& traits = quant_traits(table.type);
  for (size_t i = 0; i < ids.size(); ++i) {
    traits.to_float(table.data + sz(ids[i]) * table.row_bytes, out.data + static_cast<int64_t>(i) * out.stride,
                    table.cols);
  }
}

void CpuBackend::matmul(const WeightMatrix& w, Tensor x, Tensor y, const WeightMatrix* next) {
  check_rows(x, w.cols, "matmul");
  if (observer_ != nullptr) observer_->observe(w, x);
  ternion::matmul(w, x.data, x.rows, y.data, y.stride, mm_scratch_, pool_, next);
}

void CpuBackend::matmul_many(std::span<const MatmulTarget> outputs, Tensor x, const WeightMatrix* next) {
  check_rows(x, x.cols, "matmul");
  MatmulOutput outs[8];
  if (outputs.size() > std::size(outs)) throw Error("matmul_many: at most 8 products at once");
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (observer_ != nullptr) observer_->observe(*outputs[i].w, x);
    outs[i] = {outputs[i].w, outputs[i].y.data, outputs[i].y.stride};
  }
  ternion::matmul_many(std::span<const MatmulOutput>(outs, outputs.size()), x.data, x.cols, x.rows, mm_scratch_, pool_,
                       next);
}

void CpuBackend::reserve_low_rank(int64_t max_rank, int64_t max_rows, int64_t n_tokens) {
  low_rank_mid_.resize(std::max(low_rank_mid_.size(), sz(max_rank * n_tokens)));
  low_rank_out_.resize(std::max(low_rank_out_.size(), sz(max_rows * n_tokens)));
}

// Two F32 matmuls (bit-identical for any thread count and batch) and a scaled add in a fixed order per element,
// so the update keeps the matmul's guarantee.
void CpuBackend::add_low_rank(std::span<const LowRankTerm> terms, Tensor x, Tensor y) {
  for (const LowRankTerm& t : terms) {
    const WeightMatrix& a = *t.a;
    const WeightMatrix& b = *t.b;
    check_rows(x, a.cols, "add_low_rank");
    if (a.type != DType::F32 || b.type != DType::F32 || b.cols != a.rows || b.rows != y.cols) {
      throw Error("add_low_rank: A and B must be F32, A rank × " + std::to_string(x.cols) + " and B " +
                  std::to_string(y.cols) + " × rank");
    }
    if (sz(a.rows * x.rows) > low_rank_mid_.size() || sz(b.rows * x.rows) > low_rank_out_.size()) {
      throw Error("add_low_rank: more rows or a larger rank than reserve_low_rank allowed");
    }
    ternion::matmul(a, x.data, x.rows, low_rank_mid_.data(), a.rows, {}, pool_);
    ternion::matmul(b, low_rank_mid_.data(), x.rows, low_rank_out_.data(), b.rows, {}, pool_);
    for (int64_t r = 0; r < y.rows; ++r) {
      float* yr = y.data + r * y.stride;
      const float* dr = low_rank_out_.data() + r * b.rows;
      for (int64_t i = 0; i < y.cols; ++i) yr[i] += t.scale * dr[i];
    }
  }
}

void CpuBackend::rms_norm(Tensor x, const float* weight, float eps, Tensor y) {
  for (int64_t r = 0; r < x.rows; ++r) rms_norm_row(x.data + r * x.stride, weight, y.data + r * y.stride, x.cols, eps);
}

void CpuBackend::layer_norm(Tensor x, const float* weight, const float* bias, float eps, Tensor y) {
  for (int64_t r = 0; r < x.rows; ++r) {
    layer_norm_row(x.data + r * x.stride, weight, bias, y.data + r * y.stride, x.cols, eps);
  }
}

void CpuBackend::add(Tensor y, Tensor x) {
  if (y.stride == y.cols && x.stride == x.cols) {
    add_in_place(y.data, x.data, y.size());
    return;
  }
  for (int64_t r = 0; r < y.rows; ++r) add_in_place(y.data + r * y.stride, x.data + r * x.stride, y.cols);
}

void CpuBackend::add_row(Tensor y, const float* row) {
  for (int64_t r = 0; r < y.rows; ++r) add_in_place(y.data + r * y.stride, row, y.cols);
}

void CpuBackend::scale(Tensor y, float s) {
  for_rows(y, [&](float* p, int64_t n) { scale_in_place(p, n, s); });
}

void CpuBackend::softcap(Tensor y, float cap) {
  for_rows(y, [&](float* p, int64_t n) { softcap_in_place(p, n, cap); });
}

void CpuBackend::activate(Activation act, Tensor y) {
  for_rows(y, [&](float* p, int64_t n) { activate_in_place(act, p, n); });
}

void CpuBackend::gated_activation(Activation act, Tensor gate, Tensor up, Tensor y) {
  if (gate.stride == gate.cols && up.stride == up.cols && y.stride == y.cols) {
    ternion::gated_activation(act, gate.data, up.data, y.data, gate.size());
    return;
  }
  for (int64_t r = 0; r < gate.rows; ++r) {
    ternion::gated_activation(act, gate.data + r * gate.stride, up.data + r * up.stride, y.data + r * y.stride,
                              gate.cols);
  }
}

void CpuBackend::sigmoid_gate(Tensor y, Tensor g) {
  for (int64_t r = 0; r < y.rows; ++r) {
    const float s = 1.0f / (1.0f + std::exp(-g.data[r * g.stride]));
    scale_in_place(y.data + r * y.stride, y.cols, s);
  }
}

void CpuBackend::moe_ffn(const MoeExperts& experts, const MoeRouting& routing, Tensor x, Tensor router_logits,
                         Tensor y) {
  check_rows(x, x.cols, "moe_ffn");
  check_rows(router_logits, experts.n_expert(), "moe_ffn");
  check_rows(y, x.cols, "moe_ffn");
  // Matmul observers do not see the experts' inputs (an importance matrix per expert is not collected yet).
  ternion::moe_ffn(experts, routing, x.data, router_logits.data, x.rows, x.cols, y.data, moe_, mm_scratch_, pool_);
}

void CpuBackend::rope(const RopeTable& table, Tensor x, int64_t n_heads, int64_t head_dim,
                      std::span<const int32_t> positions) {
  for (int64_t t = 0; t < x.rows; ++t) table.apply(x.data + t * x.stride, n_heads, head_dim, positions[sz(t)]);
}

void CpuBackend::store_kv(KvCache& cache, int64_t il, Tensor k, Tensor v, std::span<const int32_t> slots,
                          std::span<const int32_t> positions) {
  CpuKvCache& c = cpu_cache(cache);
  const KvCacheSpec& spec = c.spec();
  const int64_t hd = spec.head_dim;
  const int64_t cap = c.capacity(il);
  const int64_t window = spec.layer_window[sz(il)];
  const size_t es = c.element_bytes();
  for (int64_t t0 = 0; t0 < k.rows;) {
    const int32_t slot = slots[sz(t0)];
    int64_t t1 = t0 + 1;
    while (t1 < k.rows && slots[sz(t1)] == slot) ++t1;
    const int64_t p0 = positions[sz(t0)];
    int64_t& start = c.start_ref(slot, il);
    if (p0 == 0) start = 0;  // a sequence from its beginning: nothing earlier is read
    if (p0 + (t1 - t0) - start > cap) {
      // Keep the window - 1 positions before the run: all its first token reads.
      const int64_t new_start = std::max<int64_t>(0, p0 - (window - 1));
      if (window == 0 || new_start < start) throw Error("store_kv: the KV cache no longer holds this run's keys");
      shift_rows(c.k(slot, il), c.v(slot, il), spec.n_head_kv, hd, cap, es, new_start - start, p0 - new_start);
      start = new_start;
    }
    uint8_t* kc = c.k(slot, il);
    uint8_t* vc = c.v(slot, il);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t row = positions[sz(t)] - start;
      to_kv_row(spec.type, v.data + t * v.stride, v_row_.data(), spec.n_head_kv * hd);
      for (int64_t h = 0; h < spec.n_head_kv; ++h) {
        to_kv_row(spec.type, k.data + t * k.stride + h * hd, kc + sz((h * cap + row) * hd) * es, hd);
        const uint8_t* src = v_row_.data() + sz(h * hd) * es;
        uint8_t* dst = vc + sz(h * hd * cap + row) * es;
        if (es == 4) {
          store_column(reinterpret_cast<const float*>(src), reinterpret_cast<float*>(dst), hd, cap);
        } else {
          store_column(reinterpret_cast<const uint16_t*>(src), reinterpret_cast<uint16_t*>(dst), hd, cap);
        }
      }
    }
    t0 = t1;
  }
}

void CpuBackend::attention(KvCache& cache, int64_t il, int32_t slot, Tensor q, int64_t n_head,
                           std::span<const int32_t> positions, const AttentionOptions& options, Tensor out) {
  CpuKvCache& c = cpu_cache(cache);
  const KvCacheSpec& spec = c.spec();
  AttentionArgs a;
  const int64_t start = c.start(slot, il);
  const int32_t* pos = positions.data();
  if (start > 0) {
    for (size_t t = 0; t < positions.size(); ++t) rel_positions_[t] = positions[t] - static_cast<int32_t>(start);
    pos = rel_positions_.data();
  }
  a.q = q.data;
  a.q_stride = q.stride;
  a.k = c.k(slot, il);
  a.v = c.v(slot, il);
  a.kv_type = spec.type;
  a.n_ctx = c.capacity(il);
  a.n_head = n_head;
  a.n_head_kv = spec.n_head_kv;
  a.head_dim = spec.head_dim;
  a.positions = pos;
  a.n_tokens = q.rows;
  a.scale = options.scale;
  a.window = options.window;
  a.softcap = options.softcap;
  a.alibi = options.alibi;
  a.out = out.data;
  a.out_stride = out.stride;
  ternion::attention(a, att_scratch_, pool_);
}

}  // namespace ternion
