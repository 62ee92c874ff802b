#include "ternion/model/context.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "ternion/backend/attention.h"
#include "ternion/core/error.h"
#include "ternion/quant/quant.h"

namespace ternion {

namespace {

size_t sz(int64_t n) { return static_cast<size_t>(n); }

// One token's values of a head down column `pos` of the transposed V cache ([head_dim][n_ctx]).
template <typename T>
void store_column(const T* v, T* head, int64_t head_dim, int64_t n_ctx, int64_t pos) {
  for (int64_t i = 0; i < head_dim; ++i) head[i * n_ctx + pos] = v[i];
}

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
  if (hp_.rope_freq_base_swa > 0.0f && hp_.rope_freq_base_swa != model.rope().freq_base) {
    RopeConfig swa = model.rope();
    swa.freq_base = hp_.rope_freq_base_swa;
    swa.freq_scale = 1.0f;
    swa.freq_factors.clear();
    rope_swa_ = RopeTable(swa, n_ctx_);
  }
  const ArchSpec& arch = model.arch();
  if (arch.positions == PositionKind::kAlibi) alibi_ = alibi_slopes(hp_.n_head, arch.alibi_max_bias);

  if (options.kv_type != DType::F16 && options.kv_type != DType::F32) {
    throw Error("the KV cache type must be f16 or f32, got " + std::string(dtype_info(options.kv_type).name));
  }
  kv_type_ = options.kv_type;
  kv_es_ = kv_type_ == DType::F32 ? 4 : 2;
  kv_elems_ = sz(options.n_seq) * sz(hp_.n_layer) * sz(n_ctx_) * sz(hp_.kv_dim());
  kv_memory_ = PageMemory(2 * kv_elems_ * kv_es_, options.hugetlb, "the KV cache");
  k_cache_ = kv_memory_.data();
  v_cache_ = k_cache_ + kv_elems_ * kv_es_;
  const size_t b = sz(n_batch_);
  x_.resize(b * sz(hp_.n_embd));
  xn_.resize(b * sz(std::max(hp_.n_embd, hp_.q_dim())));
  tmp_.resize(b * sz(hp_.n_embd));
  ffn_out_.resize(b * sz(hp_.n_embd));
  q_.resize(b * sz(hp_.q_dim()));
  att_.resize(b * sz(hp_.q_dim()));
  k_.resize(b * sz(hp_.kv_dim()));
  v_.resize(b * sz(hp_.kv_dim()));
  v_row_.resize(sz(hp_.kv_dim()) * kv_es_);
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
    if (l.w_gate.data != nullptr) need({&l.w_gate, &l.w_up});
    need({&l.w_up});
    need({&l.wo});
    need({&l.w_down});
  }
  mm_scratch_.resize(scratch);
  att_scratch_.resize(attention_scratch_bytes(hp_.n_head, n_ctx_, hp_.head_dim, kv_type_));
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

void InferenceContext::norm_rows(const float* x, const float* w, const float* b, float* y, int64_t n_rows) const {
  const int64_t d = hp_.n_embd;
  for (int64_t t = 0; t < n_rows; ++t) norm_row(x + t * d, w, b, y + t * d, d);
}

void InferenceContext::norm_row(const float* x, const float* w, const float* b, float* y, int64_t n) const {
  if (model_.arch().norm == NormKind::kLayer) {
    layer_norm_row(x, w, b, y, n, hp_.norm_eps);
  } else {
    rms_norm_row(x, w, y, n, hp_.rms_eps);
  }
}

void InferenceContext::run_staged(int64_t n, float* logits_out) {
  const int64_t d = hp_.n_embd;
  const ArchSpec& arch = model_.arch();
  const ModelWeights& w = model_.weights();
  const QuantTraits& embd = quant_traits(w.token_embd.type);
  for (int64_t t = 0; t < n; ++t) {
    embd.to_float(w.token_embd.data + sz(tokens_[sz(t)]) * w.token_embd.row_bytes, x_.data() + t * d, d);
  }
  if (arch.embd_scale_sqrt) scale_in_place(x_.data(), n * d, std::sqrt(static_cast<float>(d)));
  if (hp_.embd_scale != 1.0f) scale_in_place(x_.data(), n * d, hp_.embd_scale);
  if (w.token_embd_norm != nullptr) norm_rows(x_.data(), w.token_embd_norm, w.token_embd_norm_b, x_.data(), n);
  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    const LayerWeights& l = w.layers[sz(il)];
    attention_block(l, il, n);
    ffn_block(l, n, il + 1 < hp_.n_layer ? &w.layers[sz(il + 1)].wq : &w.output);
  }
  if (logits_out == nullptr) return;
  // Only the rows whose logits are wanted go through the output norm and projection.
  const int64_t rows = static_cast<int64_t>(out_rows_.size());
  for (int64_t r = 0; r < rows; ++r) {
    norm_row(x_.data() + out_rows_[sz(r)] * d, w.output_norm, w.output_norm_b, xn_.data() + r * d, d);
  }
  mm(w.output, xn_.data(), rows, logits_out);
  const int64_t n_logits = rows * hp_.n_vocab;
  if (hp_.logit_scale != 1.0f) scale_in_place(logits_out, n_logits, 1.0f / hp_.logit_scale);
  if (hp_.final_softcap > 0.0f) softcap_in_place(logits_out, n_logits, hp_.final_softcap);
}

void InferenceContext::attention_block(const LayerWeights& l, int64_t il, int64_t n) {
  const int64_t d = hp_.n_embd;
  const ArchSpec& arch = model_.arch();
  // Post-norm blocks (OLMo 2) feed the residual stream itself to the projections.
  const float* in = x_.data();
  if (l.attn_norm != nullptr) {
    norm_rows(x_.data(), l.attn_norm, l.attn_norm_b, xn_.data(), n);
    in = xn_.data();
  }
  const MatmulOutput qkv[] = {
      {&l.wq, q_.data(), l.wq.rows}, {&l.wk, k_.data(), l.wk.rows}, {&l.wv, v_.data(), l.wv.rows}};
  matmul_many(qkv, in, d, n, mm_scratch_, pool_, &l.wo);
  const int64_t qd = hp_.q_dim();
  const int64_t kvd = hp_.kv_dim();
  const int64_t hd = hp_.head_dim;
  const bool sliding = hp_.swa_layers[sz(il)];
  const RopeTable& rope = sliding && rope_swa_.n_positions() > 0 ? rope_swa_ : rope_;
  const bool rotate = hp_.rope_layers[sz(il)];
  for (int64_t t = 0; t < n; ++t) {
    float* q = q_.data() + t * qd;
    float* k = k_.data() + t * kvd;
    if (l.bq != nullptr) add_in_place(q, l.bq, qd);
    if (l.bk != nullptr) add_in_place(k, l.bk, kvd);
    if (l.bv != nullptr) add_in_place(v_.data() + t * kvd, l.bv, kvd);
    if (arch.qk_norm == QkNorm::kPerHead) {
      for (int64_t h = 0; h < hp_.n_head; ++h) rms_norm_row(q + h * hd, l.q_norm, q + h * hd, hd, hp_.rms_eps);
      for (int64_t h = 0; h < hp_.n_head_kv; ++h) rms_norm_row(k + h * hd, l.k_norm, k + h * hd, hd, hp_.rms_eps);
    } else if (arch.qk_norm == QkNorm::kWhole) {
      rms_norm_row(q, l.q_norm, q, qd, hp_.rms_eps);
      rms_norm_row(k, l.k_norm, k, kvd, hp_.rms_eps);
    }
    if (rotate) {
      rope.apply(q, hp_.n_head, hd, positions_[sz(t)]);
      rope.apply(k, hp_.n_head_kv, hd, positions_[sz(t)]);
    }
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
    a.k = k_cache_ + off * kv_es_;
    a.v = v_cache_ + off * kv_es_;
    a.kv_type = kv_type_;
    a.n_ctx = n_ctx_;
    a.n_head = hp_.n_head;
    a.n_head_kv = hp_.n_head_kv;
    a.head_dim = hd;
    a.positions = positions_.data() + t0;
    a.n_tokens = t1 - t0;
    a.scale = hp_.attn_scale > 0.0f ? hp_.attn_scale : 1.0f / std::sqrt(static_cast<float>(hd));
    a.window = sliding ? hp_.sliding_window : 0;
    a.softcap = hp_.attn_softcap;
    a.alibi = alibi_.empty() ? nullptr : alibi_.data();
    a.out = att_.data() + t0 * qd;
    a.out_stride = qd;
    attention(a, att_scratch_, pool_);
    t0 = t1;
  }

  mm(l.wo, att_.data(), n, tmp_.data(), l.w_gate.data != nullptr ? &l.w_gate : &l.w_up);
  finish_branch(tmp_.data(), l.bo, l.post_attn_norm, n);
  // With a parallel residual the FFN reads the block's input too: the attention's output is added after it.
  if (!hp_.parallel_residual) add_in_place(x_.data(), tmp_.data(), n * d);
}

// A branch's output before it joins the residual stream: its bias, its post-norm (OLMo 2, Gemma 2/3) and the
// residual multiplier (Granite).
void InferenceContext::finish_branch(float* y, const float* bias, const float* post_norm, int64_t n) const {
  const int64_t d = hp_.n_embd;
  if (bias != nullptr) {
    for (int64_t t = 0; t < n; ++t) add_in_place(y + t * d, bias, d);
  }
  if (post_norm != nullptr) {
    for (int64_t t = 0; t < n; ++t) rms_norm_row(y + t * d, post_norm, y + t * d, d, hp_.rms_eps);
  }
  if (hp_.residual_scale != 1.0f) scale_in_place(y, n * d, hp_.residual_scale);
}

void InferenceContext::store_kv(int64_t il, int64_t n) {
  const int64_t hd = hp_.head_dim;
  const int64_t kvd = hp_.kv_dim();
  const size_t es = kv_es_;
  const auto to_cache = [&](const float* src, uint8_t* dst, int64_t count) {
    if (kv_type_ == DType::F32) {
      std::memcpy(dst, src, sz(count) * 4);
    } else {
      fp32_to_fp16_row(src, reinterpret_cast<uint16_t*>(dst), count);
    }
  };
  for (int64_t t = 0; t < n; ++t) {
    const int64_t pos = positions_[sz(t)];
    uint8_t* kc = k_cache_ + cache_offset(slots_[sz(t)], il) * es;
    uint8_t* vc = v_cache_ + cache_offset(slots_[sz(t)], il) * es;
    to_cache(v_.data() + t * kvd, v_row_.data(), kvd);
    for (int64_t h = 0; h < hp_.n_head_kv; ++h) {
      to_cache(k_.data() + t * kvd + h * hd, kc + sz((h * n_ctx_ + pos) * hd) * es, hd);
      const uint8_t* v = v_row_.data() + sz(h * hd) * es;
      uint8_t* vhead = vc + sz(h * hd * n_ctx_) * es;
      if (kv_type_ == DType::F32) {
        store_column(reinterpret_cast<const float*>(v), reinterpret_cast<float*>(vhead), hd, n_ctx_, pos);
      } else {
        store_column(reinterpret_cast<const uint16_t*>(v), reinterpret_cast<uint16_t*>(vhead), hd, n_ctx_, pos);
      }
    }
  }
}

void InferenceContext::ffn_block(const LayerWeights& l, int64_t n, const WeightMatrix* next) {
  const int64_t d = hp_.n_embd;
  const int64_t ff = hp_.n_ff;
  const ArchSpec& arch = model_.arch();
  const float* in = x_.data();
  if (l.ffn_norm != nullptr) {
    norm_rows(x_.data(), l.ffn_norm, l.ffn_norm_b, xn_.data(), n);
    in = xn_.data();
  }
  if (l.w_gate.data != nullptr) {
    const MatmulOutput gate_up[] = {{&l.w_gate, gate_.data(), l.w_gate.rows}, {&l.w_up, up_.data(), l.w_up.rows}};
    matmul_many(gate_up, in, d, n, mm_scratch_, pool_, &l.w_down);
    gated_activation(arch.activation, gate_.data(), up_.data(), gate_.data(), n * ff);
  } else {
    mm(l.w_up, in, n, gate_.data(), &l.w_down);
    if (l.b_up != nullptr) {
      for (int64_t t = 0; t < n; ++t) add_in_place(gate_.data() + t * ff, l.b_up, ff);
    }
    activate_in_place(arch.activation, gate_.data(), n * ff);
  }
  mm(l.w_down, gate_.data(), n, ffn_out_.data(), next);
  finish_branch(ffn_out_.data(), l.b_down, l.post_ffn_norm, n);
  if (hp_.parallel_residual) add_in_place(ffn_out_.data(), tmp_.data(), n * d);
  add_in_place(x_.data(), ffn_out_.data(), n * d);
}

}  // namespace ternion
