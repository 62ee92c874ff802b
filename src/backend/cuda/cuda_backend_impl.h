// The CUDA backend's host side (ternion/backend/cuda_backend.h): the Backend over device memory, one stream and the
// kernels of kernels.h and cuda_matmul.h. Compiled by the host compiler (C++20) against the CUDA runtime's C API,
// which only the .cpp files include.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "backend/cuda/kernels.h"
#include "ternion/backend/backend.h"

namespace ternion::cuda {

// cudaMalloc'd bytes, freed with the object.
class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(size_t bytes, const char* what);
  DeviceMemory(DeviceMemory&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  DeviceMemory& operator=(DeviceMemory&& o) noexcept;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory();
  void* get() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Throws Error "cuda: <what>: <CUDA's message>" unless `status` (a cudaError_t) is success.
void check(int status, const char* what);

// Host integer arrays (positions, slots) mirrored in device memory: a span that lies inside the array last
// uploaded, with the same values, is found there without a copy (a step's positions are uploaded once, though rope,
// store_kv and each slot's attention all ask for them).
class IntMirror {
 public:
  const int32_t* get(std::span<const int32_t> host, Stream stream);

 private:
  const int32_t* src_ = nullptr;  // where the last upload came from
  std::vector<int32_t> host_;     // its values
  DeviceMemory device_;
};

// A weight matrix in device memory, in a type the matmul kernels take, rows packed densely (row_bytes is one row of
// `type`, whatever the host view's stride). The host view's type and shape are kept to tell a stale copy (a host
// address reused by another matrix) from the right one.
struct DeviceWeight {
  DType type;
  size_t row_bytes;
  DeviceMemory memory;
  DType host_type;
  int64_t rows, cols;
  size_t host_row_bytes;
  bool same_view(const WeightMatrix& w) const {
    return w.type == host_type && w.rows == rows && w.cols == cols && w.row_bytes == host_row_bytes;
  }
};

// Per slot and layer: K and V each [n_head_kv][capacity][head_dim] (V not transposed: the attention kernel reads
// rows of both). Sliding layers keep positions [start, start + capacity) as the CPU's cache does.
class CudaKvCache final : public KvCache {
 public:
  explicit CudaKvCache(const KvCacheSpec& spec);

  size_t bytes() const override { return 2 * elems_ * es_; }
  bool hugetlb() const override { return false; }
  int64_t start(int32_t slot, int64_t layer) const override { return start_[index(slot, layer)]; }
  void clear(int32_t slot) override {
    const size_t n_layer = layer_offset_.size();
    std::fill_n(start_.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(slot) * n_layer), n_layer, int64_t{0});
  }

  KvLayer layer(int32_t slot, int64_t il) {
    uint8_t* base = memory_.as<uint8_t>();
    const size_t off = static_cast<size_t>(slot) * slot_elems_ + layer_offset_[static_cast<size_t>(il)];
    return {base + off * es_, base + (elems_ + off) * es_, es_ == 2, capacity(il), spec_.n_head_kv, spec_.head_dim};
  }
  int64_t& start_ref(int32_t slot, int64_t layer) { return start_[index(slot, layer)]; }

  // Rows [from, from + n) of every head of K and V to [0, n), through a scratch copy (the ranges may overlap).
  void shift_rows(const KvLayer& l, int64_t from, int64_t n, Stream stream);

 private:
  size_t index(int32_t slot, int64_t layer) const {
    return static_cast<size_t>(slot) * layer_offset_.size() + static_cast<size_t>(layer);
  }

  size_t es_ = 2;
  size_t slot_elems_ = 0;  // of each of K and V
  size_t elems_ = 0;
  std::vector<size_t> layer_offset_;
  std::vector<int64_t> start_;  // per slot and layer: the position cache row 0 holds
  DeviceMemory memory_;         // K then V
  DeviceMemory shift_;          // one sliding layer's K (or V) of a slot
};

// The cache a CUDA backend made; throws Error for another backend's.
CudaKvCache& cuda_cache(KvCache& cache);

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override;
  std::string_view name() const override { return "cuda"; }

  std::unique_ptr<Buffer> alloc(size_t n_floats) override;
  std::unique_ptr<KvCache> make_kv_cache(const KvCacheSpec& spec) override;
  void reserve_matmul(std::span<const WeightMatrix* const> ws, int64_t n_tokens) override;
  void reserve_attention(int64_t n_head, int64_t max_capacity, int64_t head_dim, DType kv_type) override;
  void reserve_moe(const MoeExperts& experts, int64_t n_used, int64_t n_tokens) override;
  void read(Tensor t, float* host) override;
  void write(Tensor t, const float* host) override;
  void synchronize() override;

  void get_rows(const WeightMatrix& table, std::span<const int32_t> ids, Tensor out) override;
  void matmul(const WeightMatrix& w, Tensor x, Tensor y, const WeightMatrix* next) override;
  void matmul_many(std::span<const MatmulTarget> outputs, Tensor x, const WeightMatrix* next) override;
  void reserve_low_rank(int64_t max_rank, int64_t max_rows, int64_t n_tokens) override;
  void add_low_rank(std::span<const LowRankTerm> terms, Tensor x, Tensor y) override;
  void rms_norm(Tensor x, const float* weight, float eps, Tensor y) override;
  void layer_norm(Tensor x, const float* weight, const float* bias, float eps, Tensor y) override;
  void add(Tensor y, Tensor x) override;
  void add_row(Tensor y, const float* row) override;
  void scale(Tensor y, float s) override;
  void softcap(Tensor y, float cap) override;
  void activate(Activation act, Tensor y) override;
  void gated_activation(Activation act, Tensor gate, Tensor up, Tensor y) override;
  void sigmoid_gate(Tensor y, Tensor g) override;
  void moe_ffn(const MoeExperts& experts, const MoeRouting& routing, Tensor x, Tensor router_logits, Tensor y) override;
  void rope(const RopeTable& table, Tensor x, int64_t n_heads, int64_t head_dim,
            std::span<const int32_t> positions) override;
  void store_kv(KvCache& cache, int64_t layer, Tensor k, Tensor v, std::span<const int32_t> slots,
                std::span<const int32_t> positions) override;
  void attention(KvCache& cache, int64_t layer, int32_t slot, Tensor q, int64_t n_head,
                 std::span<const int32_t> positions, const AttentionOptions& options, Tensor out) override;

 private:
  struct Rope {
    DeviceMemory cos, sin;
    int64_t n_positions;
  };
  struct MoeScratch {
    DeviceMemory x, gate, up, out;         // [rows][n_embd], [rows][n_ff] twice, [rows][n_embd]
    DeviceMemory src_row, row_of, weight;  // per grouped row: its token; per (token, choice): its row and weight
    std::vector<int32_t> ids, rows, src;
    std::vector<float> weights;
    std::vector<int64_t> begin;
  };

  // Makes this backend's GPU the calling thread's current one (the server decodes on a thread of its own).
  void use_device() const;
  // The device copy of a weight matrix (made on first use) and of a host vector of n floats.
  const DeviceWeight& weight(const WeightMatrix& w);
  const float* vector(const float* host, int64_t n);
  const Rope& rope_table(const RopeTable& table);
  // Device scratch of at least `bytes` (grown between steps only: growing waits for the stream).
  void* scratch(DeviceMemory& m, size_t bytes, const char* what);
  void run_matmul(const WeightMatrix& w, const float* x, int64_t x_stride, float* y, int64_t y_stride, int64_t n);
  void group_by_expert(int64_t n_rows, int64_t n_expert);

  int device_ = 0;
  Stream stream_ = nullptr;
  std::unordered_map<const void*, DeviceWeight> weights_;   // by the host view's data address
  std::unordered_map<const float*, DeviceMemory> vectors_;  // norm weights, biases, ALiBi slopes
  std::unordered_map<const RopeTable*, Rope> ropes_;
  DeviceMemory mm_scratch_, att_partials_, low_rank_mid_, low_rank_out_;
  IntMirror positions_;
  MoeScratch moe_;
  std::vector<float> host_rows_;  // get_rows' dequantized rows
};

}  // namespace ternion::cuda
