#include "ternion/server/metrics.h"

#include <cstdio>

namespace ternion::server {

namespace {

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A label value with \, " and newline escaped.
std::string label(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(const std::string& name, const std::string& help, std::string& out) const {
  header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + num(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + num(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : ttft_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      itl_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}) {}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::add_tokens(const std::string& model, int64_t prompt, int64_t generated) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& t = tokens_[model];
  t.first += static_cast<uint64_t>(prompt);
  t.second += static_cast<uint64_t>(generated);
}

void Metrics::observe_ttft(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_.observe(seconds);
}

void Metrics::observe_inter_token(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  itl_.observe(seconds);
}

std::string Metrics::render(const std::vector<ModelGauges>& gauges) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  header(out, "ternion_requests_total", "counter", "HTTP requests answered, by endpoint and status");
  for (const auto& [key, n] : requests_) {
    out += "ternion_requests_total{endpoint=\"" + label(key.first) + "\",status=\"" + std::to_string(key.second) +
           "\"} " + std::to_string(n) + "\n";
  }
  header(out, "ternion_prompt_tokens_total", "counter", "Prompt tokens processed, by model");
  for (const auto& [model, t] : tokens_) {
    out += "ternion_prompt_tokens_total{model=\"" + label(model) + "\"} " + std::to_string(t.first) + "\n";
  }
  header(out, "ternion_generated_tokens_total", "counter", "Tokens generated, by model");
  for (const auto& [model, t] : tokens_) {
    out += "ternion_generated_tokens_total{model=\"" + label(model) + "\"} " + std::to_string(t.second) + "\n";
  }
  const auto gauge = [&](const char* name, const char* help, auto field) {
    header(out, name, "gauge", help);
    for (const ModelGauges& g : gauges) {
      out += std::string(name) + "{model=\"" + label(g.model) + "\"} " + std::to_string(field(g)) + "\n";
    }
  };
  gauge("ternion_queue_depth", "Requests waiting for a slot", [](const ModelGauges& g) { return g.queue_depth; });
  gauge("ternion_active_slots", "Slots generating", [](const ModelGauges& g) { return g.active_slots; });
  gauge("ternion_slots", "Slots (--parallel)", [](const ModelGauges& g) { return g.slots; });
  gauge("ternion_kv_cache_used_cells", "KV cache positions in use",
        [](const ModelGauges& g) { return g.kv_cells_used; });
  gauge("ternion_kv_cache_cells", "KV cache positions in all", [](const ModelGauges& g) { return g.kv_cells_total; });
  header(out, "ternion_kv_cache_usage_ratio", "gauge", "KV cache positions in use, as a fraction");
  for (const ModelGauges& g : gauges) {
    const double r =
        g.kv_cells_total > 0 ? static_cast<double>(g.kv_cells_used) / static_cast<double>(g.kv_cells_total) : 0.0;
    out += "ternion_kv_cache_usage_ratio{model=\"" + label(g.model) + "\"} " + num(r) + "\n";
  }
  ttft_.render("ternion_time_to_first_token_seconds", "Time from request to its first generated token", out);
  itl_.render("ternion_inter_token_latency_seconds", "Time between consecutive tokens of a request", out);
  return out;
}

}  // namespace ternion::server
