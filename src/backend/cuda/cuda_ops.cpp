// The CUDA backend's ops besides memory and matmul (cuda_backend.cpp): each checks its arguments on the host as the
// CPU does and queues one or a few kernels (kernels.h). The host arrays of a batch (positions, slots) are read here.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>

#include "backend/cuda/cuda_backend_impl.h"
#include "ternion/core/error.h"

namespace ternion::cuda {

namespace {

size_t sz(int64_t n) { return static_cast<size_t>(n); }
Rows rows(Tensor t) { return {t.data, t.rows, t.cols, t.stride}; }

static_assert(static_cast<int>(Activation::kSilu) == static_cast<int>(Act::kSilu) &&
              static_cast<int>(Activation::kGeluTanh) == static_cast<int>(Act::kGeluTanh) &&
              static_cast<int>(Activation::kGeluErf) == static_cast<int>(Act::kGeluErf) &&
              static_cast<int>(Activation::kReluSquared) == static_cast<int>(Act::kReluSquared));
Act act_of(Activation a) { return static_cast<Act>(a); }

void check_same_shape(Tensor a, Tensor b, const char* what) {
  if (a.rows != b.rows || a.cols != b.cols) throw Error(std::string(what) + ": the tensors' shapes differ");
}

}  // namespace

void CudaBackend::rms_norm(Tensor x, const float* weight, float eps, Tensor y) {
  use_device();
  check_same_shape(x, y, "rms_norm");
  cuda::rms_norm(rows(x), vector(weight, x.cols), eps, rows(y), stream_);
}

void CudaBackend::layer_norm(Tensor x, const float* weight, const float* bias, float eps, Tensor y) {
  use_device();
  check_same_shape(x, y, "layer_norm");
  cuda::layer_norm(rows(x), vector(weight, x.cols), vector(bias, x.cols), eps, rows(y), stream_);
}

void CudaBackend::add(Tensor y, Tensor x) {
  use_device();
  check_same_shape(x, y, "add");
  cuda::add(rows(y), rows(x), stream_);
}

void CudaBackend::add_row(Tensor y, const float* row) {
  use_device();
  cuda::add_row(rows(y), vector(row, y.cols), stream_);
}

void CudaBackend::scale(Tensor y, float s) {
  use_device();
  cuda::scale(rows(y), s, stream_);
}

void CudaBackend::softcap(Tensor y, float cap) {
  use_device();
  cuda::softcap(rows(y), cap, stream_);
}

void CudaBackend::activate(Activation act, Tensor y) {
  use_device();
  cuda::activate(act_of(act), rows(y), stream_);
}

void CudaBackend::gated_activation(Activation act, Tensor gate, Tensor up, Tensor y) {
  use_device();
  check_same_shape(gate, up, "gated_activation");
  check_same_shape(gate, y, "gated_activation");
  cuda::gated_activation(act_of(act), rows(gate), rows(up), rows(y), stream_);
}

void CudaBackend::sigmoid_gate(Tensor y, Tensor g) {
  use_device();
  if (g.rows != y.rows) throw Error("sigmoid_gate: one gate per row");
  cuda::sigmoid_gate(rows(y), rows(g), stream_);
}

const CudaBackend::Rope& CudaBackend::rope_table(const RopeTable& table) {
  const auto it = ropes_.find(&table);
  if (it != ropes_.end() && it->second.n_positions == table.n_positions()) return it->second;
  use_device();
  if (it != ropes_.end()) synchronize();  // the table it replaces may still be read
  Rope r{DeviceMemory(table.cos_table().size() * 4, "RoPE tables"),
         DeviceMemory(table.sin_table().size() * 4, "RoPE tables"), table.n_positions()};
  const auto s = static_cast<cudaStream_t>(stream_);
  check(cudaMemcpyAsync(r.cos.get(), table.cos_table().data(), r.cos.bytes(), cudaMemcpyHostToDevice, s),
        "uploading RoPE");
  check(cudaMemcpyAsync(r.sin.get(), table.sin_table().data(), r.sin.bytes(), cudaMemcpyHostToDevice, s),
        "uploading RoPE");
  return ropes_[&table] = std::move(r);
}

void CudaBackend::rope(const RopeTable& table, Tensor x, int64_t n_heads, int64_t head_dim,
                       std::span<const int32_t> positions) {
  use_device();
  const int64_t n_rot = table.config().n_rot;
  if (sz(x.rows) > positions.size() || n_rot > head_dim || n_heads * head_dim > x.cols) {
    throw Error("rope: the tensor does not hold n_heads heads of head_dim values, one position per row");
  }
  for (int64_t t = 0; t < x.rows; ++t) {
    if (positions[sz(t)] < 0 || positions[sz(t)] >= table.n_positions()) throw Error("rope: position out of range");
  }
  const Rope& r = rope_table(table);
  const int32_t* pos = positions_.get(positions.first(sz(x.rows)), stream_);
  cuda::rope(rows(x), n_heads, head_dim, n_rot, table.config().kind == RopeKind::NeoX, r.cos.as<float>(),
             r.sin.as<float>(), pos, stream_);
}

void CudaBackend::store_kv(KvCache& cache, int64_t il, Tensor k, Tensor v, std::span<const int32_t> slots,
                           std::span<const int32_t> positions) {
  use_device();
  CudaKvCache& c = cuda_cache(cache);
  const KvCacheSpec& spec = c.spec();
  const int64_t cap = c.capacity(il);
  const int64_t window = spec.layer_window[sz(il)];
  for (int64_t t0 = 0; t0 < k.rows;) {
    const int32_t slot = slots[sz(t0)];
    if (slot < 0 || slot >= spec.n_seq) throw Error("store_kv: slot " + std::to_string(slot) + " out of range");
    int64_t t1 = t0 + 1;
    while (t1 < k.rows && slots[sz(t1)] == slot) ++t1;
    const int64_t p0 = positions[sz(t0)];
    int64_t& start = c.start_ref(slot, il);
    if (p0 == 0) start = 0;  // a sequence from its beginning: nothing earlier is read
    const KvLayer layer = c.layer(slot, il);
    if (p0 + (t1 - t0) - start > cap) {
      // Keep the window - 1 positions before the run: all its first token reads.
      const int64_t new_start = std::max<int64_t>(0, p0 - (window - 1));
      if (window == 0 || new_start < start) throw Error("store_kv: the KV cache no longer holds this run's keys");
      c.shift_rows(layer, new_start - start, p0 - new_start, stream_);
      start = new_start;
    }
    for (int64_t t = t0; t < t1; ++t) {
      if (positions[sz(t)] < start || positions[sz(t)] - start >= cap) throw Error("store_kv: position out of range");
    }
    const int32_t* pos = positions_.get(positions.subspan(sz(t0), sz(t1 - t0)), stream_);
    cuda::store_kv(rows(k.rows_at(t0, t1 - t0)), rows(v.rows_at(t0, t1 - t0)), pos, start, layer, stream_);
    t0 = t1;
  }
}

void CudaBackend::attention(KvCache& cache, int64_t il, int32_t slot, Tensor q, int64_t n_head,
                            std::span<const int32_t> positions, const AttentionOptions& options, Tensor out) {
  use_device();
  CudaKvCache& c = cuda_cache(cache);
  if (slot < 0 || slot >= c.spec().n_seq) throw Error("attention: slot " + std::to_string(slot) + " out of range");
  AttentionParams p;
  p.cache = c.layer(slot, il);
  p.start = c.start(slot, il);
  int64_t max_kv = 0;
  for (int64_t t = 0; t < q.rows; ++t) {
    const int64_t rel = positions[sz(t)] - p.start;
    if (rel < 0 || rel >= p.cache.capacity) throw Error("attention: position outside the KV cache");
    max_kv = std::max(max_kv, rel + 1);
  }
  p.q = q.data;
  p.q_stride = q.stride;
  p.n_head = n_head;
  p.positions = positions_.get(positions.first(sz(q.rows)), stream_);
  p.n_tokens = q.rows;
  p.max_kv = max_kv;
  p.scale = options.scale;
  p.window = options.window;
  p.softcap = options.softcap;
  p.alibi = vector(options.alibi, n_head);
  p.out = out.data;
  p.out_stride = out.stride;
  const size_t per_token = attention_partial_floats_per_token(n_head, max_kv, p.cache.head_dim);
  if (per_token > 0 && att_partials_.bytes() < per_token * 4) {
    scratch(att_partials_, per_token * 4 * 16, "attention scratch");  // not reserved for this size: grow once
  }
  p.partials = att_partials_.as<float>();
  p.partial_floats = att_partials_.bytes() / 4;
  cuda::attention(p, stream_);
}

}  // namespace ternion::cuda
