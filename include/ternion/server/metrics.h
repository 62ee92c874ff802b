// Server metrics in the Prometheus text format: requests by endpoint and status, prompt and generated tokens,
// histograms of time to first token and inter-token latency, and gauges read when scraped.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ternion::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  // Appends the _bucket, _sum and _count lines of `name`.
  void render(const std::string& name, const std::string& help, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bound, not cumulative; the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Gauges of one served model, read when /metrics is scraped.
struct ModelGauges {
  std::string model;
  int64_t queue_depth = 0;
  int64_t active_slots = 0;
  int64_t slots = 0;
  int64_t kv_cells_used = 0;   // positions filled over all slots
  int64_t kv_cells_total = 0;  // slots × context size
};

class Metrics {
 public:
  Metrics();

  void count_request(const std::string& endpoint, int status);
  void add_tokens(int64_t prompt, int64_t generated);
  void observe_ttft(double seconds);
  void observe_inter_token(double seconds);

  std::string render(const std::vector<ModelGauges>& gauges) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0, generated_tokens_ = 0;
  Histogram ttft_, itl_;
};

}  // namespace ternion::server
