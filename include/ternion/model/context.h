// The state of one sequence being run through a model: the F16 KV cache and every activation buffer,
// all sized once at construction, so decoding a token allocates nothing.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ternion/backend/ops.h"
#include "ternion/core/thread_pool.h"
#include "ternion/model/model.h"

namespace ternion {

struct ContextOptions {
  int64_t n_ctx = 0;        // KV cache positions; 0: the model's context length capped at kDefaultCtxCap
  int64_t n_batch = 512;    // most tokens run through the layers at once
  bool logits_all = false;  // keep logits for every token of a batch (perplexity), not only the last
  static constexpr int64_t kDefaultCtxCap = 4096;
};

class InferenceContext {
 public:
  InferenceContext(const Model& model, const ContextOptions& options, ThreadPool& pool);

  // Runs `tokens` at positions n_past() .. n_past()+size-1 and appends them to the cache. Returns the
  // logits of the last token (n_vocab values), or of every token (size × n_vocab, row-major) when
  // all_logits is set (needs logits_all and size ≤ n_batch). Throws Error for an empty batch, a token
  // id outside the vocabulary, or more positions than the cache holds.
  std::span<const float> decode(std::span<const int32_t> tokens, bool all_logits = false);

  void clear() { n_past_ = 0; }  // forget the sequence (the cache is overwritten as it refills)
  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return n_ctx_; }
  const Model& model() const { return model_; }
  size_t kv_cache_bytes() const { return k_cache_.size() * 2 + v_cache_.size() * 2; }

 private:
  void run_batch(std::span<const int32_t> tokens, int64_t pos0, bool all_logits, float* logits_out);
  void attention_block(const LayerWeights& l, int64_t layer, int64_t n, int64_t pos0);
  void ffn_block(const LayerWeights& l, int64_t n);
  void store_kv(int64_t layer, int64_t n, int64_t pos0);
  void mm(const WeightMatrix& w, const float* x, int64_t n, float* y);

  const Model& model_;
  const HParams& hp_;
  ThreadPool& pool_;
  int64_t n_ctx_;
  int64_t n_batch_;
  bool logits_all_;
  int64_t n_past_ = 0;
  RopeTable rope_;

  std::vector<uint16_t> k_cache_;  // per layer [n_head_kv][n_ctx][head_dim], fp16
  std::vector<uint16_t> v_cache_;  // per layer [n_head_kv][head_dim][n_ctx], fp16
  // Activations, [n_batch][width] each.
  std::vector<float> x_, xn_, q_, k_, v_, att_, tmp_, gate_, up_;
  std::vector<int32_t> positions_;
  std::vector<float> logits_;        // [n_batch or 1][n_vocab]
  std::vector<uint8_t> mm_scratch_;  // converted activations for matmul
  std::vector<uint8_t> att_scratch_;
};

}  // namespace ternion
