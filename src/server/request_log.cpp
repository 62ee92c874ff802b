#include "request_log.h"

#include <cstdio>

namespace ternion::server {

void RequestLog::begin(const httplib::Request& req) {
  if (!enabled()) return;
  auto s = std::make_shared<RequestStats>();
  s->start = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  open_[&req] = std::move(s);
}

std::shared_ptr<RequestStats> RequestLog::stats(const httplib::Request& req) {
  if (!enabled()) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = open_.find(&req);
  return it == open_.end() ? nullptr : it->second;
}

void RequestLog::end(const httplib::Request& req, const httplib::Response& res) {
  if (!enabled()) return;
  std::shared_ptr<RequestStats> s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = open_.find(&req);
    if (it == open_.end()) return;
    s = std::move(it->second);
    open_.erase(it);
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s->start).count();
  sink_(line(req.method, req.path, res.status, *s, ms));
}

std::string RequestLog::line(const std::string& method, const std::string& path, int status, const RequestStats& s,
                             double ms) {
  char time[32];
  std::snprintf(time, sizeof time, "%.1f", ms);
  std::string out = "request: " + method + " " + path + " status=" + std::to_string(status);
  if (!s.model.empty()) out += " model=" + s.model;
  if (s.prompt_tokens >= 0) {
    out +=
        " prompt_tokens=" + std::to_string(s.prompt_tokens) + " generated_tokens=" + std::to_string(s.generated_tokens);
  }
  return out + " ms=" + time;
}

}  // namespace ternion::server
