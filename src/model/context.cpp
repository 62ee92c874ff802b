#include "ternion/model/context.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "ternion/backend/attention.h"
#include "ternion/core/error.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

size_t sz(int64_t n) { return static_cast<size_t>(n); }

}  // namespace

InferenceContext::InferenceContext(const Model& model, const ContextOptions& options, ThreadPool& pool)
    : model_(model), hp_(model.hparams()), pool_(pool) {
  n_ctx_ = options.n_ctx > 0 ? options.n_ctx : std::min(hp_.n_ctx_train, ContextOptions::kDefaultCtxCap);
  if (options.n_ctx < 0) throw Error("context size must be positive, got " + std::to_string(options.n_ctx));
  if (n_ctx_ > (int64_t{1} << 24)) throw Error("context size " + std::to_string(n_ctx_) + " is too large");
  if (options.n_batch <= 0) throw Error("batch size must be positive");
  n_batch_ = std::min(options.n_batch, n_ctx_);
  logits_all_ = options.logits_all;
  if (options.n_seq <= 0 || options.n_seq > 4096) {
    throw Error("the number of sequences must be in [1, 4096], got " + std::to_string(options.n_seq));
  }
  slot_len_.assign(sz(options.n_seq), 0);
  seen_.assign(sz(options.n_seq), 0);
  rope_ = RopeTable(model.rope(), n_ctx_);

  kv_elems_ = sz(options.n_seq) * sz(hp_.n_layer) * sz(n_ctx_) * sz(hp_.kv_dim());
  kv_memory_ = PageMemory(2 * kv_elems_ * sizeof(uint16_t), options.hugetlb, "the KV cache");
  k_cache_ = reinterpret_cast<uint16_t*>(kv_memory_.data());
  v_cache_ = k_cache_ + kv_elems_;
  const size_t b = sz(n_batch_);
  x_.resize(b * sz(hp_.n_embd));
  xn_.resize(b * sz(std::max(hp_.n_embd, hp_.q_dim())));
  tmp_.resize(b * sz(hp_.n_embd));
  q_.resize(b * sz(hp_.q_dim()));
  att_.resize(b * sz(hp_.q_dim()));
  k_.resize(b * sz(hp_.kv_dim()));
  v_.resize(b * sz(hp_.kv_dim()));
  v16_.resize(sz(hp_.kv_dim()));
  gate_.resize(b * sz(hp_.n_ff));
  up_.resize(b * sz(hp_.n_ff));
  tokens_.resize(b);
  slots_.resize(b);
  positions_.resize(b);
  out_rows_.reserve(b);
  logits_.resize(std::max(logits_all_ ? b : 1, sz(options.n_seq)) * sz(hp_.n_vocab));

  size_t scratch = 0;
  auto need = [&](std::initializer_list<const WeightMatrix*> ws) {
    scratch = std::max(
        scratch, matmul_many_scratch_bytes(std::span<const WeightMatrix* const>(ws.begin(), ws.size()), n_batch_));
  };
  const ModelWeights& w = model.weights();
  need({&w.output});
  for (const auto& l : w.layers) {
    need({&l.wq, &l.wk, &l.wv});
    need({&l.w_gate, &l.w_up});
    need({&l.wo});
    need({&l.w_down});
  }
  mm_scratch_.resize(scratch);
  att_scratch_.resize(attention_scratch_bytes(hp_.n_head, n_ctx_, hp_.head_dim));
}

std::span<const float> InferenceContext::decode(std::span<const int32_t> tokens, bool all_logits) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) throw Error("decode: no tokens given");
  if (all_logits && (!logits_all_ || n > n_batch_)) {
    throw Error("decode: logits of every token need logits_all and at most n_batch (" + std::to_string(n_batch_) +
                ") tokens");
  }
  const int64_t n_past = slot_len_[0];
  if (n_past + n > n_ctx_) {
    throw Error("context overflow: " + std::to_string(n_past) + " tokens in the cache plus " + std::to_string(n) +
                " new ones exceed the context size " + std::to_string(n_ctx_));
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= hp_.n_vocab) {
      throw Error("decode: token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                  std::to_string(hp_.n_vocab - 1) + ")");
    }
  }
  for (int64_t start = 0; start < n; start += n_batch_) {
    const int64_t len = std::min(n_batch_, n - start);
    const bool last_chunk = start + len == n;
    for (int64_t t = 0; t < len; ++t) {
      tokens_[sz(t)] = tokens[sz(start + t)];
      slots_[sz(t)] = 0;
      positions_[sz(t)] = static_cast<int32_t>(slot_len_[0] + t);
    }
    out_rows_.clear();
    if (last_chunk) {
      for (int64_t t = all_logits ? 0 : len - 1; t < len; ++t) out_rows_.push_back(t);
    }
    run_staged(len, last_chunk ? logits_.data() : nullptr);
    slot_len_[0] += len;
  }
  const size_t rows = all_logits ? tokens.size() : 1;
  return {logits_.data(), rows * sz(hp_.n_vocab)};
}

std::span<const float> InferenceContext::decode_batch(std::span<const BatchToken> batch) {
  const int64_t n = static_cast<int64_t>(batch.size());
  if (n == 0) throw Error("decode_batch: no tokens given");
  if (n > n_batch_) {
    throw Error("decode_batch: " + std::to_string(n) + " tokens exceed the batch size " + std::to_string(n_batch_));
  }
  const size_t max_rows = logits_.size() / sz(hp_.n_vocab);
  // Everything is checked before anything runs, so a bad batch leaves the cache as it was.
  std::fill(seen_.begin(), seen_.end(), uint8_t{0});
  out_rows_.clear();
  for (int64_t t = 0; t < n; ++t) {
    const BatchToken& b = batch[sz(t)];
    if (b.token < 0 || b.token >= hp_.n_vocab) {
      throw Error("decode_batch: token id " + std::to_string(b.token) + " is outside the vocabulary (0.." +
                  std::to_string(hp_.n_vocab - 1) + ")");
    }
    if (b.slot < 0 || b.slot >= n_seq()) {
      throw Error("decode_batch: slot " + std::to_string(b.slot) + " is outside [0, " + std::to_string(n_seq()) + ")");
    }
    const bool continues = t > 0 && batch[sz(t - 1)].slot == b.slot;
    if (continues && b.pos != batch[sz(t - 1)].pos + 1) {
      throw Error("decode_batch: slot " + std::to_string(b.slot) + "'s tokens are not in consecutive positions");
    }
    if (!continues) {
      if (seen_[sz(b.slot)] != 0)
        throw Error("decode_batch: slot " + std::to_string(b.slot) + "'s tokens are not adjacent");
      seen_[sz(b.slot)] = 1;
      if (b.pos < 0 || b.pos > slot_len_[sz(b.slot)]) {
        throw Error("decode_batch: slot " + std::to_string(b.slot) + " holds " + std::to_string(slot_len_[sz(b.slot)]) +
                    " positions; a run cannot start at " + std::to_string(b.pos));
      }
    }
    if (b.pos >= n_ctx_) {
      throw Error("context overflow: position " + std::to_string(b.pos) + " of slot " + std::to_string(b.slot) +
                  " is beyond the context size " + std::to_string(n_ctx_));
    }
    if (b.logits) out_rows_.push_back(t);
    tokens_[sz(t)] = b.token;
    slots_[sz(t)] = b.slot;
    positions_[sz(t)] = static_cast<int32_t>(b.pos);
  }
  if (out_rows_.size() > max_rows) {
    throw Error("decode_batch: logits of " + std::to_string(out_rows_.size()) + " tokens asked, at most " +
                std::to_string(max_rows));
  }
  run_staged(n, out_rows_.empty() ? nullptr : logits_.data());
  for (int64_t t = 0; t < n; ++t) slot_len_[sz(slots_[sz(t)])] = positions_[sz(t)] + 1;
  return {logits_.data(), out_rows_.size() * sz(hp_.n_vocab)};
}

void InferenceContext::mm(const WeightMatrix& w, const float* x, int64_t n, float* y, const WeightMatrix* next) {
  matmul(w, x, n, y, w.rows, mm_scratch_, pool_, next);
}

size_t InferenceContext::cache_offset(int32_t slot, int64_t il) const {
  return (sz(slot) * sz(hp_.n_layer) + sz(il)) * sz(n_ctx_) * sz(hp_.kv_dim());
}

void InferenceContext::run_staged(int64_t n, float* logits_out) {
  const int64_t d = hp_.n_embd;
  const ModelWeights& w = model_.weights();
  const QuantTraits& embd = quant_traits(w.token_embd.type);
  for (int64_t t = 0; t < n; ++t) {
    embd.to_float(w.token_embd.data + sz(tokens_[sz(t)]) * w.token_embd.row_bytes, x_.data() + t * d, d);
  }
  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    const LayerWeights& l = w.layers[sz(il)];
    attention_block(l, il, n);
    ffn_block(l, n, il + 1 < hp_.n_layer ? &w.layers[sz(il + 1)].wq : &w.output);
  }
  if (logits_out == nullptr) return;
  // Only the rows whose logits are wanted go through the output norm and projection.
  const int64_t rows = static_cast<int64_t>(out_rows_.size());
  for (int64_t r = 0; r < rows; ++r) {
    rms_norm_row(x_.data() + out_rows_[sz(r)] * d, w.output_norm, xn_.data() + r * d, d, hp_.rms_eps);
  }
  mm(w.output, xn_.data(), rows, logits_out);
}

void InferenceContext::attention_block(const LayerWeights& l, int64_t il, int64_t n) {
  const int64_t d = hp_.n_embd;
  for (int64_t t = 0; t < n; ++t) rms_norm_row(x_.data() + t * d, l.attn_norm, xn_.data() + t * d, d, hp_.rms_eps);
  const MatmulOutput qkv[] = {
      {&l.wq, q_.data(), l.wq.rows}, {&l.wk, k_.data(), l.wk.rows}, {&l.wv, v_.data(), l.wv.rows}};
  matmul_many(qkv, xn_.data(), d, n, mm_scratch_, pool_, &l.wo);
  const int64_t qd = hp_.q_dim();
  const int64_t kvd = hp_.kv_dim();
  for (int64_t t = 0; t < n; ++t) {
    float* q = q_.data() + t * qd;
    float* k = k_.data() + t * kvd;
    if (l.bq != nullptr) add_in_place(q, l.bq, qd);
    if (l.bk != nullptr) add_in_place(k, l.bk, kvd);
    if (l.bv != nullptr) add_in_place(v_.data() + t * kvd, l.bv, kvd);
    rope_.apply(q, hp_.n_head, hp_.head_dim, positions_[sz(t)]);
    rope_.apply(k, hp_.n_head_kv, hp_.head_dim, positions_[sz(t)]);
  }
  store_kv(il, n);

  // One attention call per run of a slot's tokens, over that slot's cache.
  for (int64_t t0 = 0; t0 < n;) {
    const int32_t slot = slots_[sz(t0)];
    int64_t t1 = t0 + 1;
    while (t1 < n && slots_[sz(t1)] == slot) ++t1;
    AttentionArgs a;
    const size_t off = cache_offset(slot, il);
    a.q = q_.data() + t0 * qd;
    a.q_stride = qd;
    a.k = k_cache_ + off;
    a.v = v_cache_ + off;
    a.n_ctx = n_ctx_;
    a.n_head = hp_.n_head;
    a.n_head_kv = hp_.n_head_kv;
    a.head_dim = hp_.head_dim;
    a.positions = positions_.data() + t0;
    a.n_tokens = t1 - t0;
    a.scale = 1.0f / std::sqrt(static_cast<float>(hp_.head_dim));
    a.out = att_.data() + t0 * qd;
    a.out_stride = qd;
    attention(a, att_scratch_, pool_);
    t0 = t1;
  }

  mm(l.wo, att_.data(), n, tmp_.data(), &l.w_gate);
  add_in_place(x_.data(), tmp_.data(), n * d);
}

void InferenceContext::store_kv(int64_t il, int64_t n) {
  const int64_t hd = hp_.head_dim;
  const int64_t kvd = hp_.kv_dim();
  for (int64_t t = 0; t < n; ++t) {
    const int64_t pos = positions_[sz(t)];
    uint16_t* kc = k_cache_ + cache_offset(slots_[sz(t)], il);
    uint16_t* vc = v_cache_ + cache_offset(slots_[sz(t)], il);
    fp32_to_fp16_row(v_.data() + t * kvd, v16_.data(), kvd);
    for (int64_t h = 0; h < hp_.n_head_kv; ++h) {
      fp32_to_fp16_row(k_.data() + t * kvd + h * hd, kc + (h * n_ctx_ + pos) * hd, hd);
      const uint16_t* v = v16_.data() + h * hd;
      uint16_t* vhead = vc + h * hd * n_ctx_;
      for (int64_t i = 0; i < hd; ++i) vhead[i * n_ctx_ + pos] = v[i];
    }
  }
}

void InferenceContext::ffn_block(const LayerWeights& l, int64_t n, const WeightMatrix* next) {
  const int64_t d = hp_.n_embd;
  const int64_t ff = hp_.n_ff;
  for (int64_t t = 0; t < n; ++t) rms_norm_row(x_.data() + t * d, l.ffn_norm, xn_.data() + t * d, d, hp_.rms_eps);
  const MatmulOutput gate_up[] = {{&l.w_gate, gate_.data(), l.w_gate.rows}, {&l.w_up, up_.data(), l.w_up.rows}};
  matmul_many(gate_up, xn_.data(), d, n, mm_scratch_, pool_, &l.w_down);
  silu_mul(gate_.data(), up_.data(), gate_.data(), n * ff);
  mm(l.w_down, gate_.data(), n, tmp_.data(), next);
  add_in_place(x_.data(), tmp_.data(), n * d);
}

}  // namespace ternion
