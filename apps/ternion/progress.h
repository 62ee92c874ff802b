// A one-line progress bar on stderr for long steps (loading, synth, bench): drawn only when stderr is a terminal,
// so piped output and logs get nothing extra.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ternion::cli {

class ProgressBar {
 public:
  // `label`: what is being done ("loading model.gguf"). Enabled when stderr is a terminal.
  explicit ProgressBar(std::string label);
  ~ProgressBar();  // clears the line
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Redraws at most every 100 ms, and at the end.
  void update(uint64_t done, uint64_t total);
  bool enabled() const { return enabled_; }

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace ternion::cli
