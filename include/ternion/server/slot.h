// One KV slot of the scheduler and the request it is running: prompt progress, sampler, streaming
// detokenizer and stop strings.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "ternion/sampling/sampler.h"
#include "ternion/server/metrics.h"
#include "ternion/server/stop_text.h"
#include "ternion/server/task.h"
#include "ternion/tokenizer/tokenizer.h"

namespace ternion::server {

// Log-probability of `token` under `logits` (log-softmax) with the `n_top` best alternatives.
TokenLogprob token_logprob(std::span<const float> logits, int32_t token, int32_t n_top);

class Slot {
 public:
  Slot(int32_t index, const Tokenizer& tokenizer, Metrics& metrics);

  int32_t index() const { return index_; }
  bool busy() const { return task_ != nullptr; }
  GenerationTask* task() const { return task_.get(); }

  void start(std::shared_ptr<GenerationTask> task);
  // Ends the request (finish reason, or an error when `error` is set) and frees the slot.
  void end(const std::string& finish_reason, const std::string& error = "");

  // Prompt tokens not yet run through the model.
  bool prefilling() const { return busy() && n_fed_ < task_->spec().prompt.size(); }
  std::span<const int32_t> prompt_left() const { return std::span(task_->spec().prompt).subspan(n_fed_); }
  void fed_prompt(size_t n) { n_fed_ += n; }
  // The position the next token goes to, and in the decoding phase the token to run.
  int64_t n_past() const { return static_cast<int64_t>(n_fed_) + n_generated_ - (n_generated_ > 0 ? 1 : 0); }
  int32_t next_token() const { return next_token_; }

  // Takes the logits after the last token run for this slot: samples, streams the text out and ends the request
  // when it is done. Returns true when it ended.
  bool on_logits(std::span<const float> logits);

 private:
  int32_t index_;
  const Tokenizer& tokenizer_;
  Metrics& metrics_;
  std::shared_ptr<GenerationTask> task_;
  std::optional<Sampler> sampler_;
  std::optional<StreamDecoder> decoder_;
  std::optional<StopTextFilter> stop_;
  size_t n_fed_ = 0;
  int64_t n_generated_ = 0;
  int32_t next_token_ = 0;
  GenerationTask::Clock::time_point last_token_;
};

}  // namespace ternion::server
