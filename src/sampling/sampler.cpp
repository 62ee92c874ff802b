#include "ternion/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "ternion/core/error.h"
#include "ternion/core/param_rules.h"

namespace ternion {

void SamplingParams::validate(ParamSurface surface) const {
  check_param(params::kTemperature, temperature, surface);
  check_param(params::kTopK, top_k, surface);
  check_param(params::kTopP, top_p, surface);
  check_param(params::kMinP, min_p, surface);
  check_param(params::kRepeatPenalty, repeat_penalty, surface);
  check_param(params::kRepeatLastN, repeat_last_n, surface);
  check_param(params::kPresencePenalty, presence_penalty, surface);
  check_param(params::kFrequencyPenalty, frequency_penalty, surface);
}

Sampler::Sampler(SamplingParams params, int32_t n_vocab, std::shared_ptr<const GrammarVocab> vocab)
    : params_(std::move(params)), n_vocab_(n_vocab), rng_(params_.seed) {
  params_.validate();
  if (n_vocab <= 0) throw Error("sampler: empty vocabulary");
  for (const auto& [id, bias] : params_.logit_bias) {
    if (id < 0 || id >= n_vocab)
      throw Error("logit_bias: token id " + std::to_string(id) + " is outside the vocabulary");
    (void)bias;
  }
  cand_.resize(static_cast<size_t>(n_vocab));
  counts_.assign(static_cast<size_t>(n_vocab), 0);
  const size_t window = params_.repeat_last_n < 0 ? 1u << 20 : static_cast<size_t>(params_.repeat_last_n);
  history_.assign(window, 0);
  if (!params_.grammar.empty()) {
    if (!vocab || vocab->n_vocab() != n_vocab) throw Error("sampler: a grammar needs the vocabulary's token texts");
    grammar_text_ = std::make_shared<const Grammar>(Grammar::parse(params_.grammar));
    grammar_.emplace(grammar_text_, std::move(vocab));
  }
}

void Sampler::reset() {
  rng_.seed(params_.seed);
  if (grammar_) {
    std::shared_ptr<const GrammarVocab> vocab = grammar_->vocab();
    grammar_.emplace(grammar_text_, std::move(vocab));
  }
  std::fill(counts_.begin(), counts_.end(), 0);
  history_pos_ = history_len_ = 0;
}

void Sampler::accept(int32_t token) {
  if (history_.empty() || token < 0 || token >= n_vocab_) return;
  if (history_len_ == history_.size()) {
    --counts_[static_cast<size_t>(history_[history_pos_])];
  } else {
    ++history_len_;
  }
  history_[history_pos_] = token;
  ++counts_[static_cast<size_t>(token)];
  history_pos_ = (history_pos_ + 1) % history_.size();
}

void Sampler::apply_penalties() {
  const bool repeat = params_.repeat_penalty != 1.0f;
  const bool openai = params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f;
  if ((!repeat && !openai) || history_len_ == 0) return;
  // Visit each distinct id of the window once (its count is the number of occurrences).
  for (size_t i = 0; i < history_len_; ++i) {
    const int32_t id = history_[i];
    Candidate& c = cand_[static_cast<size_t>(id)];
    if (c.p != 0.0f) continue;  // p marks "already penalised" here; it is recomputed later
    c.p = 1.0f;
    const int count = counts_[static_cast<size_t>(id)];
    if (repeat) c.logit = c.logit > 0.0f ? c.logit / params_.repeat_penalty : c.logit * params_.repeat_penalty;
    c.logit -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
  }
}

double Sampler::uniform01() {
  return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);  // 53 random bits
}

int32_t Sampler::draw(size_t n) {
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) total += static_cast<double>(cand_[i].p);
  const double r = uniform01() * total;
  double acc = 0.0;
  for (size_t i = 0; i < n; ++i) {
    acc += static_cast<double>(cand_[i].p);
    if (r < acc) return cand_[i].id;
  }
  return cand_[n - 1].id;
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (logits.size() != cand_.size()) throw Error("sampler: logits size does not match the vocabulary");
  if (!grammar_) return sample_from(logits, nullptr);
  int32_t tok = sample_from(logits, nullptr);
  if (grammar_->allows(tok)) {
    ++grammar_hits_;
  } else {
    ++grammar_resamples_;
    grammar_->allowed_tokens(allowed_);
    if (std::find(allowed_.begin(), allowed_.end(), uint8_t{1}) == allowed_.end()) {
      throw Error("grammar: no token of the vocabulary can continue the output");
    }
    tok = sample_from(logits, &allowed_);
  }
  grammar_->accept(tok);
  return tok;
}

int32_t Sampler::sample_from(std::span<const float> logits, const std::vector<uint8_t>* allowed) {
  for (size_t i = 0; i < cand_.size(); ++i) cand_[i] = {static_cast<int32_t>(i), logits[i], 0.0f};
  for (const auto& [id, bias] : params_.logit_bias) cand_[static_cast<size_t>(id)].logit += bias;
  apply_penalties();
  size_t n = cand_.size();
  if (allowed != nullptr) {  // keep the allowed candidates only, in id order
    n = 0;
    for (size_t i = 0; i < cand_.size(); ++i) {
      if ((*allowed)[i]) cand_[n++] = cand_[i];
    }
  }
  const auto end = cand_.begin() + static_cast<std::ptrdiff_t>(n);

  auto better = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  if (params_.temperature <= 0.0f) {
    return std::min_element(cand_.begin(), end, better)->id;
  }

  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
    n = static_cast<size_t>(params_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(n), end, better);
  } else {
    std::sort(cand_.begin(), end, better);
  }

  // Probabilities of the survivors at temperature 1, for top-p and min-p.
  auto softmax = [this](size_t count, float temp) {
    const float max = cand_[0].logit;
    double sum = 0.0;
    for (size_t i = 0; i < count; ++i) {
      cand_[i].p = std::exp((cand_[i].logit - max) / temp);
      sum += static_cast<double>(cand_[i].p);
    }
    for (size_t i = 0; i < count; ++i) cand_[i].p = static_cast<float>(static_cast<double>(cand_[i].p) / sum);
  };
  softmax(n, 1.0f);
  if (params_.top_p < 1.0f) {
    double cum = 0.0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      cum += static_cast<double>(cand_[i].p);
      if (cum >= static_cast<double>(params_.top_p)) {
        keep = i + 1;
        break;
      }
    }
    n = keep;
  }
  if (params_.min_p > 0.0f) {
    const float threshold = cand_[0].p * params_.min_p;
    size_t keep = 1;
    while (keep < n && cand_[keep].p >= threshold) ++keep;
    n = keep;
  }
  softmax(n, params_.temperature);
  return draw(n);
}

}  // namespace ternion
