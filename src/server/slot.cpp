#include "ternion/server/slot.h"

#include <algorithm>
#include <cmath>

namespace ternion::server {

TokenLogprob token_logprob(std::span<const float> logits, int32_t token, int32_t n_top) {
  float max = -INFINITY;
  for (float l : logits) max = std::max(max, l);
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l - max));
  const float log_z = max + static_cast<float>(std::log(sum));
  TokenLogprob r;
  r.id = token;
  r.logprob = logits[static_cast<size_t>(token)] - log_z;
  if (n_top > 0) {
    const size_t k = std::min(static_cast<size_t>(n_top), logits.size());
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(), [&](int32_t a, int32_t b) {
      const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
      return la > lb || (la == lb && a < b);
    });
    for (size_t i = 0; i < k; ++i) r.top.emplace_back(ids[i], logits[static_cast<size_t>(ids[i])] - log_z);
  }
  return r;
}

Slot::Slot(int32_t index, const Tokenizer& tokenizer, Metrics& metrics)
    : index_(index), tokenizer_(tokenizer), metrics_(metrics) {}

void Slot::start(std::shared_ptr<GenerationTask> task) {
  task_ = std::move(task);
  const GenerationSpec& s = task_->spec();
  sampler_.emplace(s.sampling, tokenizer_.n_vocab());
  for (int32_t t : s.prompt) sampler_->accept(t);
  decoder_.emplace(tokenizer_, false);
  stop_.emplace(s.stop);
  n_fed_ = 0;
  n_generated_ = 0;
  next_token_ = 0;
}

void Slot::end(const std::string& finish_reason, const std::string& error) {
  if (!task_) return;
  task_->mark_end(GenerationTask::Clock::now(), n_generated_);
  metrics_.add_tokens(static_cast<int64_t>(n_fed_), n_generated_);
  if (error.empty()) {
    task_->finish(finish_reason);
  } else {
    task_->fail(error);
  }
  task_.reset();
  sampler_.reset();
  decoder_.reset();
  stop_.reset();
}

bool Slot::on_logits(std::span<const float> logits) {
  const GenerationSpec& s = task_->spec();
  const int32_t tok = sampler_->sample(logits);
  sampler_->accept(tok);
  const auto now = GenerationTask::Clock::now();
  if (n_generated_ == 0) {
    task_->mark_first_token(now);
    metrics_.observe_ttft(task_->ttft_ms() / 1000.0);
  } else {
    metrics_.observe_inter_token(std::chrono::duration<double>(now - last_token_).count());
  }
  last_token_ = now;
  ++n_generated_;

  Delta d;
  d.tokens.push_back(tok);
  if (s.logprobs >= 0) d.logprobs.push_back(token_logprob(logits, tok, s.logprobs));
  std::string finish;
  if (!s.ignore_eos && tokenizer_.is_eog(tok)) {
    finish = "stop";
    d.text = stop_->push(decoder_->flush());
    d.text += stop_->flush();
  } else {
    d.text = stop_->push(decoder_->push(tok));
    if (stop_->stopped()) {
      finish = "stop";
    } else if (n_generated_ >= s.max_tokens) {
      d.text += stop_->push(decoder_->flush());
      finish = stop_->stopped() ? "stop" : "length";
      d.text += stop_->flush();
    }
  }
  task_->push(std::move(d));
  if (!finish.empty()) {
    end(finish);
    return true;
  }
  next_token_ = tok;
  return false;
}

}  // namespace ternion::server
