// A generation request queued for the scheduler, and the channel its output travels back on: the scheduler's
// thread pushes text deltas and the final state; the HTTP thread that owns the request waits for them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "ternion/engine/session.h"

namespace ternion::server {

// The request, its output and its token log-probabilities are the generation core's.
using ternion::Delta;
using ternion::Finish;
using ternion::GenerationSpec;
using ternion::TokenLogprob;

class GenerationTask {
 public:
  using Clock = std::chrono::steady_clock;

  explicit GenerationTask(GenerationSpec spec) : spec_(std::move(spec)), created_(Clock::now()) {}

  const GenerationSpec& spec() const { return spec_; }
  Clock::time_point created() const { return created_; }

  // Scheduler side.
  void push(Delta delta);
  void finish(std::string finish_reason);  // "stop", "length" or "cancelled"
  void fail(std::string message);          // an engine error; the request gets a 500

  // Client side. Waits up to `timeout` for output; moves what arrived into `out`. Returns true once finished (all
  // output delivered).
  bool wait(std::vector<Delta>& out, std::chrono::milliseconds timeout);

  // Asks the scheduler to stop this request at its next step and free its slot.
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  // Set by the HTTP layer: true when the client has gone away (polled by the scheduler once per step).
  std::function<bool()> client_gone;

  // Valid once finished.
  const std::string& finish_reason() const { return finish_reason_; }
  const std::string& error() const { return error_; }
  int64_t n_generated() const { return n_generated_; }
  double ttft_ms() const { return ttft_ms_; }
  double generate_ms() const { return generate_ms_; }
  double prompt_ms() const { return prompt_ms_; }  // from the slot's start to the first token
  double total_ms() const { return total_ms_; }    // from the request's arrival to its end
  uint64_t seed() const { return spec_.sampling.seed; }

  // Timing kept by the scheduler.
  void mark_first_token(Clock::time_point t) {
    ttft_ms_ = std::chrono::duration<double, std::milli>(t - created_).count();
  }
  void mark_end(Clock::time_point t, const Finish& f) {
    generate_ms_ = f.generate_ms;
    total_ms_ = std::chrono::duration<double, std::milli>(t - created_).count();
    prompt_ms_ = f.prompt_ms;
    n_generated_ = f.generated;
  }

 private:
  GenerationSpec spec_;
  Clock::time_point created_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Delta> pending_;
  bool done_ = false;
  std::atomic<bool> cancelled_{false};
  std::string finish_reason_, error_;
  int64_t n_generated_ = 0;
  double ttft_ms_ = 0, generate_ms_ = 0, prompt_ms_ = 0, total_ms_ = 0;
};

}  // namespace ternion::server
