// Causal self-attention over an F16 (or F32) key/value cache, one sequence.
//
// Cache layouts (fp16 bit patterns, or floats), per layer:
//   K: [n_head_kv][n_ctx][head_dim]   a head's keys are contiguous rows, one per position
//   V: [n_head_kv][head_dim][n_ctx]   transposed, so each output value is one contiguous dot over positions
// With an F16 cache the arithmetic follows the reference engine: q is rounded to fp16 for q·k, scores are scaled,
// soft-maxed (ternion/backend/ops.h), rounded to fp16 and dotted with V in fp32 accumulation. With an F32 cache
// nothing is rounded: q, scores and probabilities stay f32 (what transformers computes, at twice the cache).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "ternion/core/dtype.h"
#include "ternion/core/thread_pool.h"

namespace ternion {

struct AttentionArgs {
  const float* q = nullptr;  // [n_tokens][q_stride], head h at h * head_dim
  int64_t q_stride = 0;
  const void* k = nullptr;     // this layer's K cache
  const void* v = nullptr;     // this layer's V cache
  DType kv_type = DType::F16;  // F16 or F32
  int64_t n_ctx = 0;           // cache capacity in positions
  int64_t n_head = 0;
  int64_t n_head_kv = 0;  // n_head is a multiple of it (GQA/MQA)
  int64_t head_dim = 0;
  const int32_t* positions = nullptr;  // token t sees cache positions [0, positions[t]]
  int64_t n_tokens = 0;
  float scale = 1.0f;    // usually 1/sqrt(head_dim)
  int64_t window = 0;    // > 0: a token at position p sees only keys in (p - window, p] (sliding-window attention)
  float softcap = 0.0f;  // > 0: each scaled score s becomes softcap · tanh(s / softcap) (gemma 2)
  const float* alibi = nullptr;  // [n_head] ALiBi slopes: slope · key position is added to each scaled score
  float* out = nullptr;          // [n_tokens][out_stride]
  int64_t out_stride = 0;
};

// Floats into the cache's element type (F16: rounded; F32: copied), as store and attention both write them.
void to_kv_row(DType kv_type, const float* src, void* dst, int64_t n);

size_t attention_scratch_bytes(int64_t n_head, int64_t n_ctx, int64_t head_dim, DType kv_type = DType::F16);

// Work is split by head, the query heads of one KV head taken together where that leaves two chunks per thread
// (each key and value row is then read once for all of them); every output value is computed in the same order
// for any thread count.
void attention(const AttentionArgs& args, std::span<uint8_t> scratch, ThreadPool& pool);

// Scalar reference of the same arithmetic (for tests).
void attention_reference(const AttentionArgs& args);

}  // namespace ternion
