// The state of the sequences being run through a model: an F16 (or F32) KV cache with one slot per sequence and every
// activation buffer, all sized once at construction, so decoding a token allocates nothing. This is the one forward
// pass: it interprets the model's architecture record as calls on a backend (ternion/backend/backend.h), whose
// memory holds the activations and the cache.
//
// decode() runs one sequence (slot 0). decode_batch() runs tokens of several slots in one forward pass: the
// matmuls see all of them as one batch (bit-identical to running each alone, since every output element is
// reduced in a fixed order whatever the batch), while attention reads each slot's own cache.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ternion/backend/backend.h"
#include "ternion/backend/cpu_backend.h"
#include "ternion/backend/ops.h"
#include "ternion/core/thread_pool.h"
#include "ternion/model/lora.h"
#include "ternion/model/model.h"

namespace ternion {

struct ContextOptions {
  int64_t n_ctx = 0;        // KV cache positions; 0: the model's context length capped at kDefaultCtxCap
  int64_t n_batch = 512;    // most tokens run through the layers at once
  bool logits_all = false;  // keep logits for every token of a batch (perplexity), not only the last
  int64_t n_seq = 1;        // KV slots: sequences held at once, each with n_ctx positions
  bool hugetlb = false;     // the KV cache in the reserved huge pages (ternion/core/page_memory.h)
  // F16 (llama.cpp's arithmetic) or F32: twice the memory, no rounding of q, K, V or the probabilities.
  DType kv_type = DType::F16;
  // RoPE frequencies rounded to bf16 (RopeConfig::bf16_frequencies): to reproduce references computed that way.
  bool rope_bf16_frequencies = false;
  // LoRA adapters (ternion/model/lora.h), each loaded against this context's model, applied after every matmul
  // they adapt; the model's weights are not touched.
  std::vector<LoraUse> lora;
  // Where the layers run: "cpu", "cuda" or "cuda:N" (ternion/backend/cuda_backend.h); empty: the CPU unless
  // n_gpu_layers says otherwise. See context_device().
  std::string device;
  // llama.cpp's -ngl: layers on the GPU; -1 when not given. 0 runs on the CPU; the model's layer count or more,
  // everything on `device` ("cuda" when it is empty). Partial offload is not built yet.
  int32_t n_gpu_layers = -1;
  static constexpr int64_t kDefaultCtxCap = 4096;
};

// The device a context of a model with n_layer layers runs on, from ContextOptions' device and n_gpu_layers; throws
// Error for a bad device name, a partial -ngl, or -ngl N with --device cpu.
std::string context_device(const ContextOptions& options, int64_t n_layer);

// One token of a multi-sequence batch.
struct BatchToken {
  int32_t token = 0;
  int32_t slot = 0;     // KV slot (sequence) in [0, n_seq)
  int64_t pos = 0;      // position in that slot's sequence
  bool logits = false;  // return this token's logits
};

class InferenceContext {
 public:
  // On options' device (context_device()): the CPU with the pool's threads, or a GPU.
  InferenceContext(const Model& model, const ContextOptions& options, ThreadPool& pool);
  // On `backend`, which outlives the context.
  InferenceContext(const Model& model, const ContextOptions& options, Backend& backend);

  // Runs `tokens` at positions n_past() .. n_past()+size-1 and appends them to the cache. Returns the
  // logits of the last token (n_vocab values), or of every token (size × n_vocab, row-major) when
  // all_logits is set (needs logits_all and size ≤ n_batch). Throws Error for an empty batch, a token
  // id outside the vocabulary, or more positions than the cache holds.
  std::span<const float> decode(std::span<const int32_t> tokens, bool all_logits = false);

  // Runs tokens of several slots in one pass (at most n_batch tokens). A slot's tokens are adjacent, in
  // consecutive positions, the first at most that slot's length (a smaller one overwrites the tail). Returns
  // the logits of the flagged tokens (at most max(n_seq, 1) of them, or n_batch with logits_all), one n_vocab
  // row each in batch order. Throws Error for an invalid batch; the cache is then unchanged.
  std::span<const float> decode_batch(std::span<const BatchToken> batch);

  // The scales slot `slot`'s tokens run the adapters at, one per ContextOptions::lora entry in its order; empty:
  // the options' own. Tokens of slots with different scales share a batch, each getting its own terms. Throws
  // Error for a slot out of range or a count that is not the adapters'.
  void set_lora_scales(int32_t slot, std::vector<float> scales);
  size_t n_lora() const { return lora_.n_uses(); }

  void clear();                   // forget every sequence
  void clear_slot(int32_t slot);  // forget one
  // Whether a run of `slot` may start at `pos` (at most slot_len): false when a sliding-window layer no longer
  // holds the keys its attention would read there (start from 0, or from slot_len, instead).
  bool can_start_at(int32_t slot, int64_t pos) const;
  int64_t slot_len(int32_t slot) const { return slot_len_.at(static_cast<size_t>(slot)); }
  int64_t n_past() const { return slot_len_[0]; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_seq() const { return static_cast<int64_t>(slot_len_.size()); }
  int64_t n_batch() const { return n_batch_; }
  const Model& model() const { return model_; }
  size_t kv_cache_bytes() const { return kv_->bytes(); }
  DType kv_type() const { return kv_->spec().type; }
  bool kv_cache_hugetlb() const { return kv_->hugetlb(); }
  // Positions layer `layer` keeps per slot: n_ctx, or what its attention window needs.
  int64_t kv_capacity(int64_t layer) const { return kv_->capacity(layer); }
  Backend& backend() { return backend_; }

 private:
  InferenceContext(const Model& model, const ContextOptions& options, std::unique_ptr<Backend> own, Backend* backend);
  // Runs the n tokens staged in tokens_, slots_ and positions_; writes the logits of rows out_rows_.
  void run_staged(int64_t n, float* logits_out);
  void attention_block(const LayerWeights& l, int64_t layer, int64_t n);
  // `next`: the matrix after w_down (the next layer's wq, or the output), whose start idle threads prefetch.
  void ffn_block(const LayerWeights& l, int64_t n, const WeightMatrix* next);
  // A mixture-of-experts FFN of `in` into `out` (and the shared expert, where the layer has one).
  void moe_block(const LayerWeights& l, Tensor in, Tensor out);
  // A dense FFN's weights: gate (empty for a plain FFN), up, down, up's bias and the norm of the hidden state
  // before down (BitNet's ffn_sub_norm), each null where absent.
  struct DenseFfn {
    const WeightMatrix& gate;
    const WeightMatrix& up;
    const WeightMatrix& down;
    const float* b_up;
    const float* sub_norm;
  };
  // A gated (or plain) FFN of `in` into `out`; `gate` and `up` hold its intermediate rows.
  void dense_ffn(const DenseFfn& f, Tensor in, Tensor out, const WeightMatrix* next);
  // The record's norm (RMS or LayerNorm) of each row of x into y (y may be x).
  void norm(Tensor x, const float* w, const float* b, Tensor y);
  void finish_branch(Tensor y, const float* bias, const float* post_norm);
  // Throws Error unless a run of `slot` may start at `pos`.
  void check_start(int32_t slot, int64_t pos) const;
  Tensor act(const std::unique_ptr<Buffer>& b, int64_t n, int64_t width) const { return b->tensor(n, width); }
  // Finishes y = w x: the adapters' low-rank terms of w, then the matrix's own scale (BitNet), as llama.cpp
  // scales the adapted product. Row r of x belongs to slot row_slots_[r]: runs of rows whose slots have scales of
  // their own get their terms scaled so.
  void adapt(const WeightMatrix& w, Tensor x, Tensor y) {
    if (!lora_.empty()) {
      const std::span<const LowRankTerm> terms = lora_.terms(w);
      if (!terms.empty() && !any_slot_scales_) backend_.add_low_rank(terms, x, y);
      if (!terms.empty() && any_slot_scales_) adapt_per_slot(w, terms, x, y);
    }
    if (w.scale != 1.0f) backend_.scale(y, w.scale);
  }
  void adapt_per_slot(const WeightMatrix& w, std::span<const LowRankTerm> terms, Tensor x, Tensor y);

  const Model& model_;
  const HParams& hp_;
  std::unique_ptr<Backend> own_backend_;  // when constructed with a thread pool: options.device's backend
  Backend& backend_;
  int64_t n_ctx_ = 0;
  int64_t n_batch_ = 0;
  bool logits_all_ = false;
  std::vector<int64_t> slot_len_;  // positions filled, per slot
  std::vector<uint8_t> seen_;      // per slot, while a batch is checked
  RopeTable rope_;
  RopeTable rope_swa_;        // sliding layers' own RoPE base (Gemma 3); empty when they share rope_
  std::vector<float> alibi_;  // ALiBi slopes per head (BLOOM), else empty
  LoraBinding lora_;          // the adapters' terms per matrix; empty without adapters
  std::vector<std::vector<float>> slot_lora_scales_;  // per slot; empty: the options' scales
  bool any_slot_scales_ = false;
  std::span<const int32_t> row_slots_;  // the slot of each row adapt() sees
  std::vector<int32_t> out_slots_;      // the slots of the logits rows
  std::vector<LowRankTerm> scaled_terms_;

  std::unique_ptr<KvCache> kv_;
  // Activations in the backend's memory, [n_batch][width] each.
  std::unique_ptr<Buffer> x_, xn_, q_, k_, v_, att_, tmp_, ffn_out_, gate_, up_, logits_out_;
  std::unique_ptr<Buffer> router_, shexp_out_, shexp_gate_;  // MoE: router logits, the shared expert's output, gate
  std::vector<int32_t> tokens_, slots_, positions_;          // the staged batch, [n_batch]
  std::vector<int64_t> out_rows_;                            // rows whose logits are wanted
  std::vector<float> logits_;                                // [rows][n_vocab], host memory
};

}  // namespace ternion
