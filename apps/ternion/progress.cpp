#include "progress.h"

#include <unistd.h>

#include <cstdio>
#include <utility>

namespace ternion::cli {

ProgressBar::ProgressBar(std::string label) : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO) == 1) {}

ProgressBar::~ProgressBar() {
  if (drawn_) std::fprintf(stderr, "\r\033[K");
}

void ProgressBar::update(uint64_t done, uint64_t total) {
  if (!enabled_ || total == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && done < total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  constexpr uint64_t kWidth = 30;
  const uint64_t filled = done >= total ? kWidth : done * kWidth / total;
  std::fprintf(stderr, "\r\033[K%s [%s%s] %3u%%", label_.c_str(), std::string(filled, '#').c_str(),
               std::string(kWidth - filled, '.').c_str(),
               static_cast<unsigned>(done >= total ? 100 : done * 100 / total));
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace ternion::cli
