// One log line per answered request (serve's stderr unless --quiet-requests): method, path, model, status,
// prompt and generated tokens, time. The pre-routing handler opens a request's entry, the generation path fills
// in the model and token counts (a stream when it ends, on the same connection thread), and the HTTP logger,
// which runs after the response is written, closes it into the line.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace ternion::server {

struct RequestStats {
  std::chrono::steady_clock::time_point start;
  std::string model;
  int64_t prompt_tokens = -1;  // -1: not a generation request
  int64_t generated_tokens = 0;
};

class RequestLog {
 public:
  explicit RequestLog(std::function<void(const std::string&)> sink) : sink_(std::move(sink)) {}
  bool enabled() const { return static_cast<bool>(sink_); }
  void begin(const httplib::Request& req);
  // The entry of a request being answered; null when the log is off.
  std::shared_ptr<RequestStats> stats(const httplib::Request& req);
  // Writes the request's line and forgets it.
  void end(const httplib::Request& req, const httplib::Response& res);
  static std::string line(const std::string& method, const std::string& path, int status, const RequestStats& s,
                          double ms);

 private:
  std::function<void(const std::string&)> sink_;
  std::mutex mu_;
  std::unordered_map<const httplib::Request*, std::shared_ptr<RequestStats>> open_;
};

}  // namespace ternion::server
