// The CPU implementation of the backend interface (ternion/backend/backend.h): host memory, the kernels of
// backend/cpu over a thread pool. Every result is bit-identical for any thread count and batch composition, and
// after the reserve_* calls a step allocates nothing.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "ternion/backend/backend.h"
#include "ternion/core/thread_pool.h"

namespace ternion {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(ThreadPool& pool) : pool_(pool) {}
  std::string_view name() const override { return "cpu"; }
  ThreadPool& pool() { return pool_; }

  std::unique_ptr<Buffer> alloc(size_t n_floats) override;
  std::unique_ptr<KvCache> make_kv_cache(const KvCacheSpec& spec) override;
  void reserve_matmul(std::span<const WeightMatrix* const> ws, int64_t n_tokens) override;
  void reserve_attention(int64_t n_head, int64_t max_capacity, int64_t head_dim, DType kv_type) override;
  void reserve_moe(const MoeExperts& experts, int64_t n_used, int64_t n_tokens) override;
  void read(Tensor t, float* host) override;
  void write(Tensor t, const float* host) override;

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
  ThreadPool& pool_;
  std::vector<uint8_t> mm_scratch_;
  std::vector<uint8_t> att_scratch_;
  std::vector<int32_t> rel_positions_;  // attention's positions within a sliding layer's kept ones
  std::vector<uint8_t> v_row_;          // one token's V in the cache's type
  MoeScratch moe_;
  std::vector<float> low_rank_mid_;  // A x of add_low_rank, [n_tokens][rank]
  std::vector<float> low_rank_out_;  // B (A x), [n_tokens][rows]
};

}  // namespace ternion
