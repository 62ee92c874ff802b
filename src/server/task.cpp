#include "ternion/server/task.h"

namespace ternion::server {

void GenerationTask::push(Delta delta) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_.push_back(std::move(delta));
  }
  cv_.notify_all();
}

void GenerationTask::finish(std::string finish_reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    finish_reason_ = std::move(finish_reason);
    done_ = true;
  }
  cv_.notify_all();
}

void GenerationTask::fail(std::string message) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::move(message);
    finish_reason_ = "error";
    done_ = true;
  }
  cv_.notify_all();
}

bool GenerationTask::wait(std::vector<Delta>& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return done_ || !pending_.empty(); });
  for (Delta& d : pending_) out.push_back(std::move(d));
  pending_.clear();
  return done_;
}

}  // namespace ternion::server
