#include "ternion/engine/session.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "ternion/core/error.h"
#include "ternion/tokenizer/vocab.h"

namespace ternion {

namespace {

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

std::vector<int32_t> tokenize_prompt(const Tokenizer& tokenizer, std::string_view text, std::optional<bool> add_bos,
                                     bool parse_special) {
  std::vector<int32_t> ids = tokenizer.encode(text, false, parse_special);
  const Vocab& v = tokenizer.vocab();
  if (add_bos.value_or(v.add_bos) && v.bos >= 0) ids.insert(ids.begin(), v.bos);
  return ids;
}

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kEndOfGeneration:
    case FinishReason::kStopString:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kError:
      return "error";
  }
  return "error";
}

Session::Session(InferenceContext& ctx, const Tokenizer& tokenizer) : ctx_(ctx), tokenizer_(tokenizer) {
  slots_.resize(static_cast<size_t>(ctx.n_seq()));
  for (size_t i = 0; i < slots_.size(); ++i) slots_[i].index = static_cast<int32_t>(i);
  batch_.reserve(static_cast<size_t>(ctx.n_batch()) + slots_.size());
  row_slot_.reserve(slots_.size());
}

int64_t Session::reusable_prefix(int32_t slot, std::span<const int32_t> prompt) const {
  const std::vector<int32_t>& cached = slots_.at(static_cast<size_t>(slot)).cached;
  const size_t limit = std::min(
      {cached.size(), prompt.size() - std::min<size_t>(prompt.size(), 1), static_cast<size_t>(ctx_.slot_len(slot))});
  int64_t p = static_cast<int64_t>(
      std::mismatch(cached.begin(), cached.begin() + static_cast<std::ptrdiff_t>(limit), prompt.begin()).first -
      cached.begin());
  // A sliding-window layer can restart only within the keys it kept; position 0 always works.
  while (p > 0 && !ctx_.can_start_at(slot, p)) --p;
  return p;
}

std::optional<int32_t> Session::start(GenerationSpec spec, GenerationCallbacks callbacks) {
  const int64_t n_prompt = static_cast<int64_t>(spec.prompt.size());
  if (n_prompt == 0) throw Error("the prompt gives no tokens");
  for (int32_t id : spec.prompt) {
    if (id < 0 || id >= tokenizer_.n_vocab()) {
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary");
    }
  }
  if (spec.max_tokens <= 0) {
    throw Error("the number of tokens to generate must be positive, got " + std::to_string(spec.max_tokens));
  }
  if (n_prompt + spec.max_tokens > ctx_.n_ctx()) {
    throw Error("the prompt (" + std::to_string(n_prompt) + " tokens) plus " + std::to_string(spec.max_tokens) +
                " new tokens exceed the context size " + std::to_string(ctx_.n_ctx()));
  }
  Slot* best = nullptr;
  int64_t best_prefix = -1;
  for (Slot& s : slots_) {
    if (s.busy) continue;
    // Keys computed with other adapter scales are not this request's: such a slot is reused from position 0.
    const int64_t p = s.lora_scales == spec.lora_scales ? reusable_prefix(s.index, spec.prompt) : 0;
    // Longest reuse first; among equals the emptiest slot, so a useful prefix elsewhere survives.
    if (p > best_prefix || (p == best_prefix && s.cached.size() < best->cached.size())) {
      best = &s;
      best_prefix = p;
    }
  }
  if (best == nullptr) return std::nullopt;
  Slot& s = *best;
  if (s.lora_scales != spec.lora_scales) ctx_.set_lora_scales(s.index, spec.lora_scales);
  s.lora_scales = spec.lora_scales;
  // Token texts only for a constrained request: an unconstrained one pays nothing for grammars.
  s.sampler.emplace(spec.sampling, tokenizer_.n_vocab(), spec.sampling.grammar.empty() ? nullptr : grammar_vocab());
  for (int32_t t : spec.prompt) s.sampler->accept(t);
  s.decoder.emplace(tokenizer_, false, spec.special);
  s.stop.emplace(spec.stop);
  s.spec = std::move(spec);
  s.callbacks = std::move(callbacks);
  s.cached.resize(static_cast<size_t>(best_prefix));
  s.n_fed = static_cast<size_t>(best_prefix);
  s.reused = best_prefix;
  s.generated = 0;
  s.next_token = 0;
  s.started = Clock::now();
  s.first_token = s.started;
  s.busy = true;
  reused_total_ += best_prefix;
  evaluated_total_ += n_prompt - best_prefix;
  return s.index;
}

std::shared_ptr<const GrammarVocab> Session::grammar_vocab() {
  if (!grammar_vocab_) {
    const int32_t n = tokenizer_.n_vocab();
    std::vector<std::string> pieces(static_cast<size_t>(n));
    std::vector<bool> eog(static_cast<size_t>(n));
    for (int32_t id = 0; id < n; ++id) {
      pieces[static_cast<size_t>(id)] = tokenizer_.token_to_piece(id, false);
      eog[static_cast<size_t>(id)] = tokenizer_.is_eog(id);
    }
    grammar_vocab_ = std::make_shared<const GrammarVocab>(std::move(pieces), std::move(eog));
  }
  return grammar_vocab_;
}

void Session::end(Slot& s, FinishReason reason, const std::string& error) {
  if (!s.busy) return;
  const auto now = Clock::now();
  Finish f;
  f.reason = reason;
  f.error = error;
  f.prompt_reused = s.reused;
  f.prompt_evaluated = static_cast<int64_t>(s.n_fed) - s.reused;
  f.generated = s.generated;
  f.prompt_ms = ms_between(s.started, s.generated > 0 ? s.first_token : now);
  f.generate_ms = s.generated > 0 ? ms_between(s.first_token, now) : 0;
  s.busy = false;
  s.sampler.reset();
  s.decoder.reset();
  s.stop.reset();
  GenerationCallbacks cb = std::move(s.callbacks);
  s.callbacks = {};
  if (cb.on_finish) cb.on_finish(f);
}

void Session::end_all(const std::string& message) {
  for (Slot& s : slots_) end(s, FinishReason::kError, message);
}

void Session::forget_cache() {
  for (Slot& s : slots_) {
    if (!s.busy) s.cached.clear();
  }
}

bool Session::has_free_slot() const {
  return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.busy; });
}

int32_t Session::n_active() const {
  return static_cast<int32_t>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.busy; }));
}

int64_t Session::kv_used() const {
  int64_t used = 0;
  for (const Slot& s : slots_) used += s.busy ? ctx_.slot_len(s.index) : 0;
  return used;
}

bool Session::step() {
  const bool ran = run_batch();
  // After the pass, so that a request runs at least once (and streams what it has) before a cancellation ends it.
  for (Slot& s : slots_) {
    if (s.busy && s.callbacks.cancelled && s.callbacks.cancelled()) end(s, FinishReason::kCancelled);
  }
  return ran;
}

bool Session::run_batch() {
  batch_.clear();
  row_slot_.clear();
  const size_t budget = static_cast<size_t>(ctx_.n_batch());
  // Generating slots first: one token each.
  for (const Slot& s : slots_) {
    if (!s.busy || s.prefilling()) continue;
    batch_.push_back({s.next_token, s.index, static_cast<int64_t>(s.cached.size()), true});
    row_slot_.push_back(s.index);
  }
  // Then prompt tokens of new requests, in slot order, while the batch has room.
  for (const Slot& s : slots_) {
    if (!s.prefilling() || batch_.size() >= budget) continue;
    const std::span<const int32_t> left = std::span(s.spec.prompt).subspan(s.n_fed);
    const size_t n = std::min(left.size(), budget - batch_.size());
    const int64_t pos0 = static_cast<int64_t>(s.n_fed);
    for (size_t i = 0; i < n; ++i) {
      const bool last = i + 1 == n && n == left.size();
      batch_.push_back({left[i], s.index, pos0 + static_cast<int64_t>(i), last});
      if (last) row_slot_.push_back(s.index);
    }
  }
  if (batch_.empty()) return false;

  std::span<const float> logits;
  try {
    logits = ctx_.decode_batch(batch_);
  } catch (const std::exception& e) {
    // Should not happen for validated requests; the requests of this batch fail (the cache is unchanged), the
    // others go on.
    for (const BatchToken& b : batch_) end(slots_[static_cast<size_t>(b.slot)], FinishReason::kError, e.what());
    return true;
  }
  for (const BatchToken& b : batch_) {
    Slot& s = slots_[static_cast<size_t>(b.slot)];
    assert(static_cast<int64_t>(s.cached.size()) == b.pos);
    s.cached.push_back(b.token);
    if (s.n_fed < s.spec.prompt.size()) ++s.n_fed;
  }
  const size_t n_vocab = static_cast<size_t>(tokenizer_.n_vocab());
  for (size_t r = 0; r < row_slot_.size(); ++r) {
    on_logits(slots_[static_cast<size_t>(row_slot_[r])], logits.subspan(r * n_vocab, n_vocab));
  }
  return true;
}

void Session::on_logits(Slot& s, std::span<const float> logits) {
  const GenerationSpec& spec = s.spec;
  int32_t tok = 0;
  try {
    tok = s.sampler->sample(logits);
  } catch (const Error& e) {  // a grammar that no token can continue, or one too ambiguous to follow
    end(s, FinishReason::kError, e.what());
    return;
  }
  s.sampler->accept(tok);
  const GrammarMatcher* grammar = s.sampler->grammar();
  if (s.generated == 0) s.first_token = Clock::now();
  ++s.generated;

  Delta d;
  d.tokens.push_back(tok);
  if (spec.logprobs >= 0) d.logprobs.push_back(token_logprob(logits, tok, spec.logprobs));
  std::optional<FinishReason> finish;
  // With a grammar, an end-of-generation token (allowed only where the grammar can end) always ends the output.
  if ((!spec.ignore_eos || grammar != nullptr) && tokenizer_.is_eog(tok)) {
    finish = FinishReason::kEndOfGeneration;
    d.text = s.stop->push(s.decoder->flush());
    d.text += s.stop->flush();
  } else {
    d.text = s.stop->push(s.decoder->push(tok));
    if (s.stop->stopped()) {
      finish = FinishReason::kStopString;
    } else if (grammar != nullptr && grammar->finished()) {  // complete, and nothing may follow
      d.text += s.stop->push(s.decoder->flush());
      finish = s.stop->stopped() ? FinishReason::kStopString : FinishReason::kEndOfGeneration;
      d.text += s.stop->flush();
    } else if (s.generated >= spec.max_tokens) {
      d.text += s.stop->push(s.decoder->flush());
      finish = s.stop->stopped() ? FinishReason::kStopString : FinishReason::kLength;
      d.text += s.stop->flush();
    }
  }
  if (s.callbacks.on_delta) s.callbacks.on_delta(std::move(d));
  if (finish) {
    end(s, *finish);
    return;
  }
  s.next_token = tok;
}

}  // namespace ternion
